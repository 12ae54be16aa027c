"""Environments: Crazyflie hover / position control on the l2f simulator, and helpers.

Importing this package registers the gymnasium ids below (idempotent, only when ``l2f`` - the
``drone`` extra - is installed); :func:`register_envs` does the same explicitly.

Modules: :mod:`~sb3_spiking.envs.simulator` (l2f layer), :mod:`~sb3_spiking.envs.task` (batched
task logic), :mod:`~sb3_spiking.envs.drone` (``DroneHoverEnv``), :mod:`~sb3_spiking.envs.drone_vec_env`
(``DroneHoverVecEnv``, ``make_drone_vec_env``), :mod:`~sb3_spiking.envs.pd_guide` (``PDHoverGuide``),
:mod:`~sb3_spiking.envs.curriculum` (``RewardCurriculumCallback``). Ids: ``DroneHover-v0`` (Dict
observation), ``DroneHoverBox-v0`` (Box, ``obs_mode="actor"`` by default, ``"privileged"`` on
request), ``DroneHoverPrivileged-v0`` (the privileged Box, for guides trained with stock SB3) and
``DroneHoverRobust-v0`` (domain randomisation 0.2, l2f 1.x observation noise, dynamics factors in
the privileged observation: docs/robustness.md); batched rows reproduce single envs exactly (docs/drone_env.md).
"""

from __future__ import annotations

import importlib.util
from typing import Any

from sb3_spiking.envs.config import L2F_V1_OBS_NOISE  # numpy only: importable without l2f

#: id -> (entry point, default kwargs)
DRONE_ENVS: dict[str, tuple[str, dict[str, Any]]] = {
    "DroneHover-v0": ("sb3_spiking.envs.drone:DroneHoverEnv", {"obs_mode": "dict"}),
    "DroneHoverBox-v0": ("sb3_spiking.envs.drone:DroneHoverEnv", {"obs_mode": "actor"}),
    # the 150-dim privileged vector as a Box: for non-spiking guides trained with stock SB3 / rl-zoo
    "DroneHoverPrivileged-v0": ("sb3_spiking.envs.drone:DroneHoverEnv", {"obs_mode": "privileged"}),
    # the robust recipe's training env (docs/robustness.md): every episode a drone with mass, thrust,
    # inertia and motor time constant each x U[0.8, 1.2], l2f 1.x sensor noise on the actor's input,
    # and the factors in the privileged observation for the adaptive guide and the critic
    "DroneHoverRobust-v0": (
        "sb3_spiking.envs.drone:DroneHoverEnv",
        {"obs_mode": "dict", "domain_randomization": 0.2, "obs_noise": dict(L2F_V1_OBS_NOISE), "privileged_dynamics": True},
    ),
}


def register_envs() -> None:
    """Register the drone env ids with gymnasium (no-op for ids already registered or without l2f)."""
    if importlib.util.find_spec("l2f") is None:
        return
    import gymnasium as gym

    for env_id, (entry_point, kwargs) in DRONE_ENVS.items():
        if env_id not in gym.registry:
            # no max_episode_steps: the envs truncate themselves (option max_episode_steps), which a
            # TimeLimit wrapper fixed at registration would override
            gym.register(id=env_id, entry_point=entry_point, kwargs=dict(kwargs))


register_envs()

__all__ = ["DRONE_ENVS", "register_envs"]
