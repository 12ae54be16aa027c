"""Thin batched layer over the l2f vector API (``pip install l2f==2.0.18``).

One :class:`L2FSimulator` owns ``n_rows`` Crazyflie simulations (``n_rows`` a power of two, as
compiled into l2f) that are stepped by one C++ call. It keeps, per row:

* the clean 82-dim l2f observation after every call (``obs82``): position (3), rotation matrix
  row-major (9), linear velocity world frame (3), angular velocity body frame (3), 16 past actions;
* the motor speeds (normalised to [0, 1]) that the C++ state hides from the observation, tracked
  by replicating the simulator's motor model (first-order lag with separate rising/falling time
  constants, one RK4 step per 10 ms, matches ``State.rpm`` to float precision);
* the dynamics parameters (nominal or domain-randomised) and the resulting hover action.

Facts this relies on (measured on l2f 2.0.18): row ``i`` of a vector is seeded with ``seed + i``;
``step`` and ``observe`` draw nothing from the rng (the reset sampler does), so every row's
random stream depends only on its own resets; actions must be a float32 C-contiguous (N, 4)
array; the compiled ``hovering_throttle_relative`` is stale, so the hover action is recomputed
here from mass and thrust curve.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import l2f
import numpy as np

DT = 0.01  # s, compiled into l2f (100 Hz)
VECTOR_SIZES = tuple(sorted(l2f.vector_selector))


def padded_size(n: int) -> int:
    """Smallest compiled l2f vector size >= ``n``."""
    for size in VECTOR_SIZES:
        if size >= n:
            return size
    raise ValueError(f"at most {VECTOR_SIZES[-1]} environments per l2f vector, got {n}")


@functools.lru_cache(maxsize=1)
def _nominal_json() -> str:
    dev, vec = l2f.Device(), l2f.vector_selector[1]
    env, par, rng = vec.VectorEnvironment(), vec.VectorParameters(), vec.VectorRng()
    vec.initialize_environment(dev, env)
    vec.initialize_rng(dev, rng, 0)
    vec.sample_initial_parameters(dev, env, par, rng)
    return l2f.parameters_to_json(dev, env.environments[0], par.parameters[0])


def nominal_parameters() -> dict[str, Any]:
    """The simulator's compiled parameters as a (fresh) JSON dict."""
    return json.loads(_nominal_json())


def hover_action(dynamics: dict[str, Any]) -> float:
    """Action in [-1, 1] (all four motors) whose steady thrust equals the weight.

    The thrust of one rotor is ``c0 + c1 u + c2 u^2`` for a motor set-point ``u = (a + 1) / 2``;
    solving ``4 f(u) = m g`` gives u = 0.806, a = 0.612 for the nominal Crazyflie.
    """
    c0, c1, c2 = dynamics["rotor_thrust_coefficients"][0]
    f = dynamics["mass"] * abs(dynamics["gravity"][2]) / 4.0
    u = (-c1 + np.sqrt(c1 * c1 - 4.0 * c2 * (c0 - f))) / (2.0 * c2)
    return float(2.0 * u - 1.0)


def motor_decay(tau: np.ndarray | float) -> np.ndarray:
    """Factor by which one RK4 step of ``x' = -x / tau`` over ``DT`` shrinks ``x``."""
    h = DT / np.asarray(tau, dtype=np.float64)
    return 1.0 - h + h**2 / 2.0 - h**3 / 6.0 + h**4 / 24.0


def scale_dynamics(dynamics: dict[str, Any], mass: float, thrust: float, inertia: float, motor: float) -> dict[str, Any]:
    """Copy of ``dynamics`` with mass, thrust curve, inertia and motor time constants multiplied."""
    d = copy.deepcopy(dynamics)
    d["mass"] *= mass
    d["rotor_thrust_coefficients"] = [[c * thrust for c in row] for row in d["rotor_thrust_coefficients"]]
    d["J"] = [[x * inertia for x in row] for row in d["J"]]
    d["J_inv"] = [[x / inertia for x in row] for row in d["J_inv"]]
    d["rotor_time_constants_rising"] = [t * motor for t in d["rotor_time_constants_rising"]]
    d["rotor_time_constants_falling"] = [t * motor for t in d["rotor_time_constants_falling"]]
    d["hovering_throttle_relative"] = (hover_action(d) + 1.0) / 2.0
    return d


