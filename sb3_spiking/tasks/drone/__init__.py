"""The drone task: Crazyflie hover / position control on the l2f simulator.

Importing this package registers the gymnasium ids below (idempotent, only when ``l2f`` - the
``drone`` extra - is installed); :func:`register_envs` does the same explicitly and tells the core
(:mod:`sb3_spiking.task_registry`) to build the ids' batched ``DroneHoverVecEnv`` and to train them
with one torch thread.

Modules (all under ``sb3_spiking.tasks.drone``): ``config`` (options), ``reward`` (reward and
curriculum weights), ``simulator`` (l2f layer), ``task`` (batched task logic), ``env``
(``DroneHoverEnv``), ``vec_env`` (``DroneHoverVecEnv``), ``pd_guide``
(``PDHoverGuide``, ``AdaptivePDHoverGuide``), ``curriculum`` (``RewardCurriculumCallback``),
``protocols`` (the paper's evaluation protocols), ``robustness`` (the robustness suite),
``training_callbacks`` (learning curve, final evaluation), ``evaluation`` (their command line and
old import path), ``rollouts``, ``flight_plots``, ``efficiency`` and ``analysis_cli`` (analysis of
drone flights: the drone's commands of ``sb3-spiking-analysis``).

Ids: ``DroneHover-v0`` (Dict observation), ``DroneHoverBox-v0`` (Box, ``obs_mode="actor"`` by
default, ``"privileged"`` on request), ``DroneHoverPrivileged-v0`` (the privileged Box, for guides
trained with stock SB3) and ``DroneHoverRobust-v0`` (domain randomisation 0.2, l2f 1.x observation
noise, dynamics factors in the privileged observation: docs/robustness.md); batched rows reproduce
single envs exactly (docs/drone_env.md).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sb3_spiking.tasks.drone.config import L2F_V1_OBS_NOISE  # numpy only: importable without l2f

#: id -> (entry point, default kwargs)
DRONE_ENVS: dict[str, tuple[str, dict[str, Any]]] = {
    "DroneHover-v0": ("sb3_spiking.tasks.drone.env:DroneHoverEnv", {"obs_mode": "dict"}),
    "DroneHoverBox-v0": ("sb3_spiking.tasks.drone.env:DroneHoverEnv", {"obs_mode": "actor"}),
    # the 150-dim privileged vector as a Box: for non-spiking guides trained with stock SB3 / rl-zoo
    "DroneHoverPrivileged-v0": ("sb3_spiking.tasks.drone.env:DroneHoverEnv", {"obs_mode": "privileged"}),
    # the robust recipe's training env (docs/robustness.md): every episode a drone with mass, thrust,
    # inertia and motor time constant each x U[0.8, 1.2], l2f 1.x sensor noise on the actor's input,
    # and the factors in the privileged observation for the adaptive guide and the critic
    "DroneHoverRobust-v0": (
        "sb3_spiking.tasks.drone.env:DroneHoverEnv",
        {"obs_mode": "dict", "domain_randomization": 0.2, "obs_noise": dict(L2F_V1_OBS_NOISE), "privileged_dynamics": True},
    ),
}


#: drone ids train with one torch thread: torch's second thread and the simulator's OpenMP threads
#: share one libgomp and fight on a busy machine (docs/drone_env.md: up to 6x slower)
SINGLE_THREAD_PREFIX = "DroneHover"


def _batched_vec_env(env_id: Any, **kwargs: Any) -> Any:
    """The core's vec-env hook: one batched ``DroneHoverVecEnv`` for drone ids, ``None`` otherwise."""
    from sb3_spiking.tasks.drone.vec_env import batched_drone_vec_env

    return batched_drone_vec_env(env_id, **kwargs)


def register_envs() -> None:
    """Register the drone env ids with gymnasium and the drone's hooks with the core (no-op for ids
    already registered, and without l2f)."""
    if importlib.util.find_spec("l2f") is None:
        return
    import gymnasium as gym

    # the core's public registry (imported here, not at the top: this package stays importable without torch)
    from sb3_spiking.task_registry import register_analysis_commands, register_single_thread_envs, register_vec_env_builder
    from sb3_spiking.tasks.drone.analysis_cli import add_commands

    register_vec_env_builder(_batched_vec_env)
    register_single_thread_envs(SINGLE_THREAD_PREFIX)
    register_analysis_commands(add_commands)  # efficiency, flight, export (sb3-spiking-analysis)

    for env_id, (entry_point, kwargs) in DRONE_ENVS.items():
        if env_id not in gym.registry:
            # no max_episode_steps: the envs truncate themselves (option max_episode_steps), which a
            # TimeLimit wrapper fixed at registration would override
            gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs))


register_envs()

__all__ = ["DRONE_ENVS", "SINGLE_THREAD_PREFIX", "register_envs"]
