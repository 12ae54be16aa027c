"""Drone rollouts that record everything the analysis needs (observations, actions, spikes).

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
import torch as th

from sb3_spiking.export._resolve import resolve_actor
from sb3_spiking.neurons import SpikingMLP


@dataclass
class Episode:
    """One recorded episode (``T`` steps).

    ``actor_obs (T, 18)``, ``privileged_obs (T, P)``, ``actions (T, 4)`` (what was flown),
    ``rewards (T,)``, ``actor_actions (T, 4)`` and ``spikes`` (one ``(T, H_i)`` array per LIF layer)
    when a spiking actor took part, ``guide_actions (T, 4)`` when a guide was queried.
    """

    actor_obs: np.ndarray
    privileged_obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminated: bool
    actor_actions: np.ndarray | None = None
    guide_actions: np.ndarray | None = None
    spikes: list[np.ndarray] = field(default_factory=list)

    @property
    def length(self) -> int:
        return len(self.rewards)

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())


class _SpikingRunner:
    """Steps a SpikingMLP one observation at a time and keeps its spikes."""

    def __init__(self, actor: Any):
        self.net: SpikingMLP
        self.net, self.low, self.high = resolve_actor(actor)
        self.reset()

    def reset(self) -> None:
        self.state = self.net.initial_state(1)

    @th.no_grad()
    def __call__(self, actor_obs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
        x = th.as_tensor(np.asarray(actor_obs, np.float32)).view(1, 1, -1)
        out, self.state, spikes = self.net(x, self.state, return_spikes=True)
        a = out.view(-1).numpy()
        if self.low is not None:
            a = self.low + 0.5 * (a + 1.0) * (self.high - self.low)
        return a.astype(np.float32), [s.view(-1).numpy().copy() for s in spikes]


def fly(
    actor: Any = None,
    guide: Callable[[np.ndarray], np.ndarray] | None = None,
    pilot: str | Callable[[np.ndarray], np.ndarray] = "actor",
    n_episodes: int = 4,
    seed: int = 0,
    max_episode_steps: int = 500,
    **env_options: Any,
) -> list[Episode]:
    """Fly ``n_episodes`` drone episodes (``DroneHover-v0`` dynamics, Dict observation).

    :param actor: spiking actor (model, policy, actor or :class:`SpikingMLP`), or ``None``.
    :param guide: privileged controller (default :class:`~sb3_spiking.tasks.drone.pd_guide.PDHoverGuide`
        when ``pilot="guide"``).
    :param pilot: ``"actor"``, ``"guide"`` or a callable on the privileged observation batch.
    :param n_episodes: episodes to record.
    :param seed: seed of the first episode (the following ones continue the env's generator).
    :param max_episode_steps: truncation length.
    :param env_options: further options of :class:`~sb3_spiking.tasks.drone.env.DroneHoverEnv`
        (``actor_history`` defaults to the one the actor's input size implies).
    """
    from sb3_spiking.tasks.drone.env import DroneHoverEnv
    from sb3_spiking.tasks.drone.evaluation import actor_history_for
    from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide

    if pilot == "guide" and guide is None:
        guide = PDHoverGuide()
    if pilot == "actor" and actor is None:
        raise ValueError("pilot='actor' needs an actor")
    runner = _SpikingRunner(actor) if actor is not None else None
    if runner is not None and "actor_history" not in env_options:
        # an actor trained with past actions in its input (18 + 4 k values) gets the same env
        env_options["actor_history"] = actor_history_for(runner.net.fcs[0].in_features)
    env = DroneHoverEnv(max_episode_steps=max_episode_steps, **env_options)
    episodes = []
    for ep in range(n_episodes):
        obs, _ = env.reset(seed=seed if ep == 0 else None)
        if runner is not None:
            runner.reset()
        rec: dict[str, list[Any]] = {k: [] for k in ("a_obs", "p_obs", "act", "rew", "actor_act", "guide_act", "spk")}
        done, terminated = False, False
        while not done:
            rec["a_obs"].append(obs["actor"])
            rec["p_obs"].append(obs["privileged"])
            actor_action = guide_action = None
            if runner is not None:
                actor_action, spikes = runner(obs["actor"])
                rec["actor_act"].append(actor_action)
                rec["spk"].append(spikes)
            if guide is not None:
                guide_action = np.asarray(guide(obs["privileged"][None]), np.float32)[0]
                rec["guide_act"].append(guide_action)
            if pilot == "actor":
                action = actor_action
            elif pilot == "guide":
                action = guide_action
            else:
                action = np.asarray(pilot(obs["privileged"][None]), np.float32)[0]  # type: ignore[operator]
            action = np.clip(action, -1.0, 1.0)
            rec["act"].append(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            rec["rew"].append(reward)
            done = terminated or truncated
        episodes.append(
            Episode(
                actor_obs=np.array(rec["a_obs"], np.float32),
                privileged_obs=np.array(rec["p_obs"], np.float32),
                actions=np.array(rec["act"], np.float32),
                rewards=np.array(rec["rew"], np.float64),
                terminated=bool(terminated),
                actor_actions=np.array(rec["actor_act"], np.float32) if rec["actor_act"] else None,
                guide_actions=np.array(rec["guide_act"], np.float32) if rec["guide_act"] else None,
                spikes=[np.array([s[i] for s in rec["spk"]], np.float32) for i in range(len(rec["spk"][0]))]
                if rec["spk"]
                else [],
            )
        )
    return episodes


def load_actor(path: str) -> Any:
    """Load a saved GuidedTD3 model (zip) for analysis (no env, no replay buffer)."""
    from sb3_spiking import GuidedTD3

    return GuidedTD3.load(path, device="cpu")


__all__ = ["Episode", "fly", "load_actor"]
