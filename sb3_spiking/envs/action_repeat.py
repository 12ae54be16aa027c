"""Action repetition: the agent decides every ``k`` simulator steps and holds its action in between.

At 50 Hz (LunarLander) or 100 Hz (the drone) one action changes the next state by little, so a learnt ``Q(s, a)`` is
almost ``V(s)`` and hardly resolves what the action does (docs/critic.md §2). Holding each action for ``k`` steps makes
a decision's effect ``k`` times larger at the same scale of ``V`` — the simplest temporally extended action (Sharma et
al. 2017, "Learning to repeat"; Safe Action Repetition, NeurIPS 2021). Measured in docs/critic.md §3: on LunarLander
NoVel it lifts a TD3+BC student of a weak teacher from 106 % to 125 % of that teacher at the same budget.

Three pieces, one per place the repetition has to happen:

* :class:`ActionRepeat`: a gymnasium wrapper (rl-zoo: ``env_wrapper``) — exact episode ends;
* :class:`VecActionRepeat`: the same around a batched ``VecEnv`` that cannot take gym wrappers (rl-zoo:
  ``vec_env_wrapper``; the drone), with one approximation at episode ends (see the class);
* :class:`HeldActions`: a trained model flown on the *plain* env (an evaluation that builds its own env): it decides
  every ``k``-th step and holds the action in between.

The learner counts decisions: ``n_timesteps``, ``learning_starts``, a guide's horizon and the sequence lengths of
sequence TD3 are in decisions, ``γ`` discounts per decision.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, unwrap_vec_wrapper


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"action repeat must be an integer >= 1, got {k!r}")
    return int(k)


class ActionRepeat(gym.Wrapper):
    """Apply each action ``k`` times: the reward summed, the last observation; the episode ends at the first
    ``terminated`` / ``truncated`` (the remaining repetitions are not simulated).

    :param env: any gymnasium env.
    :param k: simulator steps per decision (>= 1).
    """

    def __init__(self, env: gym.Env, k: int = 2) -> None:
        super().__init__(env)
        self.k = _check_k(k)

    def step(self, action):
        total = 0.0
        for _ in range(self.k):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class VecActionRepeat(VecEnvWrapper):
    """:class:`ActionRepeat` for a ``VecEnv``: every env steps ``k`` times with its action; rewards summed up to the
    env's episode end, which ends the decision for that env (``done``, its ``terminal_observation``, its info).

    A ``VecEnv`` steps all its envs together and restarts a finished one at once, so an env whose episode ends at
    repetition ``j < k`` spends the remaining ``k - j`` steps in its *next* episode with the old action; the
    observation returned for it is the state after them (what the agent then acts on), their rewards are not counted.
    On the drone (k = 2) that is at most one 10 ms step of the last command at the start of some episodes.
    Evaluations that fly all envs from their starts together (:func:`sb3_spiking.rollout.rollout`) are exact.

    :param venv: the vectorised env.
    :param k: simulator steps per decision (>= 1).
    """

    def __init__(self, venv: VecEnv, k: int = 2) -> None:
        super().__init__(venv)
        self.k = _check_k(k)
        self._actions: np.ndarray | None = None

    def reset(self):
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        total = np.zeros(self.num_envs, dtype=np.float32)
        ended = np.zeros(self.num_envs, dtype=bool)
        final_infos: list[dict] = [{} for _ in range(self.num_envs)]
        for _ in range(self.k):
            obs, rewards, dones, infos = self.venv.step(self._actions)
            total += np.where(ended, 0.0, rewards).astype(np.float32)
            for i in np.flatnonzero(~ended):  # an env's info is that of its decision's last step in its episode
                final_infos[i] = infos[i]
            ended |= dones
            if ended.all():
                break
        return obs, total, ended, final_infos


def action_repeat_of(env: Any) -> int:
    """The ``k`` of the first :class:`VecActionRepeat` inside ``env``'s ``VecEnvWrapper`` chain (1 when there is none).
    Gym-level :class:`ActionRepeat` wrappers inside a ``VecEnv`` are not looked for."""
    wrapper = unwrap_vec_wrapper(env, VecActionRepeat)
    return 1 if wrapper is None else wrapper.k


class HeldActions:
    """A model that decides every ``k`` steps of a plain env and holds its action in between; SB3's ``predict``.

    The recurrent state advances only at decisions, as in training with :class:`ActionRepeat`. The counter restarts
    where ``episode_start`` is set (all envs of a batch start and decide together). Other attributes are the model's.

    :param model: an SB3 model (``predict(obs, state, episode_start, deterministic)``).
    :param k: simulator steps per decision (>= 1); 1 is the model itself.
    """

    def __init__(self, model: Any, k: int) -> None:
        self.model, self.k = model, _check_k(k)
        self._since, self._action = 0, None

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False):
        if episode_start is not None and bool(np.asarray(episode_start).any()):
            self._since = 0
        if self._since % self.k == 0:
            self._action, state = self.model.predict(observation, state=state, episode_start=episode_start,
                                                     deterministic=deterministic)
        self._since += 1
        return self._action, state

    def __getattr__(self, name: str) -> Any:
        if name == "model":  # not set yet (copy, unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.model, name)


__all__ = ["ActionRepeat", "HeldActions", "VecActionRepeat", "action_repeat_of"]
