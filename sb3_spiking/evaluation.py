"""Evaluate a drone controller the way the paper's results are reported, on fixed initial states.

Two protocols for a stateful (spiking) actor, both starting from zero actor state:

* **(a) guide warm-up** (the paper's): the privileged guide flies the first ``guide_steps``
  (= the training warm-up) while the actor observes and warms its state up; then the actor flies.
* **(b) autonomous**: the actor flies from step 0 — what a real deployment does.

Every controller flies one episode from each of ``n_episodes`` initial states drawn by the batched
env seeded with ``seed`` (row ``i`` gets ``seed + i``), so numbers of different controllers are
paired. Command line::

    python -m sb3_spiking.evaluation logs/guided_td3/DroneHover-v0_1/DroneHover-v0.zip --episodes 100
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sb3_spiking.envs.config import ACTOR_DIM
from sb3_spiking.envs.reward import FINAL_STAGE
from sb3_spiking.guides import resolve_guide
from sb3_spiking.obs_keys import privileged_part

#: Default initial-state seed of final evaluations: disjoint from training seeds (0..n_envs) and the
#: periodic evaluations' seed.
EVAL_SEED = 10_000


@dataclass
class EpisodeStats:
    """Returns and lengths of one episode per initial state."""

    returns: np.ndarray
    lengths: np.ndarray
    max_steps: int

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())

    @property
    def full_length(self) -> float:
        """Fraction of episodes flown to the step limit."""
        return float((self.lengths == self.max_steps).mean())

    def summary(self) -> dict[str, float]:
        return {
            "mean_return": self.mean_return,
            "std_return": float(self.returns.std()),
            "mean_length": float(self.lengths.mean()),
            "full_length": self.full_length,
        }


def actor_history_of(model: Any) -> int:
    """The drone env's ``actor_history`` a model was trained with (from its actor observation size)."""
    space = model.observation_space
    actor = space["actor"] if hasattr(space, "spaces") else space
    extra = int(np.prod(actor.shape)) - ACTOR_DIM
    if extra < 0 or extra % 4:
        raise ValueError(f"actor observation of size {actor.shape} is not the drone's 18 + 4 k values")
    return extra // 4


def fly(
    model: Any | None = None,
    guide: Any | None = None,
    guide_steps: int = 0,
    n_episodes: int = 100,
    seed: int = EVAL_SEED,
    curriculum_stage: int = FINAL_STAGE,
    **env_options: Any,
) -> EpisodeStats:
    """Fly one episode from each initial state; the guide flies steps ``< guide_steps``, the model the rest.

    :param model: a trained GuidedTD3 (or any object with a recurrent SB3 ``predict``); ``None``:
        the guide flies the whole episode.
    :param guide: privileged guide (anything :func:`sb3_spiking.guides.resolve_guide` accepts);
        needed when ``model`` is ``None`` or ``guide_steps > 0``.
    :param guide_steps: steps flown by the guide at the start of each episode (protocol (a)).
    :param curriculum_stage: reward weights (default: the final, strictest ones).
    :param env_options: further drone env options (``actor_history`` is taken from the model).
    """
    from sb3_spiking.envs.drone_vec_env import DroneHoverVecEnv

    guide_fn = resolve_guide(guide)
    if guide_fn is None and (model is None or guide_steps > 0):
        raise ValueError("a guide is needed to fly without a model or to fly the warm-up steps")
    if model is not None:
        env_options.setdefault("actor_history", actor_history_of(model))
    env = DroneHoverVecEnv(n_episodes, curriculum_stage=curriculum_stage, **env_options)
    env.seed(seed)
    obs = env.reset()
    max_steps = env.config.max_episode_steps
    returns, lengths = np.zeros(n_episodes), np.zeros(n_episodes, np.int64)
    running = np.ones(n_episodes, bool)
    state, start = None, np.ones(n_episodes, bool)
    for t in range(max_steps):
        action = None
        if model is not None:  # the actor observes every step, also while the guide flies
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            start = np.zeros(n_episodes, bool)
        if model is None or t < guide_steps:
            action = guide_fn(privileged_part(obs))  # type: ignore[misc]
        obs, rewards, dones, _ = env.step(action)
        returns += np.where(running, rewards, 0.0)
        lengths += running
        running &= ~dones
        if not running.any():
            break
    env.close()
    return EpisodeStats(returns, lengths, max_steps)


