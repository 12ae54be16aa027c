"""The guide protocol: what GuidedTD3 accepts as a privileged guiding policy.

A guide is any callable ``guide(obs_batch) -> actions`` on numpy arrays, batched over envs:
``obs_batch`` is the privileged part of the observation ``(n_envs, D)`` (the whole observation
for a ``Box`` space), the result ``(n_envs, action_dim)`` in the action space's units. It can be
given as

* the callable itself;
* an import path ``"package.module:attr"`` — a class or factory is called with no arguments, any
  other callable is used as it is (so YAML can name a guide);
* a one-entry mapping ``{"package.module:Class": {kwargs}}`` — the class or factory is called
  with these keyword arguments (rl-zoo's form for callbacks and wrappers, so YAML can configure a
  guide); ``{"package.module:Class": None}`` is the plain import path;
* a saved SB3 model: ``"path/to/model.zip"`` (loaded as TD3, then SAC, DDPG) or
  ``"td3:path/to/model.zip"`` to name the algorithm.

Guides are never pickled into a saved GuidedTD3 zip: pass them again to ``load``.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np


class Guide(Protocol):
    def __call__(self, obs: np.ndarray) -> np.ndarray: ...


#: SB3 algorithms a saved guide model can be loaded with (``"td3:path.zip"``)
GUIDE_ALGOS = ("td3", "sac", "ddpg", "ppo", "a2c")

GuideSpec = str | Callable[[np.ndarray], np.ndarray] | Mapping[str, Mapping[str, Any] | None] | None


class SB3ModelGuide:
    """Wraps a saved (or live) SB3 model as a guide: ``model.predict(obs, deterministic=True)``.

    :param model: an SB3 ``BaseAlgorithm`` or the path of a saved one.
    :param algo: algorithm name used to load a path (``"td3"``, ``"sac"``, ``"ddpg"``, ``"ppo"``,
        ``"a2c"``); ``None`` tries TD3, SAC and DDPG in turn.
    """

    def __init__(self, model: Any, algo: str | None = None):
        if isinstance(model, (str, os.PathLike)):
            model = load_sb3_model(str(model), algo)
        self.model = model

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        actions, _ = self.model.predict(obs, deterministic=True)
        return np.asarray(actions, dtype=np.float32)


def load_sb3_model(path: str, algo: str | None = None) -> Any:
    import stable_baselines3 as sb3

    algos = {name: getattr(sb3, name.upper()) for name in GUIDE_ALGOS}
    if not os.path.exists(path) and not os.path.exists(path + ".zip"):
        raise FileNotFoundError(f"guide model file not found: {path}")
    if algo is not None:
        if algo.lower() not in algos:
            raise ValueError(f"unknown guide algorithm {algo!r}; choose one of {sorted(algos)}")
        return algos[algo.lower()].load(path, device="cpu")
    errors = []
    for name in ("td3", "sac", "ddpg"):
        try:
            return algos[name].load(path, device="cpu")
        except Exception as e:  # noqa: BLE001 - try the next algorithm, report all failures
            errors.append(f"{name}: {e}")
    raise ValueError(f"could not load guide model {path!r} as TD3/SAC/DDPG; name it 'algo:path'. Errors: {errors}")


def import_object(path: str) -> Any:
    """Import ``"package.module:attr"`` (``"package.module.attr"`` works too).

    :raises ValueError: naming the module that failed to import, or the missing attribute with
        the closest existing name.
    """
    if not isinstance(path, str) or not path:
        raise ValueError(f"import path must be a non-empty string, got {path!r}")
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"import path must look like 'package.module:attr' or 'package.module.attr', got {path!r}")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {module_name!r} of {path!r}: {e}") from e
    obj, owner = module, module_name
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = sorted(n for n in dir(obj) if not n.startswith("_"))
            close = difflib.get_close_matches(part, public, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(f"module {owner!r} has no attribute {part!r}{hint}")
        obj, owner = getattr(obj, part), f"{owner}.{part}"
    return obj


def resolve_guide(spec: GuideSpec) -> Guide | None:
    """Turn a guide specification into a callable (see module docstring)."""
    if spec is None:
        return None
    if isinstance(spec, Mapping):
        path, kwargs = split_guide_mapping(spec)
        if kwargs is None:
            return resolve_guide(path)
        factory = import_object(path)
        if not callable(factory):
            raise TypeError(f"guide {path!r} is a {type(factory).__name__}, not a class or factory to call with {kwargs}")
        try:
            spec = factory(**kwargs)
        except TypeError as e:  # most often a wrong keyword: say which guide it was
            raise TypeError(f"could not build the guide {path!r} with {kwargs}: {e}") from e
        if not callable(spec):
            raise TypeError(f"guide {path!r} called with {kwargs} gave a {type(spec).__name__}, not a callable obs -> action")
        return spec  # type: ignore[return-value]
    if isinstance(spec, (str, os.PathLike)):
        spec = str(spec)
        algo, sep, rest = spec.partition(":")
        if sep and algo.lower() in GUIDE_ALGOS:
            return SB3ModelGuide(rest, algo)
        if spec.endswith(".zip") or os.path.exists(spec):
            return SB3ModelGuide(spec)
        obj = import_object(spec)
        if inspect.isclass(obj) or (callable(obj) and _takes_no_arguments(obj)):
            obj = obj()
        spec = obj
    if hasattr(spec, "predict") and not callable(spec):  # a live SB3 model
        return SB3ModelGuide(spec)
    if not callable(spec):
        raise TypeError(f"a guide must be callable obs -> action, an import path or a model path, got {type(spec)}")
    return spec  # type: ignore[return-value]


def split_guide_mapping(spec: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
    """``{"package.module:Class": {kwargs}}`` -> ``("package.module:Class", kwargs)`` (kwargs ``None`` if empty).

    :raises ValueError: unless the mapping has exactly one string key and a mapping (or ``None``) value.
    """
    if len(spec) != 1:
        raise ValueError(
            f"a guide mapping must have exactly one entry {{'package.module:Class': {{kwargs}}}}, got {dict(spec)!r}"
        )
    path, kwargs = next(iter(spec.items()))
    if not isinstance(path, str):
        raise ValueError(f"the guide mapping's key must be an import path string, got {path!r}")
    if kwargs is not None and not isinstance(kwargs, Mapping):
        raise ValueError(f"the keyword arguments of guide {path!r} must be a mapping, got {kwargs!r}")
    algo, sep, _ = path.partition(":")
    if kwargs and (path.endswith(".zip") or (sep and algo.lower() in GUIDE_ALGOS)):
        raise ValueError(f"guide {path!r} is a saved model: it takes no keyword arguments (got {dict(kwargs)})")
    return path, (dict(kwargs) if kwargs else None)


def _takes_no_arguments(fn: Callable) -> bool:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return all(p.default is not inspect.Parameter.empty or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in params)
