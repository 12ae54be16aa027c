"""Crazyflie hover / position control on the ``l2f`` ("Learning to Fly in Seconds") simulator.

One engine steps N quadrotors with a single C++ call (l2f's vector API); :class:`DroneHoverEnv`
is the gymnasium view of one of them, :class:`DroneHoverVecEnv` the SB3 ``VecEnv`` of all of them.

Observation (``Dict``):

* ``"actor"`` (18): position error ``p − p_target`` (3), rotation matrix row-major (9), linear
  velocity in the world frame (3), angular velocity in the body frame (3) — what the paper's
  spiking actor sees;
* ``"privileged"`` (18 + 4 + 4·H): the actor part, the 4 motor states (``2·rpm − 1``, tracked in
  numpy with the simulator's RK4 motor model) and the last H actions, most recent first (H = 32 as
  in the paper) — for critics and guides.

``obs_type="box"`` gives the actor part alone as a ``Box`` (``obs_type="privileged_box"`` the
privileged vector).

Reward (paper, computed from the clean state, at most ``C_rs`` = 1 per step)::

    r = C_rs − C_rp‖p − p_target‖² − C_rv‖v‖² − C_rq·θ_err − C_ra‖a − a_hover‖²

with ``θ_err = arccos((tr R − 1)/2)`` the geodesic angle (rad) between the attitude and level
flight with zero yaw (the hover attitude the guide holds), and ``a_hover`` the action that makes the
rotors carry the weight, computed from the mass and the thrust curve (≈ 0.612; l2f's stored
``hovering_throttle_relative`` is stale for this mass). The weights follow the reward curriculum
(paper §7), linear from start to end weights in six stages; environments default to the final,
strictest stage, which is what evaluations use.

Episodes are truncated after ``max_episode_steps`` (500 = 5 s at 100 Hz) and terminate on a crash:
by default at the simulator's own limits (any |p_i| > 1 m, |v_i| > 2 m/s, |ω_i| > 35 rad/s), or
with ``termination="box"`` when any |p_i| > 0.6 m (the paper's code). A non-finite state also
terminates the episode (with a warning).
"""

from __future__ import annotations

import json
import math
import os
import time
import warnings
from collections.abc import Sequence
from typing import Any

# l2f's OpenMP threads spin-wait against torch's intra-op threads (17-100x slower stepping on
# 2 cores): keep OpenMP single-threaded unless the user chose otherwise before importing us.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.vec_env import VecEnv  # noqa: E402

import l2f  # noqa: E402

DT = 0.01
DIVERGED = 1e4  # |state component| at or above this (or NaN) counts as a diverged simulation
ACTOR_DIM = 18
#: (start, end) of the paper's reward curriculum; C_rs and C_rq stay constant.
CURRICULUM = {
    "position": (1.0, 3.5),
    "velocity": (0.01, 0.10),
    "action": (0.14, 0.50),
    "orientation": (0.25, 0.25),
    "constant": (1.0, 1.0),
}
N_STAGES = 6
OPTIONS = {
    "max_episode_steps", "termination", "history_length", "obs_noise", "domain_randomization",
    "init", "target", "curriculum_stage", "obs_type",
}
OBS_TYPES = ("dict", "box", "privileged_box")
TERMINATIONS = ("simulator", "box")
INIT_KEYS = ("guidance", "max_position", "max_linear_velocity", "max_angular_velocity", "min_rpm", "max_rpm")


def curriculum_weights(stage: int) -> dict[str, float]:
    """Reward weights of curriculum stage ``0 … 5`` (0 = start, 5 = end weights)."""
    if not 0 <= stage < N_STAGES or int(stage) != stage:
        raise ValueError(f"curriculum stage must be an integer in [0, {N_STAGES - 1}], got {stage!r}")
    frac = stage / (N_STAGES - 1)
    return {k: lo + (hi - lo) * frac for k, (lo, hi) in CURRICULUM.items()}


