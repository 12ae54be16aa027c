"""Optuna sampler and converter for ``guided_td3`` (and ``seq_td3``) in rl-zoo.

rl-zoo calls ``HYPERPARAMS_SAMPLER[algo](trial, n_actions, n_envs, additional_args)`` and merges the
returned dict into the YAML hyper-parameters with a top-level ``dict.update``; for ``--trial-id``
replays it calls ``HYPERPARAMS_CONVERTER[algo](trial.params)``. Every value returned here is a
top-level constructor argument of :class:`~sb3_spiking.zoo.algos.ZooGuidedTD3` (the slope schedule
through its flat knobs), so the YAML's other settings — guide, ``return_range``, ``eval_env``,
callbacks — survive the merge.

Tuned (defaults of :data:`DEFAULT_SPACE`):

==================  =========================================================================
slope_schedule      ``fixed`` / ``interval`` / ``adaptive``
slope               start slope (log 0.5 … 20)
slope_max           ``interval``: last slope, ``adaptive``: k_max (log 10 … 200)
slope_interval      ``interval``: interval length as a fraction of training (0.02 … 0.5)
bc_coef             initial λ_BC (log 0.02 … 2)        — not for ``seq_td3`` (no guide)
one_minus_bc_decay  1 − λ_BC decay per epoch (log 1e-3 … 0.1) — not for ``seq_td3``
learning_rate       log 1e-4 … 3e-3
batch_size          windows per batch: 32, 64, 128, 256
n_seq               window length: 25, 50, 100
warmup_fraction     n_warmup = round(fraction · n_seq): 0.25, 0.5
stride_fraction     stride = round(fraction · n_seq): 0.25, 0.5
noise_std           Gaussian exploration noise σ (0.05 … 0.3)
==================  =========================================================================

The search space can be narrowed or widened per run with ``--search-space`` (JSON/YAML mapping or
a file; see :func:`set_search_space`): a list gives categorical choices, ``{low, high, log}`` a
range, a scalar fixes the value, ``null`` removes the knob (the YAML value is then kept).
Each trial records the worker (``host:pid``) that ran it in its user attribute ``worker``.
"""

from __future__ import annotations

import copy
import os
import socket
from typing import Any

import numpy as np
import optuna
from stable_baselines3.common.noise import NormalActionNoise

#: default search space: list = categorical, dict = float/int range
DEFAULT_SPACE: dict[str, Any] = {
    "slope_schedule": ["fixed", "interval", "adaptive"],
    "slope": {"low": 0.5, "high": 20.0, "log": True},
    "slope_max": {"low": 10.0, "high": 200.0, "log": True},
    "slope_interval": {"low": 0.02, "high": 0.5},
    "bc_coef": {"low": 0.02, "high": 2.0, "log": True},
    "one_minus_bc_decay": {"low": 1e-3, "high": 0.1, "log": True},
    "learning_rate": {"low": 1e-4, "high": 3e-3, "log": True},
    "batch_size": [32, 64, 128, 256],
    "n_seq": [25, 50, 100],
    "warmup_fraction": [0.25, 0.5],
    "stride_fraction": [0.25, 0.5],
    "noise_std": {"low": 0.05, "high": 0.3},
}
BC_KNOBS = ("bc_coef", "one_minus_bc_decay")

_space: dict[str, Any] = copy.deepcopy(DEFAULT_SPACE)


def set_search_space(overrides: dict[str, Any] | None) -> dict[str, Any]:
    """Replace entries of the search space (``None`` restores the defaults); returns the new space.

    :raises ValueError: unknown knob or malformed entry.
    """
    global _space
    space = copy.deepcopy(DEFAULT_SPACE)
    for key, value in (overrides or {}).items():
        if key not in DEFAULT_SPACE:
            raise ValueError(f"--search-space: unknown knob {key!r}; tunable knobs: {sorted(DEFAULT_SPACE)}")
        if isinstance(value, dict):
            if set(value) - {"low", "high", "log"} or not {"low", "high"} <= set(value) or not value["low"] <= value["high"]:
                raise ValueError(f"--search-space: {key} range must be {{low, high[, log]}} with low <= high, got {value}")
        elif isinstance(value, list) and not value:
            raise ValueError(f"--search-space: {key} needs at least one choice")
        space[key] = value
    _space = space
    return space


