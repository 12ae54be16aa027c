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

These knobs (and the slope schedule itself, ``vine_start_fraction`` and ``keep_freed_memory``) are the zoo's:
:class:`ZooGuidedTD3` translates them into what :class:`~sb3_spiking.GuidedTD3` takes (``policy_kwargs``,
``vine_kwargs``, a callback, a process switch). A model saved by rl-zoo loads with ``GuidedTD3.load`` and vice versa.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.type_aliases import MaybeCallback

from sb3_spiking import allocator
from sb3_spiking.callbacks import SlopeScheduleCallback, walk_callbacks
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
    """:class:`~sb3_spiking.GuidedTD3` as rl-zoo configs write it: flat, top-level knobs that the zoo translates.

    * the slope schedule: ``slope_schedule`` / ``slope_schedule_kwargs`` and the flat knobs of the module docstring.
      :meth:`learn` adds a :class:`~sb3_spiking.callbacks.SlopeScheduleCallback` itself (``slope_callback``;
      checkpoints save its state and a resumed run restores it); ``slope`` becomes ``policy_kwargs["slope"]``;
    * ``vine_start_fraction`` becomes ``vine_kwargs["start_fraction"]``;
    * ``keep_freed_memory: true`` turns on the process-wide allocator switch (:mod:`sb3_spiking.allocator`, as
      ``SB3_SPIKING_KEEP_FREED_MEMORY=1`` or ``sb3-spiking train --keep-freed-memory`` do), applied on CPU; it is a
      setting of the process, not saved with the model.

    The model saves as a GuidedTD3 (plus the schedule's settings): ``GuidedTD3.load`` reads it, and a ``GuidedTD3``
    zip loads here.

    :param slope: start slope (``None``: the schedule's own start value, else the policy's default).
    :param slope_schedule: ``None``, ``"fixed"``, ``"interval"`` or ``"adaptive"``.
    :param slope_schedule_kwargs: arguments of the :class:`~sb3_spiking.callbacks.SlopeScheduleCallback`.
    :param slope_max: last/maximum slope of the ``interval`` / ``adaptive`` schedule.
    :param slope_interval: interval length of the ``interval`` schedule.
    :param slope_window: evaluations averaged by the ``adaptive`` schedule.
    :param vine_start_fraction: from this fraction of training on, the vine phase runs (``None``: off).
    :param keep_freed_memory: turn the allocator switch on for this process (``None`` / ``False``: leave it).
    Other parameters: see :class:`~sb3_spiking.GuidedTD3`.
    """

    _keeps_slope_schedule: ClassVar[bool] = True

    def __init__(
        self,
        *args: Any,
        slope: float | None = None,
        slope_schedule: str | None = None,
        slope_schedule_kwargs: dict[str, Any] | None = None,
        slope_max: float | None = None,
        slope_interval: int | float | None = None,
        slope_window: int | None = None,
        vine_start_fraction: float | None = None,
        keep_freed_memory: bool | None = None,
        **kwargs: Any,
    ):
        slope, slope_schedule_kwargs = merge_slope_kwargs(
            slope_schedule, slope, slope_schedule_kwargs, slope_max, slope_interval, slope_window
        )
        if slope_schedule is not None:  # validate name and kwargs now, not at learn()
            SlopeScheduleCallback(slope_schedule, **(slope_schedule_kwargs or {}))
        elif slope_schedule_kwargs:
            raise ValueError("slope_schedule_kwargs given without slope_schedule")
        if slope is not None:
            given = (kwargs.get("policy_kwargs") or {}).get("slope")
            if given is not None and given != slope:
                raise ValueError(f"give the initial slope once: slope={slope} and policy_kwargs slope={given}")
            kwargs["policy_kwargs"] = {**(kwargs.get("policy_kwargs") or {}), "slope": float(slope)}
        if vine_start_fraction is not None:
            kwargs["vine_kwargs"] = {**(kwargs.get("vine_kwargs") or {}), "start_fraction": vine_start_fraction}
        if keep_freed_memory:
            allocator.request_keep_freed_memory()
        # set before GuidedTD3's constructor, which may build the model (_setup_model reads them)
        self.slope_schedule = slope_schedule
        self.slope_schedule_kwargs = dict(slope_schedule_kwargs or {})
        super().__init__(*args, **kwargs)

    def _setup_model(self) -> None:
        super()._setup_model()
        if self.device.type == "cpu":  # the switch is the process's; the zoo applies it where training runs
            allocator.keep_freed_memory_if_requested()
        if self.slope_schedule is not None and self.policy.slope is None:
            raise ValueError(
                f"slope_schedule={self.slope_schedule!r} needs a spiking actor; {self.policy_class.__name__} has none"
            )

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool = False) -> BaseCallback:
        if self.slope_schedule is not None:
            if any(isinstance(cb, SlopeScheduleCallback) for cb in walk_callbacks(callback)):
                raise ValueError(
                    f"slope_schedule={self.slope_schedule!r} already schedules the slope; "
                    "do not pass a SlopeScheduleCallback to learn() as well"
                )
            # restores a checkpoint's schedule state itself when training starts (SlopeScheduleCallback._init_callback)
            self.slope_callback = SlopeScheduleCallback(self.slope_schedule, **self.slope_schedule_kwargs)
            user = callback if isinstance(callback, list) else ([] if callback is None else [callback])
            callback = [self.slope_callback, *user]
        return super()._init_callback(callback, progress_bar)


def constructor_keys() -> set[str]:
    """Keyword arguments :class:`ZooGuidedTD3` accepts (for config validation)."""
    own = {name for name, p in inspect.signature(ZooGuidedTD3.__init__).parameters.items() if p.kind is p.KEYWORD_ONLY}
    keys = set(inspect.signature(GuidedTD3.__init__).parameters) | own
    return keys - {"self", "env", "_init_setup_model"}


__all__ = ["ZooGuidedTD3", "constructor_keys", "merge_slope_kwargs"]
