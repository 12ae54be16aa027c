"""Throughput of the drone environments, measured in one run, printed as one table.

Rows: the single gymnasium env, SB3 ``DummyVecEnv`` of 64 single envs, the batched
``DroneHoverVecEnv`` (split modules, ids ``DroneHover-v0``) at N = 64 / 256 / 1024, the raw
l2f vector loop (step + reward + terminated + masked reset + observe, no Python task logic) at the
same N. All use the constant hover action (rows that crash are reset, so resets are exercised) and the default Dict
observation; figures are medians over repeats, in environment steps per second. All rows are built
first and then timed in interleaved rounds (one run of every row per round), so load changes on a
shared machine hit every row alike.

The thread-hazard section runs fresh processes (OpenMP settings are per process): torch is imported
and a 512x512 matmul run with ``torch.set_num_threads(T)``; then the env is stepped alone, and with
a small MLP forward pass before every step (as during SB3 rollouts). It compares T = 1 and 2, the
env's default ``sim_threads=1`` and ``sim_threads=None`` (l2f inherits torch's OpenMP thread count),
on the machine as it is and with one extra busy process (``--no-contention`` skips that part).

Usage::

    python benchmarks/bench_env_throughput.py [--repeats 5] [--no-hazard] [--no-contention]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

SIZES = (64, 256, 1024)


def _median_rate(fn, repeats: int):
    """Return ``fn`` itself after a warm-up call: the caller times it in interleaved rounds."""
    fn(warmup=True)
    return fn


def _vec_env_rate(venv, actions: np.ndarray, steps: int, warmup_steps: int, repeats: int):
    """Runner measuring env-steps/s of stepping a VecEnv with fixed actions (after a short warm-up)."""

    def run(warmup: bool = False) -> float:
        n = warmup_steps if warmup else steps
        t = time.perf_counter()
        for _ in range(n):
            venv.step(actions)
        return venv.num_envs * n / (time.perf_counter() - t)

    return _median_rate(run, repeats)


def bench_single(repeats: int, steps: int = 10_000):
    from sb3_spiking.tasks.drone.env import DroneHoverEnv

    env = DroneHoverEnv()
    env.reset(seed=0)
    action = np.full(4, env.hover_action, np.float32)

    def run(warmup: bool = False) -> float:
        n = 500 if warmup else steps
        t = time.perf_counter()
        for _ in range(n):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return n / (time.perf_counter() - t)

    return _median_rate(run, repeats)


def bench_dummy(repeats: int, n_envs: int = 64, steps: int = 150):
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    from sb3_spiking.tasks.drone.env import DroneHoverEnv

    venv = DummyVecEnv([lambda: Monitor(DroneHoverEnv()) for _ in range(n_envs)])
    venv.seed(0)
    venv.reset()
    actions = np.full((n_envs, 4), venv.envs[0].unwrapped.hover_action, np.float32)
    return _vec_env_rate(venv, actions, steps, 10, repeats)


def bench_batched(repeats: int, n_envs: int, env_steps: int = 200_000, **options):
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    venv = DroneHoverVecEnv(n_envs, **options)
    venv.seed(0)
    venv.reset()
    actions = np.repeat(venv.hover_actions[:, None], 4, 1).astype(np.float32)
    return _vec_env_rate(venv, actions, max(100, env_steps // n_envs), 20, repeats)


def bench_raw(repeats: int, n_envs: int, env_steps: int = 200_000):
    """The bare l2f vector loop; sim threads fixed to 1 like the env default."""
    import l2f

    from sb3_spiking.tasks.drone._openmp import OmpThreads
    from sb3_spiking.tasks.drone.simulator import hover_action, nominal_parameters

    vec, dev = l2f.vector_selector[n_envs], l2f.Device()
    env, par, rng = vec.VectorEnvironment(), vec.VectorParameters(), vec.VectorRng()
    state, next_state = vec.VectorState(), vec.VectorState()
    vec.initialize_environment(dev, env)
    vec.initialize_rng(dev, rng, 0)
    vec.sample_initial_parameters(dev, env, par, rng)
    vec.sample_initial_state(dev, env, par, state, rng)
    actions = np.full((n_envs, 4), hover_action(nominal_parameters()["dynamics"]), np.float32)
    obs = np.zeros((n_envs, 82), np.float32)
    rewards = np.zeros(n_envs, np.float32)
    terminated = np.zeros(n_envs, bool)
    steps = max(100, env_steps // n_envs)
    omp = OmpThreads(1)

    def run(warmup: bool = False) -> float:
        n = 20 if warmup else steps
        omp.enter()
        t = time.perf_counter()
        for _ in range(n):
            vec.step(dev, env, par, state, actions, next_state, rng)
            vec.reward(dev, env, par, state, actions, next_state, rewards, rng)
            vec.terminated(dev, env, par, next_state, terminated, rng)
            state.assign(next_state)
            vec.sample_initial_state_if_truncated(dev, env, par, state, terminated, rng)
            vec.observe(dev, env, par, state, obs, rng)
        rate = n_envs * n / (time.perf_counter() - t)
        omp.exit()
        return rate

    return _median_rate(run, repeats)


# -- thread hazard: one fresh process per configuration ---------------------------------------
_HAZARD_CHILD = r"""
import json, sys, time
import numpy as np
import torch
torch_threads, sim_threads = int(sys.argv[1]), (None if sys.argv[2] == "none" else int(sys.argv[2]))
torch.set_num_threads(torch_threads)
x = torch.randn(512, 512)
x @ x  # spins up torch's OpenMP team
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv
net = torch.nn.Sequential(torch.nn.Linear(18, 256), torch.nn.ReLU(), torch.nn.Linear(256, 4))
n = 64
venv = DroneHoverVecEnv(n, sim_threads=sim_threads)
venv.seed(0)
obs = venv.reset()
actions = np.repeat(venv.hover_actions[:, None], 4, 1).astype(np.float32)
def rate(with_forward):
    global obs
    rates = []
    for rep in range(4):
        t, steps = time.perf_counter(), 0
        while time.perf_counter() - t < 0.5:
            if with_forward:
                with torch.no_grad():
                    net(torch.from_numpy(obs["actor"]))
            obs = venv.step(actions)[0]
            steps += 1
        if rep:
            rates.append(n * steps / (time.perf_counter() - t))
    return float(np.median(rates))
