"""One rollout loop for every evaluation: a stateful model and / or a privileged guide fly a batched env.

:func:`rollout` flies one episode per env of a ``VecEnv`` (an episode ends at the env's first
``done``; the env's automatic reset after it is ignored), from zero actor state: the guide flies
steps ``< guide_steps`` while the model observes and warms its state up, the model flies the rest.
Task packages build their env and call it (e.g. :func:`sb3_spiking.tasks.drone.evaluation.fly`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.vec_env import VecEnv

from sb3_spiking.guides import resolve_guide
from sb3_spiking.obs_keys import privileged_part


@dataclass
class EpisodeStats:
    """Returns and lengths of one episode per initial state (and, when recorded, every step)."""

    returns: np.ndarray
    lengths: np.ndarray
    max_steps: int
    #: with ``record=True``: per step the observation batch, the executed actions (clipped to
    #: [-1, 1]), the rewards ``(T, N)`` and whether each episode was still running ``(T, N)``
    observations: list[Any] | None = None
    actions: np.ndarray | None = None
    rewards: np.ndarray | None = None
    running: np.ndarray | None = None

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


def rollout(
    env: VecEnv,
    max_steps: int,
    model: Any | None = None,
    guide: Any | None = None,
    guide_steps: int = 0,
    record: bool = False,
) -> EpisodeStats:
    """Fly one episode in each of ``env``'s envs from its next reset; the env is not closed.

    :param env: the batched env, seeded by the caller (its rows are the initial states).
    :param max_steps: the episodes' step limit (the env's truncation length).
    :param model: anything with a recurrent SB3 ``predict(obs, state, episode_start, deterministic)``
        (e.g. a trained GuidedTD3); ``None``: the guide flies the whole episode.
    :param guide: privileged guide (anything :func:`sb3_spiking.guides.resolve_guide` accepts);
        needed when ``model`` is ``None`` or ``guide_steps > 0``. It acts on the privileged part of
        the observation.
    :param guide_steps: steps flown by the guide at the start of each episode.
    :param record: keep every step's observations, actions, rewards and running flags.
    """
    guide_fn = resolve_guide(guide)
    if guide_fn is None and (model is None or guide_steps > 0):
        raise ValueError("a guide is needed to fly without a model or to fly the warm-up steps")
    n = env.num_envs
    obs = env.reset()
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    running = np.ones(n, bool)
    state, start = None, np.ones(n, bool)
    kept: dict[str, list[Any]] = {"observations": [], "actions": [], "rewards": [], "running": []}
    for t in range(max_steps):
        action = None
        if model is not None:  # the actor observes every step, also while the guide flies
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            start = np.zeros(n, bool)
        if model is None or t < guide_steps:
            action = guide_fn(privileged_part(obs))  # type: ignore[misc]
            executed = getattr(getattr(model, "policy", None), "with_executed_action", None)
            if executed is not None:  # an actor with action feedback remembers the guide's command
                state = executed(state, action)
        if record:
            kept["observations"].append(obs)
            kept["actions"].append(np.clip(np.asarray(action, np.float32), -1.0, 1.0))
            kept["running"].append(running.copy())
        obs, rewards, dones, _ = env.step(action)
        if record:
            kept["rewards"].append(np.where(running, rewards, 0.0))
        returns += np.where(running, rewards, 0.0)
        lengths += running
        running &= ~dones
        if not running.any():
            break
    stats = EpisodeStats(returns, lengths, max_steps)
    if record:
        stats.observations = kept["observations"]
        stats.actions, stats.rewards, stats.running = (np.stack(kept[k]) for k in ("actions", "rewards", "running"))
    return stats


__all__ = ["EpisodeStats", "rollout"]
