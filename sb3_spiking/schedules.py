"""Surrogate-slope schedules: small objects mapping training progress (and evaluations) to a slope.

Each schedule answers ``value(num_timesteps, total_timesteps)``; the adaptive one is also fed
evaluation returns through ``observe(mean_return)``. They hold no reference to a model, so they
are trivially picklable, testable and checkpointable (``state_dict`` / ``load_state_dict``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from sb3_spiking.neurons import check_slope


class SlopeSchedule:
    """Base class. ``needs_evaluations`` tells the callback whether to feed returns."""

    needs_evaluations = False

    def value(self, num_timesteps: int, total_timesteps: int) -> float:
        raise NotImplementedError

    def observe(self, mean_return: float) -> None:
        """Record an evaluation return (ignored by time-based schedules)."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


class FixedSlope(SlopeSchedule):
    """Constant slope ``k``.

    :param k: the slope (> 0).
    """

    def __init__(self, k: float = 2.0):
        self.k = check_slope(k)

    def value(self, num_timesteps: int, total_timesteps: int) -> float:
        return self.k

    def __repr__(self) -> str:
        return f"FixedSlope(k={self.k})"


class IntervalSlope(SlopeSchedule):
    """Slope made steeper in equal jumps at fixed intervals (the paper's "interval" schedule).

    Training is cut into intervals of length ``interval`` (an int: environment steps; a float in
    (0, 1]: fraction of the total). The slope is constant inside an interval and rises linearly
    from interval to interval, from ``k_start`` in the first to ``k_end`` in the last one
    (``n = ceil(total / interval)`` intervals; ``k_end`` held once reached).

    :param k_start: slope of the first interval (> 0).
    :param k_end: slope of the last interval (> 0).
    :param interval: interval length, env steps (int ≥ 1) or fraction of training (float in (0, 1]).
    """

    def __init__(self, k_start: float = 1.0, k_end: float = 100.0, interval: int | float = 0.1):
        self.k_start, self.k_end = check_slope(k_start), check_slope(k_end)
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise ValueError(f"interval must be an int (steps) or a float fraction, got {interval!r}")
        if isinstance(interval, float) and not 0 < interval <= 1:
            raise ValueError(f"interval as a fraction must be in (0, 1], got {interval}")
        if isinstance(interval, int) and interval < 1:
            raise ValueError(f"interval in steps must be >= 1, got {interval}")
        self.interval = interval

    def value(self, num_timesteps: int, total_timesteps: int) -> float:
        length = self.interval * total_timesteps if isinstance(self.interval, float) else self.interval
        length = max(length, 1)
        n_intervals = max(math.ceil(max(total_timesteps, 1) / length), 1)
        i = min(int(num_timesteps // length), n_intervals - 1)
        if n_intervals == 1:
            return self.k_start
        return self.k_start + (self.k_end - self.k_start) * i / (n_intervals - 1)

    def __repr__(self) -> str:
        return f"IntervalSlope(k_start={self.k_start}, k_end={self.k_end}, interval={self.interval})"


class AdaptiveSlope(SlopeSchedule):
    """The paper's adaptive slope: ``k = clamp(k_max · mean_{last w}(0.5·r + 0.5·r′), k_min, k_max)``.

    ``r`` is the evaluation return normalised linearly from ``return_range`` to [0, 1] and clipped
    there, ``r′`` its difference to the previous evaluation (0 for the first). Before the first
    evaluation the slope is ``k_start``.

    Normalisation choice: the authors' code maps returns from (0, 400) to [0, 1] and scales by
    ``k_max``; we keep the linear map and the scale but make the range a parameter, since it is the
    task's (the drone's return is at most 500 per episode, Pendulum's range is about (−1600, 0)).
    Without one, the range is the lowest to the highest evaluation return seen so far (r = 0 while
    they are equal). We *clip* r to [0, 1], so that one catastrophic evaluation cannot pin the slope at ``k_min`` for the next
    ``window`` evaluations, and an unexpectedly large return cannot push it past ``k_max``.
    At a performance plateau (r ≈ 1, r′ ≈ 0) the slope settles at ``k_max/2``; it only gets steeper
    while the return is still improving.

    :param k_start: slope before any evaluation.
    :param k_min: lower clamp (paper: 1).
    :param k_max: upper clamp and scale (paper: 100).
    :param return_range: (low, high) return mapped to r = 0 and r = 1; ``None``: the range of the
        evaluation returns seen so far (pass the task's range where it is known).
    :param window: number of recent evaluations averaged (paper: 10).
    """

    needs_evaluations = True

    def __init__(
        self,
        k_start: float = 2.0,
        k_min: float = 1.0,
        k_max: float = 100.0,
        return_range: tuple[float, float] | None = None,
        window: int = 10,
    ):
        self.k_start, self.k_min, self.k_max = check_slope(k_start), check_slope(k_min), check_slope(k_max)
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({k_min}) must not exceed k_max ({k_max})")
        self.return_range: tuple[float, float] | None = None
        if return_range is not None:
            low, high = (float(v) for v in return_range)
            if not high > low:
                raise ValueError(f"return_range must be (low, high) with high > low, got {return_range}")
            self.return_range = (low, high)
        if int(window) != window or window < 1:
            raise ValueError(f"window must be a positive integer, got {window!r}")
        self.window = int(window)
        self._terms: deque[float] = deque(maxlen=self.window)
        self._last_r: float | None = None
        self._seen: tuple[float, float] | None = None  # lowest and highest return observed (range not given)

    def normalise(self, mean_return: float) -> float:
        low, high = self.return_range or self._seen or (mean_return, mean_return)
        if not high > low:
            return 0.0
        return min(max((mean_return - low) / (high - low), 0.0), 1.0)

    def observe(self, mean_return: float) -> None:
        if not math.isfinite(mean_return):
            raise ValueError(f"AdaptiveSlope got a non-finite evaluation return: {mean_return}")
        if self.return_range is None:
            low, high = self._seen or (mean_return, mean_return)
            self._seen = (min(low, mean_return), max(high, mean_return))
        r = self.normalise(mean_return)
        dr = 0.0 if self._last_r is None else r - self._last_r
        self._last_r = r
        self._terms.append(0.5 * r + 0.5 * dr)

    def value(self, num_timesteps: int = 0, total_timesteps: int = 0) -> float:
        if not self._terms:
            return self.k_start
        k = self.k_max * sum(self._terms) / len(self._terms)
        return min(max(k, self.k_min), self.k_max)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"terms": list(self._terms), "last_r": self._last_r}
        if self._seen is not None:
            state["seen_range"] = list(self._seen)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._terms = deque(state["terms"], maxlen=self.window)
        self._last_r = state["last_r"]
        seen = state.get("seen_range")
        self._seen = None if seen is None else (float(seen[0]), float(seen[1]))

    def __repr__(self) -> str:
        return (
            f"AdaptiveSlope(k_start={self.k_start}, k_min={self.k_min}, k_max={self.k_max}, "
            f"return_range={self.return_range}, window={self.window})"
        )


SCHEDULES: dict[str, type[SlopeSchedule]] = {"fixed": FixedSlope, "interval": IntervalSlope, "adaptive": AdaptiveSlope}


def make_schedule(schedule: str | SlopeSchedule, **kwargs: Any) -> SlopeSchedule:
    """Build a schedule from its name (``"fixed"``, ``"interval"``, ``"adaptive"``) and kwargs.

    :raises ValueError: unknown name, or kwargs the schedule does not take.
    """
    if isinstance(schedule, SlopeSchedule):
        if kwargs:
            raise ValueError(f"schedule kwargs {sorted(kwargs)} given with a ready schedule object {schedule!r}")
        return schedule
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown slope schedule {schedule!r}; choose one of {sorted(SCHEDULES)}")
    try:
        return SCHEDULES[schedule](**kwargs)
    except TypeError as e:
        raise ValueError(f"bad arguments for the {schedule!r} slope schedule: {e}") from e
