"""Where task packages plug into the core: env registration, batched vec envs, thread hints.

The core never imports a task. A task is a package registered under the entry-point group
:data:`ENTRY_POINT_GROUP` (``sb3_spiking.tasks``; this distribution registers its own three in
``pyproject.toml``, another distribution adds its tasks the same way)::

    [project.entry-points."sb3_spiking.tasks"]
    my_task = "my_package.my_task"

:func:`load_tasks` (called by the tools that need env ids: the zoo, :func:`make_vec_env`,
``GuidedTD3`` given an env id) imports each one and calls its ``register_envs()``, in which the
task registers its gymnasium ids and, with the functions below, what the training tools need to
know about them:

* :func:`register_vec_env_builder`: a builder that returns one batched ``VecEnv`` for the task's
  env ids (``None`` for any other id), used by :func:`make_vec_env`, the drop-in for SB3's
  ``make_vec_env`` that the rl-zoo integration trains with;
* :func:`register_single_thread_envs`: env id prefixes whose training defaults to one torch thread;
* :func:`register_analysis_commands`: sub-commands of the analysis command line
  (:mod:`sb3_spiking.analysis.cli`, e.g. the drone's flight plots).
"""

from __future__ import annotations

import importlib
import pkgutil
import warnings
from collections.abc import Callable
from importlib import metadata
from types import ModuleType
from typing import Any

import gymnasium as gym
from stable_baselines3.common.env_util import make_vec_env as sb3_make_vec_env
from stable_baselines3.common.vec_env import VecEnv

#: ``builder(env_id, n_envs=..., seed=..., start_index=..., monitor_dir=..., wrapper_class=...,
#: env_kwargs=..., monitor_kwargs=...)`` -> a batched VecEnv, or ``None`` when ``env_id`` is not its task's
VecEnvBuilder = Callable[..., "VecEnv | None"]

#: the entry-point group of task packages (value: the package's module path)
ENTRY_POINT_GROUP = "sb3_spiking.tasks"
#: where this distribution's own tasks live (searched only without installed metadata, see :func:`task_modules`)
BUILTIN_TASKS = "sb3_spiking.tasks"

_VEC_ENV_BUILDERS: list[VecEnvBuilder] = []
_LOADED: dict[str, ModuleType] = {}
#: ``add_commands(subparsers)``: adds a task's sub-commands (each sets ``func``) to the analysis command line
AnalysisCommands = Callable[[Any], None]
_ANALYSIS_COMMANDS: list[AnalysisCommands] = []
_SINGLE_THREAD_PREFIXES: set[str] = set()


def register_vec_env_builder(builder: VecEnvBuilder) -> None:
    """Let :func:`make_vec_env` ask ``builder`` first (idempotent)."""
    if builder not in _VEC_ENV_BUILDERS:
        _VEC_ENV_BUILDERS.append(builder)


def register_single_thread_envs(*prefixes: str) -> None:
    """Env ids starting with one of ``prefixes`` train with one torch thread unless told otherwise
    (e.g. a simulator whose OpenMP threads and torch's fight for the cores)."""
    _SINGLE_THREAD_PREFIXES.update(prefixes)


def register_analysis_commands(add_commands: AnalysisCommands) -> None:
    """Let the analysis command line (:mod:`sb3_spiking.analysis.cli`) add a task's sub-commands (idempotent)."""
    if add_commands not in _ANALYSIS_COMMANDS:
        _ANALYSIS_COMMANDS.append(add_commands)


def analysis_command_providers() -> list[AnalysisCommands]:
    """The registered :data:`AnalysisCommands`, in registration order."""
    return list(_ANALYSIS_COMMANDS)


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
    if isinstance(env_id, str):
        load_tasks()  # the tasks' ids and batched builders
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


def task_modules() -> dict[str, str]:
    """Task name -> module path of every registered task.

    From the entry points of :data:`ENTRY_POINT_GROUP`. A source checkout whose metadata does not
    declare this distribution's own tasks (never installed, or installed from an older version) falls
    back to the packages under :data:`BUILTIN_TASKS`, found by name.
    """
    found = {ep.name: ep.value.partition(":")[0] for ep in metadata.entry_points(group=ENTRY_POINT_GROUP)}
    try:
        own = [ep for ep in metadata.distribution("sb3_spiking").entry_points if ep.group == ENTRY_POINT_GROUP]
    except metadata.PackageNotFoundError:
        own = []
    if not own:
        try:
            package = importlib.import_module(BUILTIN_TASKS)
        except ImportError:  # a core-only install
            return found
        for info in pkgutil.iter_modules(package.__path__):
            if info.ispkg:
                found.setdefault(info.name, f"{BUILTIN_TASKS}.{info.name}")
    return found


def load_task(name: str) -> ModuleType:
    """Import the task ``name`` and call its ``register_envs()`` (once); returns its package.

    :raises KeyError: no task of that name is registered (the message lists the registered ones).
    """
    if name not in _LOADED:
        modules = task_modules()
        if name not in modules:
            raise KeyError(f"no task {name!r} registered under the entry points {ENTRY_POINT_GROUP!r}; found {sorted(modules)}")
        module = importlib.import_module(modules[name])
        register = getattr(module, "register_envs", None)
        if callable(register):
            register()
        _LOADED[name] = module
    return _LOADED[name]


def load_tasks() -> list[str]:
    """Load every registered task (:func:`load_task`; idempotent); returns the names of the tasks loaded.

    A task that cannot be imported (e.g. a dependency of its extra is missing) is skipped with a
    warning naming it: one task's missing extra must not stop the others.
    """
    names = []
    for name in task_modules():
        try:
            load_task(name)
        except ImportError as e:
            warnings.warn(f"task {name!r} could not be imported and is skipped: {e}", RuntimeWarning, stacklevel=2)
            continue
        names.append(name)
    return names


__all__ = [
    "ENTRY_POINT_GROUP",
    "analysis_command_providers",
    "load_task",
    "load_tasks",
    "make_vec_env",
    "prefers_single_thread",
    "register_analysis_commands",
    "register_single_thread_envs",
    "register_vec_env_builder",
    "task_modules",
]
