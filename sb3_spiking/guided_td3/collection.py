"""Guided collection: who flies each step, the teacher's labels, the actor's state and its own return.

:class:`GuidedCollector` is what ``GuidedTD3.collect_rollouts`` steps the env with (as sb3-contrib's
RecurrentPPO owns its LSTM states in its own collection loop). Per vector step it

* steps the actor on the observation (its hidden state warms up also while the guide flies);
* asks the teacher (the guide) for its action on every step: the label stored beside the executed action;
* decides who flies: the guide for the first ``horizon`` steps of an episode, else the actor with the
  exploration noise (random actions before ``learning_starts``);
* after the env step, resets the state of finished episodes and keeps the Monitor return of the
  episodes the actor flew alone (the *autonomous return*, what the deployed controller achieves).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from copy import deepcopy
from typing import Any, NamedTuple

import numpy as np
import torch as th
from stable_baselines3.common.noise import ActionNoise

from sb3_spiking.guided_td3.policies import SequencePolicy
from sb3_spiking.obs_keys import privileged_part

#: the teacher: a batch of (original, unnormalised) observations and the env step -> its actions scaled to [-1, 1]
Teacher = Callable[[Any, int], np.ndarray]


class GuideTeacher:
    """A resolved guide as the collector's :data:`Teacher`: it sees the privileged part of the observation; its
    actions are checked (shape, finite) and scaled to [-1, 1]; its errors name it and the step.

    :param guide: the guide (a callable ``obs -> actions`` in the env's action units, batched).
    :param policy: scales the actions (the env's action space).
    :param n_envs: rows of every observation batch.
    """

    def __init__(self, guide: Callable[[Any], Any], policy: SequencePolicy, n_envs: int) -> None:
        self.guide, self.policy, self.n_envs = guide, policy, int(n_envs)

    def __call__(self, obs: np.ndarray | dict[str, np.ndarray], step: int, check_finite: bool = True,
                 when: str | None = None) -> np.ndarray:
        """The guide's actions for ``obs`` at env step ``step``, scaled to [-1, 1].

        An exception raised inside the guide is re-raised with the same type (``RuntimeError`` if that type
        cannot take a message) and a message naming the guide, the observation shape and the step, chained to
        the original: a traceback deep in user code then says where it came from.
        """
        guide_obs = privileged_part(obs)
        when = when or f"at env step {step}"
        try:
            actions = np.asarray(self.guide(guide_obs), dtype=np.float32)
        except Exception as e:  # noqa: BLE001 - re-raised below, with the guide named
            message = (f"the guide {describe(self.guide)} raised {type(e).__name__} {when} "
                       f"(observation of shape {np.shape(guide_obs)}): {e}")
            try:
                error = type(e)(message)
            except Exception:  # noqa: BLE001 - an exception type whose constructor wants more
                error = RuntimeError(message)
            raise error from e
        expected = (self.n_envs, *self.policy.action_space.shape)  # type: ignore[misc]
        if actions.shape != expected:
            raise ValueError(
                f"the guide returned actions of shape {actions.shape}, expected {expected} "
                f"(guide {describe(self.guide)}, {when}, observation of shape {np.shape(guide_obs)})"
            )
        if check_finite and not np.isfinite(actions).all():
            raise ValueError(f"the guide returned non-finite actions at step {step}: {actions} (guide {describe(self.guide)})")
        return np.clip(self.policy.scale_action(actions), -1.0, 1.0)

    def check(self) -> None:
        """Call the guide once on sample observations: wrong shapes fail at construction, not mid-training.

        Only the shape is checked: a random sample of an unbounded space may be no state the guide was built
        for, so non-finite actions are caught on real observations, during collection.
        """
        sample = self.policy.observation_space.sample()
        if isinstance(sample, dict):
            batch: Any = {k: np.stack([v] * self.n_envs) for k, v in sample.items()}
        else:
            batch = np.stack([sample] * self.n_envs)
        with np.errstate(all="ignore"):
            self(batch, 0, check_finite=False, when="on a sample observation at construction")


def describe(guide: Any) -> str:
    """A short description of a guide for error messages: its type and (shortened) repr."""
    text = repr(guide)
    text = text if len(text) <= 120 else text[:117] + "..."
    name = type(guide).__qualname__
    return text if name in text else f"{name} {text}"


class StepChoice(NamedTuple):
    """What the collector chose for one vector step.

    :param action: the executed action, scaled to [-1, 1], in the action space's shape ``(n_envs, *shape)``
        (in the dtype it was computed in: the env gets it unscaled from that, the buffer as float32).
    :param guide_actions: the teacher's actions for the step (scaled), ``None`` without a teacher.
    :param guided: ``(n_envs,)`` where the guide flew the step.
    """

    action: np.ndarray
    guide_actions: np.ndarray | None
    guided: np.ndarray


class GuidedCollector:
    """Actor state, who-flies decision, teacher labels and autonomous-return statistics of collection.

    :param policy: the model's policy (its actor is stepped; its action space scales random actions).
    :param n_envs: number of envs collected from.
    :param teacher: the guide as a :data:`Teacher`, or ``None`` (the actor flies everything).
    :param stats_window_size: episodes averaged in the autonomous return.
    """

    def __init__(self, policy: SequencePolicy, n_envs: int, teacher: Teacher | None, stats_window_size: int = 100) -> None:
        self.policy, self.n_envs, self.teacher = policy, int(n_envs), teacher
        #: collected steps (over all envs) and those the guide flew, since the model was built or loaded
        self.collected_steps, self.guided_steps = 0, 0
        self.actor_ep_returns: deque[float] = deque(maxlen=stats_window_size)
        self.actor_ep_lengths: deque[int] = deque(maxlen=stats_window_size)
        self.start_episodes()

    def start_episodes(self) -> None:
        """Every env starts an episode (the env was reset): zero actor state, step 0, not assisted."""
        self.actor_state: tuple[th.Tensor, ...] = self.policy.actor.initial_state(self.n_envs)
        # envs whose state starts at the next observation (the actor's start state may read it: the command in force)
        self.starting = np.ones(self.n_envs, dtype=bool)
        self.episode_steps = np.zeros(self.n_envs, dtype=np.int64)
        # per env: whether an action of the running episode did not come from the actor (guide, random warm-up)
        self.assisted = np.zeros(self.n_envs, dtype=bool)

    def reset_statistics(self, stats_window_size: int) -> None:
        """Forget the autonomous returns (a new run, as SB3 does with its episode statistics)."""
        self.actor_ep_returns = deque(maxlen=stats_window_size)
        self.actor_ep_lengths = deque(maxlen=stats_window_size)

    def choose(
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        original_obs: np.ndarray | dict[str, np.ndarray],
        horizon: int,
        random_actions: bool,
        action_noise: ActionNoise | None,
        step: int = 0,
    ) -> StepChoice:
        """Step the actor on ``obs`` and choose the executed action.

        :param obs: the observation the actor sees (normalised under ``VecNormalize``).
        :param original_obs: the same observation unnormalised: what the teacher sees.
        :param horizon: the guide flies episode steps ``< horizon``.
        :param random_actions: fly uniformly random actions instead of the actor's (before ``learning_starts``).
        :param action_noise: exploration noise added to the actor's (or random) action.
        :param step: the env step (``num_timesteps``), for the teacher's error messages.
        """
        obs_tensor, _ = self.policy.obs_to_tensor(obs)
        with th.no_grad():
            if self.starting.any():
                rows = th.as_tensor(self.starting, device=self.policy.device)
                self.actor_state = self.policy.actor.start_state(obs_tensor, self.actor_state, rows)
                self.starting[:] = False
            actor_action, self.actor_state = self.policy.actor.step(obs_tensor, self.actor_state)
        space = self.policy.action_space
        shape = (self.n_envs, *space.shape)  # type: ignore[misc]
        if random_actions:
            scaled = self.policy.scale_action(np.array([space.sample() for _ in range(self.n_envs)]))
            self.assisted[:] = True  # random warm-up actions are not the actor's either
        else:
            # the actor's output is flat (n_envs, prod(shape)); the env and the noise want the space's shape
            scaled = actor_action.cpu().numpy().reshape(shape)
        if action_noise is not None:
            scaled = np.clip(scaled + action_noise(), -1.0, 1.0)
        guided = np.zeros(self.n_envs, dtype=bool)
        guide_actions = None
        if self.teacher is not None:
            guide_actions = self.teacher(original_obs, step)  # (n_envs, *shape), queried on every step
            guided = self.episode_steps < horizon
            scaled = np.where(guided.reshape(self.n_envs, *([1] * (len(shape) - 1))), guide_actions, scaled)
            self.guided_steps += int(guided.sum())
            self.assisted |= guided
        self.collected_steps += self.n_envs
        # an actor with action feedback remembers the command executed (the guide's, noisy or random), as deployed
        executed = th.as_tensor(scaled, dtype=th.float32, device=self.policy.device).reshape(self.n_envs, -1)
        self.actor_state = self.policy.actor.with_last_command(self.actor_state, executed)
        return StepChoice(scaled, guide_actions, guided)

    def end_step(self, dones: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """After the env step: keep the autonomous returns of finished episodes; their actor state starts afresh at the
        next :meth:`choose`."""
        done = np.asarray(dones, dtype=bool)
        for i in np.flatnonzero(done):
            episode = infos[i].get("episode")  # set by SB3's Monitor, as for rollout/ep_rew_mean
            if not self.assisted[i] and episode is not None:
                self.actor_ep_returns.append(float(episode["r"]))
                self.actor_ep_lengths.append(int(episode["l"]))
        self.assisted[done] = False
        self.episode_steps = np.where(done, 0, self.episode_steps + 1)
        self.starting |= done  # their state starts afresh at the next observation (choose)

    def guide_fraction(self) -> float:
        """Share of the collected steps the guide flew."""
        return self.guided_steps / max(self.collected_steps, 1)


def next_observations(new_obs: Any, dones: np.ndarray, infos: list[dict[str, Any]], vec_normalize_env: Any = None) -> Any:
    """What SB3's ``_store_transition`` stores as next observations: a copy of ``new_obs`` (the original, unnormalised
    one under ``VecNormalize``) with the terminal observation of every finished episode in its row (the env already
    reset it: ``new_obs`` is the next episode's first observation)."""
    next_obs = deepcopy(new_obs)
    for i, done in enumerate(dones):
        if done and infos[i].get("terminal_observation") is not None:
            terminal = infos[i]["terminal_observation"]
            if isinstance(next_obs, dict):
                if vec_normalize_env is not None:  # VecNormalize normalises the terminal observation
                    terminal = vec_normalize_env.unnormalize_obs(terminal)
                for key in next_obs:
                    next_obs[key][i] = terminal[key]
            else:
                next_obs[i] = terminal
                if vec_normalize_env is not None:
                    next_obs[i] = vec_normalize_env.unnormalize_obs(next_obs[i, :])
    return next_obs


__all__ = ["GuideTeacher", "GuidedCollector", "StepChoice", "Teacher", "describe", "next_observations"]
