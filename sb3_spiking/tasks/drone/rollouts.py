"""Drone rollouts that record everything the analysis needs (observations, actions, spikes), flown by the core's
one rollout loop (:func:`sb3_spiking.rollout.rollout`).

Three ways to fly (``pilot``):

* ``"actor"``: the spiking actor flies closed loop;
* ``"guide"``: the PD guide flies; a spiking actor, if given, is fed the same observations every
  step (its state warms up exactly as in GuidedTD3's guided phase) and its would-be actions and
  spikes are recorded — the way to measure an untrained actor's activity on realistic flight data;
* a callable ``privileged_obs_batch -> actions``: any other controller (e.g. an MLP policy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sb3_spiking.guided_td3 import GuidedTD3
from sb3_spiking.obs_keys import COMMAND_KEY
from sb3_spiking.rollout import RecordingActor, SingleEnvEpisodes, rollout


@dataclass
class Episode:
    """One recorded episode (``T`` steps).

    ``actor_obs (T, 18)``, ``privileged_obs (T, P)``, ``actions (T, 4)`` (what was flown),
    ``rewards (T,)``, ``actor_actions (T, 4)`` and ``spikes`` (one ``(T, H_i)`` array per LIF layer)
    when a spiking actor took part, ``guide_actions (T, 4)`` when a guide was queried, ``commands (T, 4)`` (the
    command in force at each step) when the env has ``command_obs``.
    """

    actor_obs: np.ndarray
    privileged_obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    actor_actions: np.ndarray | None = None
    guide_actions: np.ndarray | None = None
    spikes: list[np.ndarray] = field(default_factory=list)
    commands: np.ndarray | None = None

    @property
    def length(self) -> int:
        return len(self.rewards)

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())


def fly(
    actor: Any = None,
    guide: Callable[[np.ndarray], np.ndarray] | None = None,
    pilot: str | Callable[[np.ndarray], np.ndarray] = "actor",
    n_episodes: int = 4,
    seed: int = 0,
    max_episode_steps: int = 500,
    **env_options: Any,
) -> list[Episode]:
    """Fly ``n_episodes`` drone episodes (``DroneHover-v0`` dynamics, Dict observation), one after another from one
    env, with the core's rollout loop (:func:`sb3_spiking.rollout.rollout`, recording spikes).

    :param actor: spiking actor (model, policy, actor or :class:`SpikingMLP`), or ``None``.
    :param guide: privileged controller (default :class:`~sb3_spiking.tasks.drone.pd_guide.PDHoverGuide`
        when ``pilot="guide"``); queried and recorded on every step.
    :param pilot: ``"actor"``, ``"guide"`` or a callable on the privileged observation batch (then without ``guide``).
    :param n_episodes: episodes to record.
    :param seed: seed of the first episode (the following ones continue the env's generator).
    :param max_episode_steps: truncation length.
    :param env_options: further options of :class:`~sb3_spiking.tasks.drone.env.DroneHoverEnv`
        (``actor_history`` defaults to the one the actor's input size implies, ``command_obs`` to whether the
        actor's observation space has the command in force).
    """
    from sb3_spiking.tasks.drone.env import DroneHoverEnv
    from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide
    from sb3_spiking.tasks.drone.protocols import actor_history_for, command_obs_of

    if pilot == "guide" and guide is None:
        guide = PDHoverGuide()
    if pilot == "actor" and actor is None:
        raise ValueError("pilot='actor' needs an actor")
    if callable(pilot) and guide is not None:
        raise ValueError("a callable pilot flies in place of the guide: give one of them")
    runner = RecordingActor(actor) if actor is not None else None
    if runner is not None and "actor_history" not in env_options:
        # an actor trained with past actions in its input (18 + 4 k values) gets the same env
        env_options["actor_history"] = actor_history_for(runner.net.fcs[0].in_features)
    if actor is not None and command_obs_of(actor):  # a feedback actor starts from the command in force
        env_options.setdefault("command_obs", True)
    flyer = guide if not callable(pilot) else pilot  # what flies when the actor does not: the rollout's guide
    guide_steps = 0 if pilot == "actor" else max_episode_steps
    env = SingleEnvEpisodes(DroneHoverEnv(max_episode_steps=max_episode_steps, **env_options))
    episodes = []
    for ep in range(n_episodes):
        env.seed(seed if ep == 0 else None)
        stats = rollout(env, max_episode_steps, runner, flyer, guide_steps, record=True,
                        record_guide=guide is not None)
        assert stats.observations is not None and stats.actions is not None and stats.rewards is not None
        episodes.append(
            Episode(
                actor_obs=np.array([o["actor"][0] for o in stats.observations], np.float32),
                privileged_obs=np.array([o["privileged"][0] for o in stats.observations], np.float32),
                actions=stats.actions[:, 0],
                rewards=stats.rewards[:, 0].astype(np.float64),
                terminated=bool(stats.terminated[0]),  # type: ignore[index]
                actor_actions=None if stats.model_actions is None else stats.model_actions[:, 0],
                guide_actions=None if stats.guide_actions is None else stats.guide_actions[:, 0],
                spikes=[layer[:, 0] for layer in stats.spikes] if stats.spikes else [],
                commands=np.array([o[COMMAND_KEY][0] for o in stats.observations], np.float32)
                if COMMAND_KEY in stats.observations[0] else None,
            )
        )
    return episodes


def load_actor(path: str) -> Any:
    """Load a saved GuidedTD3 model (zip) for analysis (no env, no replay buffer)."""
    return GuidedTD3.load(path, device="cpu")


__all__ = ["Episode", "fly", "load_actor"]
