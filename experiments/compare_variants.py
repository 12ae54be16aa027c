"""Learning effect of GuidedTD3 design choices, measured side by side with several seeds.

Variants: the defaults, ``bc_target="executed"`` (the paper's BC target) instead of ``"guide"``
(relabelling), and ``burn_in=False``. Task: Pendulum with the actor seeing (cos θ, sin θ) only
(velocity must be inferred from the spiking state; critic and guide see the full state), guided by
the energy swing-up controller. Prints the evaluation return (20 episodes, autonomous from step 0)
per variant and seed, and mean ± std, and writes a CSV.

    python -m experiments.compare_variants --steps 6000 --seeds 0 1 2 --out experiments/archive/variants_pendulum_novel.csv
"""

from __future__ import annotations

import argparse
import csv
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.noise import NormalActionNoise  # noqa: E402

from sb3_spiking import GuidedTD3  # noqa: E402
from sb3_spiking.envs.wrappers import PrivilegedSplit  # noqa: E402
from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide  # noqa: E402

VARIANTS = {
    "default (bc_target=guide, burn_in)": {},
    "bc_target=executed": {"bc_target": "executed"},
    "burn_in=False": {"replay_buffer_kwargs": {"burn_in": False}},
}


def make_env() -> gym.Env:
    return PrivilegedSplit(gym.make("Pendulum-v1"), actor_indices=[0, 1])


def run(variant: dict, steps: int, seed: int) -> tuple[float, float]:
    th.manual_seed(seed)
    model = GuidedTD3(
        "SpikingPolicy", make_env(), guide=PendulumSwingUpGuide(), n_seq=40, n_warmup=10, stride=10,
        guide_horizon_start=200, guide_horizon_end=10, guide_horizon_fraction=0.6, learning_starts=400, batch_size=32,
        train_freq=20, gradient_steps=10, alpha=2.0, policy_delay=2, bc_coef=1.0,
        action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
        policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[64, 64])), seed=seed, **variant,
    )
    start = time.perf_counter()
    model.learn(steps)
    seconds = time.perf_counter() - start
    returns, _ = evaluate_policy(model, make_env(), n_eval_episodes=20, return_episode_rewards=True)
    return float(np.mean(returns)), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default=None, help="CSV path")
    args = parser.parse_args()
    th.set_num_threads(1)
    rows = []
    for name, variant in VARIANTS.items():
        results = []
        for seed in args.seeds:
            ret, sec = run(variant, args.steps, seed)
            results.append(ret)
            rows.append({"variant": name, "seed": seed, "return": round(ret, 1), "train_seconds": round(sec, 1)})
            print(f"{name:38s} seed {seed}: return {ret:8.1f}  ({sec:.0f} s)", flush=True)
        print(f"{name:38s} mean {np.mean(results):8.1f} ± {np.std(results):.1f}", flush=True)
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()
