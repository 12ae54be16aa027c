"""PD hover guide on the drone task: mean return and share of full-length episodes.

Each of ``--episodes`` drones flies one episode from the simulator's initial-state distribution
(seeded), at the final (default) and start curriculum weights, with the simulator's termination
limits and with the paper's 0.6 m box.

    python -m benchmarks.eval_pd_guide [--episodes 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from sb3_spiking.envs.crazyflie import DroneHoverVecEnv, PDHoverGuide  # noqa: E402


def first_episodes(policy, n: int, seed: int, **options) -> tuple[np.ndarray, np.ndarray]:
    """Return and length of the first episode of each of ``n`` envs."""
    env = DroneHoverVecEnv(n, seed=seed, **options)
    obs = env.reset()
    returns, lengths = np.full(n, np.nan), np.zeros(n, int)
    while np.isnan(returns).any():
        obs, _, done, infos = env.step(policy(obs))
        for i in np.flatnonzero(done & np.isnan(returns)):
            returns[i], lengths[i] = infos[i]["episode"]["r"], infos[i]["episode"]["l"]
    return returns, lengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    guide = PDHoverGuide()
    print(f"PD hover guide (katt={guide.katt}, krate={guide.krate}), {args.episodes} episodes, seed {args.seed}")
    print(f"{'termination':12s} {'weights':8s} {'mean return':>12s} {'std':>7s} {'full-length':>12s} {'mean length':>12s}")
    for termination in ("simulator", "box"):
        for stage, name in ((5, "final"), (0, "start")):
            r, l = first_episodes(guide, args.episodes, args.seed, termination=termination, curriculum_stage=stage)
            print(f"{termination:12s} {name:8s} {r.mean():12.1f} {r.std():7.1f} {100 * np.mean(l == 500):11.1f}% {l.mean():12.1f}")


if __name__ == "__main__":
    main()
