"""Conformance with the SB3 / sb3-contrib contracts, for GuidedTD3 with both sequence policies.

The checks follow what SB3's ``test_save_load.py``, ``test_predict.py``, ``test_spaces.py`` and
sb3-contrib's ``test_lstm.py`` check for their algorithms (round trips, ``predict`` shapes and the
recurrent ``state`` / ``episode_start`` contract, unusual spaces, normalisation, ``env=None`` loads),
written for a stateful actor: every ``predict`` comparison carries the state along.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from _legacy_defaults import LEGACY_DEFAULTS
from sb3_spiking import GuidedTD3
from sb3_spiking.envs.wrappers import PrivilegedSplit
from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide

POLICIES = ["SpikingPolicy", "MlpSequencePolicy"]
NET = dict(net_arch=dict(pi=[16, 8], qf=[16]))


def tiny(**changes):
    """Tiny, fast settings: windows of 10 steps, updates from step 50 on."""
    kwargs = dict(n_seq=10, n_warmup=2, stride=5, learning_starts=50, batch_size=8, train_freq=25, gradient_steps=2,
                  buffer_size=2000, policy_kwargs=dict(NET), seed=0)  # fmt: skip
    kwargs.update(changes)
    return kwargs


def pendulum_novel():
    """Dict observation: the actor sees (cos θ, sin θ), critics and guide the full state."""
    return PrivilegedSplit(gym.make("Pendulum-v1"), actor_indices=[0, 1])


class MatrixActionEnv(gym.Env):
    """3-dim observation, 2×2 action in [-2, 2]; 30-step episodes; the env checks the action shape."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (2, 2), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        assert np.shape(action) == (2, 2)
        self.t += 1
        return self.observation_space.sample(), -float(np.abs(action).sum()), False, self.t >= 30, {}


def rollout_actions(model, obs, steps=4, starts=None):
    """Actions of ``steps`` predict calls on the same observations, the state carried along."""
    state, actions = None, []
    for t in range(steps):
        start = starts[t] if starts is not None else None
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        actions.append(action)
    return actions, state


def same_state(a, b):
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def weights(model):
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


# ---------------------------------------------------------------------------------- learning
@pytest.mark.parametrize("policy", POLICIES)
def test_learn_a_few_hundred_pendulum_steps(policy):
    model = GuidedTD3(policy, "Pendulum-v1", **tiny())
    before = weights(model)
    model.learn(300)
    assert model.num_timesteps == 300 and model.replay_buffer.size() == 300
    assert model._n_updates == 2 * ((300 - 50) // 25)  # gradient_steps per train_freq after learning_starts
    after = weights(model)
    changed = [k for k in before if not th.equal(before[k], after[k])]
    assert any(k.startswith("actor.") for k in changed) and any(k.startswith("critic.") for k in changed)
    assert all(th.isfinite(v).all() for v in after.values() if v.is_floating_point())
    assert len(model.ep_info_buffer) == 1 and model.ep_info_buffer[0]["l"] == 200


# ---------------------------------------------------------------------------------- predict
@pytest.mark.parametrize("policy", POLICIES)
def test_predict_single_and_vectorised_with_state_and_episode_start(policy):
    model = GuidedTD3(policy, "Pendulum-v1", **tiny())
    sizes = model.actor.state_sizes
    assert sizes == ([16, 8] if policy == "SpikingPolicy" else [])
    env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=1)
    # single observation: an action of the space's shape, a state batched over one env
    action, state = model.predict(obs)
    assert action.shape == env.action_space.shape and env.action_space.contains(action.astype(np.float32))
    assert [s.shape for s in state] == [(1, h) for h in sizes]
    # vectorised: the batch dimension is kept, also for one env
    vec_env = make_vec_env("Pendulum-v1", n_envs=3, seed=0)
    vec_obs = vec_env.reset()
    actions, vec_state = model.predict(vec_obs)
    assert actions.shape == (3, 1) and np.all(np.abs(actions) <= 2)
    assert [s.shape for s in vec_state] == [(3, h) for h in sizes]
    assert model.predict(vec_obs[:1])[0].shape == (1, 1)
    # stepping a VecEnv with predict's output, state and episode_start (sb3-contrib's loop)
    starts = np.ones(3, dtype=bool)
    for _ in range(5):
        actions, vec_state = model.predict(vec_obs, state=vec_state, episode_start=starts)
        vec_obs, _, dones, _ = vec_env.step(actions)
        starts = dones
    # a None state is the zero state; episode_start resets exactly the flagged rows
    zero = tuple(np.zeros((3, h), np.float32) for h in sizes)
    assert np.array_equal(model.predict(vec_obs)[0], model.predict(vec_obs, state=zero)[0])
    flagged, flagged_state = model.predict(vec_obs, state=vec_state, episode_start=np.array([True, False, False]))
    fresh, fresh_state = model.predict(vec_obs[:1])
    kept, kept_state = model.predict(vec_obs[1:], state=tuple(s[1:] for s in vec_state))
    assert np.allclose(flagged[:1], fresh, atol=1e-6) and np.allclose(flagged[1:], kept, atol=1e-6)
    assert all(np.allclose(s[:1], f, atol=1e-6) and np.allclose(s[1:], k, atol=1e-6)
               for s, f, k in zip(flagged_state, fresh_state, kept_state))  # fmt: skip
    # the state matters for the spiking actor only: the same observation twice gives another action
    first, s1 = model.predict(vec_obs)
    second, _ = model.predict(vec_obs, state=s1)
    assert np.array_equal(first, second) == (policy == "MlpSequencePolicy")
    # deterministic is accepted and changes nothing (TD3's actor is deterministic)
    assert np.array_equal(model.predict(vec_obs, deterministic=True)[0], model.predict(vec_obs, deterministic=False)[0])
    with pytest.raises(ValueError):
        model.predict(np.zeros((3, 4), np.float32))  # wrong observation shape, as SB3
    # a state of the wrong batch size (the MLP actor, stateless, refuses any non-empty state)
    bad_state = tuple(np.zeros((2, h), np.float32) for h in sizes) or (np.zeros((3, 1), np.float32),)
    with pytest.raises(ValueError, match="state must be"):
        model.predict(vec_obs, state=bad_state)


