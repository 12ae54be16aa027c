"""The detuned teachers of the weak-guide experiments (docs/guided_rl.md): :class:`PDHoverGuide` made worse.

Research material, not the product: the students of these teachers measure whether guided RL gets past
imitation. Archived run configs name them as ``sb3_spiking.tasks.drone.pd_guide:WeakPDGuide75`` (and so does
:mod:`experiments.experiments`, whose table the report prints): that path still resolves, to these classes.

    python -m experiments.weak_guides --episodes 100 --seed 10000   # the table of docs/guided_rl.md
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide, evaluate_guide


class DetunedPDGuide(PDHoverGuide):
    """:class:`PDHoverGuide` made deliberately worse: a weaker teacher for the weak-guide benchmark.

    Guided RL exists so that the student can beat its teacher; a student taught by this guide must
    get past imitation to fly as well as :class:`PDHoverGuide`. The detuning scales the position
    loop's gains (a sluggish approach to the set-point, which the reward's position term punishes
    on every step) and the attitude loop's (softer, slower corrections), leaving the guide stable.

    :param gain_scale: factor on ``kp`` and ``kd`` (position loop).
    :param attitude_scale: factor on ``katt`` and ``krate`` (attitude loop).
    :param kwargs: further :class:`PDHoverGuide` arguments.
    """

    def __init__(self, gain_scale: float = 0.5, attitude_scale: float = 1.0, **kwargs: Any) -> None:
        if not (0.0 < gain_scale and 0.0 < attitude_scale):
            raise ValueError(f"gain_scale and attitude_scale must be > 0, got {gain_scale}, {attitude_scale}")
        base = PDHoverGuide()
        kwargs.setdefault("kp", base.kp * gain_scale)
        kwargs.setdefault("kd", base.kd * gain_scale)
        kwargs.setdefault("katt", base.katt * attitude_scale)
        kwargs.setdefault("krate", base.krate * attitude_scale)
        super().__init__(**kwargs)
        self.gain_scale, self.attitude_scale = float(gain_scale), float(attitude_scale)


class WeakPDGuide75(DetunedPDGuide):
    """Position gains × 0.32: ≈ 75 % of :class:`PDHoverGuide`'s return (298.2 vs 399.2 on the 100
    final-evaluation states, all flights full-length). The weak-guide benchmark's teacher."""

    def __init__(self) -> None:
        super().__init__(gain_scale=0.32)


class WeakPDGuide63(DetunedPDGuide):
    """Position gains × 0.27: ≈ 63 % of :class:`PDHoverGuide`'s return (252.4; 98 % full-length)."""

    def __init__(self) -> None:
        super().__init__(gain_scale=0.27)


class SoftAttitudePDGuide80(DetunedPDGuide):
    """Attitude gains × 0.22: ≈ 80 % of :class:`PDHoverGuide`'s return (320.6), but 9 % of its
    flights crash: a teacher that is wrong in another way (slow attitude, overshoot)."""

    def __init__(self) -> None:
        super().__init__(gain_scale=1.0, attitude_scale=0.22)


class SluggishLunarGuide:
    """gymnasium's LunarLander heuristic reading its velocities (linear and angular) scaled by ``velocity_gain``:
    it under-damps its approach, and a fraction of its landings end too fast. The weak teacher of the
    LunarLander benchmark of issue 30 (a task whose simulator cannot be copied).

    Measured on start seeds 0–99 (one episode each; the full heuristic: 280.5): gain 0.78 → 248.1,
    0.75 → 225.8, **0.745 → 208.9 (74.5 %, the default)**, 0.74 → 196.4, 0.73 → 178.2, 0.7 → 143.7.
    """

    def __init__(self, velocity_gain: float = 0.745) -> None:
        from sb3_spiking.tasks.lunar_lander import LunarLanderHeuristicGuide

        if not 0.0 < velocity_gain <= 1.0:
            raise ValueError(f"velocity_gain must be in (0, 1], got {velocity_gain!r}")
        self.velocity_gain, self._heuristic = float(velocity_gain), LunarLanderHeuristicGuide()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        obs = np.array(obs, dtype=np.float64, copy=True)
        obs[..., [2, 3, 5]] *= self.velocity_gain  # vx, vy, ω of [x, y, vx, vy, θ, ω, leg1, leg2]
        return self._heuristic(obs)

    def __repr__(self) -> str:
        return f"SluggishLunarGuide(velocity_gain={self.velocity_gain})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The detuned teachers beside PDHoverGuide (final weights).")
    parser.add_argument("--episodes", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    last = args.seed + args.episodes - 1
    print(f"final weights, simulator termination, {args.episodes} episodes, seeds {args.seed}..{last}")
    print(f"{'guide':24s} {'mean return':>12s} {'% of PD':>8s} {'full-length':>11s}")
    ref = evaluate_guide(PDHoverGuide(), args.episodes, args.seed)["mean_return"]
    for cls in (PDHoverGuide, SoftAttitudePDGuide80, WeakPDGuide75, WeakPDGuide63):
        r = evaluate_guide(cls(), args.episodes, args.seed)
        share = 100 * r["mean_return"] / ref
        print(f"{cls.__name__:24s} {r['mean_return']:12.1f} {share:7.1f}% {100 * r['full_length']:10.1f}%")


if __name__ == "__main__":
    main()


__all__ = ["DetunedPDGuide", "SoftAttitudePDGuide80", "WeakPDGuide63", "WeakPDGuide75"]
