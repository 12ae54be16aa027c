"""Where task packages plug into the core: env registration, batched vec envs, thread hints.

The core never imports a task. Task packages live under :mod:`sb3_spiking.tasks`;
:func:`load_tasks` (called when ``sb3_spiking`` is imported) imports each one and calls its
``register_envs()``, in which the task registers its gymnasium ids and, with the functions below,
what the training tools need to know about them:

* :func:`register_vec_env_builder`: a builder that returns one batched ``VecEnv`` for the task's
  env ids (``None`` for any other id), used by :func:`make_vec_env`, the drop-in for SB3's
  ``make_vec_env`` that the rl-zoo integration trains with;
* :func:`register_single_thread_envs`: env id prefixes whose training defaults to one torch thread.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.vec_env import VecEnv

#: ``builder(env_id, n_envs=..., seed=..., start_index=..., monitor_dir=..., wrapper_class=...,
#: env_kwargs=..., monitor_kwargs=...)`` -> a batched VecEnv, or ``None`` when ``env_id`` is not its task's
VecEnvBuilder = Callable[..., "VecEnv | None"]

_VEC_ENV_BUILDERS: list[VecEnvBuilder] = []
_SINGLE_THREAD_PREFIXES: set[str] = set()


def register_vec_env_builder(builder: VecEnvBuilder) -> None:
    """Let :func:`make_vec_env` ask ``builder`` first (idempotent)."""
    if builder not in _VEC_ENV_BUILDERS:
        _VEC_ENV_BUILDERS.append(builder)


def register_single_thread_envs(*prefixes: str) -> None:
    """Env ids starting with one of ``prefixes`` train with one torch thread unless told otherwise
    (e.g. a simulator whose OpenMP threads and torch's fight for the cores)."""
    _SINGLE_THREAD_PREFIXES.update(prefixes)


def prefers_single_thread(env_id: str) -> bool:
    """Whether a task asked for one torch thread when training on ``env_id``."""
    return any(env_id.startswith(prefix) for prefix in _SINGLE_THREAD_PREFIXES)


def make_vec_env(
    env_id: str | Callable[..., gym.Env],
    n_envs: int = 1,
    seed: int | None = None,
    start_index: int = 0,
    monitor_dir: str | None = None,
    wrapper_class: Callable[[gym.Env], gym.Env] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    vec_env_cls: type[VecEnv] | None = None,
    vec_env_kwargs: dict[str, Any] | None = None,
    monitor_kwargs: dict[str, Any] | None = None,
    wrapper_kwargs: dict[str, Any] | None = None,
) -> VecEnv:
    """SB3's ``make_vec_env`` (same signature and seeding), except that an env id a task registered a
    batched builder for gets that task's batched ``VecEnv`` (``vec_env_cls`` / ``vec_env_kwargs``
    do not apply to it)."""
    for builder in _VEC_ENV_BUILDERS:
        venv = builder(env_id, n_envs=n_envs, seed=seed, start_index=start_index, monitor_dir=monitor_dir,
                       wrapper_class=wrapper_class, env_kwargs=env_kwargs, monitor_kwargs=monitor_kwargs)
        if venv is not None:
            return venv
    return sb3_make_vec_env(
        env_id, n_envs=n_envs, seed=seed, start_index=start_index, monitor_dir=monitor_dir, wrapper_class=wrapper_class,
        env_kwargs=env_kwargs, vec_env_cls=vec_env_cls, vec_env_kwargs=vec_env_kwargs, monitor_kwargs=monitor_kwargs,
        wrapper_kwargs=wrapper_kwargs,
    )  # fmt: skip


def load_tasks() -> list[str]:
    """Import every task package under :mod:`sb3_spiking.tasks` and call its ``register_envs()``
    (idempotent); returns the names of the tasks found. Without the ``tasks`` package (a core-only
    install) there is nothing to load."""
    try:
        tasks = importlib.import_module("sb3_spiking.tasks")
    except ImportError:
        return []
    names = []
    for info in pkgutil.iter_modules(tasks.__path__):
        if not info.ispkg:
            continue
        module = importlib.import_module(f"sb3_spiking.tasks.{info.name}")
        register = getattr(module, "register_envs", None)
        if callable(register):
            register()
        names.append(info.name)
    return names


__all__ = [
    "load_tasks",
    "make_vec_env",
    "prefers_single_thread",
    "register_single_thread_envs",
    "register_vec_env_builder",
]