class L2FSimulator:
    """``n_rows`` Crazyflie simulations stepped together (no reward, no episode logic).

    :param n_rows: number of rows, one of :data:`VECTOR_SIZES`.
    :param parameters: full l2f parameter JSON dict applied to every row (default: nominal).
    """

    def __init__(self, n_rows: int, parameters: dict[str, Any] | None = None) -> None:
        if n_rows not in l2f.vector_selector:
            raise ValueError(f"n_rows must be one of {VECTOR_SIZES}, got {n_rows}")
        self.n_rows = n_rows
        self._vec = vec = l2f.vector_selector[n_rows]
        self._dev = l2f.Device()
        self._env, self._par = vec.VectorEnvironment(), vec.VectorParameters()
        self._rng = vec.VectorRng()
        # ping-pong between two state buffers instead of copying next_state back every step
        self._state, self._next = vec.VectorState(), vec.VectorState()
        vec.initialize_environment(self._dev, self._env)
        vec.initialize_rng(self._dev, self._rng, 0)
        vec.sample_initial_parameters(self._dev, self._env, self._par, self._rng)
        self.parameters = parameters if parameters is not None else nominal_parameters()
        # a JSON round trip perturbs the compiled floats (~1e-4 after one step), so only
        # parameters that really differ from the compiled ones are written
        if self.parameters != nominal_parameters():
            text = json.dumps(self.parameters)
            for row in range(n_rows):
                self._set_row_json(row, text)
        dyn = self.parameters["dynamics"]
        self.nominal_hover_action = hover_action(dyn)
        self.hover_actions = np.full(n_rows, self.nominal_hover_action, np.float32)
        self._decay_rise = np.full((n_rows, 1), motor_decay(dyn["rotor_time_constants_rising"][0]), np.float32)
        self._decay_fall = np.full((n_rows, 1), motor_decay(dyn["rotor_time_constants_falling"][0]), np.float32)
        self.obs82 = np.zeros((n_rows, 82), np.float32)
        self.motors = np.zeros((n_rows, 4), np.float32)
        vec.sample_initial_state(self._dev, self._env, self._par, self._state, self._rng)
        self._observe()
        self.motors[:] = (self.obs82[:, 18:22] + 1.0) * 0.5

    # -- parameters -------------------------------------------------------------------------
    def _set_row_json(self, row: int, text: str) -> None:
        l2f.parameters_from_json(self._dev, self._env.environments[0], text, self._par.parameters[row])

    def set_row_dynamics(self, row: int, dynamics: dict[str, Any]) -> None:
        """Replace the dynamics of one row (takes effect at the next step)."""
        params = dict(self.parameters, dynamics=dynamics)
        self._set_row_json(row, json.dumps(params))
        self.hover_actions[row] = hover_action(dynamics)
        self._decay_rise[row] = motor_decay(dynamics["rotor_time_constants_rising"][0])
        self._decay_fall[row] = motor_decay(dynamics["rotor_time_constants_falling"][0])

    def row_parameters(self, row: int) -> dict[str, Any]:
        """The l2f parameters of one row as a JSON dict (read back from C++)."""
        return json.loads(l2f.parameters_to_json(self._dev, self._env.environments[0], self._par.parameters[row]))

    # -- simulation -------------------------------------------------------------------------
    def seed(self, seed: int) -> None:
        """Seed row ``i`` with ``seed + i`` (l2f's convention)."""
        self._vec.initialize_rng(self._dev, self._rng, int(seed))

    def _observe(self) -> None:
        self._vec.observe(self._dev, self._env, self._par, self._state, self.obs82, self._rng)

    def reset(self, mask: np.ndarray) -> None:
        """Sample new initial states for rows where ``mask`` (bool, (n_rows,)) is True."""
        self._vec.sample_initial_state_if_truncated(self._dev, self._env, self._par, self._state, mask, self._rng)
        self._observe()
        # at reset l2f fills the action history with the initial motor speeds (2 rpm - 1)
        self.motors[mask] = (self.obs82[mask, 18:22] + 1.0) * 0.5

    def step(self, actions: np.ndarray) -> None:
        """Advance all rows by 10 ms; ``actions`` is a float32 C-contiguous (n_rows, 4) array in [-1, 1]."""
        self._vec.step(self._dev, self._env, self._par, self._state, actions, self._next, self._rng)
        self._state, self._next = self._next, self._state
        self._observe()
        # motor model of l2f: u = (a + 1) / 2, rising/falling time constant chosen by the sign of u - rpm
        u = actions * 0.5
        u += 0.5
        diff = self.motors - u  # <= 0: set-point at or above the speed -> rising time constant
        diff *= np.where(diff <= 0.0, self._decay_rise, self._decay_fall)
        np.add(diff, u, out=self.motors)

    def copy_rows_from(self, src: L2FSimulator, src_rows: np.ndarray, dst_rows: np.ndarray) -> None:
        """Copy the state (position, attitude, velocities, motor speeds) of rows ``src_rows`` of ``src``
        into rows ``dst_rows`` of this simulator, then refresh ``obs82``. Parameters are not copied."""
        s_states, d_states = src._state.states, self._state.states
        for sr, dr in zip(np.asarray(src_rows).tolist(), np.asarray(dst_rows).tolist()):
            a, b = s_states[sr], d_states[dr]
            b.position, b.orientation = a.position, a.orientation
            b.linear_velocity, b.angular_velocity, b.rpm = a.linear_velocity, a.angular_velocity, a.rpm
        self.motors[dst_rows] = src.motors[src_rows]
        self._observe()

    def set_state(
        self,
        row: int,
        *,
        position: Any = None,
        orientation: Any = None,
        linear_velocity: Any = None,
        angular_velocity: Any = None,
        motors: Any = None,
    ) -> None:
        """Overwrite parts of one row's state (orientation as quaternion w, x, y, z; motors in [0, 1]).

        For tests and scripted scenarios; the 82-dim observation is refreshed. O(n_rows) per call.
        """
        state = self._state.states[row]
        if position is not None:
            state.position = [float(x) for x in position]
        if orientation is not None:
            state.orientation = [float(x) for x in orientation]
        if linear_velocity is not None:
            state.linear_velocity = [float(x) for x in linear_velocity]
        if angular_velocity is not None:
            state.angular_velocity = [float(x) for x in angular_velocity]
        if motors is not None:
            state.rpm = [float(x) for x in motors]
            self.motors[row] = np.asarray(motors, np.float32)
        self._observe()

    def set_orientations(self, rows: np.ndarray, quaternions: np.ndarray) -> None:
        """Set the attitude (w, x, y, z) of several rows, then refresh ``obs82``."""
        states = self._state.states
        for row, q in zip(rows, quaternions):
            states[int(row)].orientation = [float(x) for x in q]
        self._observe()

    def true_motors(self) -> np.ndarray:
        """Motor speeds read from the C++ state (slow, O(n_rows); for checking :attr:`motors`)."""
        return np.array([s.rpm for s in self._state.states], np.float32)
