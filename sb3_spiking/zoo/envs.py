"""Environment ids the zoo configs use besides the drone ones (registered by ``sb3_spiking.envs``).

* ``PendulumNoVelPrivileged-v1``: gymnasium's ``Pendulum-v1`` with a ``Dict`` observation: the actor
  sees ``(cos θ, sin θ)`` only (``"actor"``) and must infer the angular velocity from its own state;
  critics and the swing-up guide see the full state (``"privileged"``). The memory benchmark with a
  guide. (rl-zoo's own ``PendulumNoVel-v1`` zeroes the velocity for everyone, so a guide cannot fly
  it; ``zoo_configs`` train that one from scratch.)
* ``LunarLanderContinuousNoVelPrivileged-v3`` and its ``Box`` twin ``LunarLanderContinuousNoVelActor-v3``:
  LunarLanderContinuous with the velocities hidden from the actor, guided by gymnasium's heuristic
  (:mod:`sb3_spiking.tasks.lunar_lander`; box2d is needed only when the env is made).
"""

from __future__ import annotations

import gymnasium as gym

from sb3_spiking.envs.wrappers import PrivilegedSplit
from sb3_spiking.tasks import lunar_lander

PENDULUM_NOVEL_PRIVILEGED = "PendulumNoVelPrivileged-v1"


def make_pendulum_novel_privileged(render_mode: str | None = None, **kwargs) -> gym.Env:
    """``Pendulum-v1`` (200-step episodes) split into ``Dict(actor=[cos, sin], privileged=[cos, sin, θ̇])``."""
    return PrivilegedSplit(gym.make("Pendulum-v1", render_mode=render_mode, **kwargs), actor_indices=[0, 1])


def register_envs() -> None:
    """Register the zoo's extra environment ids with gymnasium (idempotent)."""
    if PENDULUM_NOVEL_PRIVILEGED not in gym.registry:
        gym.register(PENDULUM_NOVEL_PRIVILEGED, entry_point="sb3_spiking.zoo.envs:make_pendulum_novel_privileged")
    lunar_lander.register_envs()


__all__ = ["PENDULUM_NOVEL_PRIVILEGED", "make_pendulum_novel_privileged", "register_envs"]
