"""Action repetition for the critic (issue 30's third lever): the agent decides every ``k`` simulator steps.

At 50 Hz (LunarLander) or 100 Hz (the drone) one action changes the next state by little, so ``Q(s, a)`` is almost
``V(s)`` and a learnt critic hardly resolves the action's effect (docs/critic.md §2). Holding each action for ``k``
steps makes a decision's effect ``k`` times larger at the same scale of ``V`` — the simple form of temporally extended
actions (Sharma et al., "Learning to repeat", 2017; Safe Action Repetition, NeurIPS 2021).

Two views of the same thing, so that training and evaluation fly the same policy:

* :class:`ActionRepeat`, a gymnasium wrapper for training: one ``step`` applies the action ``k`` times and returns
  the summed reward and the last observation (the learner counts decisions, not simulator steps);
* :class:`HeldActions`, a controller for evaluation on the unwrapped env: it asks the model every ``k``-th step and
  holds the answer in between (the recurrent state advances only at decisions, as in training).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np


class ActionRepeat(gym.Wrapper):
    """Apply each action ``k`` times; reward summed, the episode ends at the first ``terminated``/``truncated``.

    :param env: any gymnasium env.
    :param k: simulator steps per decision (>= 1).
    """

    def __init__(self, env: gym.Env, k: int) -> None:
        super().__init__(env)
        if int(k) != k or k < 1:
            raise ValueError(f"action repeat must be an integer >= 1, got {k!r}")
        self.k = int(k)

    def step(self, action):
        total = 0.0
        for _ in range(self.k):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        return obs, total, terminated, truncated, info


class HeldActions:
    """A model that decides every ``k`` steps and holds its action in between (``predict`` as SB3's).

    :param model: an SB3 model (``predict(obs, state, episode_start, deterministic)``).
    :param k: simulator steps per decision (>= 1); ``k`` = 1 is the model itself.
    """

    def __init__(self, model: Any, k: int) -> None:
        if int(k) != k or k < 1:
            raise ValueError(f"action repeat must be an integer >= 1, got {k!r}")
        self.model, self.k = model, int(k)
        self._since, self._action = 0, None

    def predict(self, observation, state=None, episode_start=None, deterministic: bool = False):
        if episode_start is not None and bool(np.asarray(episode_start).any()):
            self._since = 0
        if self._since % self.k == 0:
            self._action, state = self.model.predict(observation, state=state, episode_start=episode_start,
                                                     deterministic=deterministic)
        self._since += 1
        return self._action, state


__all__ = ["ActionRepeat", "HeldActions"]
