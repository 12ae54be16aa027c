"""The hover task on top of :class:`~sb3_spiking.tasks.drone.simulator.L2FSimulator`, for N rows at once.

Shared by the single gymnasium env (N = 1) and the batched SB3 ``VecEnv`` so both compute exactly
the same observations, rewards and episode ends. Everything random that the task adds in numpy
(domain randomisation, initial attitude, observation noise) comes from one generator per row
seeded like the simulator row (``seed + i``) and consumed only by that row's own events, so row
``i`` of a batch reproduces a single env seeded with ``seed + i`` step for step.

Observation layout (float32):

* ``actor`` (18): position error ``p - target`` (3), rotation matrix row-major (9), linear velocity
  world frame (3), angular velocity body frame (3) - observation noise applies here only;
* ``privileged`` (22 + 4 H): the clean actor part (18), current motor speeds ``2 rpm - 1`` (4),
  the last H actions (clipped, most recent first; at an episode start filled with the initial
  motor speeds in action units, like l2f); with ``privileged_dynamics`` 4 more values: the
  episode's dynamics factors minus one (mass, thrust, inertia, motor time constant; 0 = nominal).
"""

from __future__ import annotations

import logging

import numpy as np

from sb3_spiking.obs_keys import COMMAND_KEY
from sb3_spiking.tasks.drone._openmp import OmpThreads
from sb3_spiking.tasks.drone.config import ACTOR_DIM, DR_KEYS, DroneHoverConfig
from sb3_spiking.tasks.drone.reward import RewardWeights, check_stage, curriculum_weights
from sb3_spiking.tasks.drone.simulator import L2FSimulator, nominal_parameters, padded_size, scale_dynamics

logger = logging.getLogger(__name__)

_NOISE_CHUNK = 64  # steps of observation noise drawn per row at once (one generator call)
# Beyond any physical state (crash limits are 1 m, 2 m/s, 35 rad/s). l2f clamps runaway positions and
# velocities to +-1e5 (a NaN velocity becomes -1e5) while the attitude can turn NaN, so "diverged"
# means any |component| >= DIVERGED or non-finite; it also serves as the limit of termination="none".
DIVERGED = np.float32(1e4)


