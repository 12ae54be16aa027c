"""A competent guide for gymnasium's ``Pendulum-v1``: energy-shaping swing-up + PD balance.

Used by the Pendulum demo, the quick start and the learning tests of GuidedTD3 (no training needed). It reads the
plain observation ``[cos θ, sin θ, θ̇]`` (θ = 0 upright) and returns torques in [-2, 2].
"""

from __future__ import annotations

import numpy as np

# Pendulum-v1 constants: g = 10, m = 1, l = 1, so I = m l^2 / 3 and E = I θ̇²/2 + m g l/2 (cos θ - 1)
_G, _M, _L, _MAX_TORQUE = 10.0, 1.0, 1.0, 2.0


class PendulumSwingUpGuide:
    """Pump energy towards the upright energy, then balance with PD near the top.

    :param k_energy: gain of the energy-pumping law ``u = k·(E* − E)·θ̇``.
    :param kp: proportional gain of the balance controller.
    :param kd: derivative gain of the balance controller.
    :param catch_angle: |θ| below which the balance controller takes over (rad).
    """

    def __init__(self, k_energy: float = 1.0, kp: float = 12.0, kd: float = 2.5, catch_angle: float = 0.6):
        self.k_energy, self.kp, self.kd, self.catch_angle = k_energy, kp, kd, catch_angle

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.asarray(obs, dtype=np.float64).reshape(-1, 3)
        theta = np.arctan2(obs[:, 1], obs[:, 0])
        theta_dot = obs[:, 2]
        energy = 0.5 * (_M * _L**2 / 3) * theta_dot**2 + _M * _G * _L / 2 * (np.cos(theta) - 1)
        pump = self.k_energy * (0.0 - energy) * np.sign(theta_dot + 1e-3)
        balance = -self.kp * theta - self.kd * theta_dot
        u = np.where(np.abs(theta) < self.catch_angle, balance, pump * _MAX_TORQUE)
        return np.clip(u, -_MAX_TORQUE, _MAX_TORQUE).astype(np.float32)[:, None]
