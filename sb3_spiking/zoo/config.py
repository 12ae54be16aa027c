"""Validation of a zoo YAML section for the sb3_spiking algorithms, with errors that name the file,
the environment entry and the key.

rl-zoo hands every key it does not consume itself to the algorithm constructor, imports
``policy`` / ``callback`` / wrappers by dotted path, and ``eval()``s some strings; its own errors
for a typo'd key, a wrong import path or a value of the wrong type surface deep inside SB3 or
torch. :func:`check_hyperparams` catches them up front; value errors the constructor finds itself
(ranges, schedule arguments) are re-raised by the zoo's experiment manager with the same context.
"""

from __future__ import annotations

import difflib
import inspect
import os
import re
from typing import Any

from sb3_spiking.guided_td3 import GuidedTD3, SequencePolicy
from sb3_spiking.guides import import_object, split_guide_mapping
from sb3_spiking.zoo.algos import FLAT_KNOBS, ZooGuidedTD3, constructor_keys


class ZooConfigError(ValueError):
    """A zoo configuration (YAML, ``-params`` or trial) that cannot work; the message says where."""


#: keys rl-zoo consumes itself (they never reach the constructor)
ZOO_KEYS = frozenset(
    {
        "n_timesteps", "policy", "n_envs", "normalize", "frame_stack", "env_wrapper", "vec_env_wrapper",
        "callback", "env_kwargs", "monitor_kwargs", "noise_type", "noise_std",
    }
)  # fmt: skip
NOISE_TYPES = ("normal", "ornstein-uhlenbeck")
_NO_DEFAULT = inspect.Parameter.empty


#: arguments whose default is None (the constructor resolves it) but whose value has a type to check
_NONE_DEFAULT_TYPES: dict[str, Any] = {"alpha": 0.0, "policy_delay": 1, "slope": 2.0, "keep_freed_memory": False}


def _constructor_defaults() -> dict[str, Any]:
    defaults: dict[str, Any] = {}
    for cls in (ZooGuidedTD3, GuidedTD3):  # the zoo's own knobs, then the algorithm's arguments
        for name, p in inspect.signature(cls.__init__).parameters.items():
            if p.kind is p.VAR_KEYWORD or p.kind is p.VAR_POSITIONAL:
                continue
            default = _NONE_DEFAULT_TYPES.get(name, p.default) if p.default is None else p.default
            defaults.setdefault(name, default)
    return defaults


#: a config entry's include: ``extends: other.yml`` takes that file's entry for the same env id (the path relative to
#: the including file), and the entry's own keys replace the ones it names (a whole value each, lists and
#: mappings included: no deep merge)
EXTENDS_KEY = "extends"


