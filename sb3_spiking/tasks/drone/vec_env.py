"""Batched drone hover environments as one SB3 ``VecEnv`` (one C++ call steps all of them).

:class:`DroneHoverVecEnv` follows SB3's ``VecEnv`` conventions exactly: ``step`` auto-resets
finished environments, puts the last observation of the old episode into
``infos[i]["terminal_observation"]`` and sets ``infos[i]["TimeLimit.truncated"]``; it also writes
``infos[i]["episode"] = {"r", "l", "t"}`` like ``Monitor`` so SB3's ``ep_rew_mean`` logging,
``evaluate_policy`` and ``EvalCallback`` work without wrappers (``env_is_wrapped(Monitor)``
answers True for that reason; wrapping in ``VecMonitor`` is harmless and gives the same numbers).
Row ``i`` reproduces ``DroneHoverEnv`` reset with seed ``seed + i`` step for step.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvObs, VecEnvStepReturn

from sb3_spiking.tasks.drone.config import DroneHoverConfig
from sb3_spiking.tasks.drone.env import CurriculumAccess, DroneHoverEnv, make_spaces
from sb3_spiking.tasks.drone.model_copies import DroneModelCopies, physical_state, physical_state_dim
from sb3_spiking.tasks.drone.task import DroneHoverTask, validate_actions


class DroneHoverVecEnv(CurriculumAccess, VecEnv):
    """``num_envs`` drone hover environments simulated as one l2f vector.

    Any ``num_envs`` works: the simulator runs the next compiled power of two and ignores the
    extra rows. Attributes and methods reached through ``get_attr`` / ``set_attr`` /
    ``env_method`` are shared by all environments (e.g. the curriculum stage), so ``set_attr``
    and ``env_method`` refuse a subset of indices.

    :param num_envs: number of environments.
    :param options: fields of :class:`~sb3_spiking.tasks.drone.config.DroneHoverConfig` (same as
        ``DroneHoverEnv``); unknown names raise ``ValueError``.
    """

    def __init__(self, num_envs: int = 64, **options: Any) -> None:
        self.config = DroneHoverConfig.from_options(**options)
        self.task = DroneHoverTask(int(num_envs), self.config)
        self.render_mode = None  # read by VecEnv.__init__ through get_attr
        obs_space, action_space = make_spaces(self.config)
        self._all_rows = np.ones(self.task.n_rows, bool)
        self._real_rows = slice(0, int(num_envs))
        self._t_start = time.time()
        self._actions: np.ndarray | None = None
        # distinct empty info dicts handed out again while they stay empty (building 64 dicts per
        # step costs as much as the task logic); a dict someone wrote into is replaced
        self._quiet: list[dict[str, Any]] = [{} for _ in range(int(num_envs))]
        super().__init__(int(num_envs), obs_space, action_space)

    # -- VecEnv API -------------------------------------------------------------------------
    def reset(self) -> VecEnvObs:
        """Reset all environments; seeds from :meth:`seed` apply here (SB3 semantics)."""
        first = self._seeds[0]
        if first is not None:
            if list(self._seeds) != [first + i for i in range(self.num_envs)]:
                raise ValueError("DroneHoverVecEnv needs consecutive seeds (seed + i), as VecEnv.seed() sets them")
            self.task.seed(first)
        if any(self._options):
            raise ValueError(f"DroneHoverVecEnv.reset takes no options, got {self._options[0]}")
        self.task.reset_rows(self._all_rows)
        self._reset_seeds()
        self._reset_options()
        self.reset_infos = [{} for _ in range(self.num_envs)]
        return self.task.observation(slice(0, self.num_envs))

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = validate_actions(actions, (self.num_envs, 4))

    def _quiet_infos(self) -> list[dict[str, Any]]:
        if any(self._quiet):  # somebody stored something in a handed-out dict: use fresh ones
            self._quiet = [{} for _ in range(self.num_envs)]
        return self._quiet.copy()

    def step_wait(self) -> VecEnvStepReturn:
        if self._actions is None:
            raise RuntimeError("step_wait() called without step_async()")
        task, n = self.task, self.num_envs
        actions, self._actions = self._actions, None
        task.step(actions)
        obs = task.observation(self._real_rows)
        rewards = task.reward[:n].copy()
        done = task.done  # padding rows included: they restart too
        dones = done[:n].copy()
        infos = self._quiet_infos()
        if not task.n_finished:
            return obs, rewards, dones, infos
        idx = dones.nonzero()[0].tolist()
        if idx:
            truncated, ep_return, ep_length = task.truncated, task.ep_return, task.ep_length
            t = round(time.time() - self._t_start, 6)
            is_dict = isinstance(obs, dict)
            for i in idx:
                infos[i] = {
                    "terminal_observation": {k: v[i].copy() for k, v in obs.items()} if is_dict else obs[i].copy(),
                    "TimeLimit.truncated": bool(truncated[i]),  # truncated excludes terminated
                    "episode": {"r": float(ep_return[i]), "l": int(ep_length[i]), "t": t},
                }
        task.reset_rows(done)  # also clears the episode statistics of those rows
        if idx:
            first_obs = task.observation(np.array(idx))
            if isinstance(obs, dict):
                for k in obs:
                    obs[k][idx] = first_obs[k]
            else:
                obs[idx] = first_obs
        return obs, rewards, dones, infos

    def close(self) -> None:
        pass

    def _check_all(self, indices: VecEnvIndices, what: str) -> None:
        if sorted(set(self._get_indices(indices))) != list(range(self.num_envs)):
            raise ValueError(f"{what} acts on all environments of a DroneHoverVecEnv at once; pass indices=None")

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self, attr_name)
        return [value for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        self._check_all(indices, "set_attr")
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None, **method_kwargs: Any) -> list[Any]:
        self._check_all(indices, "env_method")
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result for _ in range(self.num_envs)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        # episode statistics are emitted like Monitor does; no other gym wrapper is applied
        wrapped = isinstance(wrapper_class, type) and issubclass(Monitor, wrapper_class)
        return [wrapped for _ in self._get_indices(indices)]

    # -- branching (vine rollouts, sb3_spiking.guided_td3.vine) ------------------------------
    def branch_env(self, num_envs: int) -> DroneHoverVecEnv:
        """A new env of ``num_envs`` rows with this env's options, reset, whose rows can be made
        copies of this env's rows with :meth:`copy_rows_from` (the simulator is deterministic, so
        copies that get the same actions fly the same trajectory)."""
        env = DroneHoverVecEnv(num_envs, **vars(self.config))
        env.match_settings(self)
        env.seed(0)
        env.reset()
        return env

    def copy_rows_from(self, src: DroneHoverVecEnv, src_rows: np.ndarray, dst_rows: np.ndarray) -> VecEnvObs:
        """Make env ``dst_rows[k]`` an exact copy of env ``src_rows[k]`` of ``src`` (same options):
        simulator state, action history, step count, episode statistics, dynamics, observation
        noise and the curriculum's reward weights. Returns this env's observation of all rows."""
        if not isinstance(src, DroneHoverVecEnv):
            raise TypeError(f"can only copy rows from another DroneHoverVecEnv, got {type(src).__name__}")
        self.task.copy_rows_from(src.task, src_rows, dst_rows)
        return self.task.observation(self._real_rows)

    def match_settings(self, src: DroneHoverVecEnv) -> None:
        """Take over ``src``'s settings that change during training: the curriculum's reward weights."""
        self.task.match_settings(src.task)

    # -- learnt-model copies (the vine's copies: model, sb3_spiking.branching.ModelCopyableVecEnv) ------------------
    @property
    def physical_state_dim(self) -> int:
        """Size of the physical state a learnt model moves (:mod:`sb3_spiking.tasks.drone.model_copies`)."""
        return physical_state_dim(self.config)

    def physical_state(self, obs: VecEnvObs) -> np.ndarray:
        """The physical state of a batch of observations, read from their privileged part."""
        if self.config.obs_mode == "actor":
            raise ValueError("the physical state is read from the privileged observation, which obs_mode 'actor' leaves out")
        return physical_state(self.config, np.asarray(obs["privileged"] if isinstance(obs, dict) else obs))

    def model_copies(self, num_envs: int, dynamics: Any) -> DroneModelCopies:
        """``num_envs`` copies flown on the learnt model ``dynamics``, started by ``copy_rows_from`` this env's kind."""
        return DroneModelCopies(self.config, num_envs, dynamics)

    @property
    def hover_actions(self) -> np.ndarray:
        """True hover action of every environment's current dynamics, (num_envs,)."""
        return self.task.sim.hover_actions[: self.num_envs].copy()