def get_search_space() -> dict[str, Any]:
    return copy.deepcopy(_space)


def _suggest(trial: optuna.Trial, name: str) -> Any:
    spec = _space.get(name)
    if isinstance(spec, dict):
        low, high, log = spec["low"], spec["high"], bool(spec.get("log", False))
        if isinstance(low, int) and isinstance(high, int) and not isinstance(low, bool):
            return trial.suggest_int(name, low, high, log=log)
        return trial.suggest_float(name, float(low), float(high), log=log)
    if isinstance(spec, list):
        return trial.suggest_categorical(name, spec)
    return trial.suggest_categorical(name, [spec])  # a fixed value: still recorded in trial.params


def _sample(trial: optuna.Trial, n_actions: int, tune_bc: bool) -> dict[str, Any]:
    params: dict[str, Any] = {}
    names = [n for n in DEFAULT_SPACE if _space.get(n) is not None and (tune_bc or n not in BC_KNOBS)]
    for name in names:
        if name in ("slope_max", "slope_interval"):
            continue  # conditional on the schedule, below
        params[name] = _suggest(trial, name)
    schedule = params.get("slope_schedule")
    if schedule in ("interval", "adaptive") and "slope_max" in names:
        params["slope_max"] = _suggest(trial, "slope_max")
    if schedule == "interval" and "slope_interval" in names:
        params["slope_interval"] = _suggest(trial, "slope_interval")
    trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
    hyperparams = convert_params(params, n_actions=n_actions)
    for key in ("bc_decay", "n_warmup", "stride"):  # derived values, for reading the study
        if key in hyperparams:
            trial.set_user_attr(key, hyperparams[key])
    return hyperparams


def sample_guided_td3_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """rl-zoo sampler for ``guided_td3`` (all knobs)."""
    return _sample(trial, n_actions, tune_bc=True)


def sample_seq_td3_params(trial: optuna.Trial, n_actions: int, n_envs: int, additional_args: dict) -> dict[str, Any]:
    """rl-zoo sampler for ``seq_td3`` (no guide: no λ_BC knobs)."""
    return _sample(trial, n_actions, tune_bc=False)


def convert_params(params: dict[str, Any], n_actions: int | None = None) -> dict[str, Any]:
    """Map raw trial params to constructor hyper-parameters (rl-zoo's ``HYPERPARAMS_CONVERTER``).

    With ``n_actions`` (during optimisation) the exploration noise is built as an object; without
    (``--trial-id`` replay, where rl-zoo has not seen the env yet) it is returned as
    ``noise_type``/``noise_std``, which rl-zoo turns into the same ``NormalActionNoise``.
    """
    hp = dict(params)
    if "one_minus_bc_decay" in hp:
        hp["bc_decay"] = 1.0 - hp.pop("one_minus_bc_decay")
    n_seq = hp.get("n_seq")
    warmup = hp.pop("warmup_fraction", None)
    stride = hp.pop("stride_fraction", None)
    if warmup is not None or stride is not None:
        if n_seq is None:
            raise ValueError("warmup_fraction / stride_fraction need n_seq in the search space")
        if warmup is not None:
            hp["n_warmup"] = min(int(round(warmup * n_seq)), n_seq - 1)
        if stride is not None:
            hp["stride"] = max(int(round(stride * n_seq)), 1)
    for key in ("batch_size", "n_seq"):
        if key in hp:
            hp[key] = int(hp[key])
    if "noise_std" in hp:
        std = float(hp.pop("noise_std"))
        if n_actions is None:
            hp["noise_type"], hp["noise_std"] = "normal", std
        else:
            hp["action_noise"] = NormalActionNoise(mean=np.zeros(n_actions), sigma=std * np.ones(n_actions))
    return hp


def convert_guided_td3_params(params: dict[str, Any]) -> dict[str, Any]:
    """rl-zoo converter (``--trial-id`` replay) for ``guided_td3`` and ``seq_td3``."""
    return convert_params(params, n_actions=None)


__all__ = [
    "DEFAULT_SPACE",
    "convert_guided_td3_params",
    "convert_params",
    "get_search_space",
    "sample_guided_td3_params",
    "sample_seq_td3_params",
    "set_search_space",
]