@pytest.mark.parametrize("policy", POLICIES)
def test_evaluate_policy_carries_the_state(policy):
    """SB3's evaluate_policy passes state and episode_start: its return equals a hand-written loop."""
    model = GuidedTD3(policy, "Pendulum-v1", **tiny())
    mean, _ = evaluate_policy(model, make_vec_env("Pendulum-v1", n_envs=1, seed=5), n_eval_episodes=1)
    env = make_vec_env("Pendulum-v1", n_envs=1, seed=5)
    obs, state, start, total, done = env.reset(), None, np.ones(1, bool), 0.0, False
    while not done:
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        obs, reward, dones, _ = env.step(action)
        total, done, start = total + float(reward[0]), bool(dones[0]), dones
    assert mean == pytest.approx(total, rel=1e-5)


# ---------------------------------------------------------------------------------- save / load
@pytest.mark.parametrize("policy", POLICIES)
def test_save_load_round_trip_gives_identical_predictions_with_state(policy, tmp_path):
    model = GuidedTD3(policy, pendulum_novel(), guide=PendulumSwingUpGuide(), **tiny(), **LEGACY_DEFAULTS)
    model.learn(120)
    obs = {"actor": np.random.randn(4, 2).astype(np.float32), "privileged": np.random.randn(4, 3).astype(np.float32)}
    starts = [np.ones(4, bool), np.zeros(4, bool), np.array([0, 1, 0, 0], bool), np.zeros(4, bool)]
    expected, expected_state = rollout_actions(model, obs, starts=starts)
    model.save(tmp_path / "model.zip")
    for env in (None, pendulum_novel()):
        loaded = GuidedTD3.load(tmp_path / "model.zip", env=env)
        assert loaded._guide is None  # never saved: pass it again to continue guided training
        assert all(th.equal(v, loaded.policy.state_dict()[k]) for k, v in weights(model).items())
        actions, state = rollout_actions(loaded, obs, starts=starts)
        assert all(np.array_equal(a, b) for a, b in zip(actions, expected)) and same_state(state, expected_state)
        assert (loaded.n_seq, loaded.n_warmup, loaded.stride, loaded.alpha) == (10, 2, 5, model.alpha)
        assert loaded.num_timesteps == model.num_timesteps and loaded._n_updates == model._n_updates
    # saved again after loading: still the same model
    loaded.save(tmp_path / "again.zip")
    again, _ = rollout_actions(GuidedTD3.load(tmp_path / "again.zip"), obs, starts=starts)
    assert all(np.array_equal(a, b) for a, b in zip(again, expected))


