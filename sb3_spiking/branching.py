"""The protocol of vector envs whose rows can be copied ("branched"), which the vine phase needs.

A simulator that can copy the state of some of its rows into another env lets an algorithm fly the
same state with different actions and compare the returns (TRPO's vine rollouts). The core knows
no task: a task's ``VecEnv`` implements these methods (the drone task's ``DroneHoverVecEnv`` does)
and :func:`branchable_env` finds it inside the training env or says why it cannot be used.

Where the simulator's state cannot be copied (a real robot, Box2D), the copies can fly a dynamics model learnt
from the agent's own transitions instead (:mod:`sb3_spiking.guided_td3.dynamics`): a task that says what its
physical state is and how its copies turn that state into observations, rewards and episode ends implements
:class:`ModelCopyableVecEnv`, and :func:`model_copyable_env` finds it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecMonitor
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs


@runtime_checkable
class BranchableVecEnv(Protocol):
    """A ``VecEnv`` whose rows can be copied into another env of the same kind and config."""

    def branch_env(self, num_envs: int) -> VecEnv:
        """A new env with the same options and ``num_envs`` rows, reset."""
        ...

    def copy_rows_from(self, src: VecEnv, src_rows: np.ndarray, dst_rows: np.ndarray) -> VecEnvObs:
        """Make rows ``dst_rows`` of this env exact copies of rows ``src_rows`` of ``src`` (same kind and
        config); returns this env's observation after the copy."""
        ...


@runtime_checkable
class SettingsFollower(Protocol):
    """Optional beside :class:`BranchableVecEnv`: settings that change during training (e.g. a reward
    curriculum) are taken over from the training env before each round of measurements."""

    def match_settings(self, src: VecEnv) -> None:
        """Take over ``src``'s settings that change during training."""
        ...


@runtime_checkable
class ModelCopyableVecEnv(Protocol):
    """A ``VecEnv`` whose copies can fly a learnt dynamics model: nothing of the simulator is copied, only what is
    observed (the physical state in the observation) and the task's own settings (reward weights, limits)."""

    #: size of the physical state (the model's state)
    physical_state_dim: int

    def branch_env(self, num_envs: int) -> VecEnv:
        """A new env with the same options and ``num_envs`` rows, reset (the vine's leaders: more of the same env,
        flown from their own starts)."""
        ...

    def physical_state(self, obs: VecEnvObs) -> np.ndarray:
        """The physical state ``(N, physical_state_dim)`` read from a batch of observations (as stored in a
        replay buffer)."""
        ...

    def model_copies(self, num_envs: int, dynamics: object) -> VecEnv:
        """``num_envs`` copies flown on ``dynamics`` (a :class:`~sb3_spiking.guided_td3.dynamics.DynamicsModel`):
        ``copy_rows_from(src, src_rows, dst_rows)`` starts them from the observed state of ``src``'s rows,
        ``start_from(obs, episode_steps, dst_rows, settings)`` from stored observations (the env ``settings`` gives
        the current reward settings), and ``step`` answers as the env would."""
        ...


def _innermost(env: VecEnv) -> VecEnv:
    inner = env
    while isinstance(inner, VecEnvWrapper):
        if not isinstance(inner, VecMonitor):
            raise ValueError(
                f"vine gradients fly copies of the raw env; the wrapper {type(inner).__name__} would change what "
                "they see or earn. Use the env without it (VecMonitor is fine)"
            )
        inner = inner.venv
    return inner


def model_copyable_env(env: VecEnv) -> ModelCopyableVecEnv:
    """The innermost ``VecEnv`` of ``env`` if it implements :class:`ModelCopyableVecEnv`, else ``ValueError`` saying why
    (wrappers as in :func:`branchable_env`)."""
    inner = _innermost(env)
    if not isinstance(inner, ModelCopyableVecEnv):
        raise ValueError(
            f"vine copies on a learnt model (vine_kwargs copies: model) need an env that says what its physical state "
            f"is and builds model copies (physical_state_dim, physical_state, model_copies, branch_env: "
            f"sb3_spiking.branching.ModelCopyableVecEnv), got {type(inner).__name__}; the drone task's DroneHoverVecEnv "
            "has them"
        )
    return inner


def branchable_env(env: VecEnv) -> BranchableVecEnv:
    """The innermost ``VecEnv`` of ``env`` if it implements :class:`BranchableVecEnv`, else ``ValueError`` saying why.

    Wrappers other than ``VecMonitor`` are refused: a ``VecNormalize`` (or any wrapper that changes
    observations or rewards) would make the copies' returns differ from what the agent is trained on.
    """
    inner = _innermost(env)
    if not isinstance(inner, BranchableVecEnv):
        raise ValueError(
            f"vine gradients need an env whose rows can be copied (methods branch_env and copy_rows_from, "
            f"sb3_spiking.branching.BranchableVecEnv), got {type(inner).__name__}; the drone task's DroneHoverVecEnv "
            "has them (LunarLander's Box2D state cannot be copied; where the state cannot be copied, vine_kwargs "
            "copies: model flies the copies on a learnt dynamics model)"
        )
    return inner


__all__ = ["BranchableVecEnv", "ModelCopyableVecEnv", "SettingsFollower", "branchable_env", "model_copyable_env"]
