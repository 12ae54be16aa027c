"""Moved: ``PendulumNoVelPrivileged-v1`` is registered by the Pendulum task (:mod:`sb3_spiking.tasks.pendulum`).

Kept for scripts of earlier versions (e.g. ``experiments/memory.py``) that import :func:`register_envs` from here;
the names resolve through the task registry (the core imports no task module).
"""

from __future__ import annotations

from typing import Any

from sb3_spiking import task_registry

_MOVED = ("PENDULUM_NOVEL_PRIVILEGED", "make_pendulum_novel_privileged", "register_envs")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(task_registry.load_task("pendulum"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
