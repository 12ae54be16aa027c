"""The critic options of issue 30: the proxy target actor, the stacked-observation critic, the action-resolution test."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th

from sb3_spiking import GuidedTD3
from sb3_spiking.guided_td3.critics import ProxyActor


def _model(tmp_path=None, **policy_kwargs) -> GuidedTD3:
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", learning_starts=100, n_seq=20, n_warmup=5, stride=5, train_freq=20,
                      gradient_steps=4, batch_size=8, policy_kwargs=dict(net_arch=[16, 16], **policy_kwargs), seed=0)
    return model


def test_proxy_target_follows_the_actor_is_saved_and_keeps_cold_steps(tmp_path):
    model = _model(proxy_target=True)
    assert isinstance(model.policy.proxy, ProxyActor)
    model.learn(100)  # buffer filled, no update yet
    data = model.replay_buffer.sample(8)
    assert th.equal(model.critic_mask(data), data.valid.bool())  # a stateless target is never cold
    mask = data.actor_mask.bool()

    def gap() -> float:
        with th.no_grad():
            pi = model.actor.unroll(data.observations)
            return th.nn.functional.mse_loss(model.policy.proxy(data.observations[mask]), pi[mask]).item()

    before = gap()
    model.learn(600, reset_num_timesteps=False)
    assert "train/proxy_loss" in model.logger.name_to_value
    assert gap() < before
    model.save(tmp_path / "m.zip")
    loaded = GuidedTD3.load(tmp_path / "m.zip")
    for p, q in zip(model.policy.proxy.parameters(), loaded.policy.proxy.parameters(), strict=True):
        assert th.equal(p, q)
    assert loaded.policy.proxy.optimizer.state_dict()["state"]  # Adam's moments came back too


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [(dict(proxy_target="yes"), "proxy_target"), (dict(critic_history=1.5), "critic_history")],
)
def test_bad_critic_options_are_refused_by_name(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _model(**kwargs)


def test_action_resolution_replays_the_copy_exactly_and_measures_real_effects():
    import gymnasium as gym

    from sb3_spiking.analysis.action_resolution import ActionResolutionCallback, measure_action_resolution

    def make():
        return gym.make("Pendulum-v1")

    model = _model()
    none = measure_action_resolution(model, make, n_pairs=4, branch_steps=(5, 10), horizon=30, delta=0.0)
    assert len(none.true_effect) == 4
    assert np.all(none.true_effect == 0) and np.all(none.critic_effect == 0)  # the copy flies exactly as the original
    some = measure_action_resolution(model, make, n_pairs=4, branch_steps=(5, 10), horizon=30, delta=0.3)
    assert np.all(some.true_effect != 0)
    callback = ActionResolutionCallback(make, every=150, n_pairs=3, horizon=20)
    model.learn(300, callback=callback)
    assert [step for step, _ in callback.history] == [150, 300]
    assert "diagnostics/action_resolution_corr" in model.logger.name_to_value


def test_action_resolution_refuses_an_env_that_cannot_be_copied():
    import gymnasium as gym

    from sb3_spiking.analysis.action_resolution import check_copyable

    with pytest.raises(ValueError, match="copy"):
        check_copyable(gym.make("LunarLanderContinuous-v3"))


def test_critic_history_stacks_the_windows_own_past_observations(tmp_path):
    from sb3_spiking.guided_td3.losses import critic_view

    model = _model(critic_history=3)
    model.learn(400)
    data = model.replay_buffer.sample(8)
    view = critic_view(data, 3)
    obs, nxt = data.observations, data.next_observations
    L = obs.shape[1]
    valid = data.valid.bool()
    for t in range(2, L):  # oldest first, as VecFrameStack (at the valid steps: past an episode's end a window is padding)
        v = valid[:, t]
        assert th.equal(view.now[v, t], th.cat([obs[v, t - 2], obs[v, t - 1], obs[v, t]], dim=1))
        assert th.equal(view.next[v, t], th.cat([obs[v, t - 1], obs[v, t], nxt[v, t]], dim=1))
    starts = data.starts_episode.bool()
    assert view.complete[:, 2:].all() and th.equal(view.complete[:, 0], starts)
    if starts.any():  # the first step of an episode: zeros before it
        assert th.equal(view.now[starts, 0], th.cat([th.zeros_like(obs[starts, 0])] * 2 + [obs[starts, 0]], dim=1))
    assert not (model.critic_mask(data) & ~view.complete).any()
    assert model.critic.features_extractor.features_dim == 3 * obs.shape[2]
    model.save(tmp_path / "m.zip")
    assert GuidedTD3.load(tmp_path / "m.zip").policy.critic_history == 3


def test_critic_history_refused_where_the_windows_cannot_hold_it():
    with pytest.raises(ValueError, match="n_warmup >= 6"):
        _model(critic_history=7)  # n_warmup is 5
    with pytest.raises(ValueError, match="Box observation"):
        GuidedTD3("SpikingPolicy", "PendulumNoVelPrivileged-v1", n_seq=20, n_warmup=5, stride=5,
                  policy_kwargs=dict(net_arch=[16, 16], critic_history=2))
    with pytest.raises(ValueError, match="critic_history"):
        _model(critic_history=0)


@pytest.mark.parametrize("windows", [dict(n_seq=1, stride=1), dict(n_seq=4, stride=2)])
def test_on_the_same_transitions_the_sequence_critic_makes_td3s_update(windows):
    """Issue 30, deliverable 1: with an MLP actor and TD3's own actor loss, one GuidedTD3 update on a batch of
    windows equals stock TD3's update on the same transitions (no noise): critic, actor and targets agree to
    float precision, so any gap in returns comes from sampling or the actor loss's scale, not from the critic."""
    import gymnasium as gym
    from stable_baselines3 import TD3
    from stable_baselines3.common.logger import configure
    from stable_baselines3.common.type_aliases import ReplayBufferSamples

    from experiments.critic_sanity import _plain_q_class  # GuidedTD3 with TD3's actor loss −mean Q₁(s, π(s))

    env = gym.make("Pendulum-v1")
    settings = dict(learning_rate=1e-3, policy_delay=1, target_policy_noise=0.0, tau=0.01, gamma=0.98, seed=0,
                    policy_kwargs=dict(net_arch=dict(pi=[32, 32], qf=[64, 64])))
    ref = TD3("MlpPolicy", env, **settings)
    ours = _plain_q_class()("MlpSequencePolicy", env, n_warmup=0, **windows, **settings)
    for src, dst in ((ref.actor, ours.actor), (ref.actor_target, ours.actor_target), (ref.critic, ours.critic),
                     (ref.critic_target, ours.critic_target)):
        assert [p.shape for p in src.parameters()] == [p.shape for p in dst.parameters()]
        with th.no_grad():
            for a, b in zip(src.parameters(), dst.parameters()):
                b.copy_(a)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(450):  # two full episodes and a part: truncations inside the buffer
        action = rng.uniform(-1, 1, size=1).astype(np.float32)
        next_obs, reward, terminated, truncated, _ = env.step(2 * action)
        done = terminated or truncated
        ours.replay_buffer.add(obs[None], next_obs[None], action[None], np.array([reward]), np.array([done]),
                               [{"TimeLimit.truncated": truncated and not terminated}])
        obs = env.reset()[0] if done else next_obs
    data = ours.replay_buffer.sample(16)
    steps = data.valid.bool()
    assert steps.sum() >= 16
    flat = ReplayBufferSamples(data.observations[steps], data.actions[steps], data.next_observations[steps],
                               data.terminated[steps].reshape(-1, 1), data.rewards[steps].reshape(-1, 1))
    before = [p.clone() for p in ours.actor.parameters()]
    ours.replay_buffer.sample = lambda *args, **kwargs: data
    ref.replay_buffer.sample = lambda *args, **kwargs: flat
    for model in (ref, ours):
        model.set_logger(configure(None, []))
        model.train(gradient_steps=3, batch_size=16)
    for a, b in ((ref.critic, ours.critic), (ref.actor, ours.actor), (ref.actor_target, ours.actor_target)):
        moved = max((x - y).abs().max().item() for x, y in zip(a.parameters(), b.parameters()))
        assert moved < 1e-6
    assert max((x - y).abs().max().item() for x, y in zip(before, ours.actor.parameters())) > 1e-4  # it did learn
