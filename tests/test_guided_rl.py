"""GuidedTD3's RL half: the critic's targets at warm target-actor states, Q-filtered BC, λ_BC annealed to 0,
the authors'-code variant (Q at buffer actions) and the critic diagnostic."""

import numpy as np
import pytest
import torch as th

from sb3_spiking import GuidedTD3
from sb3_spiking.envs.pendulum import PendulumSwingUpGuide
from sb3_spiking.guided_td3.presets import LEGACY_DEFAULTS
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
    model.mask_cold_targets = False
    assert th.equal(model.critic_mask(data), valid)


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


def test_q_filtered_bc_imitates_only_where_the_critic_prefers_the_teacher():
    model = _trained(alpha=2.0, bc_filter="q")
    data = model.replay_buffer.sample(16)
    mask = data.actor_mask.bool()
    model.alpha = 1e-12  # leave the BC term to compare

    def run_with(q1):
        model.critic.q1_forward = q1
        return model._actor_loss(data)[1]

    pi = model.actor.unroll(data.observations).detach()[mask]
    has = data.has_guide_action.unsqueeze(-1)
    target = (has * data.guide_actions + (1 - has) * data.actions)[mask]
    sq_err = (pi - target).pow(2).mean(dim=1)
    # a critic that prefers whatever is closer to 0 in the first action dimension
    prefer_small = lambda obs, act: -act[:, :1].abs()  # noqa: E731
    keep = (target[:, 0].abs() < pi[:, 0].abs()).float()
    assert 0 < keep.mean() < 1
    assert run_with(prefer_small) == pytest.approx((sq_err * keep).mean().item(), rel=1e-4)
    assert model._bc_imitated[-1] == pytest.approx(keep.mean().item())
    # a critic that always prefers the teacher: plain BC; one that never does: no imitation
    assert run_with(lambda obs, act: _is_target(act, target)) == pytest.approx(sq_err.mean().item(), rel=1e-4)
    assert run_with(lambda obs, act: -_is_target(act, target)) == 0.0


def _is_target(act, target):
    """1 for the rows of ``act`` that are the teacher's actions (the filter's first call)."""
    return th.full((act.shape[0], 1), float(act.shape == target.shape and th.equal(act, target)))


