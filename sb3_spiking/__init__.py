"""sb3_spiking: Stable-Baselines3 extension for stateful spiking actors trained with RL.

Public API: :class:`GuidedTD3`, :class:`SpikingPolicy`, :class:`SequenceReplayBuffer`,
:class:`SlopeScheduleCallback` and the slope schedules; :data:`PAPER_RECIPE` (the paper's
GuidedTD3 settings) as a preset.
Importing the package registers the task packages' environments (:mod:`sb3_spiking.tasks`; the
drone's when the ``drone`` extra, ``l2f``, is installed) with gymnasium.
"""

from sb3_spiking.callbacks import SlopeScheduleCallback
from sb3_spiking.guided_td3 import PAPER_RECIPE, GuidedTD3, SequenceReplayBuffer, SpikingActor, SpikingPolicy
from sb3_spiking.neurons import LIF, FastSigmoidSpike, SpikingMLP
from sb3_spiking.schedules import AdaptiveSlope, FixedSlope, IntervalSlope, SlopeSchedule, make_schedule
from sb3_spiking.task_registry import load_tasks

__version__ = "0.1.0"

load_tasks()

__all__ = [
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
