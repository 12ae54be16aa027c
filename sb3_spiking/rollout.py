"""One rollout loop for every evaluation and recording: a stateful model and / or a privileged guide fly an env.

:func:`rollout` flies one episode per env of a ``VecEnv`` (an episode ends at the env's first
``done``; the env's automatic reset after it is ignored), from zero actor state: the guide flies
steps ``< guide_steps`` while the model observes and warms its state up, the model flies the rest.
With ``record=True`` it keeps every step (observations, executed actions, rewards), and what the
analysis needs besides: the model's own actions also while the guide flies, the guide's actions
(``record_guide``) and the spikes of a :class:`RecordingActor`.

* :class:`RecordingActor`: a spiking actor stepped as a model (``predict``) that keeps each step's spikes;
* :class:`SingleEnvEpisodes`: one gymnasium env seen as a one-row batch without automatic reset, for
  episodes flown one after another from one env's generator.

Task packages build their env and call it (e.g. the drone's ``protocols.fly`` and ``rollouts.fly``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv

# the export package's actor lookup (model, policy, actor or bare network -> SpikingMLP and action bounds)
from sb3_spiking.export.resolve import resolve_actor, unit_command
from sb3_spiking.guides import resolve_guide
from sb3_spiking.neurons import SpikingMLP
from sb3_spiking.obs_keys import actor_part, command_in_force, privileged_part


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
    #: with ``record=True`` and a model: its actions ``(T, N, A)`` every step, also while the guide flies (as returned,
    #: not clipped); and, for a model that keeps them (:class:`RecordingActor`), its spikes, one ``(T, N, H_i)``
    #: array per layer
    model_actions: np.ndarray | None = None
    spikes: list[np.ndarray] | None = None
    #: with ``record=True`` and ``record_guide=True``: the guide's actions ``(T, N, A)``, every step (as returned)
    guide_actions: np.ndarray | None = None
    #: per episode: whether it ended by termination (``False``: truncated or still running at ``max_steps``)
    terminated: np.ndarray | None = None

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


class RecordingActor:
    """A spiking actor stepped one observation batch at a time through a recurrent ``predict``, keeping the spikes
    of its last step (:attr:`last_spikes`): what :func:`rollout` records for the analysis.

    It runs the bare :class:`~sb3_spiking.neurons.SpikingMLP` on the actor part of the observation and maps its
    output to the action bounds of the policy it came from (none for a bare network).

    :param actor: a GuidedTD3 model, a SpikingPolicy, a SpikingActor or a SpikingMLP.
    """

    def __init__(self, actor: Any):
        self.net: SpikingMLP
        self.net, self.low, self.high = resolve_actor(actor)
        self.last_spikes: list[np.ndarray] = []

    @th.no_grad()
    def predict(self, observation: Any, state: tuple[th.Tensor, ...] | None = None,
                episode_start: np.ndarray | None = None, deterministic: bool = True) -> tuple[np.ndarray, tuple[th.Tensor, ...]]:
        """Actions ``(N, A)`` for one step of ``N`` observations, and the next state; rows with ``episode_start``
        (all rows without a ``state``) start from the zero state (an action feedback from the observation's command in
        force, as the policy's ``predict``)."""
        x = np.asarray(actor_part(observation), np.float32)
        n = x.shape[0]
        fresh = self.net.initial_state(n, command=unit_command(command_in_force(observation), self.low, self.high))
        if state is None:
            state = fresh
        elif episode_start is not None and np.any(episode_start):
            rows = th.as_tensor(np.asarray(episode_start, bool))
            state = tuple(th.where(rows.view(-1, *([1] * (s.dim() - 1))), f, s) for s, f in zip(state, fresh))
        out, state, spikes = self.net(th.as_tensor(x).view(1, n, -1), state, return_spikes=True)
        actions = out.view(n, -1).numpy()
        if self.low is not None:
            actions = self.low + 0.5 * (actions + 1.0) * (self.high - self.low)
        self.last_spikes = [s.view(n, -1).numpy().copy() for s in spikes]
        return actions.astype(np.float32), state


class SingleEnvEpisodes:
    """One gymnasium env as a one-row batch for :func:`rollout`, without automatic reset: episodes flown one after
    another continue the env's own generator (seed the first with :meth:`seed`). Actions are clipped to the action
    space before they reach the env, as actuators would."""

    num_envs = 1

    def __init__(self, env: gym.Env):
        self.env = env
        self._seed: int | None = None
        space = env.action_space
        self._low, self._high = (space.low, space.high) if isinstance(space, gym.spaces.Box) else (None, None)

    def seed(self, seed: int | None) -> None:
        """Seed of the next reset only (``None``: continue the generator)."""
        self._seed = seed

    @staticmethod
    def _batch(obs: Any) -> Any:
        if isinstance(obs, dict):
            return {k: np.asarray(v)[None] for k, v in obs.items()}
        return np.asarray(obs)[None]

    def reset(self) -> Any:
        obs, _ = self.env.reset(seed=self._seed)
        self._seed = None
        return self._batch(obs)

    def step(self, actions: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray, list[dict[str, Any]]]:
        action = np.asarray(actions)[0]
        if self._low is not None:
            action = np.clip(action, self._low, self._high)
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "TimeLimit.truncated": bool(truncated and not terminated)}  # SB3's VecEnv convention
        return self._batch(obs), np.array([reward], np.float64), np.array([terminated or truncated]), [info]

    def close(self) -> None:
        self.env.close()