def resolve_extends(configs: dict[str, Any], folder: str | os.PathLike, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """``configs`` (a zoo config file's mapping env id -> entry) with every ``extends`` include resolved.

    :param folder: the folder of the file ``configs`` was read from (includes are relative to it).
    :raises ZooConfigError: an include that is missing, lacks the env id, or includes itself.
    """
    out: dict[str, Any] = {}
    for env_id, entry in configs.items():
        if not isinstance(entry, dict) or EXTENDS_KEY not in entry:
            out[env_id] = entry
            continue
        entry = dict(entry)
        path = os.path.normpath(os.path.join(folder, str(entry.pop(EXTENDS_KEY))))
        if path in _seen:
            raise ZooConfigError(f"{EXTENDS_KEY}: {path} includes itself ({' -> '.join((*_seen, path))})")
        base = load_config_file(path, _seen=(*_seen, path))
        if env_id not in base:
            raise ZooConfigError(f"{EXTENDS_KEY}: {path} has no entry {env_id!r} to extend (it has {sorted(base)})")
        out[env_id] = {**base[env_id], **entry}
    return out


def load_config_file(path: str | os.PathLike, _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A zoo config file (YAML) as ``{env id: hyper-parameters}``, its ``extends`` includes resolved."""
    import yaml

    try:
        with open(path) as f:
            configs = yaml.safe_load(f)
    except FileNotFoundError as e:
        raise ZooConfigError(f"config file {path} not found") from e
    return resolve_extends(configs or {}, os.path.dirname(os.path.abspath(path)), _seen)


def _suggest(key: str, known: set[str]) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _import_dotted(name: str, what: str) -> Any:
    """Import ``package.module.Name`` (rl-zoo's convention) or ``package.module:Name``."""
    if not isinstance(name, str) or not name:
        raise ZooConfigError(f"{what} must be an import path string, got {name!r}")
    try:
        return import_object(name)
    except ValueError as e:
        raise ZooConfigError(f"{what}: {e}") from e


def _check_kwargs_against(obj: Any, kwargs: Any, what: str) -> None:
    if kwargs is None:
        return
    if not isinstance(kwargs, dict):
        raise ZooConfigError(f"{what}: keyword arguments must be a mapping, got {kwargs!r}")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return
    known = {n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    for key in kwargs:
        if key not in known:
            raise ZooConfigError(f"{what}: unknown argument {key!r}{_suggest(key, known)}; it takes {sorted(known)}")


def _named_entries(value: Any, what: str) -> list[tuple[Any, Any]]:
    """rl-zoo's ``name`` / ``[name, {name: kwargs}, …]`` format → ``[(name, kwargs), …]``."""
    entries = value if isinstance(value, list) else [value]
    out = []
    for entry in entries:
        if isinstance(entry, dict):
            if len(entry) != 1:
                raise ZooConfigError(f"{what}: each entry must be a name or {{name: kwargs}} with one name, got {entry!r}")
            out.append(next(iter(entry.items())))
        else:
            out.append((entry, None))
    return out


def _type_error(key: str, expected: str, value: Any) -> ZooConfigError:
    hint = ""
    if isinstance(value, str) and re.fullmatch(r"[+-]?\d+(\.\d*)?[eE][+-]?\d+", value):
        hint = f" (YAML reads {value} as text: write it with a dot, e.g. {float(value):.1e}, or in full)"
    return ZooConfigError(f"{key} must be {expected}, got {value!r}{hint}")


def _check_value_type(key: str, value: Any, default: Any) -> None:
    """Light type check from the constructor default's type (exact checks stay in the constructor)."""
    if key == "learning_rate":
        if isinstance(value, str):
            if not re.fullmatch(r"lin_[0-9.eE+-]+", value):
                raise _type_error(key, "a number or a linear schedule 'lin_<initial value>'", value)
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(key, "a number or 'lin_<initial value>'", value)
        return
    if key == "train_freq":
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, (list, tuple)) and len(value) == 2 and isinstance(value[0], int) and value[1] in ("step", "episode")
        )
        if not ok:
            raise _type_error(key, "an integer or [n, 'step' | 'episode']", value)
        return
    if default is _NO_DEFAULT or default is None or value is None:
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise _type_error(key, "true or false", value)
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(key, "an integer", value)
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(key, "a number", value)
    elif isinstance(default, str):
        if not isinstance(value, str):
            raise _type_error(key, "a string", value)


def _check_guide(value: Any) -> None:
    if isinstance(value, dict):  # {"package.module:Class": {kwargs}}, rl-zoo's form for callbacks
        try:
            path, kwargs = split_guide_mapping(value)
        except ValueError as e:
            raise ZooConfigError(f"guide: {e}") from e
        if kwargs is None:
            return _check_guide(path)
        obj = _import_dotted(path, "guide")
        if not callable(obj):
            raise ZooConfigError(f"guide: {path!r} is not a class or factory to call with {kwargs}")
        _check_kwargs_against(obj, kwargs, f"guide {path}")
        return
    if value is None or not isinstance(value, (str, os.PathLike)):
        return
    spec = str(value)
    algo, sep, rest = spec.partition(":")
    if sep and algo.lower() in ("td3", "sac", "ddpg", "ppo", "a2c"):
        path = rest
    elif spec.endswith(".zip") or os.path.exists(spec):
        path = spec
    else:
        obj = _import_dotted(spec, "guide")
        if not callable(obj):
            raise ZooConfigError(f"guide: {spec!r} is not callable (a guide is a callable obs -> action, or a class making one)")
        return
    if not (os.path.exists(path) or os.path.exists(path + ".zip")):
        raise ZooConfigError(
            f"guide: saved model {path!r} not found (relative paths start at the working directory {os.getcwd()})"
        )


def check_hyperparams(algo: str, hyperparams: dict[str, Any], where: str, n_timesteps_given: bool = False) -> None:
    """Validate one environment entry (after rl-zoo merged ``-params`` and any trial into it).

    :param algo: the zoo algorithm name (for messages).
    :param hyperparams: the merged entry.
    :param where: ``"file [env id]"`` prefix of every message.
    :param n_timesteps_given: ``-n`` was passed, so ``n_timesteps`` may be missing.
    :raises ZooConfigError: with ``where`` and the key in the message.
    """
    try:
        _check(algo, hyperparams, n_timesteps_given)
    except ZooConfigError as e:
        raise ZooConfigError(f"{where}: {e}") from e.__cause__


def _check(algo: str, hp: dict[str, Any], n_timesteps_given: bool) -> None:
    if not isinstance(hp, dict):
        raise ZooConfigError(f"the entry must be a mapping of hyper-parameters, got {hp!r}")
    ctor = constructor_keys()
    known = set(ZOO_KEYS) | ctor
    for key in hp:
        if key not in known:
            raise ZooConfigError(f"unknown key {key!r}{_suggest(key, known)} for algorithm {algo!r}")
    if "policy" not in hp:
        raise ZooConfigError("missing key 'policy' (e.g. policy: SpikingPolicy)")
    if "n_timesteps" not in hp and not n_timesteps_given:
        raise ZooConfigError("missing key 'n_timesteps' (or pass -n)")
    if "n_timesteps" in hp:
        value = hp["n_timesteps"]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 1 or int(value) != value:
            raise _type_error("n_timesteps", "a positive whole number", value)
    if "n_envs" in hp and (isinstance(hp["n_envs"], bool) or not isinstance(hp["n_envs"], int) or hp["n_envs"] < 1):
        raise _type_error("n_envs", "a positive integer", hp["n_envs"])

    policy = hp["policy"]
    if isinstance(policy, str) and "." in policy:
        cls = _import_dotted(policy, "policy")
    elif isinstance(policy, str):
        if policy not in GuidedTD3.policy_aliases:
            raise ZooConfigError(
                f"policy {policy!r} is not an alias of {algo}; use one of {sorted(GuidedTD3.policy_aliases)} or an import path"
            )
        cls = GuidedTD3.policy_aliases[policy]
    else:
        cls = policy
    if not (isinstance(cls, type) and issubclass(cls, SequencePolicy)):
        raise ZooConfigError(f"policy {policy!r} is not a SequencePolicy (sub)class (SpikingPolicy, MlpSequencePolicy)")

    if "noise_type" in hp:
        if hp["noise_type"] not in NOISE_TYPES and hp["noise_type"] is not None:
            raise ZooConfigError(f"noise_type must be one of {NOISE_TYPES}, got {hp['noise_type']!r}")
        if "noise_std" not in hp:
            raise ZooConfigError("noise_type given without noise_std")
    if "noise_std" in hp and (
        isinstance(hp["noise_std"], bool) or not isinstance(hp["noise_std"], (int, float)) or hp["noise_std"] < 0
    ):
        raise _type_error("noise_std", "a number >= 0", hp["noise_std"])

    defaults = _constructor_defaults()
    for key, value in hp.items():
        if key in ctor and key not in FLAT_KNOBS:
            _check_value_type(key, value, defaults.get(key, _NO_DEFAULT))
    for key in ("slope_max", "slope_window"):
        if key in hp and hp[key] is not None and (isinstance(hp[key], bool) or not isinstance(hp[key], (int, float))):
            raise _type_error(key, "a number", hp[key])

    _check_guide(hp.get("guide"))

    for key in ("callback", "env_wrapper", "vec_env_wrapper"):
        if hp.get(key) is None:
            continue
        for name, kwargs in _named_entries(hp[key], key):
            if not isinstance(name, str):
                continue  # an object already (python config)
            obj = _import_dotted(name, key)
            _check_kwargs_against(obj, kwargs, f"{key} {name}")

    policy_kwargs = hp.get("policy_kwargs")
    if isinstance(policy_kwargs, str):
        try:
            import torch.nn as nn  # noqa: F401  (rl-zoo evaluates with nn in scope)

            policy_kwargs = eval(policy_kwargs)  # same as rl-zoo does
        except Exception as e:  # noqa: BLE001
            raise ZooConfigError(f"policy_kwargs: cannot evaluate {hp['policy_kwargs']!r}: {e}") from e
    if policy_kwargs is not None:
        _check_kwargs_against(cls.__init__, policy_kwargs, "policy_kwargs")

    sk = hp.get("slope_schedule_kwargs")
    if sk is not None and not isinstance(sk, dict):
        raise ZooConfigError(f"slope_schedule_kwargs must be a mapping, got {sk!r}")


__all__ = ["EXTENDS_KEY", "ZOO_KEYS", "ZooConfigError", "check_hyperparams", "load_config_file", "resolve_extends"]
