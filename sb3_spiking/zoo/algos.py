"""The algorithm class rl-zoo instantiates for ``guided_td3`` and its baseline names.

rl-zoo merges optuna's sampled hyper-parameters into the YAML ones with a *top-level*
``dict.update``: a sampled ``slope_schedule_kwargs`` would replace the YAML dict (and its
environment-specific ``return_range`` / ``eval_env``) entirely. :class:`ZooGuidedTD3` therefore
takes the tunable parts of the slope schedule as flat, top-level arguments and folds them into
``slope_schedule_kwargs`` itself:

* ``slope`` — start slope: ``k`` of ``fixed``, ``k_start`` of ``interval`` and ``adaptive``;
* ``slope_max`` — ``k_end`` of ``interval``, ``k_max`` of ``adaptive`` (ignored by ``fixed``);
* ``slope_interval`` — ``interval`` of ``interval`` (env steps, or a fraction of training);
* ``slope_window`` — ``window`` of ``adaptive``.

A flat value wins over the same entry of ``slope_schedule_kwargs``. Entries of
``slope_schedule_kwargs`` that only another schedule understands are dropped, so that one YAML can
carry e.g. ``return_range`` for when the tuner picks ``adaptive``; unknown entries still raise.

The result is a plain :class:`~sb3_spiking.GuidedTD3` (same attributes, same zip): a model saved by
rl-zoo loads with ``GuidedTD3.load`` and vice versa.
"""

from __future__ import annotations

import inspect
from typing import Any

from sb3_spiking.guided_td3 import GuidedTD3
from sb3_spiking.schedules import SCHEDULES

#: SlopeScheduleCallback arguments valid for every schedule
CALLBACK_KEYS = frozenset({"eval_env", "eval_freq", "n_eval_episodes", "verbose"})
#: which schedule argument each flat knob sets
START_KEY = {"fixed": "k", "interval": "k_start", "adaptive": "k_start"}
MAX_KEY = {"interval": "k_end", "adaptive": "k_max"}
FLAT_KNOBS = ("slope_max", "slope_interval", "slope_window")


def _schedule_params(name: str) -> set[str]:
    return {p for p in inspect.signature(SCHEDULES[name].__init__).parameters if p != "self"}


def merge_slope_kwargs(
    slope_schedule: str | None,
    slope: float | None,
    slope_schedule_kwargs: dict[str, Any] | None,
    slope_max: float | None = None,
    slope_interval: int | float | None = None,
    slope_window: int | None = None,
) -> tuple[float | None, dict[str, Any] | None]:
    """Fold the flat slope knobs into ``(slope, slope_schedule_kwargs)`` for :class:`GuidedTD3`."""
    kwargs = dict(slope_schedule_kwargs or {})
    if slope_schedule is None:
        given = [n for n, v in zip(FLAT_KNOBS, (slope_max, slope_interval, slope_window)) if v is not None]
        if given:
            raise ValueError(f"{', '.join(given)} set without slope_schedule ('fixed', 'interval' or 'adaptive')")
        return slope, (kwargs or None)
    if slope_schedule not in SCHEDULES:
        raise ValueError(f"unknown slope_schedule {slope_schedule!r}; choose one of {sorted(SCHEDULES)}")
    own = _schedule_params(slope_schedule) | CALLBACK_KEYS
    others = set().union(*(_schedule_params(s) for s in SCHEDULES if s != slope_schedule)) - own
    kwargs = {k: v for k, v in kwargs.items() if k not in others}
    start_key = START_KEY[slope_schedule]
    if slope is not None:
        kwargs[start_key] = float(slope)
    elif start_key in kwargs:
        slope = float(kwargs[start_key])
    if slope_max is not None and slope_schedule in MAX_KEY:
        kwargs[MAX_KEY[slope_schedule]] = float(slope_max)
    if slope_interval is not None and slope_schedule == "interval":
        kwargs["interval"] = slope_interval
    if slope_window is not None and slope_schedule == "adaptive":
        kwargs["window"] = int(slope_window)
    return slope, kwargs


class ZooGuidedTD3(GuidedTD3):
    """:class:`~sb3_spiking.GuidedTD3` with flat slope-schedule knobs (see the module docstring).

    :param slope: start slope (``None``: the schedule's own start value, else 2.0).
    :param slope_max: last/maximum slope of the ``interval`` / ``adaptive`` schedule.
    :param slope_interval: interval length of the ``interval`` schedule.
    :param slope_window: evaluations averaged by the ``adaptive`` schedule.
    Other parameters: see :class:`~sb3_spiking.GuidedTD3`.
    """

    def __init__(
        self,
        *args: Any,
        slope: float | None = None,
        slope_schedule: str | None = None,
        slope_schedule_kwargs: dict[str, Any] | None = None,
        slope_max: float | None = None,
        slope_interval: int | float | None = None,
        slope_window: int | None = None,
        **kwargs: Any,
    ):
        slope, slope_schedule_kwargs = merge_slope_kwargs(
            slope_schedule, slope, slope_schedule_kwargs, slope_max, slope_interval, slope_window
        )
        super().__init__(
            *args,
            slope=2.0 if slope is None else slope,
            slope_schedule=slope_schedule,
            slope_schedule_kwargs=slope_schedule_kwargs,
            **kwargs,
        )


def constructor_keys() -> set[str]:
    """Keyword arguments :class:`ZooGuidedTD3` accepts (for config validation)."""
    keys = set(inspect.signature(GuidedTD3.__init__).parameters) | set(FLAT_KNOBS)
    return keys - {"self", "env", "_init_setup_model"}


__all__ = ["ZooGuidedTD3", "constructor_keys", "merge_slope_kwargs"]
