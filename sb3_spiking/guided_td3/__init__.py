from sb3_spiking.guided_td3.buffers import SequenceReplayBuffer, WindowSamples
from sb3_spiking.guided_td3.collection import GuidedCollector
from sb3_spiking.guided_td3.guided_td3 import GuidedTD3
from sb3_spiking.guided_td3.losses import ActorLossTerm, BCTerm, QTerm
from sb3_spiking.guided_td3.policies import MlpSequencePolicy, SequencePolicy, SpikingActor, SpikingPolicy
from sb3_spiking.guided_td3.presets import PAPER_RECIPE
from sb3_spiking.guided_td3.vine import VinePhase, VineSettings

__all__ = [
    "PAPER_RECIPE",
    "ActorLossTerm",
    "BCTerm",
    "GuidedCollector",
    "GuidedTD3",
    "MlpSequencePolicy",
    "QTerm",
    "SequencePolicy",
    "SequenceReplayBuffer",
    "SpikingActor",
    "SpikingPolicy",
    "VinePhase",
    "VineSettings",
    "WindowSamples",
]