def test_q_filter_and_buffer_q_input_need_what_they_use():
    with pytest.raises(ValueError, match="bc_filter"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", guide=PendulumSwingUpGuide(), alpha=0.0, bc_filter="q", **FAST,
            bc_coef=0.2, policy_delay=2, guide_horizon_start=400, guide_horizon_end=None)
    with pytest.raises(ValueError, match="bc_filter must be one of"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", bc_filter="advantage", **FAST)
    with pytest.raises(ValueError, match="actor_q_input='buffer'"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", actor_q_input="buffer", bc_coef=0.0, **FAST)
    with pytest.raises(ValueError, match="bc_anneal_fraction"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", bc_anneal_fraction=0.0, **FAST)


def test_bc_weight_anneals_linearly_to_zero():
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", guide=PendulumSwingUpGuide(), bc_coef=1.0, bc_decay=0.5,
                      bc_decay_interval=10, bc_anneal_fraction=0.5, **FAST, alpha=2.0, policy_delay=2,
                          guide_horizon_start=400, guide_horizon_end=None)
    model._n_updates = 10  # one epoch of decay: 0.5
    for progress, expected in [(0.0, 0.5), (0.25, 0.25), (0.5, 0.0), (0.9, 0.0)]:
        model._current_progress_remaining = 1 - progress
        assert model.bc_coef_now == pytest.approx(expected)


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


def test_train_logs_the_imitated_share_and_no_q_without_a_critic():
    from stable_baselines3.common.logger import configure

    for alpha, bc_filter, expect_q in ((2.0, "q", True), (0.0, "none", False)):
        model = _trained(alpha=alpha, bc_filter=bc_filter)
        model.set_logger(configure(None, [""]))
        model.train(2, 8)
        logged = model.logger.name_to_value
        assert ("train/q_pi" in logged) == expect_q
        assert ("train/bc_imitated_fraction" in logged) == (bc_filter == "q")
        if bc_filter == "q":
            assert 0.0 <= logged["train/bc_imitated_fraction"] <= 1.0


def test_q_term_and_filter_wait_for_q_start_fraction_while_the_critic_trains():
    model = _trained(alpha=2.0, bc_filter="q", q_start_fraction=0.5)
    data = model.replay_buffer.sample(8)
    calls = []
    original = model.critic.q1_forward
    model.critic.q1_forward = lambda obs, act: (calls.append(1), original(obs, act))[1]
    model._current_progress_remaining = 0.6  # 40 % of training: BC alone
    assert not model.q_term_active
    loss, bc, q, _ = model._actor_loss(data)
    assert calls == [] and q == 0.0 and loss.item() == pytest.approx(model.bc_coef_now * bc, rel=1e-5)
    model._current_progress_remaining = 0.5
    assert model.q_term_active
    model._actor_loss(data)
    assert len(calls) == 2  # Q term and the filter's value of the teacher's action
    critic_before = [p.clone() for p in model.critic.parameters()]
    model._current_progress_remaining = 0.9
    from stable_baselines3.common.logger import configure

    model.set_logger(configure(None, [""]))
    model.train(2, 8)
    assert any(not th.equal(a, b) for a, b in zip(critic_before, model.critic.parameters())), "the critic trains meanwhile"


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


def test_best_filter_imitates_the_best_rated_candidate():
    model = _trained(alpha=2.0, bc_filter="best", bc_search_samples=3, bc_search_noise=0.2)
    data = model.replay_buffer.sample(16)
    mask = data.actor_mask.bool()
    obs = {k: v[mask] for k, v in data.observations.items()}
    teacher = data.guide_actions[mask]
    student = model.actor.unroll(data.observations).detach()[mask]
    # a critic that likes actions close to 0.3 in every dimension: the best candidate is the closest one
    model.critic.q1_forward = lambda o, a: -(a - 0.3).pow(2).sum(dim=1, keepdim=True)
    th.manual_seed(0)
    best = model._best_target(obs, teacher, student, model.critic.q1_forward(obs, student))
    th.manual_seed(0)
    candidates = [teacher, student] + [(student + 0.2 * th.randn_like(student)).clamp(-1, 1) for _ in range(3)]
    dist = th.stack([(c - 0.3).pow(2).sum(dim=1) for c in candidates], dim=1)
    expected = th.stack(candidates, dim=1)[th.arange(len(teacher)), dist.argmin(dim=1)]
    assert th.allclose(best, expected)
    assert (dist.argmin(dim=1) >= 2).any(), "a perturbation of the student's action wins somewhere"
    with pytest.raises(ValueError, match="bc_filter='best'"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", guide=PendulumSwingUpGuide(), alpha=0.0, bc_filter="best", **FAST)


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


def test_filters_rate_the_students_own_action_also_when_the_q_term_reads_buffer_actions():
    model = _trained(alpha=2.0, bc_filter="best", actor_q_input="buffer")
    data = model.replay_buffer.sample(8)
    mask = data.actor_mask.bool()
    seen = {}
    original = model._best_target
    model._best_target = lambda obs, teacher, student, q_student: (seen.update(student=student, q=q_student),
                                                                   original(obs, teacher, student, q_student))[1]
    model._actor_loss(data)
    obs = {k: v[mask] for k, v in data.observations.items()}
    with th.no_grad():
        assert th.allclose(seen["q"], model.critic.q1_forward(obs, seen["student"]))
        assert not th.allclose(seen["q"], model.critic.q1_forward(obs, data.actions[mask]))  # not the buffer action's value


def test_anchor_term_pulls_the_actor_towards_its_target_actor_and_is_logged():
    from stable_baselines3.common.logger import configure

    model = _trained(alpha=1.0, bc_coef=0.0, anchor_coef=100.0)
    with th.no_grad():  # move the target actor away, so the anchor has something to pull towards
        for p in model.actor_target.parameters():
            p.add_(0.05 * th.randn_like(p))
    data = model.replay_buffer.sample(16)
    mask = data.actor_mask.bool()

    def distance() -> float:
        with th.no_grad():
            gap = model.actor.unroll(data.observations) - model.actor_target.unroll(data.observations)
            return gap[mask].pow(2).mean().item()

    before = distance()
    model.alpha = 1e-6  # (the Q term must stay on for the anchor to act; make it negligible)
    for _ in range(60):
        loss, *_ = model._actor_loss(data)
        model.actor.optimizer.zero_grad()
        loss.backward()
        model.actor.optimizer.step()
    assert distance() < 0.6 * before
    model.set_logger(configure(None, [""]))
    model.train(2, 8)
    assert model.logger.name_to_value["train/anchor_loss"] > 0.0
    with pytest.raises(ValueError, match="anchor_coef"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", guide=PendulumSwingUpGuide(), alpha=0.0, anchor_coef=1.0, **FAST)
    with pytest.raises(ValueError, match="anchor_coef"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", anchor_coef=-1.0, **FAST)


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
