"""GuidedTD3's argument checks, warnings about settings that do nothing, and the options removed since 0.1.0."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from sb3_spiking.guided_td3.losses import BC_TARGETS, Q_ACTIONS
from sb3_spiking.obs_keys import COMMAND_KEY

#: default λ_BC; a different value without a guide is warned about (it would do nothing)
DEFAULT_BC_COEF = 1.0

_ANY = object()  # a removed option whose value did nothing on its own
#: options of earlier versions that were measured worse everywhere and removed, with the value that meant
#: "off" (experiments/notes/guided_rl.md keeps their numbers): a saved model that used one is refused on load
REMOVED_OPTIONS: dict[str, Any] = {
    "bc_filter": "none", "bc_search_samples": _ANY, "bc_search_noise": _ANY, "anchor_coef": 0.0,
    "mask_cold_targets": True, "bc_anneal_fraction": None, "q_start_fraction": 0.0,
}
#: runtime fields that earlier versions saved and this one keeps elsewhere (the collector)
_OLD_FIELDS = ("_guided_steps", "_collected_steps", "_step_guide", "_anchor_losses", "_bc_imitated",
               # a process-wide switch now (sb3_spiking.allocator), no longer the model's
               "keep_freed_memory")
#: GuidedTD3 arguments of earlier versions that the zoo layer keeps (sb3_spiking.zoo.algos.ZooGuidedTD3): the slope
#: schedule is a callback (sb3_spiking.callbacks.SlopeScheduleCallback) passed to learn()
SLOPE_SCHEDULE_FIELDS = ("slope_schedule", "slope_schedule_kwargs")


def drop_removed_options(attrs: dict[str, Any]) -> None:
    """Remove from a loaded model's ``attrs`` (its ``__dict__``) the options that were removed, refusing a file in
    which one was on (the model would train differently), and the vine settings removed likewise."""
    used = {k: attrs[k] for k, off in REMOVED_OPTIONS.items() if k in attrs and off is not _ANY and attrs[k] != off}
    if used:
        raise ValueError(
            "this model was saved with options that were removed (measured worse everywhere, "
            f"experiments/notes/guided_rl.md): {used}; load it with the sb3_spiking version that saved it, or rebuild "
            "it without them and copy the weights with sb3_spiking.save_compat.load_weights_only"
        )
    vine = dict(attrs.get("vine_kwargs") or {})
    removed_on = vine.pop("hard_starts", 0.0) != 0 or vine.pop("step_norm", "buffer") != "buffer"
    if removed_on or ("step" in vine and vine["step"] is None):
        raise ValueError(f"this model's vine_kwargs {attrs['vine_kwargs']} use settings that were removed "
                         "(hard_starts, step_norm='sample', step=None; measured worse, experiments/notes/guided_rl.md §8-10)")
    vine.pop("hard_pool", None)
    if "vine_kwargs" in attrs:
        attrs["vine_kwargs"] = vine
    for key in (*REMOVED_OPTIONS, *_OLD_FIELDS):
        attrs.pop(key, None)


def drop_slope_schedule(attrs: dict[str, Any]) -> str | None:
    """Remove an earlier version's (or the zoo's) slope schedule from a loaded model's ``attrs``; returns its name, for
    a warning when training continues without the :class:`~sb3_spiking.callbacks.SlopeScheduleCallback` it needs."""
    schedule = attrs.get("slope_schedule")
    for key in SLOPE_SCHEDULE_FIELDS:
        attrs.pop(key, None)
    return schedule


def warn_dropped_slope_schedule(schedule: str) -> None:
    """Training continues on a file whose slope schedule is no longer the model's (see :func:`drop_slope_schedule`)."""
    warnings.warn(
        f"this model was trained with slope_schedule={schedule!r}, which GuidedTD3 no longer runs itself: pass "
        "sb3_spiking.SlopeScheduleCallback(...) to learn() to keep scheduling the slope (or load the model with "
        "sb3_spiking.zoo.algos.ZooGuidedTD3, which keeps the schedule)",
        UserWarning,
        stacklevel=4,
    )


