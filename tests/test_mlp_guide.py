"""The privileged MLP guide trained with stock SB3 TD3 (docs/results/mlp_guide) works as a GuidedTD3 guide."""

import os

import numpy as np
import pytest

from _legacy_defaults import LEGACY_DEFAULTS

pytest.importorskip("l2f")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(ROOT, "docs", "results", "mlp_guide", "td3_guide.zip")


@pytest.mark.skipif(not os.path.exists(GUIDE), reason="trained guide not present")
def test_guided_td3_accepts_the_trained_mlp_guide():
    from sb3_spiking import GuidedTD3
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    env = DroneHoverVecEnv(2, max_episode_steps=60)
    env.seed(0)
    model = GuidedTD3("SpikingPolicy", env, guide=f"td3:{GUIDE}", policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16])),
                      learning_starts=40, batch_size=4, n_seq=10, n_warmup=2, stride=5, train_freq=20, gradient_steps=1,
                      buffer_size=2000, seed=0, **LEGACY_DEFAULTS)  # fmt: skip
    obs = env.reset()
    actions = model._guide(obs["privileged"])
    assert actions.shape == (2, 4) and np.all(np.abs(actions) <= 1)
    model.learn(120)  # guided steps: the guide flies the start of every episode
    assert model.num_timesteps >= 120
