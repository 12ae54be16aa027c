"""Pendulum with the velocity hidden from the actor.

* ``PendulumNoVelPrivileged-v1``: gymnasium's ``Pendulum-v1`` with a ``Dict`` observation: the actor
  sees ``(cos θ, sin θ)`` only (``"actor"``) and must infer the angular velocity from its own state;
  critics and the swing-up guide see the full state (``"privileged"``). The memory benchmark with a
  guide. (rl-zoo's own ``PendulumNoVel-v1`` zeroes the velocity for everyone, so a guide cannot fly
  it; ``zoo_configs`` train that one from scratch.)
"""

from __future__ import annotations

import gymnasium as gym

from sb3_spiking.envs.wrappers import PrivilegedSplit

PENDULUM_NOVEL_PRIVILEGED = "PendulumNoVelPrivileged-v1"


def make_pendulum_novel_privileged(render_mode: str | None = None, **kwargs) -> gym.Env:
    """``Pendulum-v1`` (200-step episodes) split into ``Dict(actor=[cos, sin], privileged=[cos, sin, θ̇])``."""
    return PrivilegedSplit(gym.make("Pendulum-v1", render_mode=render_mode, **kwargs), actor_indices=[0, 1])


def register_envs() -> None:
    """Register ``PendulumNoVelPrivileged-v1`` with gymnasium (idempotent)."""
    if PENDULUM_NOVEL_PRIVILEGED not in gym.registry:
        gym.register(PENDULUM_NOVEL_PRIVILEGED, entry_point="sb3_spiking.tasks.pendulum.env:make_pendulum_novel_privileged")


__all__ = ["PENDULUM_NOVEL_PRIVILEGED", "make_pendulum_novel_privileged", "register_envs"]