def evaluate_drone_controller(
    model: Any,
    guide: Any = "sb3_spiking.envs.pd_guide:PDHoverGuide",
    n_episodes: int = 100,
    seed: int = EVAL_SEED,
    warmup: int | None = None,
) -> dict[str, dict[str, float]]:
    """Protocols (a) and (b) and the guide alone, at the final and at the start reward weights.

    :param warmup: guide steps of protocol (a) (default: the model's ``n_warmup``, else 50).
    :return: ``{"a_guide_warmup": …, "b_autonomous": …, "guide": …}`` (final weights) and the same
        keys with suffix ``"@start"`` (curriculum stage 0), each a :meth:`EpisodeStats.summary`.
    """
    warmup = int(getattr(model, "n_warmup", 50) if warmup is None else warmup)
    out: dict[str, dict[str, float]] = {}
    for stage, suffix in ((FINAL_STAGE, ""), (0, "@start")):
        runs = {
            "a_guide_warmup": fly(model, guide, warmup, n_episodes, seed, stage),
            "b_autonomous": fly(model, None, 0, n_episodes, seed, stage),
            "guide": fly(None, guide, 0, n_episodes, seed, stage),
        }
        for name, stats in runs.items():
            out[name + suffix] = stats.summary()
    return out


def format_report(results: dict[str, dict[str, float]]) -> str:
    """A small markdown table of :func:`evaluate_drone_controller`'s result."""
    guide = results["guide"]["mean_return"]
    lines = [
        "| controller | return (final weights) | % of guide | full-length | return (start weights) |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("b_autonomous", "(b) autonomous"), ("a_guide_warmup", "(a) guide warm-up"), ("guide", "PD guide")):
        r, s = results[key], results[key + "@start"]
        lines.append(
            f"| {label} | {r['mean_return']:.1f} ± {r['std_return']:.1f} | {100 * r['mean_return'] / guide:.1f} % "
            f"| {100 * r['full_length']:.0f} % | {s['mean_return']:.1f} |"
        )
    return "\n".join(lines)


class FinalEvaluationCallback(BaseCallback):
    """At the end of training, evaluate protocols (a) and (b) beside the guide and report them.

    Prints the table and writes ``final_evaluation.json`` next to the model (rl-zoo: the run's
    log folder). For the README's main job; name it in a zoo config's ``callback`` list.

    :param n_episodes: initial states (one episode each).
    :param guide: the reference guide (import path or object).
    :param path: output folder (default: the logger's folder, else the current directory).
    """

    def __init__(self, n_episodes: int = 100, guide: Any = "sb3_spiking.envs.pd_guide:PDHoverGuide", path: str | None = None, seed: int = EVAL_SEED):
        super().__init__()
        self.n_episodes, self.guide, self.path, self.seed = int(n_episodes), guide, path, int(seed)
        self.results: dict[str, dict[str, float]] | None = None

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        self.results = evaluate_drone_controller(self.model, self.guide, self.n_episodes, self.seed)
        folder = self.path or (self.logger.get_dir() if self.logger is not None else None) or "."
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "final_evaluation.json"), "w") as f:
            json.dump(self.results, f, indent=2)
        print(f"Final evaluation over {self.n_episodes} initial states (seed {self.seed}):\n{format_report(self.results)}", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="saved GuidedTD3 .zip")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=EVAL_SEED)
    parser.add_argument("--guide", default="sb3_spiking.envs.pd_guide:PDHoverGuide")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args(argv)
    import torch as th

    from sb3_spiking import GuidedTD3

    th.set_num_threads(1)
    model = GuidedTD3.load(args.model, device="cpu")
    results = evaluate_drone_controller(model, args.guide, args.episodes, args.seed)
    print(format_report(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()


__all__ = ["EVAL_SEED", "EpisodeStats", "FinalEvaluationCallback", "evaluate_drone_controller", "fly", "format_report"]