class DroneHoverTask:
    """Batched hover task: ``n`` real rows on an l2f vector of the next compiled size.

    Extra (padding) rows are simulated with the hover action and reset like the others but
    never reported.

    :param n: number of environments.
    :param config: task options.
    """

    def __init__(self, n: int, config: DroneHoverConfig) -> None:
        if n < 1:
            raise ValueError(f"need at least one environment, got {n}")
        self.n, self.config = n, config
        self.n_rows = padded_size(n)
        params = nominal_parameters()
        init = dict(config.init)
        init.pop("max_angle", None)  # compiled sampler ignores it; applied in numpy below
        for key, name in (("min_motor", "min_rpm"), ("max_motor", "max_rpm")):
            if key in init:  # l2f samples relative rpm in [-1, 1]
                init[name] = 2.0 * init.pop(key) - 1.0
        params["mdp"]["init"].update(init)
        self.sim = L2FSimulator(self.n_rows, params)
        self._nominal_dynamics = params["dynamics"]
        self._omp = OmpThreads(config.sim_threads)

        limits = config.termination_limits()
        thr = np.full(ACTOR_DIM, DIVERGED, np.float32)
        thr[0:3], thr[12:15], thr[15:18] = limits["position"], limits["linear_velocity"], limits["angular_velocity"]
        self._limits = np.minimum(thr, DIVERGED)
        self._offset = np.zeros(ACTOR_DIM, np.float32)
        self._offset[0:3] = config.target_position
        self._dr = config.randomization()
        self._dr_on = any(self._dr.values())
        #: per row, the current episode's dynamics factors (order DR_KEYS; 1 = nominal)
        self.dynamics_factors = np.ones((self.n_rows, len(DR_KEYS)), np.float32)
        self._row_dynamics: dict[int, dict] = {}  # randomised rows: the exact dynamics set (for copies)
        self._dyn_obs = bool(config.privileged_dynamics)
        self._max_angle = config.init.get("max_angle")
        std = config.noise_std()
        self._noise_std = None
        if std is not None:
            self._noise_std = np.repeat(
                np.array([std["position"], std["orientation"], std["linear_velocity"], std["angular_velocity"]], np.float32),
                [3, 9, 3, 3],
            )
            self._noise = np.zeros((self.n_rows, _NOISE_CHUNK, ACTOR_DIM), np.float32)
        self._row_rngs: list[np.random.Generator] | None = None
        self._needs_row_rngs = self._dr_on or self._max_angle is not None or self._noise_std is not None

        self.history = int(config.action_history)
        self.actor_history = int(config.actor_history)
        self._privileged_dim = config.privileged_dim
        # action history, most recent first, without shifting the whole buffer every step: a
        # (2H)-slot buffer written backwards; the current history is the contiguous window
        # [_hp, _hp + H), and once per H steps the window is copied back to the top
        self._hist = np.zeros((self.n_rows, 2 * max(self.history, 1), 4), np.float32)
        self._hp = self.history
        # the clipped action the motors execute; with config.command_obs a reset row holds the command of its initial
        # motor speeds until its first step: then it is the command in force of every real row
        self._actions = np.zeros((self.n_rows, 4), np.float32)
        self._command_obs = bool(config.command_obs)
        self._actions[:] = self.sim.hover_actions[:, None]  # padding rows hover
        self.steps = np.zeros(self.n_rows, np.int64)
        self._warned = np.zeros(self.n_rows, bool)
        self.state18 = np.zeros((self.n_rows, ACTOR_DIM), np.float32)  # clean actor part, current
        self._seeded = False
        # results of the last step, per row (padding rows included)
        self.reward = np.zeros(self.n_rows, np.float32)
        self.terminated = np.zeros(self.n_rows, bool)
        self.truncated = np.zeros(self.n_rows, bool)
        self.done = np.zeros(self.n_rows, bool)  # terminated | truncated
        self.diverged = np.zeros(self.n_rows, bool)
        self.n_finished = 0  # rows done by the last step (padding rows included)
        self.ep_return = np.zeros(self.n_rows, np.float64)  # Monitor-style episode statistics
        self.ep_length = np.zeros(self.n_rows, np.int64)
        self.set_curriculum_stage(config.curriculum_stage)

    # -- curriculum -------------------------------------------------------------------------
    def set_curriculum_stage(self, stage: int) -> None:
        """Switch the reward weights to curriculum ``stage`` (0..5); applies from the next step."""
        self.curriculum_stage = check_stage(stage)
        self.weights: RewardWeights = curriculum_weights(self.curriculum_stage)
        w = self.weights
        self._sq_weights = np.zeros(ACTOR_DIM, np.float32)
        self._sq_weights[0:3], self._sq_weights[12:15] = w.c_rp, w.c_rv
        self._c_rs, self._c_rq, self._c_ra = np.float32(w.c_rs), np.float32(w.c_rq), np.float32(w.c_ra)

    # -- seeding / reset --------------------------------------------------------------------
    def seed(self, seed: int) -> None:
        """Seed row ``i`` (simulator and numpy side) with ``seed + i``."""
        seed = int(seed)
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.sim.seed(seed)
        if self._needs_row_rngs:
            self._row_rngs = [np.random.default_rng(seed + i) for i in range(self.n_rows)]
        self._seeded = True

    def reset_rows(self, mask: np.ndarray) -> None:
        """Start new episodes in the rows where ``mask`` ((n_rows,) bool) is True."""
        if not self._seeded:
            self.seed(int(np.random.SeedSequence().generate_state(1)[0] >> 1))
        rows = np.flatnonzero(mask) if self._needs_row_rngs else None
        if self._dr_on:
            for row in rows:
                self._randomize_dynamics(int(row))
            self._actions[self.n :] = self.sim.hover_actions[self.n :, None]
        self._omp.enter()
        try:
            self.sim.reset(mask)
            if self._max_angle is not None:
                self._resample_attitude(rows)
        finally:
            self._omp.exit()
        self.ep_return[mask] = 0.0
        self.ep_length[mask] = 0
        o = self.sim.obs82
        if self.history:  # l2f's convention: history starts filled with the initial motor speeds
            fill = self.config.history_fill
            self._hist[mask, self._hp : self._hp + self.history] = o[mask, None, 18:22] if fill is None else fill
        if self._command_obs:  # real rows only: padding rows keep flying the hover action
            real = mask[: self.n]
            self._actions[: self.n][real] = o[: self.n][real, 18:22]
        self.steps[mask] = 0
        self._warned[mask] = False
        self.state18[mask] = o[mask, :ACTOR_DIM] - self._offset
        if self._noise_std is not None:
            self._refill_noise(rows)

    def _randomize_dynamics(self, row: int) -> None:
        rng = self._row_rngs[row]
        f = {k: float(rng.uniform(1.0 - x, 1.0 + x)) if x else 1.0 for k, x in self._dr.items()}
        self.dynamics_factors[row] = [f[k] for k in DR_KEYS]
        dyn = scale_dynamics(self._nominal_dynamics, f["mass"], f["thrust"], f["inertia"], f["motor_time_constant"])
        self.sim.set_row_dynamics(row, dyn)
        self._row_dynamics[row] = dyn

    def _resample_attitude(self, rows: np.ndarray) -> None:
        """Initial attitude uniform (Haar) over rotations of angle <= max_angle; rest starts stay level."""
        o = self.sim.obs82
        todo, quats = [], []
        for row in rows:
            if not o[row, 0:3].any() and o[row, 3] == 1.0 and o[row, 7] == 1.0:  # "guidance" start
                continue
            rng = self._row_rngs[row]
            axis = rng.standard_normal(3)
            axis /= np.linalg.norm(axis)
            # Haar measure of the rotation angle has density proportional to 1 - cos(theta)
            while True:
                theta = rng.uniform(0.0, self._max_angle)
                if rng.uniform() * (1.0 - np.cos(self._max_angle)) <= 1.0 - np.cos(theta):
                    break
            todo.append(row)
            quats.append(np.concatenate([[np.cos(theta / 2)], np.sin(theta / 2) * axis]))
        if todo:
            self.sim.set_orientations(np.array(todo), np.array(quats))

    def _refill_noise(self, rows: np.ndarray) -> None:
        for row in rows:
            draw = self._row_rngs[row].standard_normal((_NOISE_CHUNK, ACTOR_DIM), dtype=np.float32)
            self._noise[row] = draw * self._noise_std

    # -- branching ---------------------------------------------------------------------------
    def match_settings(self, src: DroneHoverTask) -> None:
        """Take over ``src``'s settings that change during training: the curriculum's reward weights."""
        if src.curriculum_stage != self.curriculum_stage:
            self.set_curriculum_stage(src.curriculum_stage)

    def copy_rows_from(self, src: DroneHoverTask, src_rows: np.ndarray, dst_rows: np.ndarray) -> None:
        """Make rows ``dst_rows`` of this task exact copies of rows ``src_rows`` of ``src``.

        Copied: the simulator state (position, attitude, velocities, motor speeds), the action
        history, the step count, the episode statistics, the dynamics (when they differ) and the
        observation noise with the rows' random generators, so a copy continues bit for bit like its
        source under the same actions (``tests/test_vine.py``). Both tasks must have the same config;
        the reward weights are taken from ``src``.
        """
        if src.config != self.config:
            raise ValueError("copy_rows_from needs two tasks with the same config")
        src_rows, dst_rows = np.asarray(src_rows, np.int64), np.asarray(dst_rows, np.int64)
        if src_rows.shape != dst_rows.shape or src_rows.ndim != 1:
            raise ValueError(f"src_rows and dst_rows must be 1-d and of equal length, got {src_rows.shape}, {dst_rows.shape}")
        if ((src_rows < 0) | (src_rows >= src.n)).any() or ((dst_rows < 0) | (dst_rows >= self.n)).any():
            raise ValueError(f"rows out of range: src has {src.n} rows, dst {self.n}")
        self.match_settings(src)
        for sr, dr in zip(src_rows.tolist(), dst_rows.tolist()):
            if self._dr_on and self._row_dynamics.get(dr) is not src._row_dynamics.get(sr):
                dyn = src._row_dynamics.get(sr, self._nominal_dynamics)
                self.sim.set_row_dynamics(dr, dyn)
                self._row_dynamics[dr] = dyn
                self.dynamics_factors[dr] = src.dynamics_factors[sr]
            if self._row_rngs is not None and src._row_rngs is not None:  # common random numbers
                self._row_rngs[dr].bit_generator.state = src._row_rngs[sr].bit_generator.state
        self.sim.copy_rows_from(src.sim, src_rows, dst_rows)
        if self.history:
            self._hist[dst_rows, self._hp : self._hp + self.history] = src._hist[src_rows, src._hp : src._hp + src.history]
        for name in ("steps", "state18", "ep_return", "ep_length", "_actions", "_warned"):
            getattr(self, name)[dst_rows] = getattr(src, name)[src_rows]
        if self._noise_std is not None:
            self._noise[dst_rows] = src._noise[src_rows]

    # -- stepping ---------------------------------------------------------------------------
    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Apply actions ((n, 4), real dtype; non-finite raise ``ValueError`` before anything is
        simulated) to the real rows; all rows advance 10 ms.

        :return: reward (float32), terminated, truncated - each (n_rows,), padding rows included;
            also in :attr:`reward`, :attr:`terminated`, :attr:`truncated`, :attr:`done`,
            :attr:`n_finished`, :attr:`ep_return`, :attr:`ep_length`.
        """
        # hot path: every numpy call costs ~1 us, comparable to simulating 64 rows, so the
        # arithmetic below is folded into as few calls as possible
        a, a_real = self._actions, self._actions[: self.n]
        np.minimum(actions, 1.0, out=a_real)
        np.maximum(a_real, -1.0, out=a_real)
        self._omp.enter()
        try:
            self.sim.step(a)
        finally:
            self._omp.exit()
        if self.history:
            if self._hp == 0:
                self._hist[:, self.history + 1 :] = self._hist[:, : self.history - 1]
                self._hp = self.history + 1
            self._hp -= 1
            self._hist[:, self._hp] = a
        self.steps += 1
        o18 = self.sim.obs82[:, :ACTOR_DIM]
        # one comparison covers all crash limits and NaN (NaN <= x is False); the per-row
        # reduction is slow for small arrays, so it only runs when some row is out of bounds
        inside = np.abs(o18) <= self._limits
        terminated = np.zeros(self.n_rows, bool) if inside.all() else ~inside.all(1)
        s = np.subtract(o18, self._offset, out=self.state18)
        # cos(theta) = (trace(R) - 1) / 2. Only elementwise ops and einsum here, no BLAS matmul:
        # their per-row results do not depend on the batch size, so batched rows equal single envs
        # bit for bit
        cos = s[:, 3] + s[:, 7]
        cos += s[:, 11]
        cos -= 1.0
        cos *= 0.5
        np.minimum(cos, 1.0, out=cos)  # rounding can leave |cos| slightly above 1
        np.maximum(cos, -1.0, out=cos)
        da = a - self.sim.hover_actions[:, None]
        reward = self._c_rs - np.einsum("ij,j->i", s * s, self._sq_weights)
        reward -= self._c_rq * np.arccos(cos)
        reward -= self._c_ra * np.einsum("ij,ij->i", da, da)
        if terminated.any():
            self._handle_divergence(terminated, reward)
        truncated = self.steps >= self.config.max_episode_steps
        truncated &= ~terminated
        if self._noise_std is not None:
            refill = np.flatnonzero(self.steps % _NOISE_CHUNK == 0)
            if refill.size:
                self._refill_noise(refill)
        self.reward, self.terminated, self.truncated = reward, terminated, truncated
        self.done = terminated | truncated
        self.n_finished = int(np.count_nonzero(self.done))
        self.ep_return += reward
        self.ep_length += 1
        return reward, terminated, truncated

    def _warn_divergence(self, diverged: np.ndarray) -> None:
        """One warning per row and episode for rows whose simulation diverged."""
        fresh = diverged & ~self._warned
        self._warned |= diverged
        rows = np.flatnonzero(fresh[: self.n])
        if rows.size:
            logger.warning(
                "drone env: simulator state diverged (non-finite or >= %g) in env(s) %s at step(s) %s; "
                "episode terminated (reward 0, observation zeroed)",
                DIVERGED,
                rows.tolist(),
                self.steps[rows].tolist(),
            )

    def _handle_divergence(self, terminated: np.ndarray, reward: np.ndarray) -> None:
        s = self.state18
        a18 = np.abs(self.sim.obs82[:, :ACTOR_DIM])
        if a18.max() < DIVERGED:  # common case: ordinary crashes only (NaN fails this test)
            return
        diverged = terminated & ~(a18 < DIVERGED).all(1)
        if not diverged.any():
            return
        self._warn_divergence(diverged)
        # keep NaN out of replay buffers and critics
        reward[diverged] = 0.0
        s[diverged] = 0.0

    def out_of_limits(self, state18: np.ndarray) -> np.ndarray:
        """Whether clean actor-part states ``(N, 18)`` (as in the privileged observation) are past the crash
        limits: the termination test of :meth:`step`, for states the simulator did not produce (learnt-model copies)."""
        return ~(np.abs(state18 + self._offset) <= self._limits).all(1)

    @property
    def actor_noise_std(self) -> np.ndarray | None:
        """Per-component std ``(18,)`` of the actor observation's noise, ``None`` when clean."""
        return None if self._noise_std is None else self._noise_std.copy()

    # -- observations -----------------------------------------------------------------------
    def actor_obs(self, rows: slice | np.ndarray) -> np.ndarray:
        """Actor observation (noisy if configured) of ``rows``, a fresh (k, 18 + 4 actor_history) array."""
        obs = self.state18[rows]  # fancy index or slice + arithmetic below -> always a copy
        if self._noise_std is None:
            obs = obs.copy() if isinstance(rows, slice) else obs
        else:
            idx = np.arange(self.n_rows)[rows]
            obs = obs + self._noise[idx, self.steps[idx] % _NOISE_CHUNK]
        if self.actor_history:  # the actor's own past commands are known exactly: no noise
            hist = self._hist[rows, self._hp : self._hp + self.actor_history].reshape(obs.shape[0], -1)
            obs = np.concatenate([obs, hist], axis=1)
        return obs

    def privileged_obs(self, rows: slice | np.ndarray) -> np.ndarray:
        """Privileged observation of ``rows``, a fresh (k, 22 + 4 H [+ 4]) array."""
        s = self.state18[rows]
        out = np.empty((s.shape[0], self._privileged_dim), np.float32)
        out[:, :ACTOR_DIM] = s
        out[:, ACTOR_DIM : ACTOR_DIM + 4] = self.sim.motors[rows] * 2.0 - 1.0
        end = ACTOR_DIM + 4 + 4 * self.history
        if self.history:
            out[:, ACTOR_DIM + 4 : end] = self._hist[rows, self._hp : self._hp + self.history].reshape(s.shape[0], -1)
        if self._dyn_obs:
            out[:, end:] = self.dynamics_factors[rows] - 1.0
        return out

    def observation(self, rows: slice | np.ndarray) -> dict[str, np.ndarray] | np.ndarray:
        """Observation of ``rows`` in the configured ``obs_mode`` (fresh arrays)."""
        mode = self.config.obs_mode
        if mode == "actor":
            return self.actor_obs(rows)
        if mode == "privileged":
            return self.privileged_obs(rows)
        obs = {"actor": self.actor_obs(rows), "privileged": self.privileged_obs(rows)}
        if self._command_obs:
            obs[COMMAND_KEY] = self._actions[rows].copy()
        return obs


def validate_actions(actions: object, shape: tuple[int, ...]) -> np.ndarray:
    """Return ``actions`` as an array after checking shape, dtype and finiteness.

    Raises ``ValueError`` before anything reaches the C++ simulator (which would silently turn a
    NaN into a NaN state, or reject a wrong shape with an opaque message).
    """
    a = np.asarray(actions)
    if a.dtype.kind not in "fiu":
        raise ValueError(f"actions must be real numbers, got dtype {a.dtype}")
    if a.shape != shape:
        raise ValueError(f"actions must have shape {shape}, got {a.shape}")
    if not np.isfinite(a).all():
        bad = np.flatnonzero(~np.isfinite(a.reshape(-1, shape[-1])).all(1)).tolist()
        raise ValueError(f"actions contain NaN or inf (env index {bad})")
    return a
