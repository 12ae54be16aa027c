"""Analysis tools for spiking actors.

* :mod:`.surrogate_gradients`: slope analysis of the surrogate gradient (paper Fig. 1);
* :mod:`.diagnostics`: :class:`SurrogateGradientDiagnostics`, a training callback logging per-layer
  gradient norms and their alignment with a steep-slope gradient;
* :mod:`.efficiency`: NeuroBench-style efficiency metrics and the Loihi energy estimate;
* :mod:`.cli`: the command line ``sb3-spiking-analysis`` (``slopes``; task plugins add theirs, e.g. the
  drone's ``efficiency``, ``flight`` and ``export`` on recorded drone flights).
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
