"""A privileged MLP guide saved by stock SB3 TD3 (as experiments/archive/mlp_guide's) works as a GuidedTD3 guide."""

import numpy as np
import pytest

from _legacy_defaults import LEGACY_DEFAULTS

pytest.importorskip("l2f")


def _saved_td3_guide(env, path) -> str:
    """A stock SB3 TD3 MLP policy on the privileged observation, saved to ``path`` (built here: the test needs no
    binary from experiments/archive/)."""
    import gymnasium as gym
    from stable_baselines3 import TD3

    class PrivilegedView(gym.Env):  # the spaces a guide trained on the privileged observation has
        observation_space, action_space = env.observation_space["privileged"], env.action_space

    guide = TD3("MlpPolicy", PrivilegedView(), policy_kwargs=dict(net_arch=[32, 32]), seed=0, device="cpu")
    guide.save(path)
    return f"td3:{path}"


def test_guided_td3_accepts_a_saved_sb3_mlp_guide(tmp_path):
    from stable_baselines3 import TD3

    from sb3_spiking import GuidedTD3
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    env = DroneHoverVecEnv(2, max_episode_steps=60)
    env.seed(0)
    spec = _saved_td3_guide(env, tmp_path / "td3_guide.zip")
    model = GuidedTD3("SpikingPolicy", env, guide=spec, policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16])),
                      learning_starts=40, batch_size=4, n_seq=10, n_warmup=2, stride=5, train_freq=20, gradient_steps=1,
                      buffer_size=2000, seed=0, **LEGACY_DEFAULTS)  # fmt: skip
    obs = env.reset()
    actions = model._guide(obs["privileged"])
    expected, _ = TD3.load(tmp_path / "td3_guide.zip", device="cpu").predict(obs["privileged"], deterministic=True)
    assert actions.shape == (2, 4) and np.all(np.abs(actions) <= 1) and np.allclose(actions, expected)
    model.learn(120)  # guided steps: the guide flies the start of every episode
    assert model.num_timesteps == 120 and model._n_updates > 0
    buf, n = model.replay_buffer, model.replay_buffer.pos
    assert n == 60 and buf.has_guide_action[:n].all()
    guided = buf.guide_acted[:n]
    assert model._guided_steps == int(guided.sum()) > 0, "the guide flew the first steps of the episodes"
    assert np.allclose(buf.actions[:n][guided], buf.guide_actions[:n][guided])
