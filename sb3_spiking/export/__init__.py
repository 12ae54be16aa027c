"""Export of trained spiking actors: dependency-free C (:mod:`.c_export`) and NIR (:mod:`.nir_export`, extra ``nir``)."""

from sb3_spiking.export.c_export import CExport, export_c, run_c_actor, torch_actions
from sb3_spiking.export.resolve import resolve_actor

__all__ = ["CExport", "export_c", "resolve_actor", "run_c_actor", "torch_actions"]