_DRONE_ENTRY_POINTS = ("sb3_spiking.tasks.drone.env:DroneHoverEnv", DroneHoverEnv)


def batched_drone_vec_env(
    env_id: str | Callable[..., gym.Env],
    n_envs: int = 1,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_class: Callable[[gym.Env], gym.Env] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
) -> VecEnv | None:
    """One batched :class:`DroneHoverVecEnv` with the env's options, seeded like SB3's ``make_vec_env``;
    ``None`` when ``env_id`` is not a drone env.

    ``env_id`` is an id of :class:`~sb3_spiking.tasks.drone.env.DroneHoverEnv` (``DroneHover-v0``,
    ``DroneHoverBox-v0``, ...) or a callable returning one (rl-zoo passes
    ``lambda **kw: spec.make(**kw)``). ``monitor_dir`` wraps the result in ``VecMonitor`` writing
    ``<monitor_dir>/<start_index>.monitor.csv``; a gym ``wrapper_class`` cannot wrap a batched env
    and raises ``ValueError``.
    """
    env_kwargs = dict(env_kwargs or {})
    config = _drone_config(env_id, env_kwargs)
    if config is None:
        return None
    if wrapper_class is not None:
        raise ValueError("a gym wrapper_class cannot wrap the batched DroneHoverVecEnv; use a VecEnvWrapper instead")
    venv: VecEnv = DroneHoverVecEnv(n_envs, **vars(config))
    if seed is not None:
        venv.action_space.seed(seed)
    venv.seed(seed)
    if monitor_dir is not None:
        os.makedirs(monitor_dir, exist_ok=True)
        kwargs = dict(monitor_kwargs or {})
        name = str(start_index)
        if not kwargs.pop("override_existing", True):
            # VecMonitor always starts a new file: keep the earlier episodes (e.g. a resumed run)
            # by writing the continuation next to them, where rl-zoo's *monitor.csv glob finds it
            stamp = 1
            while os.path.exists(os.path.join(monitor_dir, f"{name}.continued{stamp}.monitor.csv")):
                stamp += 1
            name = f"{name}.continued{stamp}"
        with warnings.catch_warnings():  # "already wrapped with a Monitor": it only emits the same statistics
            warnings.filterwarnings("ignore", message=".*already wrapped with a `Monitor`")
            venv = VecMonitor(venv, filename=os.path.join(monitor_dir, name), **kwargs)
    return venv


def _drone_config(env_id: str | Callable[..., gym.Env], env_kwargs: dict[str, Any]) -> DroneHoverConfig | None:
    """Config of the drone env ``env_id`` would make, or ``None`` when it is not a drone env."""
    if isinstance(env_id, str):
        spec = gym.spec(env_id)
        if spec.entry_point not in _DRONE_ENTRY_POINTS:
            return None
        options = {**spec.kwargs, **env_kwargs}
        options.pop("render_mode", None)
        return DroneHoverConfig.from_options(**options)
    probe = env_id(**env_kwargs)
    try:
        unwrapped = probe.unwrapped
        return unwrapped.config if isinstance(unwrapped, DroneHoverEnv) else None
    finally:
        probe.close()


def drone_env_ids() -> Sequence[str]:
    """Registered ids whose entry point is :class:`~sb3_spiking.tasks.drone.env.DroneHoverEnv`."""
    return [k for k, spec in gym.registry.items() if spec.entry_point in _DRONE_ENTRY_POINTS]
