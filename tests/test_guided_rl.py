"""GuidedTD3's RL half: the critic's targets at warm target-actor states, n-step targets, the authors'-code
variant (Q at buffer actions), the LayerNorm critic and the critic diagnostic."""

import numpy as np
import pytest
import torch as th

from _legacy_defaults import LEGACY_DEFAULTS
from sb3_spiking import GuidedTD3
from test_guided_td3 import FAST, _novel_env, privileged_guide  # the same small Pendulum set-up


def _trained(**kwargs) -> GuidedTD3:
    model = GuidedTD3("SpikingPolicy", _novel_env(1), guide=privileged_guide, seed=0, **{**LEGACY_DEFAULTS, **FAST, **kwargs})
    model.learn(500)
    return model


def test_critic_mask_drops_cold_target_steps_of_mid_episode_windows():
    model = _trained(alpha=2.0)
    th.manual_seed(0)
    np.random.seed(0)
    data = model.replay_buffer.sample(64)
    starts = data.starts_episode.bool()
    assert starts.any() and (~starts).any(), "the batch needs both kinds of windows"
    mask, valid = model.critic_mask(data), data.valid.bool()
    # target for step i reads the target actor at position i + 1: warm from i = n_warmup - 1 on
    assert not mask[~starts, : model.n_warmup - 1].any()
    assert th.equal(mask[~starts, model.n_warmup - 1 :], valid[~starts, model.n_warmup - 1 :])
    assert th.equal(mask[starts], valid[starts]), "a window that starts an episode has the true zero state"


def test_cold_target_steps_are_really_off_policy_and_never_reach_the_critic_loss():
    model = _trained(alpha=2.0)
    np.random.seed(1)
    data = model.replay_buffer.sample(64)
    rows = (~data.starts_episode.bool()).nonzero().squeeze(1)
    # the defect: a mid-episode window's target actor starts cold; its first outputs differ from those
    # of the same actor that has seen the warm-up (here: the window unrolled from two steps earlier)
    first = {k: v[rows] for k, v in data.observations.items()}
    cold = model.actor_target.unroll(first)[:, 1]
    warm = model.actor_target.unroll({k: v[:, 1:] for k, v in first.items()})[:, 0]
    assert not th.allclose(cold, warm, atol=1e-4)
    # and the loss sees exactly the masked steps
    seen = []
    original = model.critic.forward
    model.critic.forward = lambda obs, act: (seen.append(act.shape[0]), original(obs, act))[1]
    model._critic_loss(data)
    assert seen == [int(model.critic_mask(data).sum())]


def test_critic_fraction_keeps_a_warm_step_in_every_window_that_has_one():
    model = _trained(alpha=2.0, critic_fraction=0.05)
    data = model.replay_buffer.sample(64)
    chosen = []
    original = model.critic.forward
    model.critic.forward = lambda obs, act: (chosen.append(act.shape[0]), original(obs, act))[1]
    model._critic_loss(data)
    windows_with_warm_steps = int(model.critic_mask(data).any(dim=1).sum())
    assert windows_with_warm_steps <= chosen[0] < int(model.critic_mask(data).sum())


