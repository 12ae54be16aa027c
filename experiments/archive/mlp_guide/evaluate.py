"""Evaluate the privileged MLP guide (stock SB3 TD3) like the PD guide: one episode per env, seeds 0..N-1.

    python experiments/archive/mlp_guide/evaluate.py [td3:experiments/archive/mlp_guide/td3_guide.zip] [--episodes 100]
"""

from __future__ import annotations

import argparse
import json

from sb3_spiking.guides import resolve_guide
from sb3_spiking.tasks.drone.evaluation import fly


def evaluate_guide(guide, n_episodes: int, seed: int, **options) -> dict[str, float]:
    """As sb3_spiking.tasks.drone.pd_guide.evaluate_guide, plus the fraction of episodes of >= 50 steps."""
    flight = fly(None, guide, n_episodes=n_episodes, seed=seed, **{"obs_mode": "privileged", **options})
    return {**flight.summary(), "survived_50": float((flight.lengths >= 50).mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("guide", nargs="?", default="td3:experiments/archive/mlp_guide/td3_guide.zip")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    guide = resolve_guide(args.guide)
    results = {}
    for name, options in [("final weights", {}), ("start weights", {"curriculum_stage": 0})]:
        results[name] = r = evaluate_guide(guide, args.episodes, args.seed, **options)
        print(f"{name:14s} return {r['mean_return']:7.1f} +- {r['std_return']:5.1f}  length {r['mean_length']:5.1f}  "
              f"full-length {100 * r['full_length']:5.1f} %  "
              f">= 50 steps {100 * r.get('survived_50', float('nan')):5.1f} %")  # fmt: skip
    print(json.dumps(results))


if __name__ == "__main__":
    main()