@pytest.mark.parametrize("policy", POLICIES)
def test_load_with_the_policy_kwargs_given_at_construction(policy, tmp_path):
    kwargs = dict(net_arch=dict(pi=[12], qf=[10]))
    model = GuidedTD3(policy, "Pendulum-v1", **tiny(policy_kwargs=dict(kwargs, slope=3.0)))
    model.save(tmp_path / "model.zip")
    loaded = GuidedTD3.load(tmp_path / "model.zip", env=gym.make("Pendulum-v1"), policy_kwargs=dict(kwargs))
    assert loaded.policy_kwargs == kwargs and loaded.slope == 3.0
    if policy == "SpikingPolicy":
        assert loaded.policy.slope == 3.0
    obs = np.random.randn(2, 3).astype(np.float32)
    assert np.array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    with pytest.raises(ValueError, match="do not equal the stored policy kwargs"):
        GuidedTD3.load(tmp_path / "model.zip", policy_kwargs=dict(net_arch=dict(pi=[12, 12], qf=[10])))


@pytest.mark.parametrize("policy", POLICIES)
def test_load_without_env_then_set_env_and_continue(policy, tmp_path):
    model = GuidedTD3(policy, "Pendulum-v1", **tiny())
    model.learn(100)
    model.save(tmp_path / "model.zip")
    loaded = GuidedTD3.load(tmp_path / "model.zip")
    assert loaded.env is None and loaded.n_envs == 1
    obs = np.random.randn(3).astype(np.float32)
    assert np.array_equal(loaded.predict(obs)[0], model.predict(obs)[0])  # prediction needs no env
    with pytest.raises(ValueError):  # spaces are checked, as SB3 does
        loaded.set_env(make_vec_env(pendulum_novel, n_envs=1))
    loaded.set_env(make_vec_env("Pendulum-v1", n_envs=1, seed=0))  # SB3's set_env keeps n_envs
    start = loaded.num_timesteps
    loaded.learn(100, reset_num_timesteps=False)  # continues with a fresh (empty) buffer
    assert loaded.num_timesteps == start + 100 and loaded.replay_buffer.size() == 100
    assert loaded._n_updates > model._n_updates


# ---------------------------------------------------------------------------------- spaces
@pytest.mark.parametrize("policy", POLICIES)
def test_multi_dimensional_box_actions(policy, tmp_path):
    env = make_vec_env(MatrixActionEnv, n_envs=2, seed=0)
    model = GuidedTD3(policy, env, **tiny(learning_starts=30))
    model.learn(120)  # MatrixActionEnv asserts the (2, 2) shape on every step
    assert model.replay_buffer.actions.shape[-1] == 4
    obs = env.reset()
    actions, state = model.predict(obs)
    assert actions.shape == (2, 2, 2) and np.all(np.abs(actions) <= 2)
    single, _ = model.predict(obs[0])
    assert single.shape == (2, 2) and np.allclose(single, actions[0], atol=1e-6)  # batch-size rounding
    model.save(tmp_path / "model.zip")
    loaded = GuidedTD3.load(tmp_path / "model.zip", env=env)
    assert np.array_equal(loaded.predict(obs, state=state)[0], model.predict(obs, state=state)[0])


@pytest.mark.parametrize("policy", POLICIES)
def test_dict_observation_actor_and_privileged_parts(policy):
    env = make_vec_env(pendulum_novel, n_envs=2, seed=0)
    model = GuidedTD3(policy, env, guide=PendulumSwingUpGuide(), **tiny(), **LEGACY_DEFAULTS)
    model.learn(100)
    buf = model.replay_buffer
    assert buf.observations["actor"].shape[1:] == (2, 2) and buf.observations["privileged"].shape[1:] == (2, 3)
    obs = env.reset()
    actions, state = model.predict(obs)
    assert actions.shape == (2, 1)
    single, _ = model.predict({k: v[0] for k, v in obs.items()})
    assert single.shape == (1,) and np.allclose(single, actions[0], atol=1e-6)
    # the actor reads only obs["actor"]; the critics read only obs["privileged"]
    other = {"actor": obs["actor"], "privileged": obs["privileged"] + 5.0}
    assert np.array_equal(model.predict(other, state=state)[0], model.predict(obs, state=state)[0])
    with th.no_grad():
        t_obs, _ = model.policy.obs_to_tensor(obs)
        t_moved, _ = model.policy.obs_to_tensor({"actor": obs["actor"] + 5.0, "privileged": obs["privileged"]})
        act = th.zeros(2, 1)
        assert th.equal(model.critic(t_obs, act)[0], model.critic(t_moved, act)[0])
        assert not th.equal(model.critic(t_obs, act)[0], model.critic(dict(t_obs, privileged=t_obs["privileged"] + 1), act)[0])


