"""Defects found from the outside (SB3's own dict / image / bad-input tries): each fails on the code before its fix."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env

from sb3_spiking import GuidedTD3, SpikingPolicy
from sb3_spiking.guided_td3.policies import MlpSequencePolicy

SMALL = dict(net_arch=dict(pi=[16, 8], qf=[16]))


class _ImageEnv(gym.Env):
    """A uint8 image observation (SB3's image space: 0..255, channel-first) and one action."""

    observation_space = spaces.Box(0, 255, (1, 8, 8), np.uint8)
    action_space = spaces.Box(-1, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


def _network(actor, x: th.Tensor, state) -> th.Tensor:
    """The actor's network on an already flat float input (no preprocessing)."""
    return actor.net.step(x, state)[0] if hasattr(actor, "net") else actor.mu(x)


@pytest.mark.parametrize("policy_class", [SpikingPolicy, MlpSequencePolicy])
def test_image_observations_reach_the_actor_scaled_as_they_reach_the_critics(policy_class):
    space = _ImageEnv.observation_space
    obs = th.as_tensor(np.stack([space.sample() for _ in range(3)]))
    pixels = obs.flatten(1).float()
    th.manual_seed(0)
    scaled = policy_class(space, _ImageEnv.action_space, lambda _: 1e-3, normalize_images=True, **SMALL)
    actor = scaled.actor
    state = actor.initial_state(3)
    # what the critics see: SB3's preprocessing divides the image by 255
    feats = scaled.critic.extract_features(obs, scaled.critic.features_extractor)
    assert th.allclose(feats, pixels / 255.0)
    got, _ = actor.step(obs, state)
    assert th.allclose(got, _network(actor, pixels / 255.0, state)), "the actor must see the image as the critics do"
    windows = obs[:, None].expand(3, 4, *space.shape)
    assert th.allclose(actor.unroll(windows)[:, 0], got)
    # normalize_images=False leaves the pixels as they are, for actor and critics alike
    th.manual_seed(0)
    raw = policy_class(space, _ImageEnv.action_space, lambda _: 1e-3, normalize_images=False, **SMALL)
    assert th.allclose(raw.actor.step(obs, state)[0], _network(raw.actor, pixels, state))


def test_actor_steps_that_never_come_warn_instead_of_counting_silent_updates():
    env = make_vec_env(lambda: gym.make("Pendulum-v1", max_episode_steps=10), n_envs=1, seed=0)
    model = GuidedTD3("SpikingPolicy", env, n_seq=16, n_warmup=12, stride=4, batch_size=8,
                      replay_buffer_kwargs=dict(train_from_episode_start=False),
                      learning_starts=50, train_freq=20, gradient_steps=2, policy_kwargs=SMALL, seed=0)
    with pytest.warns(UserWarning, match="n_warmup=12.*train_from_episode_start") as record:
        model.learn(200)
    assert model._n_updates > 0
    assert sum("n_warmup" in str(w.message) for w in record) == 1, "said once"


def test_episode_start_of_the_wrong_length_names_the_argument():
    policy = SpikingPolicy(spaces.Box(-1, 1, (3,), np.float32), spaces.Box(-1, 1, (1,), np.float32), lambda _: 1e-3, **SMALL)
    obs = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"episode_start.*4"):
        policy.predict(obs, episode_start=np.zeros(3))
    with pytest.raises(ValueError, match=r"episode_start.*4"):
        policy.actor.predict(obs, episode_start=np.zeros(5))
    policy.predict(obs, episode_start=np.zeros(4))  # the right length still works
    policy.predict(obs[0], episode_start=np.array([True]))


def test_dict_observation_with_a_non_box_entry_names_the_accepted_layout():
    space = spaces.Dict(actor=spaces.Box(-1, 1, (2,), np.float32), privileged=spaces.Discrete(3))
    with pytest.raises(ValueError, match=r"'actor'.*'privileged'") as err:
        SpikingPolicy(space, spaces.Box(-1, 1, (1,), np.float32), lambda _: 1e-3, **SMALL)
    assert "Discrete" in str(err.value)


def test_nested_vine_settings_from_yaml_are_converted_or_refused_at_construction():
    with pytest.warns(UserWarning, match="learning_rate"):
        model = GuidedTD3("SpikingPolicy", "Pendulum-v1", policy_kwargs=SMALL,
                          vine_kwargs={"start_fraction": 0.5, "learning_rate": "1e-4", "horizon": "150"})  # as YAML reads 1e-4
    assert model.vine_kwargs == {"learning_rate": 1e-4, "horizon": 150}
    assert isinstance(model.vine_kwargs["learning_rate"], float) and isinstance(model.vine_kwargs["horizon"], int)
    with pytest.raises(ValueError, match="learning_rate"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", vine_kwargs={"start_fraction": 0.5, "learning_rate": "fast"},
                  policy_kwargs=SMALL)
    with pytest.raises(ValueError, match="anneal"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", vine_kwargs={"start_fraction": 0.5, "anneal": "no"}, policy_kwargs=SMALL)
    with pytest.raises(ValueError, match="n_leaders"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", vine_kwargs={"start_fraction": 0.5, "n_leaders": 2.5}, policy_kwargs=SMALL)
