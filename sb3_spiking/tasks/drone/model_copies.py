"""Copies of drone rows that fly a learnt dynamics model instead of the simulator (the vine's ``copies: model``).

Nothing of the simulator is copied: a copy starts from what its source row *observes* (the privileged observation:
position, rotation, velocities, motor speeds, past commands, and the dynamics factors where they are observed) and
its episode step; the learnt model (:class:`~sb3_spiking.guided_td3.dynamics.DynamicsModel`) moves the 22 physical
values (with the factors, held constant); observations, reward, crash limits and the time limit are the task's own
(:func:`~sb3_spiking.tasks.drone.reward.hover_reward`, :meth:`DroneHoverTask.out_of_limits`), with the source env's
current reward weights.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from sb3_spiking.obs_keys import COMMAND_KEY
from sb3_spiking.tasks.drone.config import ACTOR_DIM, DR_KEYS, DroneHoverConfig
from sb3_spiking.tasks.drone.env import make_spaces
from sb3_spiking.tasks.drone.reward import hover_reward
from sb3_spiking.tasks.drone.simulator import hover_action, nominal_parameters

#: position 3, rotation matrix 9 (row-major), linear velocity 3, angular velocity 3, motor speeds 4
PHYSICAL_DIM = ACTOR_DIM + 4


def physical_state_dim(config: DroneHoverConfig) -> int:
    """Size of the drone's physical state: the 22 values, and the 4 dynamics factors where they are observed."""
    return PHYSICAL_DIM + (len(DR_KEYS) if config.privileged_dynamics else 0)


def physical_state(config: DroneHoverConfig, privileged: np.ndarray) -> np.ndarray:
    """The physical state read from privileged observations ``(N, 22 + 4 H [+ 4])``."""
    parts = [privileged[:, :PHYSICAL_DIM]]
    if config.privileged_dynamics:
        parts.append(privileged[:, PHYSICAL_DIM + 4 * config.action_history :])
    return np.concatenate(parts, 1) if len(parts) > 1 else parts[0].copy()


def _nearest_rotation(rot: th.Tensor) -> th.Tensor:
    """The nearest rotation matrices (polar decomposition) of row-major ``(N, 9)`` matrices: the model's small
    errors must not accumulate into a non-rotation over a 150-step copy."""
    u, _, vh = th.linalg.svd(rot.reshape(-1, 3, 3))
    return (u @ vh).reshape(-1, 9)