def rollout(
    env: VecEnv | SingleEnvEpisodes,
    max_steps: int,
    model: Any | None = None,
    guide: Any | None = None,
    guide_steps: int = 0,
    record: bool = False,
    record_guide: bool = False,
) -> EpisodeStats:
    """Fly one episode in each of ``env``'s envs from its next reset; the env is not closed.

    :param env: the batched env, seeded by the caller (its rows are the initial states).
    :param max_steps: the episodes' step limit (the env's truncation length).
    :param model: anything with a recurrent SB3 ``predict(obs, state, episode_start, deterministic)``
        (e.g. a trained GuidedTD3, or a :class:`RecordingActor`); ``None``: the guide flies the whole episode.
    :param guide: privileged guide (anything :func:`sb3_spiking.guides.resolve_guide` accepts);
        needed when ``model`` is ``None`` or ``guide_steps > 0``. It acts on the privileged part of
        the observation.
    :param guide_steps: steps flown by the guide at the start of each episode.
    :param record: keep every step's observations, actions, rewards and running flags (and the model's actions,
        its spikes where it keeps them, the guide's actions with ``record_guide``).
    :param record_guide: with ``record``: query the guide on every step, also where it does not fly, and keep its
        actions (``EpisodeStats.guide_actions``).
    """
    guide_fn = resolve_guide(guide)
    if guide_fn is None and (model is None or guide_steps > 0 or record_guide):
        raise ValueError("a guide is needed to fly without a model, to fly the warm-up steps or to record its actions")
    n = env.num_envs
    obs = env.reset()
    returns, lengths = np.zeros(n), np.zeros(n, np.int64)
    running, terminated = np.ones(n, bool), np.zeros(n, bool)
    state, start = None, np.ones(n, bool)
    kept: dict[str, list[Any]] = {k: [] for k in ("observations", "actions", "rewards", "running", "model", "guide", "spikes")}
    for t in range(max_steps):
        action = model_action = guide_action = None
        if model is not None:  # the actor observes every step, also while the guide flies
            model_action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            start = np.zeros(n, bool)
            action = model_action
        if model is None or t < guide_steps or (record and record_guide):
            guide_action = guide_fn(privileged_part(obs))  # type: ignore[misc]
            if model is None or t < guide_steps:
                action = guide_action
                executed = getattr(getattr(model, "policy", None), "with_executed_action", None)
                if executed is not None:  # an actor with action feedback remembers the guide's command
                    state = executed(state, action)
        if record:
            kept["observations"].append(obs)
            kept["actions"].append(np.clip(np.asarray(action, np.float32), -1.0, 1.0))
            kept["running"].append(running.copy())
            if model_action is not None:
                kept["model"].append(np.asarray(model_action, np.float32))
                kept["spikes"].append(getattr(model, "last_spikes", None))
            if record_guide:
                kept["guide"].append(np.asarray(guide_action, np.float32))
        obs, rewards, dones, infos = env.step(action)
        if record:
            kept["rewards"].append(np.where(running, rewards, 0.0))
        returns += np.where(running, rewards, 0.0)
        lengths += running
        ended = running & dones
        terminated |= ended & ~np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos])
        running &= ~dones
        if not running.any():
            break
    stats = EpisodeStats(returns, lengths, max_steps, terminated=terminated)
    if record:
        stats.observations = kept["observations"]
        stats.actions, stats.rewards, stats.running = (np.stack(kept[k]) for k in ("actions", "rewards", "running"))
        if kept["model"]:
            stats.model_actions = np.stack(kept["model"])
            if all(s is not None for s in kept["spikes"]):
                stats.spikes = [np.stack([step[i] for step in kept["spikes"]]) for i in range(len(kept["spikes"][0]))]
        if kept["guide"]:
            stats.guide_actions = np.stack(kept["guide"])
    return stats


__all__ = ["EpisodeStats", "RecordingActor", "SingleEnvEpisodes", "rollout"]