def curriculum_stage(progress: float) -> int:
    """Stage for a training progress in [0, 1]: six equal steps."""
    return min(int(max(progress, 0.0) * N_STAGES), N_STAGES - 1)


def hover_action(dynamics: dict[str, Any]) -> float:
    """Action in [-1, 1] whose motor speed makes the four rotors carry the weight."""
    c0, c1, c2 = dynamics["rotor_thrust_coefficients"][0]
    force = dynamics["mass"] * abs(dynamics["gravity"][2]) / 4.0
    u = (-c1 + math.sqrt(c1 * c1 - 4 * c2 * (c0 - force))) / (2 * c2)
    return 2.0 * u - 1.0


def rk4_decay(h: float | np.ndarray) -> float | np.ndarray:
    """Amplification of ``x' = −x/τ`` over one RK4 step with ``h = dt/τ`` (the simulator's motor model)."""
    return 1 - h + h * h / 2 - h**3 / 6 + h**4 / 24


def nominal_parameters() -> dict[str, Any]:
    """The simulator's compiled-in parameters (dynamics, init ranges, termination, …) as a dict."""
    vec = l2f.vector_selector[1]
    device = l2f.Device()
    env, params, rng = vec.VectorEnvironment(), vec.VectorParameters(), vec.VectorRng()
    vec.initialize_environment(device, env)
    vec.initialize_rng(device, rng, 0)
    vec.sample_initial_parameters(device, env, params, rng)
    return json.loads(l2f.parameters_to_json(device, env.environments[0], params.parameters[0]))


def orientation_error(rotation: np.ndarray) -> np.ndarray:
    """Geodesic angle (rad) of rotation matrices ``(N, 9)`` (row-major) from the identity."""
    trace = rotation[:, 0] + rotation[:, 4] + rotation[:, 8]
    return np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0))