class DroneModelCopies(VecEnv):
    """``num_envs`` drone rows flown on a learnt model; started by :meth:`copy_rows_from`, stepped like the env.

    :param config: the source env's options (observation layout, time limit, noise).
    :param num_envs: number of copies.
    :param dynamics: the learnt model of :func:`physical_state`.
    :param seed: seeds the actor observation's noise (where the config has some).
    """

    def __init__(self, config: DroneHoverConfig, num_envs: int, dynamics: Any, seed: int = 0) -> None:
        self.config, self.dynamics = config, dynamics
        self.render_mode = None
        obs_space, action_space = make_spaces(config)
        self._priv = np.zeros((num_envs, config.privileged_dim), np.float32)
        self._command = np.zeros((num_envs, 4), np.float32)
        self._steps = np.zeros(num_envs, np.int64)
        self._alive = np.zeros(num_envs, bool)
        self._hover = np.zeros(num_envs, np.float64)
        self._nominal_hover = float(hover_action(nominal_parameters()["dynamics"]))
        self._weights: Any = None
        self._task: Any = None
        self._noise: np.ndarray | None = None
        self._rng = np.random.default_rng(seed)
        self._actions: np.ndarray | None = None
        super().__init__(int(num_envs), obs_space, action_space)

    def copy_rows_from(self, src: Any, src_rows: np.ndarray, dst_rows: np.ndarray) -> VecEnvObs:
        """Start copies ``dst_rows`` from what rows ``src_rows`` of the drone env ``src`` observe now (and their
        episode step and hover command); returns the copies' observation of all rows."""
        task = src.task
        src_rows = np.asarray(src_rows)
        return self.start_from(task.observation(src_rows), task.steps[src_rows], dst_rows, src, task.sim.hover_actions[src_rows])

    def start_from(self, obs: VecEnvObs, episode_steps: np.ndarray, dst_rows: np.ndarray, settings: Any,
                   hover: np.ndarray | None = None) -> VecEnvObs:
        """Start copies ``dst_rows`` from observations ``obs`` (a dict with the privileged part, and the command
        where the config has it, or the privileged array; ``(len(dst_rows), …)``) at ``episode_steps``; reward
        weights and observation noise from the drone env ``settings`` (its current curriculum), the hover command
        per copy from ``hover`` (default: the nominal drone's). Returns the copies' observation of all rows."""
        task = settings.task
        if task.config.privileged_dim != self.config.privileged_dim:
            raise ValueError("model copies need a source env with the same observation layout")
        dst_rows = np.asarray(dst_rows)
        priv = np.asarray(obs["privileged"] if isinstance(obs, dict) else obs, np.float32)
        self._priv[dst_rows] = priv  # the copies' whole state: the model moves its physical part
        if self.config.command_obs:
            self._command[dst_rows] = obs[COMMAND_KEY] if isinstance(obs, dict) else priv[:, PHYSICAL_DIM : PHYSICAL_DIM + 4]
        self._steps[dst_rows] = episode_steps
        self._hover[dst_rows] = self._nominal_hover if hover is None else hover
        self._alive[dst_rows] = True
        self._weights, self._task, self._noise = task.weights, task, task.actor_noise_std
        return self._observation()

    def _observation(self) -> VecEnvObs:
        s18 = self._priv[:, :ACTOR_DIM]
        actor = s18 if self._noise is None else s18 + self._rng.normal(0.0, 1.0, s18.shape).astype(np.float32) * self._noise
        if self.config.actor_history:
            history = self._priv[:, PHYSICAL_DIM : PHYSICAL_DIM + 4 * self.config.actor_history]
            actor = np.concatenate([actor, history], 1)
        mode = self.config.obs_mode
        if mode == "actor":
            return actor.astype(np.float32)
        if mode == "privileged":
            return self._priv.copy()
        obs = {"actor": actor.astype(np.float32), "privileged": self._priv.copy()}
        if self.config.command_obs:
            obs[COMMAND_KEY] = self._command.copy()
        return obs

    def reset(self) -> VecEnvObs:
        raise NotImplementedError("model copies start from a real row's observation: use copy_rows_from")

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.clip(np.asarray(actions, np.float32), -1.0, 1.0)

    @th.no_grad()
    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None or self._task is None:
            raise RuntimeError("step_wait() without step_async(), or before copy_rows_from()")
        a, self._actions = self._actions, None
        alive = self._alive  # a copy whose episode ended stays where it ended (the vine stops counting it)
        device = self.dynamics.in_mean.device
        state = physical_state(self.config, self._priv[alive])
        nxt = self.dynamics(th.as_tensor(state, device=device), th.as_tensor(a[alive], device=device))
        nxt[:, 3:12] = _nearest_rotation(nxt[:, 3:12])
        nxt[:, ACTOR_DIM:PHYSICAL_DIM] = nxt[:, ACTOR_DIM:PHYSICAL_DIM].clamp(-1.0, 1.0)  # motor speeds, relative
        # only the 22 values move: the observed dynamics factors stay the episode's, exactly
        self._priv[alive, :PHYSICAL_DIM] = nxt[:, :PHYSICAL_DIM].cpu().numpy()
        h = self.config.action_history
        if h:
            hist = self._priv[:, PHYSICAL_DIM : PHYSICAL_DIM + 4 * h]
            hist[alive] = np.concatenate([a[alive], hist[alive, : 4 * (h - 1)]], 1)
        self._command[alive] = a[alive]
        self._steps[alive] += 1
        s18 = self._priv[:, :ACTOR_DIM]
        reward = hover_reward(s18, a, self._hover, self._weights)
        terminated = self._task.out_of_limits(s18)
        done = terminated | (self._steps >= self.config.max_episode_steps)
        self._alive &= ~done
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        return self._observation(), reward.astype(np.float32), done, infos

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


__all__ = ["PHYSICAL_DIM", "DroneModelCopies", "physical_state", "physical_state_dim"]