@pytest.mark.parametrize("policy", POLICIES)
def test_vec_normalize(policy, tmp_path):
    env = VecNormalize(make_vec_env("Pendulum-v1", n_envs=2, seed=0), norm_obs=True, norm_reward=True, gamma=0.99)
    model = GuidedTD3(policy, env, **tiny())
    model.learn(150)
    buf = model.replay_buffer
    # the buffer keeps raw observations (and rewards); sampling normalises them with the current statistics
    assert np.allclose(np.linalg.norm(buf.observations[:75, :, :2], axis=-1), 1.0, atol=1e-5), "raw (cos θ, sin θ)"
    np.random.seed(0)
    raw = buf.sample(8)
    np.random.seed(0)
    normed = buf.sample(8, env=env)
    assert np.allclose(normed.observations.numpy(), env.normalize_obs(raw.observations.numpy()), atol=1e-6)
    assert np.allclose(normed.next_observations.numpy(), env.normalize_obs(raw.next_observations.numpy()), atol=1e-6)
    assert np.allclose(normed.rewards.numpy(), env.normalize_reward(raw.rewards.numpy()), atol=1e-6)
    # deployment: the saved statistics and the saved model give the same actions again
    model.save(tmp_path / "model.zip")
    env.save(tmp_path / "vecnormalize.pkl")
    eval_env = VecNormalize.load(tmp_path / "vecnormalize.pkl", DummyVecEnv([lambda: gym.make("Pendulum-v1")] * 2))
    eval_env.training, eval_env.norm_reward = False, False
    loaded = GuidedTD3.load(tmp_path / "model.zip", env=eval_env)
    assert loaded._vec_normalize_env is eval_env
    obs = eval_env.normalize_obs(np.random.randn(2, 3).astype(np.float32))
    assert np.array_equal(loaded.predict(obs)[0], model.predict(obs)[0])


@pytest.mark.parametrize("policy", POLICIES)
def test_replay_buffer_policy_and_parameters_round_trips(policy, tmp_path):
    model = GuidedTD3(policy, pendulum_novel(), guide=PendulumSwingUpGuide(), **tiny(), **LEGACY_DEFAULTS)
    model.learn(120)
    # replay buffer: saved and loaded into another model, it samples the same windows
    model.save_replay_buffer(tmp_path / "buffer.pkl")
    other = GuidedTD3(policy, pendulum_novel(), **tiny())
    other.load_replay_buffer(tmp_path / "buffer.pkl")
    np.random.seed(1)
    a = model.replay_buffer.sample(6)
    np.random.seed(1)
    b = other.replay_buffer.sample(6)
    for field in a._fields:
        x, y = getattr(a, field), getattr(b, field)
        assert all(th.equal(x[k], y[k]) for k in x) if isinstance(x, dict) else th.equal(x, y), field
    # the policy alone (SB3's policy.save / Policy.load), used with a state
    obs = {"actor": np.random.randn(3, 2).astype(np.float32), "privileged": np.random.randn(3, 3).astype(np.float32)}
    model.policy.save(tmp_path / "policy.pth")
    policy_only = type(model.policy).load(tmp_path / "policy.pth")
    expected, expected_state = rollout_actions(model.policy, obs)
    actions, state = rollout_actions(policy_only, obs)
    assert all(np.array_equal(x, y) for x, y in zip(actions, expected)) and same_state(state, expected_state)
    # get_parameters / set_parameters move the weights between models
    other.set_parameters(model.get_parameters(), exact_match=True)
    actions, state = rollout_actions(other, obs)
    assert all(np.array_equal(x, y) for x, y in zip(actions, expected)) and same_state(state, expected_state)
