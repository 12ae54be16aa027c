"""How reproducible is a vine gradient? Two measurements of ``∇_a Q^π`` at the same states with nearby step sizes.

The simulator is deterministic, but the spiking actor is not smooth: a slightly different action
flips some spikes and the copies' returns differ by more than the action's own effect. So the vine
gradient at one state is measured twice, with perturbations ``eps`` and ``0.9 eps`` (each held for
``hold`` steps), and the two are compared: a smooth return gives the same direction twice (cosine
1), pure noise gives cosine 0. Per setting: the median cosine over the states, the mean |ĝ|, and
the cosine of the two batch means (what an update that averages 64 states sees). States: 64
leaders of the given model at steps ``--t``.

    python -m experiments.vine_gradient_noise runs/i17/weak75_bc/seed0/logs/guided_td3/DroneHover-v0_1/DroneHover-v0.zip
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402

from sb3_spiking import GuidedTD3  # noqa: E402
from sb3_spiking.guided_td3.vine import VineGradient, VineSettings  # noqa: E402
from sb3_spiking.tasks.drone.evaluation import actor_history_of  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402

SETTINGS = ((0.05, 5), (0.1, 5), (0.2, 5), (0.1, 10), (0.2, 10), (0.3, 10))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1) + 1e-12)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--t", type=int, nargs="+", default=[30, 120, 250], help="episode steps at which to measure")
    parser.add_argument("--leaders", type=int, default=64)
    parser.add_argument("--horizon", type=int, default=150)
    parser.add_argument("--csv", default="experiments/archive/guided_rl/vine/gradient_noise.csv")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    model = GuidedTD3.load(args.model, device="cpu")
    env = DroneHoverVecEnv(1, actor_history=actor_history_of(model))
    vine = VineGradient(env, model.actor, VineSettings(n_leaders=args.leaders, spacing=10**6, horizon=args.horizon,
                                                      buffer_size=64 * 2 * len(SETTINGS) * len(args.t)),
                        model.n_seq, model.n_warmup, seed=5)

    def measure(eps: float, hold: int) -> np.ndarray:
        vine.settings = dataclasses.replace(vine.settings, eps=eps, hold=hold)
        return vine.measure_now(model.actor)

    rows = []
    for t in sorted(args.t):
        vine.collect(model.actor, t - int(vine.episode_steps[0]))  # leaders start together: all at step t
        for eps, hold in SETTINGS:
            a, b = measure(eps, hold), measure(0.9 * eps, hold)
            rows.append(dict(t=t, eps=eps, hold=hold, median_cos=round(float(np.median(_cos(a, b))), 3),
                             abs_grad=round(float(np.abs(a).mean()), 3),
                             batch_mean_cos=round(float(_cos(a.mean(0), b.mean(0))), 3)))
            print(f"t={t:3d} eps {eps:.2f} vs {0.9 * eps:.3f}, hold {hold:2d}: median cos {rows[-1]['median_cos']:5.2f}, "
                  f"|ĝ| {rows[-1]['abs_grad']:6.2f}, cos of the 64-state means {rows[-1]['batch_mean_cos']:5.2f}", flush=True)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written to {args.csv}")


if __name__ == "__main__":
    main()
