"""Privileged PD hover controller: a guide that needs no training.

:class:`PDHoverGuide` maps batched privileged observations ``(N, 22 + ...)`` (or the Dict
observation) to actions ``(N, 4)`` in [-1, 1]: a cascaded controller

1. position PD -> desired acceleration (clipped) -> desired thrust vector ``F = m (a_des + g e_z)``;
2. attitude PD on the tilt error ``R^T (z_body x F/|F|)`` and on yaw -> angular acceleration,
   torque ``J alpha + omega x J omega``;
3. exact inverse of the rotor mixer (saturation handled by shifting the collective thrust, so the
   attitude torques survive) and of the quadratic thrust curve -> motor set-points;
4. motor-lag compensation: with the current motor speeds from the privileged observation, the
   command is chosen so that after one 10 ms step the motors reach ``rpm + beta (u - rpm)``
   (``beta = 1 - exp(-dt / tau_target)``), inverting the simulator's asymmetric motor model. This
   is what needs the privileged motor state; without it the 250 ms motor fall time causes
   attitude limit cycles.

Use it as the guide of GuidedTD3 (``guide(obs_batch) -> actions``) or from YAML as
``sb3_spiking.tasks.drone.pd_guide:PDHoverGuide``. ``python -m sb3_spiking.tasks.drone.pd_guide`` measures it.
:class:`AdaptivePDHoverGuide` is the same controller with the randomised drone's model (it reads the
dynamics factors an env with ``privileged_dynamics=True`` appends): the teacher under domain
randomisation (docs/robustness.md).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

import numpy as np

from sb3_spiking.tasks.drone.config import DR_KEYS
from sb3_spiking.tasks.drone.simulator import DT, motor_decay, nominal_parameters


class PDHoverGuide:
    """Batched cascaded PD hover controller with motor-lag compensation (numpy).

    :param kp: position gain [1/s^2].
    :param kd: velocity gain [1/s].
    :param katt: attitude (tilt) gain [1/s^2].
    :param krate: body-rate damping [1/s].
    :param kyaw: yaw gain [1/s^2].
    :param kyaw_rate: yaw-rate damping [1/s].
    :param tau_target: time constant the compensated motors should follow [s].
    :param lag_compensation: use the motor speeds (observation entries 18..21); without it an
        18-dim actor observation suffices.
    :param max_tilt_accel: limit of the horizontal desired acceleration [m/s^2].
    :param dynamics: l2f dynamics dict (default: the simulator's nominal Crazyflie).
    """

    def __init__(
        self,
        kp: float = 8.0,
        kd: float = 4.0,
        katt: float = 450.0,
        krate: float = 50.0,
        kyaw: float = 10.0,
        kyaw_rate: float = 4.0,
        tau_target: float = 0.008,
        lag_compensation: bool = True,
        max_tilt_accel: float = 4.0,
        dynamics: dict[str, Any] | None = None,
    ) -> None:
        dyn = dynamics if dynamics is not None else nominal_parameters()["dynamics"]
        self._dynamics = dyn
        self.kp, self.kd, self.katt, self.krate = kp, kd, katt, krate
        self.kyaw, self.kyaw_rate, self.max_tilt_accel = kyaw, kyaw_rate, max_tilt_accel
        self.lag_compensation = lag_compensation
        self.mass = float(dyn["mass"])
        self.g = abs(float(dyn["gravity"][2]))
        self.inertia = np.diag(np.asarray(dyn["J"], np.float64)).copy()
        self.c0, self.c1, self.c2 = (float(c) for c in dyn["rotor_thrust_coefficients"][0])
        self.f_min, self.f_max = self.c0, self.c0 + self.c1 + self.c2  # thrust at u = 0 and u = 1
        pos = np.asarray(dyn["rotor_positions"], np.float64)
        yaw_dir = np.asarray(dyn["rotor_torque_directions"], np.float64)[:, 2]
        k_torque = np.asarray(dyn["rotor_torque_constants"], np.float64)
        # [T, tau_x, tau_y, tau_z] = M f for rotor thrusts f along body z
        mixer = np.stack([np.ones(4), pos[:, 1], -pos[:, 0], k_torque * yaw_dir])
        self.mixer_inv = np.linalg.inv(mixer)
        self.decay_rise = float(motor_decay(dyn["rotor_time_constants_rising"][0]))
        self.decay_fall = float(motor_decay(dyn["rotor_time_constants_falling"][0]))
        self.beta = 1.0 - np.exp(-DT / tau_target)

    def __call__(self, obs: np.ndarray | Mapping[str, np.ndarray]) -> np.ndarray:
        """Actions for a batch of observations.

        :param obs: privileged observations (N, D >= 22) or (D,), or a Dict observation (its
            ``"privileged"`` entry is used).
        :return: float32 actions (N, 4) (or (4,) for a single observation) in [-1, 1].
        """
        o, single = self._batch(obs)
        actions = self._control(o, self._model(o))
        return actions[0] if single else actions

    def _batch(self, obs: np.ndarray | Mapping[str, np.ndarray]) -> tuple[np.ndarray, bool]:
        """The privileged observations as a float64 (N, D) array, and whether one was given alone."""
        if isinstance(obs, Mapping):
            obs = obs["privileged"]
        o = np.asarray(obs, np.float64)
        single = o.ndim == 1
        o = np.atleast_2d(o)
        need = 22 if self.lag_compensation else 18
        if o.ndim != 2 or o.shape[1] < need:
            raise ValueError(f"{type(self).__name__} needs observations of shape (N, >= {need}), got {np.shape(obs)}")
        return o, single

    def _model(self, o: np.ndarray) -> dict[str, Any]:
        """The drone model the inverse dynamics assume: nominal scalars here (per row in subclasses)."""
        return {
            "mass": self.mass, "inertia": self.inertia, "c0": self.c0, "c1": self.c1, "c2": self.c2,
            "f_min": self.f_min, "f_max": self.f_max, "decay_rise": self.decay_rise, "decay_fall": self.decay_fall,
        }  # fmt: skip

    def _control(self, o: np.ndarray, m: dict[str, Any]) -> np.ndarray:
        """Float32 actions (N, 4) for observations ``o`` (N, D) and drone model ``m`` (scalars, or per
        row: ``mass`` and the thrust coefficients (N, 1), ``inertia`` (N, 3), ``f_max`` (N, 1), ...)."""
        p, rot, v, w = o[:, 0:3], o[:, 3:12].reshape(-1, 3, 3), o[:, 12:15], o[:, 15:18]
        c0, c1, c2, f_min, f_max = m["c0"], m["c1"], m["c2"], m["f_min"], m["f_max"]

        acc = -self.kp * p - self.kd * v
        acc[:, :2] = np.clip(acc[:, :2], -self.max_tilt_accel, self.max_tilt_accel)
        acc[:, 2] = np.clip(acc[:, 2], -0.6 * self.g, 0.5 * self.g)
        force = m["mass"] * (acc + np.array([0.0, 0.0, self.g]))
        z_des = force / np.linalg.norm(force, axis=1, keepdims=True)
        z_body = rot[:, :, 2]
        thrust = np.clip((force * z_body).sum(1), 0.0, np.ravel(4.0 * f_max))
        tilt_err = np.einsum("nji,nj->ni", rot, np.cross(z_body, z_des))  # R^T (z_b x z_d)
        alpha = self.katt * tilt_err - self.krate * w
        alpha[:, 2] = -self.kyaw * np.arctan2(rot[:, 1, 0], rot[:, 0, 0]) - self.kyaw_rate * w[:, 2]
        jw = w * m["inertia"]
        torque = alpha * m["inertia"] + np.cross(w, jw)
        f = np.concatenate([thrust[:, None], torque], 1) @ self.mixer_inv.T
        # desaturate by shifting the collective thrust: attitude authority beats altitude
        f -= np.maximum(f.max(1, keepdims=True) - f_max, 0.0)
        f += np.maximum(f_min - f.min(1, keepdims=True), 0.0)
        f = np.clip(f, f_min, f_max)
        u = (-c1 + np.sqrt(c1**2 - 4.0 * c2 * (c0 - f))) / (2.0 * c2)

        if self.lag_compensation:
            rpm = (o[:, 18:22] + 1.0) * 0.5
            target = rpm + self.beta * (u - rpm)
            d = np.where(target >= rpm, m["decay_rise"], m["decay_fall"])
            u = (target - d * rpm) / (1.0 - d)  # one motor step from rpm with command u lands on target
        return (2.0 * np.clip(u, 0.0, 1.0) - 1.0).astype(np.float32)


class AdaptivePDHoverGuide(PDHoverGuide):
    """:class:`PDHoverGuide` whose inverse dynamics follow the randomised drone it flies.

    A privileged guide may know the episode's dynamics: with the env option
    ``privileged_dynamics=True`` the privileged observation ends with the factors (minus one) of
    mass, thrust curve, inertia and motor time constant (:data:`~sb3_spiking.tasks.drone.config.DR_KEYS`).
    This guide scales its model by them per row: the thrust it asks for (mass), the motor set-point
    that delivers it (thrust curve, and the saturation limits), the torque for an angular
    acceleration (inertia) and the motor-lag inversion (time constants). On the nominal drone (all
    factors 0) it flies exactly like :class:`PDHoverGuide`. It reads the clean privileged state, so
    observation noise (which only touches the actor's part) does not reach it.

    :param action_history: the env's ``action_history`` (sets where the factors are: the last 4 of
        ``22 + 4 * action_history + 4`` values).
    :param kwargs: further :class:`PDHoverGuide` arguments (gains, nominal ``dynamics``).
    """

    #: fly it on an env built with ``privileged_dynamics=True`` (read by the robustness suite)
    privileged_dynamics = True

    def __init__(self, action_history: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not self.lag_compensation:
            raise ValueError("AdaptivePDHoverGuide reads the privileged observation; it needs lag_compensation=True")
        self.action_history = int(action_history)
        self.obs_dim = 22 + 4 * self.action_history + len(DR_KEYS)
        self._tau_rise = float(self._dynamics["rotor_time_constants_rising"][0])
        self._tau_fall = float(self._dynamics["rotor_time_constants_falling"][0])

    def _model(self, o: np.ndarray) -> dict[str, Any]:
        if o.shape[1] != self.obs_dim:
            raise ValueError(
                f"AdaptivePDHoverGuide needs the privileged observation of an env with privileged_dynamics=True "
                f"and action_history={self.action_history} ({self.obs_dim} values), got {o.shape[1]}"
            )
        mass, thrust, inertia, motor = (o[:, -len(DR_KEYS) + k, None] + 1.0 for k in range(len(DR_KEYS)))
        return {
            "mass": self.mass * mass, "inertia": self.inertia * inertia,
            "c0": self.c0 * thrust, "c1": self.c1 * thrust, "c2": self.c2 * thrust,
            "f_min": self.f_min * thrust, "f_max": self.f_max * thrust,
            "decay_rise": motor_decay(self._tau_rise * motor), "decay_fall": motor_decay(self._tau_fall * motor),
        }  # fmt: skip


def evaluate_guide(guide: Any, n_episodes: int = 256, seed: int = 0, **options: Any) -> dict[str, float]:
    """Run ``guide`` for one episode in each of ``n_episodes`` batched envs (seeds ``seed + i``).

    The rollout is :func:`sb3_spiking.tasks.drone.protocols.fly` without a model, on privileged observations
    (``obs_mode`` defaults to ``"privileged"``; ``options`` are drone env options).

    :return: mean / std return, mean length, fraction of full-length episodes.
    """
    from sb3_spiking.tasks.drone.protocols import fly

    return fly(None, guide, n_episodes=n_episodes, seed=seed, **{"obs_mode": "privileged", **options}).summary()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Measure the PD hover guide on the drone env.")
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    guide = PDHoverGuide()
    print(f"PDHoverGuide (defaults), {args.episodes} episodes, seeds {args.seed}..{args.seed + args.episodes - 1}")
    print(f"{'setting':44s} {'mean return':>12s} {'std':>7s} {'mean len':>9s} {'full-length':>11s}")
    for name, opts in [
        ("final weights, simulator termination", {}),
        ("start weights, simulator termination", {"curriculum_stage": 0}),
        ("final weights, paper 0.6 m box", {"termination": "paper"}),
        ("start weights, paper 0.6 m box", {"curriculum_stage": 0, "termination": "paper"}),
    ]:
        r = evaluate_guide(guide, args.episodes, args.seed, **opts)
        print(
            f"{name:44s} {r['mean_return']:12.1f} {r['std_return']:7.1f} {r['mean_length']:9.1f} "
            f"{100 * r['full_length']:10.1f}%"
        )


#: the detuned teachers of the weak-guide experiments live in :mod:`experiments.weak_guides` (research, not the
#: product); archived run configs name them under this module, so the names resolve here on first use
_MOVED_TO_EXPERIMENTS = ("DetunedPDGuide", "WeakPDGuide75", "WeakPDGuide63", "SoftAttitudePDGuide80")


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_EXPERIMENTS:
        try:
            from experiments import weak_guides
        except ImportError as e:  # an installed package without the repository's experiments/
            raise AttributeError(
                f"{name} moved to experiments.weak_guides (the repository's experiments/ folder, not installed with "
                "the package): run from a checkout of the repository"
            ) from e
        return getattr(weak_guides, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    main()
