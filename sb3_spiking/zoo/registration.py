"""Register the sb3_spiking algorithms, samplers and environments with rl-baselines3-zoo.

rl-zoo has no plugin mechanism: its algorithm table ``rl_zoo3.ALGOS`` and the optuna tables
``HYPERPARAMS_SAMPLER`` / ``HYPERPARAMS_CONVERTER`` are plain dicts, so registering means adding
keys to them before rl-zoo's own ``train`` / ``enjoy`` parse their arguments.

Algorithm names (all build :class:`~sb3_spiking.zoo.algos.ZooGuidedTD3`; the name picks the
default config ``zoo_configs/<name>.yml``, the log folder ``logs/<name>/`` and the sampler):

* ``guided_td3`` — TD3BC+JSRL (the paper's method): guide flies the first H steps, λ_BC term;
* ``seq_td3`` — TD3 from scratch on sequences (no guide);
* ``guide_bc`` — behaviour cloning on guide data (``alpha=0``, the guide flies every step);
* ``guide_td3bc`` — TD3+BC on guide data (the guide flies every step).
"""

from __future__ import annotations

from sb3_spiking import task_registry
from sb3_spiking.zoo.algos import ZooGuidedTD3
from sb3_spiking.zoo.sampler import convert_guided_td3_params, sample_guided_td3_params, sample_seq_td3_params

ALGO_NAMES = ("guided_td3", "seq_td3", "guide_bc", "guide_td3bc")
SAMPLERS = {"guided_td3": sample_guided_td3_params, "seq_td3": sample_seq_td3_params}


def register() -> None:
    """Add the algorithms to ``rl_zoo3.ALGOS``, their optuna sampler/converter, and the env ids.

    Idempotent. Call it before ``rl_zoo3.train.train()`` (or from a ``custom_envs.py`` module, which
    rl-zoo imports on start-up, to use the plain ``python -m rl_zoo3.train`` command).
    """
    from rl_zoo3 import hyperparams_opt, utils

    for name in ALGO_NAMES:
        utils.ALGOS[name] = ZooGuidedTD3
    for name, sampler in SAMPLERS.items():
        hyperparams_opt.HYPERPARAMS_SAMPLER[name] = sampler
        hyperparams_opt.HYPERPARAMS_CONVERTER[name] = convert_guided_td3_params
    task_registry.load_tasks()  # the task plugins' ids (e.g. DroneHover-v0, PendulumNoVelPrivileged-v1; l2f loads on make)


__all__ = ["ALGO_NAMES", "register"]