print(json.dumps({"env_only": rate(False), "with_forward": rate(True)}))
"""


def bench_hazard(contention: bool) -> list[tuple[str, int, str, float, float]]:
    rows = []
    loads = [False, True] if contention else [False]
    for busy in loads:
        hog = None
        if busy:  # one process that keeps a core busy, like a second training run
            hog = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        try:
            for torch_threads in (1, 2):
                for sim in ("1", "none"):
                    out = subprocess.run(
                        [sys.executable, "-c", _HAZARD_CHILD, str(torch_threads), sim],
                        capture_output=True,
                        text=True,
                        timeout=120,
                        check=True,
                    ).stdout
                    res = json.loads(out.strip().splitlines()[-1])
                    load = "+1 busy process" if busy else "as is"
                    rows.append((load, torch_threads, sim, res["env_only"], res["with_forward"]))
        finally:
            if hog is not None:
                hog.kill()
                hog.wait()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-hazard", action="store_true", help="skip the torch/OpenMP thread section")
    parser.add_argument("--no-contention", action="store_true", help="hazard section without a busy process")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; medians of {args.repeats} interleaved rounds")
    runners = {}
    runners["single DroneHoverEnv"] = bench_single(args.repeats)
    runners["DummyVecEnv(64 x DroneHoverEnv)"] = bench_dummy(args.repeats)
    for n in SIZES:
        runners[f"DroneHoverVecEnv N={n}"] = bench_batched(args.repeats, n)
        runners[f"DroneHoverVecEnv N={n}, obs_mode=actor"] = bench_batched(args.repeats, n, obs_mode="actor")
        runners[f"raw l2f vector loop N={n}"] = bench_raw(args.repeats, n)
    samples: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, run in runners.items():
            samples[name].append(run())
    rates = {name: float(np.median(v)) for name, v in samples.items()}

    print("\n| environment | env-steps/s |\n|---|---:|")
    for name, rate in rates.items():
        print(f"| {name} | {rate:,.0f} |")
    print("\n| ratio | value |\n|---|---:|")
    dummy = rates["DummyVecEnv(64 x DroneHoverEnv)"]
    print(f"| batched N=64 / DummyVecEnv 64 (target >= 10x) | {rates['DroneHoverVecEnv N=64'] / dummy:.1f}x |")
    for n in SIZES:
        raw = rates[f"raw l2f vector loop N={n}"]
        print(
            f"| batched / raw, N={n} (target >= 50 %) | {100 * rates[f'DroneHoverVecEnv N={n}'] / raw:.0f} % "
            f"(actor obs: {100 * rates[f'DroneHoverVecEnv N={n}, obs_mode=actor'] / raw:.0f} %) |"
        )

    if not args.no_hazard:
        print("\nThread hazard: DroneHoverVecEnv N=64 after a torch matmul; env steps alone / each after a torch MLP forward")
        print("\n| machine | torch threads | sim_threads | env only | with forward |\n|---|---:|---|---:|---:|")
        for load, torch_threads, sim, env_only, with_forward in bench_hazard(not args.no_contention):
            label = "1 (default)" if sim == "1" else "None (inherit torch's)"
            print(f"| {load} | {torch_threads} | {label} | {env_only:,.0f} | {with_forward:,.0f} |")


if __name__ == "__main__":
    main()
