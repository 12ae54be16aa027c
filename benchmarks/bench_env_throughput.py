"""Drone environment throughput, measured side by side in one run (medians over repeats).

Rows: the single gymnasium env, SB3 ``DummyVecEnv`` of 64 single envs, the batched
``DroneHoverVecEnv`` at 64 / 256 / 1024 envs, and l2f's raw vector loop (step, observe, reset of
finished envs; no reward/termination in Python) at the same sizes. Actions: constant hover command
(no policy cost). Then the torch/OpenMP thread interaction: batched-64 throughput after torch has
run a matmul with 1 vs 2 intra-op threads in the same process.

    python -m benchmarks.bench_env_throughput [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

import l2f  # noqa: E402
from sb3_spiking.envs.crazyflie import DroneHoverEnv, DroneHoverVecEnv, hover_action, nominal_parameters  # noqa: E402

A_HOVER = hover_action(nominal_parameters()["dynamics"])


def rate(fn, n_env_steps: int, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return n_env_steps / float(np.median(times))


def single(steps: int):
    env = DroneHoverEnv()
    env.reset(seed=0)
    a = np.full(4, A_HOVER, np.float32)

    def run():
        for _ in range(steps):
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                env.reset()
    return run


def dummy(n: int, steps: int):
    venv = DummyVecEnv([lambda: DroneHoverEnv() for _ in range(n)])
    venv.reset()
    a = np.full((n, 4), A_HOVER, np.float32)

    def run():
        for _ in range(steps):
            venv.step(a)
    return run


def batched(n: int, steps: int):
    venv = DroneHoverVecEnv(n)
    venv.reset()
    a = np.full((n, 4), A_HOVER, np.float32)

    def run():
        for _ in range(steps):
            venv.step(a)
    return run


def raw(n: int, steps: int):
    v, dev = l2f.vector_selector[n], l2f.Device()
    env, par, s, ns, rng = v.VectorEnvironment(), v.VectorParameters(), v.VectorState(), v.VectorState(), v.VectorRng()
    v.initialize_environment(dev, env)
    v.initialize_rng(dev, rng, 0)
    v.sample_initial_parameters(dev, env, par, rng)
    a = np.full((n, 4), A_HOVER, np.float32)
    obs = np.zeros((n, 82), np.float32)
    reward = np.zeros(n, np.float32)
    term = np.zeros(n, bool)
    v.sample_initial_state(dev, env, par, s, rng)

    def run():
        for _ in range(steps):
            v.step(dev, env, par, s, a, ns, rng)
            v.reward(dev, env, par, s, a, ns, reward, rng)
            v.terminated(dev, env, par, ns, term, rng)
            s.assign(ns)
            v.sample_initial_state_if_truncated(dev, env, par, s, term, rng)
            v.observe(dev, env, par, s, obs, rng)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, repeats {args.repeats}, medians in env-steps/s")
    rows = [("single DroneHoverEnv", rate(single(2000), 2000, args.repeats))]
    rows.append(("DummyVecEnv x 64", rate(dummy(64, 50), 64 * 50, args.repeats)))
    for n in (64, 256, 1024):
        steps = max(20, 40_000 // n)
        rows.append((f"DroneHoverVecEnv x {n}", rate(batched(n, steps), n * steps, args.repeats)))
        rows.append((f"raw l2f vector x {n}", rate(raw(n, steps), n * steps, args.repeats)))
    table = dict(rows)
    print(f"{'environment':28s} {'env-steps/s':>14s}")
    for name, value in rows:
        print(f"{name:28s} {value:14,.0f}")
    print(f"ratio batched64 / DummyVecEnv64: {table['DroneHoverVecEnv x 64'] / table['DummyVecEnv x 64']:.1f}x (target >= 10x)")
    for n in (64, 256, 1024):
        print(f"ratio batched{n} / raw l2f {n}: {table[f'DroneHoverVecEnv x {n}'] / table[f'raw l2f vector x {n}']:.0%} (target >= 50%)")

    import torch as th

    x = th.randn(512, 512)
    for threads in (1, 2):
        th.set_num_threads(threads)
        for _ in range(20):
            x @ x  # torch's pool is now active with this many threads
        r = rate(batched(64, 300), 64 * 300, args.repeats)
        print(f"batched64 after torch matmuls with {threads} intra-op thread(s): {r:14,.0f} env-steps/s")
    th.set_num_threads(1)


if __name__ == "__main__":
    main()
