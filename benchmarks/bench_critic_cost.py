"""What the critic costs per update on the drone, side by side with the critic-free default.

Builds the default drone model (spiking 256-128 actor with 4 past actions and leaky readout, critics
256-256, 16 envs, PD guide), fills the buffer with 20 k guided steps, then times one ``train`` call
of ``gradient_steps`` updates (64 windows × 100 steps) for each variant, interleaved, ``--repeats``
times, and prints medians and the ratio to the default (α 0, BC only). One torch thread.

    python -m benchmarks.bench_critic_cost [--repeats 5] [--gradient-steps 30]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402

from sb3_spiking import GuidedTD3, allocator  # noqa: E402
from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402

#: name -> GuidedTD3 settings changed from the default config's (alpha 0). The rows of experiments/notes/guided_rl.md §5 with
#: cold targets kept, Q-filtered BC and the best-rated target were measured with options removed since
VARIANTS: dict[str, dict] = {
    "default (α 0, BC only)": dict(alpha=0.0),
    "α 2, critic on 25 % of steps": dict(alpha=2.0, critic_fraction=0.25),
    "α 2, 25 %, 10-step targets": dict(alpha=2.0, critic_fraction=0.25, n_steps=10),
    "α 2, 10 %": dict(alpha=2.0, critic_fraction=0.1),
}


def build(settings: dict) -> GuidedTD3:
    env = DroneHoverVecEnv(16, actor_history=4)
    kwargs = dict(learning_rate=1e-3, buffer_size=200_000, learning_starts=10**9, batch_size=64, tau=0.01, train_freq=50,
                  gradient_steps=30, policy_delay=1, n_seq=100, n_warmup=50, stride=25, bc_coef=1.0,
                  guide_horizon_start=200, guide_horizon_end=0, seed=0)
    kwargs.update(settings)
    allocator.keep_freed_memory()  # as the drone config (a process-wide switch)
    return GuidedTD3("SpikingPolicy", env, guide=PDHoverGuide(), policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=[256, 256]),
                     readout="leaky"), **kwargs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--gradient-steps", type=int, default=30)
    parser.add_argument("--fill", type=int, default=20_000, help="env steps collected before timing")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    models = {}
    first = None
    for name, settings in VARIANTS.items():
        model = build(settings)
        if first is None:
            model.learn(args.fill)  # no updates: learning_starts is never reached
            first = model.replay_buffer
        model.replay_buffer = first  # every variant samples from the same data
        model.set_logger(configure(None, [""]))
        models[name] = model
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(args.repeats):
        for name, model in models.items():
            np.random.seed(0)
            th.manual_seed(0)
            t0 = time.perf_counter()
            model.train(args.gradient_steps, batch_size=64)
            times[name].append(time.perf_counter() - t0)
    base = float(np.median(times[next(iter(times))]))
    print(f"one train() call of {args.gradient_steps} updates, median of {args.repeats} (1 torch thread)")
    print(f"{'variant':52s} {'ms':>8s} {'ratio':>6s}")
    for name, values in times.items():
        med = float(np.median(values))
        print(f"{name:52s} {1000 * med:8.0f} {med / base:6.2f}")


if __name__ == "__main__":
    main()
