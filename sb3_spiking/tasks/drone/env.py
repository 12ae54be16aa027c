"""Single gymnasium environment for Crazyflie hover / position control (``DroneHover-v0``).

Observation (``obs_mode``):

* ``"dict"`` (default): ``Dict({"actor": Box(18), "privileged": Box(22 + 4 * action_history)})``, with
  ``command_obs`` also ``"command": Box(4)`` (the command in force);
* ``"actor"``: the 18-dim Box only (``DroneHoverBox-v0`` default);
* ``"privileged"``: the privileged Box only.

Action: ``Box(-1, 1, (4,), float32)`` motor set-points, ``u = (a + 1) / 2`` of the maximum speed.
Reward, curriculum and termination: see :mod:`sb3_spiking.tasks.drone.reward` and
:class:`~sb3_spiking.tasks.drone.config.DroneHoverConfig`. Episodes end by truncation after
``max_episode_steps`` (500, 5 s) or by termination on a crash.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from sb3_spiking.obs_keys import COMMAND_KEY
from sb3_spiking.tasks.drone.config import DroneHoverConfig
from sb3_spiking.tasks.drone.reward import RewardWeights
from sb3_spiking.tasks.drone.task import DroneHoverTask, validate_actions


def make_spaces(config: DroneHoverConfig) -> tuple[spaces.Space, spaces.Box]:
    """Observation and action space of one drone environment."""
    actor = spaces.Box(-np.inf, np.inf, (config.actor_dim,), np.float32)
    privileged = spaces.Box(-np.inf, np.inf, (config.privileged_dim,), np.float32)
    entries = {"actor": actor, "privileged": privileged}
    if config.command_obs:
        entries[COMMAND_KEY] = spaces.Box(-1.0, 1.0, (4,), np.float32)
    obs_space: spaces.Space = {
        "dict": spaces.Dict(entries),
        "actor": actor,
        "privileged": privileged,
    }[config.obs_mode]
    return obs_space, spaces.Box(-1.0, 1.0, (4,), np.float32)


class CurriculumAccess:
    """Reward-curriculum accessors shared by the single and the batched env (both own a ``task``);
    reachable through ``VecEnv.env_method`` / ``set_attr``."""

    task: DroneHoverTask

    @property
    def curriculum_stage(self) -> int:
        """Current reward curriculum stage (0..5)."""
        return self.task.curriculum_stage

    @curriculum_stage.setter
    def curriculum_stage(self, stage: int) -> None:
        self.task.set_curriculum_stage(stage)

    def set_curriculum_stage(self, stage: int) -> None:
        """Use the reward weights of curriculum ``stage`` from the next step on."""
        self.task.set_curriculum_stage(stage)

    def get_curriculum_stage(self) -> int:
        return self.task.curriculum_stage

    @property
    def reward_weights(self) -> RewardWeights:
        return self.task.weights


class DroneHoverEnv(CurriculumAccess, gym.Env):
    """Crazyflie hover at ``target_position`` (default the origin), l2f dynamics at 100 Hz.

    :param render_mode: must be ``None`` (no rendering).
    :param options: any field of :class:`~sb3_spiking.tasks.drone.config.DroneHoverConfig`
        (``obs_mode``, ``max_episode_steps``, ``termination``, ``curriculum_stage``,
        ``action_history``, ``obs_noise``, ``domain_randomization``, ``init``,
        ``target_position``, ``sim_threads``); unknown names raise ``ValueError``.
    """

    metadata = {"render_modes": []}

    def __init__(self, render_mode: str | None = None, **options: Any) -> None:
        if render_mode is not None:
            raise ValueError(f"DroneHoverEnv has no render modes, got render_mode={render_mode!r}")
        self.render_mode = None
        self.config = DroneHoverConfig.from_options(**options)
        self.task = DroneHoverTask(1, self.config)
        self.observation_space, self.action_space = make_spaces(self.config)
        self._all = np.ones(self.task.n_rows, bool)

    # -- gymnasium API ----------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Start an episode; a ``seed`` makes it (and the following unseeded episodes) reproducible."""
        super().reset(seed=seed)
        if options:
            raise ValueError(f"DroneHoverEnv.reset takes no options, got {sorted(options)}")
        if seed is not None:
            self.task.seed(seed)
        elif not self.task._seeded:
            self.task.seed(int(self.np_random.integers(2**31 - 1)))
        self.task.reset_rows(self._all)
        return self._obs(), {}

    def step(self, action: np.ndarray) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        a = validate_actions(action, (4,))
        reward, terminated, truncated = self.task.step(a.reshape(1, 4))
        return self._obs(), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}

    def _obs(self) -> Any:
        obs = self.task.observation(slice(0, 1))
        if isinstance(obs, dict):
            return {k: v[0] for k, v in obs.items()}
        return obs[0]

    @property
    def hover_action(self) -> float:
        """The true hover action of the current episode's dynamics."""
        return float(self.task.sim.hover_actions[0])
