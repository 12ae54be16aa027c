"""Burn-in speed: GuidedTD3 update time with the warm-up run under no_grad vs with a full graph.

Drone-sized problem: Dict observation (18-dim actor part, 150-dim privileged part), 4 actions,
spiking actor 256-128, windows of n_seq=100 with n_warmup=50. The buffer holds random 500-step
episodes (so about 1 window in 17 starts an episode and keeps its full graph). Both variants run
in one process, interleaved, and the medians are compared.

    python -m benchmarks.bench_burn_in [--batch-sizes 64 128 256] [--repeats 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from gymnasium import spaces  # noqa: E402

from sb3_spiking import GuidedTD3, allocator  # noqa: E402
from sb3_spiking.guided_td3.buffers import SequenceReplayBuffer  # noqa: E402


def make_model(
    burn_in: bool, batch_size: int, n_seq: int = 100, n_warmup: int = 50, device: str | th.device = "cpu"
) -> GuidedTD3:
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv

    class Env(gym.Env):
        observation_space = spaces.Dict({
            "actor": spaces.Box(-np.inf, np.inf, (18,), np.float32),
            "privileged": spaces.Box(-np.inf, np.inf, (150,), np.float32),
        })
        action_space = spaces.Box(-1, 1, (4,), np.float32)

        def reset(self, *, seed=None, options=None):
            return self.observation_space.sample(), {}

        def step(self, action):
            return self.observation_space.sample(), 0.0, False, False, {}

    if th.device(device).type == "cpu":
        allocator.keep_freed_memory()  # as the drone configs do (a process-wide switch)
    return GuidedTD3("SpikingPolicy", DummyVecEnv([Env]), buffer_size=50_000, batch_size=batch_size,
                     replay_buffer_kwargs=dict(burn_in=burn_in), n_seq=n_seq, n_warmup=n_warmup, stride=max(1, n_seq // 4),
                     policy_delay=1, seed=0, device=device)


def fill(buffer: SequenceReplayBuffer, n_steps: int, episode_length: int = 500) -> None:
    rng = np.random.default_rng(0)
    for t in range(n_steps):
        obs = {
            "actor": rng.standard_normal((1, 18), dtype=np.float32),
            "privileged": rng.standard_normal((1, 150), dtype=np.float32),
        }
        done = np.array([(t + 1) % episode_length == 0])
        buffer.add(obs, obs, rng.uniform(-1, 1, (1, 4)).astype(np.float32), rng.standard_normal(1).astype(np.float32), done,
                   [{"TimeLimit.truncated": bool(done[0])}])


def _sync(model: GuidedTD3) -> None:
    if model.device.type == "cuda":
        th.cuda.synchronize(model.device)


def time_updates(model: GuidedTD3, n: int) -> float:
    model.train(gradient_steps=1, batch_size=model.batch_size)  # warm caches
    _sync(model)
    t = time.perf_counter()
    model.train(gradient_steps=n, batch_size=model.batch_size)
    _sync(model)
    return (time.perf_counter() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[64, 128, 256])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--updates", type=int, default=3, help="gradient steps per timing")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    args = parser.parse_args()
    th.set_num_threads(1)
    from benchmarks.bench_actor_update import resolve_device

    device = resolve_device(args.device)
    print(f"torch {th.__version__}, threads {th.get_num_threads()}, device {device}; update = critic + actor (policy_delay=1)")
    print(f"{'batch':>6} {'full graph ms':>14} {'burn-in ms':>11} {'speed-up':>9}")
    for batch in args.batch_sizes:
        models = {b: make_model(b, batch, device=device) for b in (False, True)}
        for m in models.values():
            fill(m.replay_buffer, 20_000)
            m._current_progress_remaining = 1.0
            from stable_baselines3.common.logger import configure
            m.set_logger(configure(None, []))
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):
            for b, m in models.items():
                np.random.seed(0)
                times[b].append(time_updates(m, args.updates))
        full, burn = np.median(times[False]) * 1e3, np.median(times[True]) * 1e3
        print(f"{batch:>6} {full:>14.1f} {burn:>11.1f} {full / burn:>8.2f}x")


if __name__ == "__main__":
    main()
