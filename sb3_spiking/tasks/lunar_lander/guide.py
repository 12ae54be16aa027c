"""gymnasium's LunarLander heuristic as a batched privileged guide."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np


class LunarLanderHeuristicGuide:
    """gymnasium's ``lunar_lander.heuristic`` in continuous mode, on a batch of full observations.

    It reads the privileged (full, 8-value) observation ``[x, y, vx, vy, θ, ω, leg1, leg2]`` —
    the velocities included — and returns ``(n, 2)`` actions (main engine, lateral engine) in
    [-1, 1]. gymnasium's function is called row by row so that the guide is the heuristic itself,
    not a re-implementation of it.
    """

    def __init__(self) -> None:
        from gymnasium.envs.box2d.lunar_lander import heuristic  # needs box2d only through its module import

        self._heuristic = heuristic
        # the heuristic only asks env.unwrapped.continuous
        self._env = SimpleNamespace(unwrapped=SimpleNamespace(continuous=True))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64)
        if obs.ndim == 1:
            obs = obs[None]
        if obs.ndim != 2 or obs.shape[1] != 8:
            raise ValueError(
                f"LunarLanderHeuristicGuide needs the full 8-value observation (batched: (n, 8)), got shape {obs.shape}"
            )
        return np.stack([self._heuristic(self._env, row) for row in obs]).astype(np.float32)

    def __repr__(self) -> str:
        return "LunarLanderHeuristicGuide()"
