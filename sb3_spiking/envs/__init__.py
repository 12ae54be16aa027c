"""Environments, wrappers and guides of sb3_spiking.

The drone environments need the ``drone`` extra (``l2f``); they are registered lazily (the
simulator is imported on ``gym.make``), so importing this package never requires it.
"""

from __future__ import annotations

import gymnasium as gym

DRONE_IDS = {
    "DroneHover-v0": {},  # Dict observation: actor (18) + privileged (150)
    "DroneHoverBox-v0": {"obs_type": "box"},  # the actor's 18 values only
}


def register_envs() -> None:
    """Register the drone environments with gymnasium (idempotent)."""
    for env_id, kwargs in DRONE_IDS.items():
        if env_id not in gym.registry:
            gym.register(env_id, entry_point="sb3_spiking.envs.crazyflie:DroneHoverEnv", kwargs=kwargs)


register_envs()
