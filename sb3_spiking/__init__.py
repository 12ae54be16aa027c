"""sb3_spiking: Stable-Baselines3 extension for stateful spiking actors trained with RL.

Public API: :class:`GuidedTD3`, :class:`SpikingPolicy`, :class:`SequenceReplayBuffer`,
:class:`SlopeScheduleCallback` and the slope schedules; :data:`PAPER_RECIPE` (the paper's
GuidedTD3 settings) as a preset.
Tasks (an environment, a privileged guide, how success is measured) are plugins: packages that
register under the entry-point group ``sb3_spiking.tasks`` (the drone, LunarLander and Pendulum
ones ship in :mod:`sb3_spiking.tasks`). Importing ``sb3_spiking`` imports none of them; the tools
that need their env ids load them (:func:`sb3_spiking.task_registry.load_tasks`), and importing a
task package registers its ids (e.g. ``import sb3_spiking.tasks.drone``).
"""

from sb3_spiking._version import __version__ as __version__  # from the package metadata
from sb3_spiking.callbacks import SlopeScheduleCallback
from sb3_spiking.guided_td3 import PAPER_RECIPE, GuidedTD3, SequenceReplayBuffer, SpikingActor, SpikingPolicy
from sb3_spiking.neurons import LIF, FastSigmoidSpike, SpikingMLP
from sb3_spiking.schedules import AdaptiveSlope, FixedSlope, IntervalSlope, SlopeSchedule, make_schedule

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
