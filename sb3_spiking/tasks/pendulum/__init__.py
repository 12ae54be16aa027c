"""The Pendulum task: gymnasium's ``Pendulum-v1`` with a privileged swing-up guide; the quick start's and the tests' task.

* :class:`PendulumSwingUpGuide` (:mod:`.guide`): energy-shaping swing-up + PD balance, no training needed; it reads
  the plain observation ``[cos θ, sin θ, θ̇]`` (zoo configs: ``guide: sb3_spiking.tasks.pendulum:PendulumSwingUpGuide``);
* ``PendulumNoVelPrivileged-v1`` (:mod:`.env`): the actor sees ``(cos θ, sin θ)`` only, critics and guide the full
  state (the memory benchmark with a guide).

Registered with the core through the entry point ``pendulum`` of the group ``sb3_spiking.tasks``; importing this
package registers the env id.
"""

from sb3_spiking.tasks.pendulum.env import PENDULUM_NOVEL_PRIVILEGED, make_pendulum_novel_privileged, register_envs
from sb3_spiking.tasks.pendulum.guide import PendulumSwingUpGuide

register_envs()

__all__ = ["PENDULUM_NOVEL_PRIVILEGED", "PendulumSwingUpGuide", "make_pendulum_novel_privileged", "register_envs"]
