from sb3_spiking.guided_td3.buffers import SequenceReplayBuffer, WindowSamples
from sb3_spiking.guided_td3.guided_td3 import GuidedTD3
from sb3_spiking.guided_td3.policies import MlpSequencePolicy, SequencePolicy, SpikingActor, SpikingPolicy
from sb3_spiking.guided_td3.presets import PAPER_RECIPE

__all__ = [
    "PAPER_RECIPE",
    "GuidedTD3",
    "MlpSequencePolicy",
    "SequencePolicy",
    "SequenceReplayBuffer",
    "SpikingActor",
    "SpikingPolicy",
    "WindowSamples",
]
