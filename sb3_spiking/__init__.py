"""sb3_spiking: Stable-Baselines3 extension for stateful spiking actors trained with RL.

Public API: :class:`GuidedTD3`, :class:`SpikingPolicy`, :class:`SequenceReplayBuffer`,
:class:`SlopeScheduleCallback` and the slope schedules; :data:`PAPER_RECIPE` (the paper's
GuidedTD3 settings) and :data:`LEGACY_DEFAULTS` (the earlier constructor defaults) as presets.
Importing the package registers the drone environments with gymnasium when the ``drone`` extra (``l2f``) is installed.
"""

from sb3_spiking import envs as _envs  # noqa: F401  (registers the drone environments)
from sb3_spiking.callbacks import SlopeScheduleCallback
from sb3_spiking.guided_td3 import LEGACY_DEFAULTS, PAPER_RECIPE, GuidedTD3, SequenceReplayBuffer, SpikingActor, SpikingPolicy
from sb3_spiking.neurons import LIF, FastSigmoidSpike, SpikingMLP
from sb3_spiking.schedules import AdaptiveSlope, FixedSlope, IntervalSlope, SlopeSchedule, make_schedule

__version__ = "0.1.0"

__all__ = [
    "LEGACY_DEFAULTS",
    "LIF",
    "PAPER_RECIPE",
    "AdaptiveSlope",
    "FastSigmoidSpike",
    "FixedSlope",
    "GuidedTD3",
    "IntervalSlope",
    "SequenceReplayBuffer",
    "SlopeSchedule",
    "SlopeScheduleCallback",
    "SpikingActor",
    "SpikingMLP",
    "SpikingPolicy",
    "make_schedule",
]