def test_buffer_q_input_needs_what_it_uses():
    with pytest.raises(ValueError, match="actor_q_input='buffer'"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", actor_q_input="buffer", bc_coef=0.0, **FAST)


def test_authors_code_variant_gives_the_actor_no_gradient_from_the_q_term():
    model = _trained(alpha=2.0, bc_coef=0.2, actor_q_input="buffer")
    data = model.replay_buffer.sample(8)
    grads = {}
    for name, (alpha, bc) in {"q only": (2.0, 0.0), "bc only": (0.0, 0.2)}.items():
        model.alpha, model.bc_coef = alpha, bc
        model.actor.optimizer.zero_grad()
        loss, *_ = model._actor_loss(data)
        if loss.requires_grad:
            loss.backward()
        grads[name] = sum(p.grad.abs().sum().item() for p in model.actor.parameters() if p.grad is not None)
    assert grads["q only"] == 0.0 and grads["bc only"] > 0.0
    model.alpha, model.actor_q_input = 2.0, "policy"
    model.bc_coef = 0.0
    model.actor.optimizer.zero_grad()
    model._actor_loss(data)[0].backward()
    assert sum(p.grad.abs().sum().item() for p in model.actor.parameters() if p.grad is not None) > 0.0


def _reference_n_step(rewards, terminated, valid, gamma, n):
    """Plain-loop n-step targets: (return, bootstrap discount, bootstrap index) per step."""
    B, L = rewards.shape
    out = np.zeros((3, B, L))
    for b in range(B):
        for i in range(L):
            if not valid[b, i]:
                out[2, b, i] = i
                continue
            g, disc, j = 0.0, 1.0, i
            for k in range(n):
                j = i + k
                g += disc * rewards[b, j]
                disc *= gamma
                if terminated[b, j]:
                    disc = 0.0
                    break
                if j + 1 >= L or not valid[b, j + 1]:
                    break
            out[:, b, i] = (g, disc, j)
    return out


@pytest.mark.parametrize("n", [1, 3, 7])
def test_n_step_targets_match_a_plain_loop(n):
    from sb3_spiking.guided_td3.guided_td3 import n_step_targets

    rng = np.random.default_rng(n)
    B, L, gamma = 6, 12, 0.9
    rewards = rng.normal(size=(B, L)).astype(np.float32)
    terminated = np.zeros((B, L), bool)
    terminated[1, 4] = terminated[3, 10] = True
    valid = np.ones((B, L), bool)
    valid[2, 8:] = False  # the window's episode ends (or is not stored yet) at step 8
    valid[1, 5:] = False  # after the termination
    got = n_step_targets(
        th.tensor(rewards), th.tensor(terminated, dtype=th.float32), th.tensor(valid, dtype=th.float32), gamma, n
    )
    ref = _reference_n_step(rewards, terminated, valid, gamma, n)
    assert np.allclose(got.returns.numpy()[valid], ref[0][valid], atol=1e-5)
    assert np.allclose(got.boot_discount.numpy()[valid], ref[1][valid], atol=1e-6)
    assert np.array_equal(got.boot_index.numpy()[valid], ref[2][valid])
    if n == 1:  # TD3's target
        assert np.allclose(got.boot_discount.numpy()[valid], (gamma * ~terminated)[valid])


def test_n_step_critic_loss_bootstraps_at_warm_positions_and_learns():
    model = _trained(alpha=2.0, n_steps=2)
    data = model.replay_buffer.sample(32)
    mask = model.critic_mask(data)
    starts = data.starts_episode.bool()
    # step i bootstraps at i + 1 and reads the target actor at i + 2: warm from i = n_warmup - 2 on
    assert not mask[~starts, : model.n_warmup - 2].any() and mask[~starts, model.n_warmup - 2].any()
    assert th.isfinite(model._critic_loss(data))
    with pytest.raises(ValueError, match="n_steps"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", n_steps=0, **FAST)
    with pytest.raises(ValueError, match="cannot exceed"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", n_steps=17, **FAST)


def test_n_steps_survives_save_and_load(tmp_path):
    model = _trained(alpha=2.0, n_steps=4)
    model.save(tmp_path / "m")
    loaded = GuidedTD3.load(tmp_path / "m")
    assert loaded.n_steps == 4


def test_critic_diagnostic_compares_q_of_the_actors_actions_with_the_collected_return():
    from sb3_spiking.tasks.drone.evaluation import critic_diagnostic, fly
    from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    model = GuidedTD3("SpikingPolicy", DroneHoverVecEnv(4), guide=PDHoverGuide(), alpha=1.0, gamma=0.5, seed=0,
                      **{**FAST, "learning_starts": 64, "n_warmup": 4}, bc_coef=0.2, guide_horizon_start=400,
                          guide_horizon_end=None)
    model.learn(400)
    d = critic_diagnostic(model, n_episodes=4, seed=1_000, horizon=30)
    flight = fly(model, None, 0, 4, 1_000, record=True)
    # discounted return-to-go by hand, over the steps the diagnostic compares (t < 30, episode running)
    rewards, running = flight.rewards, flight.running
    G = np.zeros_like(rewards)
    acc = np.zeros(4)
    for t in range(len(rewards) - 1, -1, -1):
        acc = rewards[t] + 0.5 * acc
        G[t] = acc
    T = min(30, len(rewards))  # an untrained actor may crash every episode earlier
    keep = running[:T]
    assert d["n_steps"] == int(keep.sum()) > 0
    assert d["mc_return"] == pytest.approx(float(G[:T][keep].mean()), rel=1e-6)
    with th.no_grad():  # Q of the recorded (actor's) actions at the recorded observations, smaller twin
        q = [
            th.cat(model.critic(model.policy.obs_to_tensor(flight.observations[t])[0], th.as_tensor(flight.actions[t])), 1).min(
                1
            )[0]
            for t in range(T)
        ]
    assert d["q_min"] == pytest.approx(float(th.stack(q).numpy()[keep].mean()), rel=1e-5)
    assert d["q_bias"] == pytest.approx(d["q_min"] - d["mc_return"]) and -1 <= d["q_corr"] <= 1


@pytest.mark.parametrize("policy", ["SpikingPolicy", "MlpSequencePolicy"])
def test_layer_norm_critic_is_built_trained_and_reloaded(policy, tmp_path):
    fast = {**FAST, "policy_kwargs": {**FAST["policy_kwargs"], "critic_layer_norm": True}}
    model = GuidedTD3(policy, _novel_env(1), guide=privileged_guide, seed=0, alpha=1.0, **fast)
    for critic in (model.critic, model.critic_target):
        norms = [m for q in critic.q_networks for m in q if isinstance(m, th.nn.LayerNorm)]
        assert len(norms) == 2 * len(model.policy.critic_kwargs["net_arch"])  # one per hidden layer, two critics
    # the optimiser holds the LayerNorm critic's parameters, and they train
    held = {id(p) for group in model.critic.optimizer.param_groups for p in group["params"]}
    assert {id(p) for p in model.critic.parameters()} == held
    before = [p.clone() for p in model.critic.parameters()]
    model.learn(500)
    assert all(not th.equal(a, b) for a, b in zip(before, model.critic.parameters()))
    model.save(tmp_path / "m.zip")
    loaded = GuidedTD3.load(tmp_path / "m.zip")
    assert loaded.policy.critic_layer_norm
    obs = {k: th.as_tensor(v[None]) for k, v in model.observation_space.sample().items()}
    act = th.zeros(1, 1)
    assert th.allclose(loaded.critic.q1_forward(obs, act), model.critic.q1_forward(obs, act))
