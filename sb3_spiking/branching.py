"""The protocol of vector envs whose rows can be copied ("branched"), which the vine phase needs.

A simulator that can copy the state of some of its rows into another env lets an algorithm fly the
same state with different actions and compare the returns (TRPO's vine rollouts). The core knows
no task: a task's ``VecEnv`` implements these methods (the drone task's ``DroneHoverVecEnv`` does)
and :func:`branchable_env` finds it inside the training env or says why it cannot be used.
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


def branchable_env(env: VecEnv) -> BranchableVecEnv:
    """The innermost ``VecEnv`` of ``env`` if it implements :class:`BranchableVecEnv`, else ``ValueError`` saying why.

    Wrappers other than ``VecMonitor`` are refused: a ``VecNormalize`` (or any wrapper that changes
    observations or rewards) would make the copies' returns differ from what the agent is trained on.
    """
    inner = env
    while isinstance(inner, VecEnvWrapper):
        if not isinstance(inner, VecMonitor):
            raise ValueError(
                f"vine gradients fly copies of the raw env; the wrapper {type(inner).__name__} would change what "
                "they see or earn. Use the env without it (VecMonitor is fine)"
            )
        inner = inner.venv
    if not isinstance(inner, BranchableVecEnv):
        raise ValueError(
            f"vine gradients need an env whose rows can be copied (methods branch_env and copy_rows_from, "
            f"sb3_spiking.branching.BranchableVecEnv), got {type(inner).__name__}; the drone task's DroneHoverVecEnv "
            "has them (LunarLander's Box2D state cannot be copied)"
        )
    return inner


__all__ = ["BranchableVecEnv", "SettingsFollower", "branchable_env"]