def check_settings(
    *,
    n_steps: int,
    n_seq: int,
    alpha: float,
    bc_coef: float,
    bc_decay: float,
    bc_decay_interval: int,
    bc_target: str,
    guide_horizon_start: int,
    guide_horizon_end: int | None,
    guide_horizon_fraction: float,
    critic_fraction: float,
    actor_q_input: str,
    vine_start_fraction: float | None,
    vine_kwargs: dict[str, Any] | None,
) -> None:
    """``ValueError`` naming the first GuidedTD3 argument out of its range (see its docstring for each)."""
    if alpha == 0 and bc_coef == 0 and vine_start_fraction != 0:
        raise ValueError("alpha=0 and bc_coef=0 leave the actor without any loss (until a vine gradient starts)")
    if bc_target not in BC_TARGETS:
        raise ValueError(f"bc_target must be one of {BC_TARGETS}, got {bc_target!r}")
    if actor_q_input not in Q_ACTIONS:
        raise ValueError(f"actor_q_input must be one of {Q_ACTIONS}, got {actor_q_input!r}")
    if actor_q_input == "buffer" and bc_coef == 0:
        raise ValueError("actor_q_input='buffer' gives the actor no gradient from the Q term: it needs bc_coef > 0")
    check_number("alpha", alpha, low=0.0)
    check_number("bc_coef", bc_coef, low=0.0)
    check_number("bc_decay", bc_decay, low=0.0, high=1.0, low_open=True)
    check_int("bc_decay_interval", bc_decay_interval, low=1)
    check_int("guide_horizon_start", guide_horizon_start, low=0)
    if guide_horizon_end is not None:
        check_int("guide_horizon_end", guide_horizon_end, low=0)
    check_number("guide_horizon_fraction", guide_horizon_fraction, low=0.0, high=1.0, low_open=True)
    check_number("critic_fraction", critic_fraction, low=0.0, high=1.0, low_open=True)
    check_int("n_steps", n_steps, low=1)
    if n_steps > n_seq:
        raise ValueError(f"n_steps ({n_steps}) cannot exceed the window length n_seq ({n_seq})")
    if vine_start_fraction is not None:
        check_number("vine_start_fraction", vine_start_fraction, low=0.0, high=1.0)
    elif vine_kwargs:
        raise ValueError("vine_kwargs given without vine_start_fraction (their 'start_fraction'): the vine phase is off")


def warn_inactive_settings(alpha: float, policy_delay: int, bc_coef: float, has_guide: bool) -> None:
    """Warn about settings that silently do nothing (checked at construction, not on load)."""
    if alpha == 0 and policy_delay > 1:
        warnings.warn(
            f"alpha=0 (no critic) with policy_delay={policy_delay}: the actor is still updated only once "
            f"every {policy_delay} gradient steps, so {policy_delay - 1} of every {policy_delay} steps do "
            "nothing; set policy_delay=1",
            UserWarning,
            stacklevel=3,
        )
    # the default bc_coef is no choice of the user's: plain sequence TD3 keeps it without a warning
    if not has_guide and bc_coef > 0 and bc_coef != DEFAULT_BC_COEF:
        warnings.warn(
            f"bc_coef={bc_coef} without a guide: the behaviour-cloning term needs a guide and is off",
            UserWarning,
            stacklevel=3,
        )


def warn_no_actor_steps(n_updates: int, n_warmup: int) -> None:
    """Actor updates were due but no sampled window had a step for the actor loss: the actor gets no gradient
    while ``train/n_updates`` counts on."""
    warnings.warn(
        f"no sampled window had a step for the actor loss (update {n_updates}): every stored step lies in the first "
        f"n_warmup={n_warmup} steps of its window, so the actor gets no gradient. With train_from_episode_start=False, "
        "episodes shorter than n_warmup never train the actor; lower n_warmup or set train_from_episode_start=True",
        UserWarning,
        stacklevel=4,
    )


def check_number(name: str, value: float, low: float | None = None, high: float | None = None, low_open: bool = False) -> None:
    """``ValueError`` naming ``name`` unless ``value`` is a finite number in the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")


def check_int(name: str, value: int, low: int = 0) -> None:
    """``ValueError`` naming ``name`` unless ``value`` is an integer ``>= low``."""
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def check_finite(value: np.ndarray | dict[str, np.ndarray], what: str, step: int) -> None:
    """``FloatingPointError`` naming ``what`` and the env step if a float array (or dict entry) is not finite."""
    arrays = value.values() if isinstance(value, dict) else [value]
    for arr in arrays:
        arr = np.asarray(arr)
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise FloatingPointError(f"non-finite {what} from the environment at env step {step}: {arr}")


def check_command_kept_raw(vec_normalize: Any) -> None:
    """``ValueError`` when ``VecNormalize`` normalises the command in force: an actor with action feedback reads it in
    the action space's units (exclude it with ``norm_obs_keys``)."""
    if vec_normalize is not None and vec_normalize.norm_obs and COMMAND_KEY in (vec_normalize.norm_obs_keys or []):
        raise ValueError(f"VecNormalize normalises the observation entry {COMMAND_KEY!r} (the command in force, read in the "
                         f"action space's units): pass norm_obs_keys without it")


def check_critic_history(critic_history: int, n_warmup: int) -> None:
    """``ValueError`` unless the actor-loss steps (from ``n_warmup`` on) see complete stacks of ``critic_history``
    observations inside their windows."""
    if critic_history - 1 > n_warmup:
        raise ValueError(f"policy_kwargs critic_history={critic_history} needs n_warmup >= {critic_history - 1} (got "
                         f"{n_warmup}): the critic's stack of past observations is built inside the replay windows")


__all__ = [
    "DEFAULT_BC_COEF", "REMOVED_OPTIONS", "SLOPE_SCHEDULE_FIELDS", "check_critic_history", "check_finite", "check_int",
    "check_number", "check_settings", "drop_removed_options", "drop_slope_schedule", "warn_dropped_slope_schedule",
    "warn_inactive_settings", "warn_no_actor_steps",
]  # fmt: skip

