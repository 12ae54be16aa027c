"""The hover reward of the paper, its weights and the six-stage reward curriculum.

Per step, from the *clean* (noise-free) state after the action::

    r = C_rs - C_rp * |p - p_target|^2 - C_rv * |v|^2 - C_rq * theta(R) - C_ra * |a - a_hover|^2

* ``p`` position [m], ``v`` linear velocity in the world frame [m/s], ``a`` the (clipped) action
  in [-1, 1]^4, ``a_hover`` the simulator's true hover action (all four motors equal, thrust = m g).
* ``theta(R) = arccos((trace(R) - 1) / 2)`` in [0, pi] is the geodesic angle between the body
  attitude and the level, zero-yaw target attitude, i.e. the rotation angle of ``R``. It is the
  standard frame-invariant distance on SO(3), it is what ``|q - q_des|`` measures up to a monotone
  map (``|q - q_des|^2 = 2 - 2 cos(theta / 2)`` for the nearer of +-q), it penalises yaw as well
  as tilt (the target attitude has a fixed yaw), and it is linear rather than quadratic near zero,
  so small attitude errors still cost something at ``C_rq = 0.25``.
* The maximum is ``C_rs = 1`` per step (500 per 500-step episode); there is no lower clip.

The curriculum interpolates linearly from :data:`START_WEIGHTS` to :data:`FINAL_WEIGHTS` (paper §7)
in :data:`N_CURRICULUM_STAGES` = 6 discrete stages: stage ``k`` uses ``start + k/5 (final - start)``,
stage 0 = start, stage 5 = final.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

N_CURRICULUM_STAGES = 6
FINAL_STAGE = N_CURRICULUM_STAGES - 1


@dataclass(frozen=True)
class RewardWeights:
    """Weights of the hover reward (names follow the paper).

    :param c_rs: constant survival bonus (the per-step maximum).
    :param c_rp: weight of the squared position error [1/m^2].
    :param c_rv: weight of the squared linear velocity [s^2/m^2].
    :param c_rq: weight of the attitude error angle [1/rad].
    :param c_ra: weight of the squared distance of the action from the hover action.
    """

    c_rs: float
    c_rp: float
    c_rv: float
    c_rq: float
    c_ra: float

    def as_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


START_WEIGHTS = RewardWeights(c_rs=1.0, c_rp=1.0, c_rv=0.01, c_rq=0.25, c_ra=0.14)
FINAL_WEIGHTS = RewardWeights(c_rs=1.0, c_rp=3.5, c_rv=0.10, c_rq=0.25, c_ra=0.50)


def check_stage(stage: int) -> int:
    """Return ``stage`` as int, or raise ``ValueError`` when it is not in ``0..5``."""
    if isinstance(stage, (bool, np.bool_)) or not isinstance(stage, (int, np.integer)):
        raise ValueError(f"curriculum stage must be an int in 0..{FINAL_STAGE}, got {stage!r}")
    if not 0 <= stage <= FINAL_STAGE:
        raise ValueError(f"curriculum stage must be in 0..{FINAL_STAGE}, got {stage}")
    return int(stage)


def curriculum_weights(stage: int) -> RewardWeights:
    """Reward weights of curriculum ``stage`` (0 = :data:`START_WEIGHTS`, 5 = :data:`FINAL_WEIGHTS`)."""
    frac = check_stage(stage) / FINAL_STAGE
    s, f = START_WEIGHTS.as_dict(), FINAL_WEIGHTS.as_dict()
    return RewardWeights(**{k: s[k] + frac * (f[k] - s[k]) for k in s})


def stage_from_progress(progress: float) -> int:
    """Curriculum stage for a training progress in [0, 1]: ``min(5, floor(6 * progress))``.

    Each stage covers one sixth of training; the final weights apply from 5/6 on.
    """
    p = float(progress)
    if not math.isfinite(p):
        raise ValueError(f"progress must be finite, got {progress}")
    return min(FINAL_STAGE, max(0, math.floor(N_CURRICULUM_STAGES * p)))


def orientation_error(rotation_rowmajor: np.ndarray) -> np.ndarray:
    """Geodesic angle ``arccos((trace(R) - 1) / 2)`` of row-major rotation matrices, shape (N, 9) -> (N,)."""
    r = np.asarray(rotation_rowmajor)
    cos = (r[..., 0] + r[..., 4] + r[..., 8] - 1.0) * 0.5
    return np.arccos(np.clip(cos, -1.0, 1.0))


def hover_reward(
    state18: np.ndarray,
    actions: np.ndarray,
    hover_action: float | np.ndarray,
    weights: RewardWeights,
    target_position: np.ndarray | None = None,
) -> np.ndarray:
    """Reference (unoptimised) implementation of the per-step reward, see the module docstring.

    :param state18: (N, 18) clean state: position (3), rotation matrix row-major (9), linear
        velocity (3), angular velocity (3).
    :param actions: (N, 4) actions in [-1, 1] (already clipped).
    :param hover_action: scalar or (N,) hover action per row.
    :param weights: reward weights.
    :param target_position: (3,) target, default the origin.
    :return: (N,) float64 rewards.
    """
    s = np.asarray(state18, dtype=np.float64)
    p = s[:, 0:3] - (0.0 if target_position is None else np.asarray(target_position, np.float64))
    v = s[:, 12:15]
    da = np.asarray(actions, np.float64) - np.reshape(np.asarray(hover_action, np.float64), (-1, 1))
    return (
        weights.c_rs
        - weights.c_rp * (p * p).sum(1)
        - weights.c_rv * (v * v).sum(1)
        - weights.c_rq * orientation_error(s[:, 3:12])
        - weights.c_ra * (da * da).sum(1)
    )
