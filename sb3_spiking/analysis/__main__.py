"""``python -m sb3_spiking.analysis``: see :mod:`sb3_spiking.analysis.cli`."""

from sb3_spiking.analysis.cli import main

main()
