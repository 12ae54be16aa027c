"""Moved: the Pendulum task is :mod:`sb3_spiking.tasks.pendulum` (a task plugin).

Kept because rl-zoo run folders of earlier versions saved ``guide: sb3_spiking.envs.pendulum:PendulumSwingUpGuide``
in their ``config.yml``. The core does not import task modules: the names resolve through the task registry on first
use (:func:`sb3_spiking.task_registry.load_task`).
"""

from __future__ import annotations

from typing import Any

from sb3_spiking import task_registry

_MOVED = ("PendulumSwingUpGuide",)


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(task_registry.load_task("pendulum"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