class DroneEngine:
    """N Crazyflies in one l2f vector; numpy arrays in, numpy arrays out. Not a gym API itself.

    :param num_envs: number of quadrotors (any ≥ 1; l2f sizes are powers of two, extra rows idle).
    :param seed: seed of the simulator's and numpy's random generators.
    :param options: see :class:`DroneHoverEnv`.
    """

    def __init__(self, num_envs: int, seed: int = 0, **options: Any):
        unknown = set(options) - OPTIONS
        if unknown:
            raise ValueError(f"unknown drone option(s) {sorted(unknown)}; known: {sorted(OPTIONS)}")
        if int(num_envs) != num_envs or num_envs < 1:
            raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
        self.num_envs = int(num_envs)
        size = 1 << (self.num_envs - 1).bit_length()
        if size not in l2f.vector_selector:
            raise ValueError(f"num_envs={num_envs} exceeds l2f's largest vector ({max(l2f.vector_selector)})")
        self.size = size
        self.max_episode_steps = _positive_int("max_episode_steps", options.get("max_episode_steps", 500))
        self.termination = options.get("termination", "simulator")
        if self.termination not in TERMINATIONS:
            raise ValueError(f"termination must be one of {TERMINATIONS}, got {self.termination!r}")
        self.history_length = _positive_int("history_length", options.get("history_length", 32), allow_zero=True)
        self.obs_type = options.get("obs_type", "dict")
        if self.obs_type not in OBS_TYPES:
            raise ValueError(f"obs_type must be one of {OBS_TYPES}, got {self.obs_type!r}")
        self.obs_noise = _noise(options.get("obs_noise"))
        self.dr = float(options.get("domain_randomization", 0.0))
        if not 0.0 <= self.dr < 1.0:
            raise ValueError(f"domain_randomization must be a fraction in [0, 1), got {self.dr}")
        target = np.asarray(options.get("target", (0.0, 0.0, 0.0)), dtype=np.float32)
        if target.shape != (3,) or not np.isfinite(target).all():
            raise ValueError(f"target must be 3 finite numbers, got {options.get('target')!r}")
        self.target = target
        self.stage = N_STAGES - 1
        self.set_curriculum_stage(options.get("curriculum_stage", N_STAGES - 1))

        self.vec, self.device = l2f.vector_selector[size], l2f.Device()
        v = self.vec
        self.env, self.params = v.VectorEnvironment(), v.VectorParameters()
        self.state, self.next_state, self.rng = v.VectorState(), v.VectorState(), v.VectorRng()
        v.initialize_environment(self.device, self.env)
        v.initialize_rng(self.device, self.rng, 0)
        v.sample_initial_parameters(self.device, self.env, self.params, self.rng)
        nominal = json.loads(l2f.parameters_to_json(self.device, self.env.environments[0], self.params.parameters[0]))
        init = dict(options.get("init") or {})
        bad = set(init) - set(INIT_KEYS)
        if bad:
            raise ValueError(f"unknown init option(s) {sorted(bad)}; known: {list(INIT_KEYS)}")
        nominal["mdp"]["init"].update(init)
        nominal["mdp"]["termination"]["enabled"] = False  # we terminate in numpy, on the clean state
        self.nominal = nominal
        self._nominal_json = json.dumps(nominal)
        for i in range(size):
            l2f.parameters_from_json(self.device, self.env.environments[0], self._nominal_json, self.params.parameters[i])
        dyn = nominal["dynamics"]
        self.hover_action = hover_action(dyn)
        self.decay_rise = np.full((size, 1), rk4_decay(DT / dyn["rotor_time_constants_rising"][0]), np.float32)
        self.decay_fall = np.full((size, 1), rk4_decay(DT / dyn["rotor_time_constants_falling"][0]), np.float32)
        limits = [1.0] * 3 + [np.inf] * 9 + [2.0] * 3 + [35.0] * 3  # simulator's crash limits per entry
        if self.termination == "box":
            limits = [0.6] * 3 + [np.inf] * 15
        self.limits = np.array(limits, np.float32)

        self.actions = np.zeros((size, 4), np.float32)  # persistent: l2f wants stride-16 rows
        self.obs82 = np.zeros((size, 82), np.float32)
        self.rpm = np.zeros((size, 4), np.float32)
        self.history = np.zeros((size, max(self.history_length, 1), 4), np.float32)
        self.steps = np.zeros(size, np.int64)
        self._diverged = False
        self.seed(seed)

    # ----------------------------------------------------------------- configuration
    @property
    def privileged_dim(self) -> int:
        return ACTOR_DIM + 4 + 4 * self.history_length

    def set_curriculum_stage(self, stage: int) -> None:
        self.weights = curriculum_weights(stage)
        self.stage = int(stage)

    def seed(self, seed: int) -> None:
        # env i of an l2f vector is seeded with base + i: spread bases so that seeds don't overlap
        self.vec.initialize_rng(self.device, self.rng, int(seed) * self.size)
        self.np_rng = np.random.default_rng(seed)

    # ----------------------------------------------------------------- dynamics
    def reset(self, mask: np.ndarray | None = None) -> None:
        """Re-sample the initial state where ``mask`` (length ``num_envs``) is set; all if ``None``."""
        full = np.zeros(self.size, bool)
        full[: self.num_envs] = True if mask is None else mask
        if not full.any():
            return
        if self.dr > 0:
            self._randomise(np.flatnonzero(full))
        self.vec.sample_initial_state_if_truncated(self.device, self.env, self.params, self.state, full, self.rng)
        self.vec.observe(self.device, self.env, self.params, self.state, self.obs82, self.rng)
        self.rpm[full] = (self.obs82[full, 18:22] + 1.0) / 2.0  # l2f's history starts at the rpm command
        self.history[full] = self.obs82[full, None, 18:22]
        self.steps[full] = 0

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Advance every env one step; returns (reward, terminated, truncated) for the first ``num_envs``.

        Written for few numpy calls per step: this runs once per control step for all envs.
        """
        n = self.num_envs
        np.clip(actions, -1.0, 1.0, out=self.actions[:n])
        v = self.vec
        v.step(self.device, self.env, self.params, self.state, self.actions, self.next_state, self.rng)
        self.state.assign(self.next_state)
        v.observe(self.device, self.env, self.params, self.state, self.obs82, self.rng)
        # motor replica: first-order lag with rising/falling time constants, one RK4 step
        u = self.actions * 0.5 + 0.5
        decay = np.where(u >= self.rpm, self.decay_rise, self.decay_fall)
        self.rpm = u + (self.rpm - u) * decay
        if self.history_length:
            self.history[:, 1:] = self.history[:, :-1]
            self.history[:, 0] = self.actions
        self.steps += 1
        o = self.obs82[:n, :ACTOR_DIM]
        if self.target.any():
            o = o.copy()
            o[:, 0:3] -= self.target
        with np.errstate(invalid="ignore"):
            terminated = (np.abs(o) > self.limits).any(1)
        reward = self._reward(o, self.actions[:n])
        self._diverged = not np.abs(o).max() < DIVERGED  # also true for NaN (l2f clamps NaN to ±1e5)
        if self._diverged:
            bad = ~(np.abs(o) < DIVERGED).all(axis=1)
            warnings.warn(f"drone state diverged (non-finite or clamped by l2f) in env(s) {np.flatnonzero(bad).tolist()}: episode terminated")
            terminated |= bad
            reward[bad] = 0.0
        truncated = (self.steps[:n] >= self.max_episode_steps) & ~terminated
        return reward, terminated, truncated

    def _reward(self, o: np.ndarray, a: np.ndarray) -> np.ndarray:
        """Paper reward from the clean actor-layout state ``o`` (position already relative to the target)."""
        w = self.weights
        p, vel, da = o[:, 0:3], o[:, 12:15], a - self.hover_action
        trace = o[:, 3] + o[:, 7] + o[:, 11]
        angle = np.arccos(np.clip((trace - 1.0) * 0.5, -1.0, 1.0))
        r = (
            w["constant"]
            - w["position"] * np.einsum("ij,ij->i", p, p)
            - w["velocity"] * np.einsum("ij,ij->i", vel, vel)
            - w["orientation"] * angle
            - w["action"] * np.einsum("ij,ij->i", da, da)
        )
        return r.astype(np.float32, copy=False)

    def _crashed(self, o82: np.ndarray) -> np.ndarray:
        o = o82[:, :ACTOR_DIM] - np.concatenate([self.target, np.zeros(ACTOR_DIM - 3, np.float32)])
        with np.errstate(invalid="ignore"):
            return (np.abs(o) > self.limits).any(1)

    def _randomise(self, idx: np.ndarray) -> None:
        base = json.loads(self._nominal_json)
        for i in idx:
            js = json.loads(self._nominal_json)
            d = js["dynamics"]
            km, kt, kj, kr, kf = self.np_rng.uniform(1 - self.dr, 1 + self.dr, 5)
            d["mass"] = base["dynamics"]["mass"] * km
            d["rotor_thrust_coefficients"] = [[c * kt for c in row] for row in d["rotor_thrust_coefficients"]]
            d["J"] = [[x * kj for x in row] for row in d["J"]]
            d["J_inv"] = [[x / kj for x in row] for row in d["J_inv"]]
            d["rotor_time_constants_rising"] = [x * kr for x in d["rotor_time_constants_rising"]]
            d["rotor_time_constants_falling"] = [x * kf for x in d["rotor_time_constants_falling"]]
            self.decay_rise[i] = rk4_decay(DT / d["rotor_time_constants_rising"][0])
            self.decay_fall[i] = rk4_decay(DT / d["rotor_time_constants_falling"][0])
            l2f.parameters_from_json(self.device, self.env.environments[0], json.dumps(js), self.params.parameters[i])

    # ----------------------------------------------------------------- observations
    def observe(self, rows: np.ndarray | None = None) -> np.ndarray | dict[str, np.ndarray]:
        """Observations of the first ``num_envs`` envs (or of ``rows`` only) in the configured ``obs_type``."""
        n = self.num_envs
        sel = slice(0, n) if rows is None else rows
        actor = self.obs82[sel, :ACTOR_DIM].copy()
        if self.target.any():
            actor[:, 0:3] -= self.target
        if self._diverged:  # keep a diverged env's terminal observation finite and bounded
            np.nan_to_num(actor, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            np.clip(actor, -DIVERGED, DIVERGED, out=actor)
        if self.obs_noise is not None:
            actor += (self.np_rng.standard_normal(actor.shape) * self.obs_noise).astype(np.float32)
        if self.obs_type == "box":
            return actor
        m = actor.shape[0]
        privileged = np.empty((m, self.privileged_dim), np.float32)
        privileged[:, :ACTOR_DIM] = actor
        np.multiply(self.rpm[sel], 2.0, out=privileged[:, ACTOR_DIM : ACTOR_DIM + 4])
        privileged[:, ACTOR_DIM : ACTOR_DIM + 4] -= 1.0
        if self.history_length:
            privileged[:, ACTOR_DIM + 4 :] = self.history[sel, : self.history_length].reshape(m, -1)
        if self.obs_type == "privileged_box":
            return privileged
        return {"actor": actor, "privileged": privileged}

    def observation_space(self) -> spaces.Space:
        actor = spaces.Box(-np.inf, np.inf, (ACTOR_DIM,), np.float32)
        privileged = spaces.Box(-np.inf, np.inf, (self.privileged_dim,), np.float32)
        return {"dict": spaces.Dict({"actor": actor, "privileged": privileged}), "box": actor, "privileged_box": privileged}[self.obs_type]


def _positive_int(name: str, value: Any, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or int(value) != value or value < (0 if allow_zero else 1):
        raise ValueError(f"{name} must be an integer >= {0 if allow_zero else 1}, got {value!r}")
    return int(value)


def _noise(value: Any) -> np.ndarray | None:
    """Observation noise std: a number for every actor entry, or a dict per block."""
    if value is None or value == 0:
        return None
    if isinstance(value, dict):
        blocks = {"position": 3, "orientation": 9, "linear_velocity": 3, "angular_velocity": 3}
        bad = set(value) - set(blocks)
        if bad:
            raise ValueError(f"unknown obs_noise block(s) {sorted(bad)}; known: {list(blocks)}")
        std = np.concatenate([np.full(n, float(value.get(k, 0.0))) for k, n in blocks.items()])
    else:
        std = np.full(ACTOR_DIM, float(value))
    if (std < 0).any() or not np.isfinite(std).all():
        raise ValueError(f"obs_noise must be finite and >= 0, got {value!r}")
    return std.astype(np.float32)


def check_actions(actions: Any, n: int) -> np.ndarray:
    """Validate actions before the C++ side sees them: shape (n, 4), real, finite."""
    arr = np.asarray(actions)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"drone actions must be real numbers, got dtype {arr.dtype}")
    if arr.size != n * 4:
        raise ValueError(f"drone actions must have shape ({n}, 4) (or (4,) for one env), got {arr.shape}")
    arr = arr.astype(np.float32).reshape(n, 4)
    if not np.isfinite(arr).all():
        raise ValueError(f"drone actions must be finite, got {arr}")
    return arr


class DroneHoverEnv(gym.Env):
    """Single Crazyflie hover env (gymnasium API).

    :param seed: initial seed (``reset(seed=…)`` re-seeds).
    :param max_episode_steps: truncation length (default 500 steps = 5 s).
    :param termination: ``"simulator"`` (default limits) or ``"box"`` (|p_i| > 0.6 m).
    :param history_length: actions in the privileged observation (default 32).
    :param obs_type: ``"dict"`` (default), ``"box"`` (actor part) or ``"privileged_box"``.
    :param obs_noise: Gaussian std on the actor observation: a number or a dict per block
        (``position``, ``orientation``, ``linear_velocity``, ``angular_velocity``). Rewards and
        terminations use the clean state.
    :param domain_randomization: ±fraction applied per episode to mass, thrust, inertia and motor
        time constants.
    :param init: initial-state ranges (l2f's ``mdp.init`` keys: ``guidance``, ``max_position``,
        ``max_linear_velocity``, ``max_angular_velocity``, ``min_rpm``, ``max_rpm``).
    :param target: target position (m); the observation holds ``p − target``.
    :param curriculum_stage: reward-curriculum stage 0 … 5 (default 5, the final weights).
    """

    metadata = {"render_modes": []}

    def __init__(self, seed: int = 0, **options: Any):
        self.engine = DroneEngine(1, seed=seed, **options)
        self.observation_space = self.engine.observation_space()
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)

    @property
    def hover_action(self) -> float:
        return self.engine.hover_action

    def set_curriculum_stage(self, stage: int) -> None:
        self.engine.set_curriculum_stage(stage)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.engine.seed(seed)
        self.engine.reset()
        return _row(self.engine.observe(), 0), {}

    def step(self, action: Any):
        reward, terminated, truncated = self.engine.step(check_actions(action, 1))
        return _row(self.engine.observe(), 0), float(reward[0]), bool(terminated[0]), bool(truncated[0]), {}


def _row(obs: np.ndarray | dict[str, np.ndarray], i: int) -> np.ndarray | dict[str, np.ndarray]:
    """Row ``i`` as a copy (the batch arrays are overwritten in place on auto-reset)."""
    if isinstance(obs, dict):
        return {k: v[i].copy() for k, v in obs.items()}
    return obs[i].copy()


class DroneHoverVecEnv(VecEnv):
    """Batched Crazyflies as an SB3 ``VecEnv``: one simulator call steps every env.

    SB3 conventions: automatic reset, ``infos[i]["terminal_observation"]`` and
    ``infos[i]["TimeLimit.truncated"]`` at episode ends, and Monitor-style
    ``infos[i]["episode"] = {"r", "l", "t"}`` so SB3's logging and ``evaluate_policy`` work without
    a wrapper. Env i of seed s is the same as ``DroneHoverEnv`` … only statistically: the vector
    shares one generator layout, see :meth:`seed`.

    :param num_envs: number of quadrotors.
    :param seed: seed of the first episode of every env.
    :param options: see :class:`DroneHoverEnv`.
    """

    render_mode = None

    def __init__(self, num_envs: int = 64, seed: int = 0, **options: Any):
        self.engine = DroneEngine(num_envs, seed=seed, **options)
        super().__init__(num_envs, self.engine.observation_space(), spaces.Box(-1.0, 1.0, (4,), np.float32))
        self._actions: np.ndarray | None = None
        self._returns = np.zeros(num_envs, np.float64)
        self._t0 = time.time()
        self._seed: int | None = seed

    @property
    def hover_action(self) -> float:
        return self.engine.hover_action

    def set_curriculum_stage(self, stage: int) -> None:
        self.engine.set_curriculum_stage(stage)

    def reset(self):
        if self._seed is not None:
            self.engine.seed(self._seed)
            self._seed = None
        self.engine.reset()
        self._returns[:] = 0
        return self.engine.observe()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = check_actions(actions, self.num_envs)

    def step_wait(self):
        assert self._actions is not None, "step_async first"
        reward, terminated, truncated = self.engine.step(self._actions)
        self._actions = None
        done = terminated | truncated
        self._returns += reward
        obs = self.engine.observe()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if done.any():
            idx = np.flatnonzero(done)
            for i in idx:
                infos[i] = {
                    "terminal_observation": _row(obs, i),
                    "TimeLimit.truncated": bool(truncated[i]),
                    "episode": {"r": float(self._returns[i]), "l": int(self.engine.steps[i]), "t": round(time.time() - self._t0, 6)},
                }
            self._returns[done] = 0
            self.engine.reset(done)
            fresh = self.engine.observe(idx)
            if isinstance(obs, dict):
                for k in obs:
                    obs[k][idx] = fresh[k]
            else:
                obs[idx] = fresh
        return obs, reward, done, infos

    def seed(self, seed: int | None = None) -> Sequence[None | int]:
        """Seed the next ``reset`` (SB3 semantics)."""
        self._seed = 0 if seed is None else int(seed)
        return [self._seed + i for i in range(self.num_envs)]

    def close(self) -> None:
        pass

    def get_attr(self, attr_name: str, indices=None) -> list[Any]:
        return [getattr(self, attr_name) for _ in self._get_indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
        # one engine serves every index: call once, report the result per index
        result = getattr(self, method_name)(*method_args, **method_kwargs)
        return [result for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices=None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]


class PDHoverGuide:
    """Privileged cascaded PD hover controller with motor-lag compensation (needs no training).

    Position PD → desired thrust vector → attitude PD (on the body-frame tilt error, plus yaw) →
    exact mixer inverse → inverse thrust curve; then the motor command is chosen so that, after
    the simulator's one-step motor lag, the motor speed moves towards the wanted one with time
    constant ``tau_target`` (this needs the current motor speeds: the privileged observation).

    Default gains: chosen by a grid search over (kp, kd, katt, krate, tau_target) on 96 seeded
    episodes at the final reward weights (``benchmarks/eval_pd_guide.py`` reports them on other
    seeds); the reference sketch's katt=200, krate=25, tau=0.015 scored ≈ 377.

    Input: privileged observations ``(N, ≥ 22)`` (layout of :class:`DroneHoverEnv`'s
    ``"privileged"`` vector) or a ``Dict`` observation; output ``(N, 4)`` actions in [-1, 1].
    """

    def __init__(
        self,
        kp: float = 8.0,
        kd: float = 4.0,
        katt: float = 450.0,
        krate: float = 50.0,
        kyaw: float = 10.0,
        kyawrate: float = 4.0,
        tau_target: float = 0.025,
        dynamics: dict[str, Any] | None = None,
    ):
        dyn = dynamics or nominal_parameters()["dynamics"]
        self.kp, self.kd, self.katt, self.krate, self.kyaw, self.kyawrate = kp, kd, katt, krate, kyaw, kyawrate
        self.mass, self.g = dyn["mass"], abs(dyn["gravity"][2])
        self.c = np.array(dyn["rotor_thrust_coefficients"][0], np.float64)
        self.inertia = np.diag(np.array(dyn["J"], np.float64))
        rotors = np.array(dyn["rotor_positions"], np.float64)
        torque_k = dyn["rotor_torque_constants"][0]
        yaw_dir = np.array([d[2] for d in dyn["rotor_torque_directions"]], np.float64)
        mixer = np.stack([np.ones(4), rotors[:, 1], -rotors[:, 0], torque_k * yaw_dir])  # [T, τx, τy, τz] = M f
        self.mixer_inv = np.linalg.inv(mixer)
        self.f_max = self.c.sum()
        self.decay_rise = rk4_decay(DT / dyn["rotor_time_constants_rising"][0])
        self.decay_fall = rk4_decay(DT / dyn["rotor_time_constants_falling"][0])
        self.blend = 1.0 - math.exp(-DT / tau_target)

    def __call__(self, obs: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        o = np.asarray(obs["privileged"] if isinstance(obs, dict) else obs, np.float64)
        if o.ndim != 2 or o.shape[1] < 22:
            raise ValueError(f"PDHoverGuide needs privileged observations (N, >= 22), got shape {o.shape}")
        p, R, v, w = o[:, 0:3], o[:, 3:12].reshape(-1, 3, 3), o[:, 12:15], o[:, 15:18]
        acc = -self.kp * p - self.kd * v
        acc[:, :2] = np.clip(acc[:, :2], -4, 4)
        acc[:, 2] = np.clip(acc[:, 2], -6, 5)
        force = self.mass * (acc + np.array([0.0, 0.0, self.g]))
        z_des = force / np.linalg.norm(force, axis=1, keepdims=True)
        z_body = R[:, :, 2]
        thrust = np.clip((force * z_body).sum(1), 0, 4 * self.f_max)
        err_body = np.einsum("nji,nj->ni", R, np.cross(z_body, z_des))  # Rᵀ (z × z_des)
        yaw = np.arctan2(R[:, 1, 0], R[:, 0, 0])
        alpha = self.katt * err_body - self.krate * w
        alpha[:, 2] = -self.kyaw * yaw - self.kyawrate * w[:, 2]
        f = np.einsum("ij,nj->ni", self.mixer_inv, np.concatenate([thrust[:, None], alpha * self.inertia], 1))
        f = np.clip(f, self.c[0], self.f_max)
        c0, c1, c2 = self.c
        u = (-c1 + np.sqrt(c1 * c1 - 4 * c2 * (c0 - f))) / (2 * c2)
        rpm = (o[:, 18:22] + 1.0) / 2.0
        wanted = rpm + self.blend * (u - rpm)  # motor speed we want after one step
        decay = np.where(wanted >= rpm, self.decay_rise, self.decay_fall)
        u = (wanted - decay * rpm) / (1.0 - decay)  # invert one RK4 step of the motor lag
        return (2.0 * np.clip(u, 0.0, 1.0) - 1.0).astype(np.float32)


class RewardCurriculumCallback(BaseCallback):
    """Set the training env's reward-curriculum stage from training progress (six linear stages).

    Works with :class:`DroneHoverVecEnv` and with any ``VecEnv`` of :class:`DroneHoverEnv`
    (through ``env_method``). Logs ``curriculum/stage`` and the current weights.

    :param n_stages_done_at: fraction of training at which the final stage is reached (1.0: the
        last sixth of training runs at the final weights).
    """

    def __init__(self, n_stages_done_at: float = 1.0, verbose: int = 0):
        super().__init__(verbose)
        if not 0 < n_stages_done_at <= 1:
            raise ValueError(f"n_stages_done_at must be in (0, 1], got {n_stages_done_at}")
        self.done_at = float(n_stages_done_at)
        self.stage: int | None = None

    def _progress(self) -> float:
        total = max(getattr(self.model, "_total_timesteps", 0), 1)
        return min(self.num_timesteps / (total * self.done_at), 1.0)

    def _init_callback(self) -> None:
        self._update()

    def _on_step(self) -> bool:
        self._update()
        return True

    def _update(self) -> None:
        stage = curriculum_stage(self._progress())
        if stage != self.stage:
            self.training_env.env_method("set_curriculum_stage", stage)
            self.stage = stage
            if self.verbose:
                print(f"reward curriculum: stage {stage} {curriculum_weights(stage)}")
        self.logger.record("curriculum/stage", self.stage)
        for name, value in curriculum_weights(self.stage).items():
            self.logger.record(f"curriculum/{name}", value)


def make_drone_vec_env(n_envs: int = 64, seed: int = 0, **options: Any) -> DroneHoverVecEnv:
    """Factory for the batched env (use as ``env`` of GuidedTD3, or in rl-zoo through a wrapper)."""
    return DroneHoverVecEnv(n_envs, seed=seed, **options)
