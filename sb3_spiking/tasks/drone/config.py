"""Options of the drone hover environments, validated once at construction.

Every environment class and factory of this package takes these options as keyword arguments;
an unknown name or an out-of-range value raises ``ValueError`` naming the valid choices.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from sb3_spiking.tasks.drone.reward import FINAL_STAGE, check_stage

OBS_MODES = ("dict", "actor", "privileged")
ACTOR_DIM = 18
MOTOR_DIM = 4

#: Crash limits of the compiled simulator (any component beyond them ends the episode).
SIMULATOR_LIMITS = {"position": 1.0, "linear_velocity": 2.0, "angular_velocity": 35.0}
#: The paper's reference code: a 0.6 m box on each position component, nothing else.
PAPER_LIMITS = {"position": 0.6}
TERMINATION_PRESETS = {"simulator": SIMULATOR_LIMITS, "paper": PAPER_LIMITS, "none": {}}

NOISE_KEYS = ("position", "orientation", "linear_velocity", "angular_velocity")
#: Observation noise std of l2f 1.x (the simulator version the paper used), a sensible preset.
L2F_V1_OBS_NOISE = {"position": 0.05, "orientation": 0.001, "linear_velocity": 0.1, "angular_velocity": 0.2}
DR_KEYS = ("mass", "thrust", "inertia", "motor_time_constant")
#: Initial-state options; the simulator samples p ~ U[-max_position, max_position]^3 etc.
INIT_KEYS = (
    "guidance",  # probability of starting at rest at the origin, level
    "max_position",  # [m] per component
    "max_linear_velocity",  # [m/s] per component
    "max_angular_velocity",  # [rad/s] per component
    "min_motor",  # initial normalised motor speed range, within [0, 1]
    "max_motor",
    "max_angle",  # [rad] max rotation angle of the initial attitude (sampled in numpy)
)


def _close(name: str, valid: tuple[str, ...] | list[str]) -> str:
    match = difflib.get_close_matches(name, valid, n=1)
    return f" (did you mean {match[0]!r}?)" if match else ""


def _check_keys(what: str, given: Mapping[str, Any], valid: tuple[str, ...]) -> None:
    for key in given:
        if key not in valid:
            raise ValueError(f"unknown {what} option {key!r}{_close(str(key), valid)}; valid: {', '.join(valid)}")


def _nonneg(what: str, value: Any) -> float:
    v = float(value)
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{what} must be a finite number >= 0, got {value!r}")
    return v


@dataclass(frozen=True)
class DroneHoverConfig:
    """All options of the drone hover task.

    :param obs_mode: ``"dict"`` (keys ``"actor"`` and ``"privileged"``), ``"actor"`` (the 18-dim
        Box) or ``"privileged"`` (the ``22 + 4 * action_history``-dim Box).
    :param max_episode_steps: episode length; reaching it truncates (never terminates).
    :param termination: crash limits: ``"simulator"`` (|p_i| > 1 m, |v_i| > 2 m/s,
        |omega_i| > 35 rad/s), ``"paper"`` (|p_i| > 0.6 m only), ``"none"``, or a mapping with any
        of the keys ``position``, ``linear_velocity``, ``angular_velocity`` (missing = no limit).
        Position limits apply to the absolute position (the flight arena around the origin).
        A diverged state (non-finite, or any component >= 1e4) always terminates, with a logged
        warning, reward 0 and a zeroed observation.
    :param curriculum_stage: reward curriculum stage 0..5; default 5 = final (strictest) weights.
    :param action_history: number of past actions in the privileged observation (most recent first).
    :param actor_history: number of past actions appended to the *actor* observation (most recent
        first, at most ``action_history``); 0 (default) is the paper's 18-value actor input. The
        paper's "MLP with action history" baseline uses 32.
    :param obs_noise: Gaussian noise std per component of the *actor* observation, keys
        ``position``, ``orientation`` (each rotation-matrix entry), ``linear_velocity``,
        ``angular_velocity``; ``None`` = clean. The privileged part and the reward stay clean.
    :param domain_randomization: relative half-width ``x`` (each factor ~ U[1-x, 1+x], resampled at
        every episode start) for ``mass``, ``thrust`` (thrust curve), ``inertia`` and
        ``motor_time_constant`` (rising and falling together); a float applies to all four.
    :param init: initial-state distribution overrides, keys :data:`INIT_KEYS`.
    :param history_fill: what the action history holds at an episode's start: ``None`` (l2f's
        convention) the motors' initial speeds ``2 rpm − 1``, which tells an actor with a history the
        initial motor state; a number in [-1, 1]: that command in every entry (no information about the
        initial state, e.g. -0.5, the mean of the default draw).
    :param command_obs: add the entry ``"command"`` to the ``"dict"`` observation: the command in force
        (:mod:`sb3_spiking.obs_keys`), the 4 motor commands the drone executes when the step begins — at an
        episode's start those that hold the motors at their initial speeds (``2 rpm − 1``, whatever
        ``history_fill`` says), then the last executed (clipped) action. An actor with action feedback
        starts its state from it; nothing reads it otherwise. Off by default: it changes the observation
        space, which models saved without it cannot load.
    :param target_position: hover target (3,) in metres; the position observation is the error
        ``p - target``. Initial states stay centred on the origin.
    :param sim_threads: OpenMP threads for the simulator calls (``None``: whatever the process
        has, which torch sets). 1 is fastest on small or shared machines.
    :param privileged_dynamics: append the episode's dynamics factors minus one (4 values, order
        :data:`DR_KEYS`; all 0 for the nominal drone) to the privileged observation, after the
        action history, so a privileged guide can adapt to domain randomisation and the critic
        sees what it is judging. Off by default: it changes the privileged observation space, which
        models saved without it cannot load.
    """

    obs_mode: str = "dict"
    max_episode_steps: int = 500
    termination: str | Mapping[str, float] = "simulator"
    curriculum_stage: int = FINAL_STAGE
    action_history: int = 32
    actor_history: int = 0
    obs_noise: Mapping[str, float] | None = None
    domain_randomization: float | Mapping[str, float] = 0.0
    init: Mapping[str, float] = field(default_factory=dict)
    history_fill: float | None = None
    command_obs: bool = False
    target_position: tuple[float, float, float] = (0.0, 0.0, 0.0)
    sim_threads: int | None = 1
    privileged_dynamics: bool = False

    @classmethod
    def from_options(cls, **options: Any) -> DroneHoverConfig:
        """Build a config from keyword options, rejecting unknown names with a suggestion."""
        valid = tuple(f.name for f in fields(cls))
        _check_keys("drone env", options, valid)
        return cls(**options)

    def __post_init__(self) -> None:
        # private copies: the frozen config must not change when the caller's dicts do
        for name in ("termination", "obs_noise", "domain_randomization", "init"):
            value = getattr(self, name)
            if isinstance(value, Mapping):
                object.__setattr__(self, name, dict(value))
        try:
            target = tuple(float(t) for t in self.target_position)
        except (TypeError, ValueError):
            target = ()
        if len(target) != 3 or not all(math.isfinite(t) for t in target):
            raise ValueError(f"target_position must be 3 finite numbers, got {self.target_position!r}")
        object.__setattr__(self, "target_position", target)
        if self.obs_mode not in OBS_MODES:
            raise ValueError(f"obs_mode must be one of {OBS_MODES}, got {self.obs_mode!r}")
        if not isinstance(self.command_obs, bool):
            raise ValueError(f"command_obs must be true or false, got {self.command_obs!r}")
        if self.command_obs and self.obs_mode != "dict":
            raise ValueError(f"command_obs adds an entry to the 'dict' observation; obs_mode is {self.obs_mode!r}")
        if int(self.max_episode_steps) != self.max_episode_steps or self.max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be a positive int, got {self.max_episode_steps!r}")
        check_stage(self.curriculum_stage)
        if int(self.action_history) != self.action_history or self.action_history < 0:
            raise ValueError(f"action_history must be an int >= 0, got {self.action_history!r}")
        if int(self.actor_history) != self.actor_history or not 0 <= self.actor_history <= self.action_history:
            raise ValueError(
                f"actor_history must be an int in [0, action_history={self.action_history}], got {self.actor_history!r}"
            )
        self.termination_limits()  # validates
        self.noise_std()
        self.randomization()
        _check_keys("init", self.init, INIT_KEYS)
        for key, value in self.init.items():
            _nonneg(f"init[{key!r}]", value)
        if "guidance" in self.init and self.init["guidance"] > 1:
            raise ValueError(f"init['guidance'] is a probability, got {self.init['guidance']}")
        lo, hi = self.init.get("min_motor", 0.0), self.init.get("max_motor", 0.5)
        if not 0 <= lo <= hi <= 1:
            raise ValueError(f"need 0 <= init['min_motor'] <= init['max_motor'] <= 1, got {lo}, {hi}")
        if self.history_fill is not None and not -1.0 <= float(self.history_fill) <= 1.0:
            raise ValueError(f"history_fill must be None or a command in [-1, 1], got {self.history_fill!r}")
        if "max_angle" in self.init and self.init["max_angle"] > math.pi:
            raise ValueError(f"init['max_angle'] must be <= pi, got {self.init['max_angle']}")
        pos_limit = self.termination_limits()["position"]
        if any(abs(float(t)) >= pos_limit for t in self.target_position):
            raise ValueError(f"target_position {self.target_position} lies outside the termination box {pos_limit} m")
        if not isinstance(self.privileged_dynamics, (bool, np.bool_)):
            raise ValueError(f"privileged_dynamics must be True or False, got {self.privileged_dynamics!r}")
        if self.sim_threads is not None and (int(self.sim_threads) != self.sim_threads or self.sim_threads < 1):
            raise ValueError(f"sim_threads must be an int >= 1 or None, got {self.sim_threads!r}")

    def termination_limits(self) -> dict[str, float]:
        """Crash limits per quantity, ``inf`` where there is none."""
        if isinstance(self.termination, str):
            if self.termination not in TERMINATION_PRESETS:
                raise ValueError(
                    f"termination must be one of {tuple(TERMINATION_PRESETS)} or a mapping, got {self.termination!r}"
                )
            given: Mapping[str, float] = TERMINATION_PRESETS[self.termination]
        elif isinstance(self.termination, Mapping):
            _check_keys("termination", self.termination, tuple(SIMULATOR_LIMITS))
            given = self.termination
        else:
            raise ValueError(f"termination must be a string or a mapping, got {self.termination!r}")
        limits = {k: math.inf for k in SIMULATOR_LIMITS}
        for k, v in given.items():
            if not float(v) > 0:
                raise ValueError(f"termination limit {k!r} must be > 0, got {v!r}")
            limits[k] = float(v)
        return limits

    def noise_std(self) -> dict[str, float] | None:
        """Per-component observation-noise std, or ``None`` when the actor observation is clean."""
        if self.obs_noise is None:
            return None
        if not isinstance(self.obs_noise, Mapping):
            raise ValueError(f"obs_noise must be a mapping with keys {NOISE_KEYS} or None, got {self.obs_noise!r}")
        _check_keys("obs_noise", self.obs_noise, NOISE_KEYS)
        std = {k: _nonneg(f"obs_noise[{k!r}]", self.obs_noise.get(k, 0.0)) for k in NOISE_KEYS}
        return std if any(std.values()) else None

    def randomization(self) -> dict[str, float]:
        """Relative half-width of each randomised dynamics factor (0 = off)."""
        dr = self.domain_randomization
        if isinstance(dr, Mapping):
            _check_keys("domain_randomization", dr, DR_KEYS)
            out = {k: float(dr.get(k, 0.0)) for k in DR_KEYS}
        else:
            out = {k: float(dr) for k in DR_KEYS}
        for k, v in out.items():
            if not 0 <= v < 1:
                raise ValueError(f"domain_randomization[{k!r}] must be in [0, 1), got {v}")
        return out

    @property
    def actor_dim(self) -> int:
        return ACTOR_DIM + 4 * int(self.actor_history)

    @property
    def privileged_dim(self) -> int:
        extra = len(DR_KEYS) if self.privileged_dynamics else 0
        return ACTOR_DIM + MOTOR_DIM + 4 * int(self.action_history) + extra
