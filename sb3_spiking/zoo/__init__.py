"""rl-baselines3-zoo integration of sb3_spiking (see ``docs/rl_zoo.md``).

* :func:`register` adds ``guided_td3`` (and the baseline names ``seq_td3``, ``guide_bc``,
  ``guide_td3bc``) to rl-zoo's algorithm table, their optuna sampler and ``--trial-id`` converter,
  and the extra environment ids;
* :func:`main` is the CLI ``python -m sb3_spiking.zoo {train,enjoy,record_video,plot_train,...}``.

Importing this package does not import rl-zoo; :func:`register` and :func:`main` do.
"""

from sb3_spiking.zoo.algos import ZooGuidedTD3
from sb3_spiking.zoo.config import ZooConfigError
from sb3_spiking.zoo.registration import ALGO_NAMES, register


def main(argv=None) -> None:
    """CLI entry point (``sb3-spiking`` console script)."""
    from sb3_spiking.zoo.cli import main as _main

    _main(argv)


__all__ = ["ALGO_NAMES", "ZooConfigError", "ZooGuidedTD3", "main", "register"]
