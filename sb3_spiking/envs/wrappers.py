"""Observation wrappers for asymmetric actor-critic experiments on any Box-observation env."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_spiking.obs_keys import ACTOR_KEY, PRIVILEGED_KEY


class PrivilegedSplit(gym.ObservationWrapper):
    """Expose ``Dict(actor=obs[actor_indices], privileged=obs)``.

    With velocities left out of ``actor_indices`` this is the "NoVel" partially observable
    benchmark, with the full state still available to critic and guide.

    :param env: environment with a 1-D ``Box`` observation.
    :param actor_indices: indices of the observation the actor may see.
    """

    def __init__(self, env: gym.Env, actor_indices: Sequence[int]):
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Box) or len(space.shape) != 1:
            raise ValueError(f"PrivilegedSplit needs a 1-D Box observation, got {space}")
        idx = np.asarray(actor_indices, dtype=np.int64)
        if idx.size == 0 or idx.min() < 0 or idx.max() >= space.shape[0] or len(set(idx.tolist())) != idx.size:
            raise ValueError(f"actor_indices must be distinct indices in [0, {space.shape[0]}), got {list(actor_indices)}")
        self.actor_indices = idx
        actor_space = spaces.Box(space.low[idx], space.high[idx], dtype=space.dtype)  # type: ignore[arg-type]
        self.observation_space = spaces.Dict({ACTOR_KEY: actor_space, PRIVILEGED_KEY: space})

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {ACTOR_KEY: observation[self.actor_indices], PRIVILEGED_KEY: observation}
