"""The GuidedTD3 constructor defaults of sb3_spiking 0.1.0 (the paper's α and λ_BC with the relabelled BC
target), which many tests were written against. Test-only: the library's defaults are the best measured
recipe and its preset is ``PAPER_RECIPE``."""

LEGACY_DEFAULTS = dict(alpha=2.0, bc_coef=0.2, policy_delay=2, guide_horizon_start=400, guide_horizon_end=None)
