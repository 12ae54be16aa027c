"""Analysis tools for spiking actors.

* :mod:`.surrogate_gradients`: slope analysis of the surrogate gradient (paper Fig. 1);
* :mod:`.diagnostics`: :class:`SurrogateGradientDiagnostics`, a training callback logging per-layer
  gradient norms and their alignment with a steep-slope gradient;
* :mod:`.efficiency`: NeuroBench-style efficiency metrics and the Loihi energy estimate;
* :mod:`.rollouts` / :mod:`.flight_plots`: recorded drone flights and their pictures (need ``l2f``).

Command line: ``python -m sb3_spiking.analysis {slopes,efficiency,flight,export}``.
"""

from sb3_spiking.analysis.diagnostics import SurrogateGradientDiagnostics
from sb3_spiking.analysis.efficiency import EfficiencyReport, mlp_efficiency, spiking_efficiency
from sb3_spiking.analysis.surrogate_gradients import SlopeAnalysisConfig, analyse_slopes

__all__ = [
    "EfficiencyReport",
    "SlopeAnalysisConfig",
    "SurrogateGradientDiagnostics",
    "analyse_slopes",
    "mlp_efficiency",
    "spiking_efficiency",
]
