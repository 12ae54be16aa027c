"""A GuidedTD3 built from an entry of ``zoo_configs/guided_td3.yml`` outside the zoo CLI, as the zoo builds it.

The experiments that need their own evaluation or env (memory, LunarLander, the weak LunarLander teacher) build the
model here, so that the translation of the YAML (rl-zoo's ``lin_<x>`` learning rate, the normal action noise, the
flat slope knobs of :class:`~sb3_spiking.zoo.algos.ZooGuidedTD3`, the guide's import path) is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np


def model_from_entry(entry: dict[str, Any], make_env: Callable[..., Any], seed: int, guide: Any = "entry",
                     env_kwargs: dict[str, Any] | None = None, algo: type | None = None) -> tuple[Any, int]:
    """``(model, n_timesteps)`` for a zoo entry (a dict; not modified).

    :param make_env: the env factory (``make_vec_env`` builds ``n_envs`` of them with ``env_kwargs``).
    :param guide: ``"entry"``: the entry's own ``guide`` (import path, resolved as the zoo resolves it); else the
        guide object (or ``None``) to use instead.
    :param env_kwargs: the env's kwargs (default: the entry's ``env_kwargs``).
    :param algo: a subclass of :class:`~sb3_spiking.zoo.algos.ZooGuidedTD3` to build instead (an experiment's own
        actor-loss terms).
    """
    from rl_zoo3.utils import linear_schedule
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise

    from sb3_spiking.guides import resolve_guide
    from sb3_spiking.zoo.algos import ZooGuidedTD3  # the zoo's flat slope knobs (slope, slope_max, ...)

    hp = dict(entry)
    steps = int(hp.pop("n_timesteps"))
    entry_env_kwargs = hp.pop("env_kwargs", None) or {}
    entry_guide = hp.pop("guide", None)
    guide = resolve_guide(entry_guide) if isinstance(guide, str) and guide == "entry" else guide
    n_envs = int(hp.pop("n_envs", 1))
    noise_type, noise_std = hp.pop("noise_type", None), hp.pop("noise_std", None)
    if isinstance(hp.get("learning_rate"), str):  # rl-zoo's "lin_<initial>": linear decay to 0
        hp["learning_rate"] = linear_schedule(hp["learning_rate"].split("_", 1)[1])
    if "callback" in hp:  # not silently dropped: the run would differ from the zoo's
        raise ValueError("model_from_entry does not build the entry's callbacks; train this entry with the zoo CLI")
    env = make_vec_env(make_env, n_envs=n_envs, seed=seed,
                       env_kwargs=entry_env_kwargs if env_kwargs is None else env_kwargs)
    if noise_type is not None:
        if noise_type != "normal":
            raise ValueError(f"only normal action noise is translated here, got {noise_type!r}")
        dim = env.action_space.shape[0]
        hp["action_noise"] = NormalActionNoise(np.zeros(dim), float(noise_std) * np.ones(dim))
    return (algo or ZooGuidedTD3)(env=env, guide=guide, seed=seed, **hp), steps


__all__ = ["model_from_entry"]
