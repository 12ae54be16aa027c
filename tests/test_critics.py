"""The critic options of issue 30: the advantage-decomposed critic and the proxy target actor."""

from __future__ import annotations

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import FlattenExtractor

from sb3_spiking import GuidedTD3
from sb3_spiking.guided_td3.critics import AdvantageCritic, ProxyActor
from sb3_spiking.guided_td3.losses import critic_loss, n_step_targets

OBS, ACT = spaces.Box(-2, 2, (2,)), spaces.Box(-1, 1, (1,))


def _critic(kind: str, dt: float = 0.01):
    kw = dict(observation_space=OBS, action_space=ACT, net_arch=[64, 64], features_extractor=FlattenExtractor(OBS),
              features_dim=2)
    return AdvantageCritic(**kw, dt=dt) if kind == "advantage" else ContinuousCritic(**kw, n_critics=1)


def _bandit(n: int, gen: th.Generator):
    """States whose value spreads by ±50, actions that follow the state (ā = policy(s)) plus N(0, 0.1) noise, and an
    action effect ``−(a − 0.2 s₂)²`` of order 1: the 100 Hz situation of issue 30 in one step."""
    s = th.rand(n, 2, generator=gen) * 4 - 2
    a_bar = 0.5 * th.tanh(s[:, :1] + s[:, 1:])
    a = (a_bar + 0.1 * th.randn(n, 1, generator=gen)).clamp(-1, 1)
    q = 50 * th.sin(2 * s[:, :1]) * th.cos(s[:, 1:]) - (a - 0.2 * s[:, 1:]) ** 2
    return s, a_bar, a, q


def _action_gradient_correlation(kind: str, dt: float, seed: int) -> float:
    th.manual_seed(seed)
    gen = th.Generator().manual_seed(seed)
    critic = _critic(kind, dt)
    opt = th.optim.Adam(critic.parameters(), 1e-3)
    for _ in range(2000):
        s, a_bar, a, q = _bandit(256, gen)
        pred = critic.q_centred(s, a, a_bar) if kind == "advantage" else critic(s, a)[0]
        loss = (pred - q).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    s, a_bar, _, _ = _bandit(2000, gen)
    a_bar.requires_grad_(True)
    grad = th.autograd.grad(critic.q1_forward(s, a_bar).sum(), a_bar)[0]
    true = -2 * (a_bar.detach() - 0.2 * s[:, 1:])
    return float(np.corrcoef(grad.flatten().numpy(), true.flatten().numpy())[0, 1])


def test_advantage_critic_resolves_the_action_gradient_a_single_q_network_does_not():
    # the claim the option rests on (docs/critic.md): where the state's value dwarfs one action's effect and the actions
    # follow the states, a Q network's ∂Q/∂a is noise; the centred, dt-scaled advantage recovers it
    twin = _action_gradient_correlation("twin", 0.01, seed=0)
    advantage = _action_gradient_correlation("advantage", 0.001, seed=0)
    assert abs(twin) < 0.25, twin
    assert advantage > 0.5, advantage


def test_advantage_is_centred_at_the_reference_action_and_state_functions_cancel():
    critic = _critic("advantage", dt=0.5)
    s, a = th.randn(5, 2), th.rand(5, 1) * 2 - 1
    assert th.allclose(critic.q_centred(s, a, a), critic.value(s))
    # the actor's gradient through q1_forward is dt · ∂Ã/∂a, whatever the centring term
    a.requires_grad_(True)
    g = th.autograd.grad(critic.q1_forward(s, a).sum(), a)[0]
    feats = critic.extract_features(s, critic.features_extractor)
    g_adv = th.autograd.grad(critic.a_net(th.cat([feats, a], dim=1)).sum(), a)[0]
    assert th.allclose(g, 0.5 * g_adv)


def _model(tmp_path=None, **policy_kwargs) -> GuidedTD3:
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", learning_starts=100, n_seq=20, n_warmup=5, stride=5, train_freq=20,
                      gradient_steps=4, batch_size=8, policy_kwargs=dict(net_arch=[16, 16], **policy_kwargs), seed=0)
    return model


def test_advantage_critic_bootstraps_on_the_state_value_and_masks_cold_centring_steps():
    model = _model(critic="advantage", critic_dt=0.05)
    model.learn(300)
    data = model.replay_buffer.sample(8)
    targets = n_step_targets(data.rewards, data.terminated, data.valid, model.gamma, 1)
    kept = model.critic_mask(data, targets)
    positions = th.arange(data.valid.shape[1])
    cold = (positions < model.n_warmup)[None, :] & ~data.starts_episode.bool()[:, None]
    assert not (kept & cold).any() and kept.any()
    actions = model.target_actions(data)
    th.manual_seed(0)
    base = critic_loss(data, targets, kept, model.critic, model.critic_target, actions)
    moved_next = actions.clone()
    moved_next[:, -1] += 0.5  # position L is read by no step (bootstrap on V'(s'))
    th.manual_seed(0)
    assert th.allclose(base, critic_loss(data, targets, kept, model.critic, model.critic_target, moved_next))
    th.manual_seed(0)
    moved_centre = actions.clone()
    moved_centre[:, :-1] += 0.5  # the centring actions at the steps themselves
    assert not th.allclose(base, critic_loss(data, targets, kept, model.critic, model.critic_target, moved_centre))


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
    [(dict(critic="dueling"), "critic must be one of"), (dict(critic="advantage", critic_dt=0.0), "critic_dt"),
     (dict(critic_dt="fast"), "critic_dt"), (dict(proxy_target="yes"), "proxy_target")],
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
