"""The asymmetric actor-critic observation convention.

A ``Dict`` observation holds the actor's part under ``"actor"`` and the privileged part (for
critics and guide; on the drone it includes the actor part) under ``"privileged"``. A plain ``Box``
observation is seen whole by everybody.

An optional third entry ``"command"`` holds the *command in force*: the action the actuators execute
when the step begins (the last executed action; at an episode's start, the command that holds the
actuators where they are), in the action space's units. It is an efference copy, not an input: an
actor with action feedback starts its feedback state from it wherever its state starts (episode
start, a replay window's start) and never reads it otherwise (docs/memory.md).
"""

from __future__ import annotations

from typing import Any, TypeVar

from gymnasium import spaces

ACTOR_KEY = "actor"
PRIVILEGED_KEY = "privileged"
COMMAND_KEY = "command"

T = TypeVar("T")


def check_observation_space(observation_space: spaces.Space) -> spaces.Box:
    """Validate an observation space and return the actor's part of it.

    :raises ValueError: for anything but a ``Box`` or a ``Dict`` with ``Box`` entries ``"actor"``
        and ``"privileged"``.
    """
    if isinstance(observation_space, spaces.Box):
        return observation_space
    if isinstance(observation_space, spaces.Dict):
        keys = set(observation_space.spaces)
        if keys - {COMMAND_KEY} != {ACTOR_KEY, PRIVILEGED_KEY}:
            raise ValueError(
                f"a Dict observation must have the keys {ACTOR_KEY!r} and {PRIVILEGED_KEY!r} (actor part, privileged "
                f"part) and may have {COMMAND_KEY!r} (the command in force), got {sorted(keys)}"
            )
        for key in sorted(keys):
            if not isinstance(observation_space[key], spaces.Box):
                raise ValueError(
                    f"observation entry {key!r} must be a Box, got {observation_space[key]}: a Dict observation is "
                    f"Dict({ACTOR_KEY!r}: Box (actor part), {PRIVILEGED_KEY!r}: Box (privileged part, for critics and guide))"
                )
        return observation_space[ACTOR_KEY]  # type: ignore[return-value]
    raise ValueError(f"observation space must be a Box or a Dict of Boxes, got {observation_space}")


def command_in_force(obs: dict[str, Any] | Any) -> Any | None:
    """The command in force of an observation (its ``"command"`` entry), ``None`` where it has none."""
    return obs.get(COMMAND_KEY) if isinstance(obs, dict) else None


def actor_part(obs: T | dict[str, Any]) -> T:
    """The part of an observation (array, tensor or dict of them) the actor sees."""
    return obs[ACTOR_KEY] if isinstance(obs, dict) else obs  # type: ignore[return-value]


def privileged_part(obs: T | dict[str, Any]) -> T:
    """The part of an observation critics and guides see."""
    return obs[PRIVILEGED_KEY] if isinstance(obs, dict) else obs  # type: ignore[return-value]
