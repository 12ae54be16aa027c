"""GuidedTD3: guidance, the actor's Q gradient, save/load, validation, and a short learning test."""

import json
import threading
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from stable_baselines3.common.callbacks import EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.noise import NormalActionNoise

from _legacy_defaults import LEGACY_DEFAULTS
from sb3_spiking import GuidedTD3, SlopeScheduleCallback
from sb3_spiking.envs.wrappers import PrivilegedSplit
from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide
from sb3_spiking.zoo.algos import ZooGuidedTD3

SMALL = dict(net_arch=dict(pi=[32, 16], qf=[32, 32]))
FAST = dict(
    n_seq=16, n_warmup=4, stride=4, batch_size=16, learning_starts=100, train_freq=50, gradient_steps=2, policy_kwargs=SMALL
)


def _novel_env(n_envs=2):
    return make_vec_env(lambda: PrivilegedSplit(gym.make("Pendulum-v1"), [0, 1]), n_envs=n_envs, seed=0)


def privileged_guide(obs):
    return PendulumSwingUpGuide()(obs)


def test_guide_flies_first_H_steps_and_is_queried_on_every_step():
    calls = []

    def guide(obs):
        calls.append(obs.shape)
        return PendulumSwingUpGuide()(obs)

    env = _novel_env(2)
    model = GuidedTD3("SpikingPolicy", env, guide=guide, guide_horizon_start=30, guide_horizon_end=30, seed=1, **FAST,
        alpha=2.0, bc_coef=0.2, policy_delay=2)
    calls.clear()
    model.learn(600)
    assert len(calls) == 300 and all(c == (2, 3) for c in calls), "guide sees the privileged part, every step"
    buf = model.replay_buffer
    n = buf.pos
    assert np.array_equal(buf.guide_acted[:n], buf.episode_step[:n] < 30)
    assert buf.has_guide_action[:n].all()
    guided = buf.guide_acted[:n]
    assert np.allclose(buf.actions[:n][guided], buf.guide_actions[:n][guided])
    assert not np.allclose(buf.actions[:n][~guided], buf.guide_actions[:n][~guided])
    assert model._guided_steps == 2 * (30 + 30)  # per env: 300 steps = one 200-step episode + 100 steps


def test_guide_horizon_decays_linearly():
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", guide=PendulumSwingUpGuide(), guide_horizon_start=150,
                      guide_horizon_end=10, guide_horizon_fraction=0.5, **FAST, alpha=2.0, bc_coef=0.2, policy_delay=2)
    for progress, expected in [(0.0, 150), (0.25, 80), (0.5, 10), (0.9, 10)]:
        model._current_progress_remaining = 1 - progress
        assert model.guide_horizon == expected


def test_actor_gets_nonzero_gradient_from_q_term():
    env = _novel_env(1)
    model = GuidedTD3("SpikingPolicy", env, guide=privileged_guide, bc_coef=0.0, seed=0, **FAST, alpha=2.0, policy_delay=2,
        guide_horizon_start=400, guide_horizon_end=None)
    model.learn(400)
    th.manual_seed(0)
    data = model.replay_buffer.sample(8)
    model.actor.optimizer.zero_grad()
    loss, bc, q, rates, _ = model._actor_loss(data)
    assert bc == 0.0
    loss.backward()
    grads = [p.grad.abs().sum().item() for p in model.actor.parameters() if p.grad is not None]
    assert len(grads) == len(list(model.actor.parameters())) and all(g > 0 for g in grads)
    assert all(0 <= r <= 1 for r in rates)


def test_bc_target_choice():
    env = _novel_env(1)
    for target in ("guide", "executed"):
        model = GuidedTD3("SpikingPolicy", env, guide=privileged_guide, bc_target=target, seed=0, **FAST, **LEGACY_DEFAULTS)
        model.learn(300)
        data = model.replay_buffer.sample(8)
        # with a huge alpha-free BC weight the loss is the BC term: compare to a hand computation
        model.alpha = 1e-12
        loss, bc, *_ = model._actor_loss(data)
        pi = model.actor.unroll(data.observations).detach()
        mask = data.actor_mask.bool()
        ref = data.guide_actions if target == "guide" else data.actions
        assert bc == pytest.approx(th.nn.functional.mse_loss(pi[mask], ref[mask]).item(), rel=1e-5)


def test_bc_coef_decays_per_epoch():
    model = GuidedTD3(
        "SpikingPolicy", "Pendulum-v1", guide=PendulumSwingUpGuide(), bc_coef=0.2, bc_decay=0.5, bc_decay_interval=10,
            **FAST, alpha=2.0, policy_delay=2, guide_horizon_start=400, guide_horizon_end=None
    )
    model._n_updates = 0
    assert model.bc_coef_now == 0.2
    model._n_updates = 25
    assert model.bc_coef_now == pytest.approx(0.05)


def test_without_a_guide_the_logged_horizon_and_bc_weight_are_zero():
    # TD3 from scratch keeps the BC / horizon defaults, but neither acts: the logs must say so
    schedule = dict(bc_coef=0.2, guide_horizon_start=100, guide_horizon_end=50, guide_horizon_fraction=1.0, **FAST)
    for guide, expected in ((None, (0, 0.0)), (PendulumSwingUpGuide(), (75, 0.2))):
        model = GuidedTD3("SpikingPolicy", "Pendulum-v1", guide=guide, **schedule, alpha=2.0, policy_delay=2)
        model._current_progress_remaining = 0.5
        assert (model.guide_horizon, model.bc_coef_now) == expected


def test_save_load_roundtrip_keeps_actions_and_slope_and_drops_guide(tmp_path):
    lock = threading.Lock()  # unpicklable: saving must not try to pickle the guide

    def guide(obs):
        with lock:
            return PendulumSwingUpGuide()(obs)

    env = _novel_env(1)
    model = GuidedTD3("SpikingPolicy", env, guide=guide, seed=0, **FAST, **LEGACY_DEFAULTS)
    model.learn(300)
    model.policy.set_slope(37.0)
    path = tmp_path / "model.zip"
    model.save(path)
    with zipfile.ZipFile(path) as z:
        data = json.loads(z.read("data"))
    assert "guide" not in data and "_guide" not in data and "bc_target" in data
    loaded = GuidedTD3.load(path)
    assert loaded.guide is None and loaded._guide is None
    assert loaded.policy.slope == 37.0 and loaded.actor_target.slope == 37.0
    obs = {"actor": np.random.randn(5, 2).astype(np.float32), "privileged": np.random.randn(5, 3).astype(np.float32)}
    state = model.policy.initial_state(5)
    for _ in range(4):
        a1, s1 = model.predict(obs, state=state)
        a2, s2 = loaded.predict(obs, state=state)
        assert np.array_equal(a1, a2) and all(np.array_equal(x, y) for x, y in zip(s1, s2))
        state = s1
    # the guide can be passed again to continue training
    again = GuidedTD3.load(path, env=env, guide=privileged_guide)
    assert again._guide is privileged_guide
    again.learn(100, reset_num_timesteps=False)


def test_slope_schedule_argument_and_callback():
    env = _novel_env(1)
    model = ZooGuidedTD3(  # the zoo's slope_schedule knob (GuidedTD3 takes the callback alone, as model2 below)
        "SpikingPolicy", env, slope_schedule="interval", slope_schedule_kwargs=dict(k_start=1, k_end=9, interval=0.5), **FAST
    )
    model.learn(400)
    assert model.policy.slope == 9 and model.actor_target.slope == 9
    assert [k for _, k in model.slope_callback.history] == [1, 9]
    with pytest.raises(ValueError, match="already schedules"):
        model.learn(100, callback=SlopeScheduleCallback("fixed", k=3))
    # standalone callback under EvalCallback feeds the adaptive schedule
    model2 = GuidedTD3("SpikingPolicy", env, **FAST)
    slope_cb = SlopeScheduleCallback("adaptive", return_range=(-1600, 0), k_start=2)
    model2.learn(
        400, callback=EvalCallback(_novel_env(1), eval_freq=100, n_eval_episodes=1, callback_after_eval=slope_cb, verbose=0)
    )
    assert len(slope_cb.schedule._terms) == 4  # one evaluation every 100 of the 400 steps
    assert 1 <= model2.policy.slope <= 100 and model2.policy.slope != 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_seq=10, n_warmup=10), "n_warmup"),
        (dict(policy_kwargs=dict(SMALL, slope=0.0)), "slope"),
        (dict(policy_kwargs=dict(SMALL, slope=-1.0)), "slope"),
        (dict(bc_target="teacher"), "bc_target"),
        (dict(bc_decay=1.5), "bc_decay"),
        (dict(alpha=-1), "alpha"),
        (dict(guide_horizon_fraction=0), "guide_horizon_fraction"),
        (dict(guide=lambda obs: np.zeros((obs.shape[0], 3))), "guide returned actions of shape"),
        (dict(guide="sb3_spiking.tasks.pendulum:NoSuchGuide"), "no attribute"),
        (dict(guide="no_such_module:guide"), "cannot import"),
    ],
)
def test_bad_arguments_fail_at_construction(kwargs, match):
    args = dict(LEGACY_DEFAULTS, **FAST)  # the defaults these cases were written against
    args.update({k: v for k, v in kwargs.items() if k in FAST})
    args.update({k: v for k, v in kwargs.items() if k not in FAST})
    if "n_seq" in kwargs:
        args["stride"] = 1
    with pytest.raises(ValueError, match=match):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", **args)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(slope_schedule="exponential"), "unknown slope.schedule"),  # the zoo names its key: slope_schedule
        (dict(slope_schedule_kwargs={"k": 2}), "without slope_schedule"),
    ],
)
def test_bad_slope_schedule_arguments_fail_at_construction(kwargs, match):
    """The slope schedule is the zoo's knob (a callback for GuidedTD3): still checked before anything is built."""
    with pytest.raises(ValueError, match=match):
        ZooGuidedTD3("SpikingPolicy", "Pendulum-v1", **dict(LEGACY_DEFAULTS, **FAST), **kwargs)


class _NaNAfter(gym.Wrapper):
    def __init__(self, env, after):
        super().__init__(env)
        self.after, self.t = after, 0

    def step(self, action):
        obs, r, te, tr, info = self.env.step(action)
        self.t += 1
        if self.t >= self.after:
            obs = obs * np.nan
        return obs, r, te, tr, info


def test_nan_observation_stops_with_step_number():
    model = GuidedTD3("SpikingPolicy", _NaNAfter(gym.make("Pendulum-v1"), 57), **FAST)
    with pytest.raises(FloatingPointError, match="observation .* env step 57"):
        model.learn(500)


def _learn_pendulum(guide, steps, seed):
    env = gym.make("Pendulum-v1")
    model = GuidedTD3(
        "SpikingPolicy",
        env,
        guide=guide,
        n_seq=20,
        n_warmup=5,
        stride=5,
        guide_horizon_start=200,
        guide_horizon_end=0,
        guide_horizon_fraction=0.5,
        learning_starts=400,
        batch_size=32,
        train_freq=20,
        gradient_steps=10,
        bc_coef=1.0,
        action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
        policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[64, 64])),
        seed=seed, alpha=2.0, policy_delay=2,
    )
    model.learn(steps)
    returns, _ = evaluate_policy(model, gym.make("Pendulum-v1"), n_eval_episodes=10)
    return returns


def test_guidance_makes_the_spiking_actor_learn_pendulum():
    """Same budget (4 000 steps), same seed: with the swing-up guide the spiking actor balances the
    pendulum (mean return > -400; random ≈ -1 200, the guide ≈ -140); without it, it does not."""
    guided = _learn_pendulum(PendulumSwingUpGuide(), 4000, seed=0)
    unguided = _learn_pendulum(None, 4000, seed=0)
    print(f"Pendulum-v1, 4000 steps: guided {guided:.1f}, unguided {unguided:.1f}")
    assert guided > -400
    assert unguided < guided - 300


def test_critic_fraction_uses_a_subset_of_valid_steps():
    env = _novel_env(1)
    model = GuidedTD3("SpikingPolicy", env, critic_fraction=0.25, seed=0, **FAST)
    model.learn(300)
    data = model.replay_buffer.sample(16)
    seen = []
    original = model.critic.forward
    model.critic.forward = lambda obs, act: (seen.append(act.shape[0]), original(obs, act))[1]
    model._critic_loss(data)
    n_valid = int(data.valid.sum())
    assert 0 < seen[0] < 0.5 * n_valid
    with pytest.raises(ValueError, match="critic_fraction"):
        GuidedTD3("SpikingPolicy", env, critic_fraction=0.0, **FAST)


def test_same_seed_same_run_on_cpu():
    """Same seed and config on CPU: identical collected actions, rewards and final weights."""

    def run():
        env = _novel_env(2)
        model = GuidedTD3("SpikingPolicy", env, guide=privileged_guide, guide_horizon_start=20, seed=7,
                          action_noise=NormalActionNoise(np.zeros(1), 0.2 * np.ones(1)), **FAST, alpha=2.0, bc_coef=0.2,
                              policy_delay=2, guide_horizon_end=None)
        model.learn(600)
        n = model.replay_buffer.pos
        return (model.replay_buffer.actions[:n].copy(), model.replay_buffer.rewards[:n].copy(),
                [p.detach().clone() for p in model.policy.parameters()])

    a1, r1, p1 = run()
    a2, r2, p2 = run()
    assert np.array_equal(a1, a2) and np.array_equal(r1, r2)
    assert all(th.equal(x, y) for x, y in zip(p1, p2))


def test_alpha_zero_is_pure_behaviour_cloning_on_guide_data():
    env = _novel_env(1)
    model = GuidedTD3("SpikingPolicy", env, guide=privileged_guide, alpha=0.0, bc_coef=1.0, guide_horizon_start=1000,
                      guide_horizon_end=1000, seed=0, **FAST, policy_delay=2)
    critic_before = [p.detach().clone() for p in model.critic.parameters()]
    actor_before = [p.detach().clone() for p in model.actor.parameters()]
    model.learn(400)
    assert model.replay_buffer.guide_acted[: model.replay_buffer.pos].all(), "the guide flies everything"
    assert all(th.equal(a, b) for a, b in zip(critic_before, model.critic.parameters())), "no critic updates"
    assert not all(th.equal(a, b) for a, b in zip(actor_before, model.actor.parameters()))
    with pytest.raises(ValueError, match="needs a guide"):
        GuidedTD3("SpikingPolicy", env, alpha=0.0, **FAST).learn(100)
    with pytest.raises(ValueError, match="without any loss"):
        GuidedTD3("SpikingPolicy", env, alpha=0.0, bc_coef=0.0, **FAST)


def test_env_reset_between_learn_calls_starts_new_episodes_in_the_buffer():
    env = _novel_env(1)
    model = GuidedTD3("SpikingPolicy", env, seed=0, **FAST)
    model.learn(150)  # stops mid-episode (Pendulum episodes are 200 steps)
    model.learn(100)  # resets the env: a new episode begins
    buf = model.replay_buffer
    assert buf.episode_start[150, 0] and buf.episode_step[150, 0] == 0
    assert buf.episode_step[149, 0] == 149 and not buf.terminated[149, 0]
    model.learn(100, reset_num_timesteps=False)  # continues the running episode
    assert not buf.episode_start[250, 0] and buf.episode_step[250, 0] == 100


def test_guide_fraction_and_horizon_reach_the_logger():
    from stable_baselines3.common.logger import configure

    model = GuidedTD3(
        "SpikingPolicy", _novel_env(1), guide=privileged_guide, guide_horizon_start=50, guide_horizon_end=50, **FAST,
            alpha=2.0, bc_coef=0.2, policy_delay=2
    )
    model.set_logger(configure(None, []))
    model.learn(400, log_interval=1)
    assert model._guided_steps == 100  # 50 guided steps in each of the two episodes
    values = {}
    original = model.logger.record
    model.logger.record = lambda key, value, exclude=None: (values.__setitem__(key, value), original(key, value, exclude))
    model.dump_logs()  # what SB3 calls at each log interval
    assert values["rollout/guide_fraction"] == pytest.approx(100 / 400)
    assert values["train/guide_horizon"] == 50


def test_guide_returning_nan_during_collection_stops_with_step():
    calls = {"n": 0}

    def flaky_guide(obs):
        calls["n"] += 1
        out = PendulumSwingUpGuide()(obs)
        return out * np.nan if calls["n"] > 30 else out

    model = GuidedTD3("SpikingPolicy", _novel_env(1), guide=flaky_guide, **FAST, **LEGACY_DEFAULTS)
    with pytest.raises(ValueError, match="non-finite actions at step"):
        model.learn(200)


class _MatrixActionEnv(gym.Env):
    """Box observation, 2×2 Box action: the env checks the action's shape on every step."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (3,), np.float32)
    action_space = gym.spaces.Box(-2.0, 2.0, (2, 2), np.float32)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.observation_space.sample(), {}

    def step(self, action):
        assert np.shape(action) == (2, 2), f"env got an action of shape {np.shape(action)}"
        self.t += 1
        return self.observation_space.sample(), -float(np.square(action).sum()), False, self.t >= 25, {}


def _matrix_guide(obs):
    return np.tile(np.array([[1.0, -1.0], [0.5, 2.0]], np.float32), (obs.shape[0], 1, 1))


@pytest.mark.parametrize("guide", [None, _matrix_guide])
def test_multi_dimensional_box_actions_reach_env_and_buffer_in_the_space_shape(guide):
    env = make_vec_env(_MatrixActionEnv, n_envs=2, seed=0)
    model = GuidedTD3("SpikingPolicy", env, guide=guide, guide_horizon_start=5, guide_horizon_end=5, n_seq=10, n_warmup=2,
                      stride=5, learning_starts=20, batch_size=4, train_freq=10, gradient_steps=1,
                      action_noise=NormalActionNoise(np.zeros((2, 2)), 0.1 * np.ones((2, 2))),
                      policy_kwargs=dict(net_arch=dict(pi=[8], qf=[8])), seed=0, alpha=2.0, bc_coef=0.2,
                          policy_delay=2)  # fmt: skip
    model.learn(100)  # the actor acts from step 20 on
    buf = model.replay_buffer
    assert buf.actions.shape[-1] == 4 and np.all(np.abs(buf.actions[:50]) <= 1)
    if guide is not None:
        guided = buf.guide_acted[:50]
        assert guided.any() and not guided.all()
        expected = model.policy.scale_action(_matrix_guide(np.zeros((1, 3)))).reshape(4)
        assert np.allclose(buf.guide_actions[:50][buf.has_guide_action[:50]], expected)
        assert np.allclose(buf.actions[:50][guided], expected)
    action, _ = model.predict(env.reset())
    assert action.shape == (2, 2, 2)


def test_training_samples_are_normalised_by_the_vec_normalize_env():
    from stable_baselines3.common.vec_env import VecNormalize

    env = VecNormalize(_novel_env(1), norm_obs=True, norm_reward=True)
    model = GuidedTD3("SpikingPolicy", env, guide=privileged_guide, seed=0, **FAST, **LEGACY_DEFAULTS)
    seen = []
    original = model.replay_buffer.sample
    model.replay_buffer.sample = lambda batch_size, env=None: (seen.append(env), original(batch_size, env=env))[1]
    model.learn(200)
    assert seen and all(e is env for e in seen)


def test_every_td3_constructor_argument_is_accepted():
    import inspect

    from stable_baselines3 import TD3

    missing = set(inspect.signature(TD3.__init__).parameters) - set(inspect.signature(GuidedTD3.__init__).parameters)
    assert not missing
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", optimize_memory_usage=False, n_steps=1, **FAST)
    assert model.optimize_memory_usage is False and model.replay_buffer.optimize_memory_usage is False
    assert model.n_steps == 1
    with pytest.raises(ValueError, match="optimize_memory_usage=True is not supported"):
        GuidedTD3("SpikingPolicy", "Pendulum-v1", optimize_memory_usage=True, **FAST)
    assert GuidedTD3("SpikingPolicy", "Pendulum-v1", n_steps=3, **FAST).n_steps == 3  # summed inside windows (test_guided_rl)
    for n_steps in (0, True, 2.5):
        with pytest.raises(ValueError, match="n_steps must be an integer"):
            GuidedTD3("SpikingPolicy", "Pendulum-v1", n_steps=n_steps, **FAST)


def test_buffer_exposes_sb3_dones_and_timeouts():
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", seed=0, **FAST)
    assert model.replay_buffer.dones.shape == model.replay_buffer.timeouts.shape == (model.replay_buffer.buffer_size, 1)
    model.learn(250)  # Pendulum truncates at step 200
    buf = model.replay_buffer
    assert buf.dones.dtype == np.float32 and buf.timeouts.dtype == np.float32
    assert np.array_equal(buf.dones, (buf.terminated | buf.truncated).astype(np.float32))
    assert np.array_equal(buf.timeouts, buf.truncated.astype(np.float32))
    assert buf.dones[199, 0] == 1 and buf.timeouts[199, 0] == 1 and buf.dones[:250].sum() == 1
    with pytest.raises(ValueError, match="read-only"):
        buf.dones[0, 0] = 1.0  # a derived copy: writing would silently change nothing


@pytest.mark.parametrize("policy", ["SpikingPolicy", "MlpSequencePolicy"])
def test_actor_predict_follows_the_policy_contract(policy):
    model = GuidedTD3(policy, "Pendulum-v1", seed=0, **FAST)
    obs = np.stack([model.observation_space.sample() for _ in range(3)])
    action, state = model.actor.predict(obs[0])  # one observation, zero state
    assert action.shape == (1,) and -2 <= action[0] <= 2
    ref, ref_state = model.policy.predict(obs[0])
    assert np.array_equal(action, ref) and all(np.array_equal(a, b) for a, b in zip(state, ref_state))
    a1, s1 = model.actor.predict(obs)
    a2, s2 = model.actor.predict(obs, state=s1, episode_start=np.array([1, 0, 0]))
    p2, q2 = model.policy.predict(obs, state=s1, episode_start=np.array([1, 0, 0]))
    assert a1.shape == (3, 1) and np.array_equal(a2, p2) and all(np.array_equal(a, b) for a, b in zip(s2, q2))
    with th.no_grad():  # SB3's stateless _predict: one step from the zero state, in [-1, 1]
        scaled = model.actor._predict(model.actor.obs_to_tensor(obs)[0]).numpy()
    assert np.allclose(scaled, model.policy.scale_action(a1), atol=1e-6)


def test_sb3_assertion_text_is_kept_in_the_value_error():
    from stable_baselines3 import TD3

    class InfiniteBounds(gym.Env):
        observation_space = gym.spaces.Box(-1, 1, (3,), np.float32)
        action_space = gym.spaces.Box(-np.inf, np.inf, (2,), np.float32)

    for env in ("CartPole-v1", InfiniteBounds()):
        with pytest.raises(AssertionError) as sb3_error:
            TD3("MlpPolicy", env)
        assert str(sb3_error.value)
        with pytest.raises(ValueError) as ours:
            GuidedTD3("SpikingPolicy", env, **FAST)
        assert str(sb3_error.value) in str(ours.value)


def test_settings_that_do_nothing_warn():
    import warnings

    env = _novel_env(1)
    bc_only = dict(FAST, guide=privileged_guide, alpha=0.0, bc_coef=1.0)
    with pytest.warns(UserWarning, match="policy_delay=2: the actor is still updated only once every 2 gradient steps"):
        GuidedTD3("SpikingPolicy", env, policy_delay=2, **bc_only, guide_horizon_start=400, guide_horizon_end=None)
    with pytest.warns(UserWarning, match="bc_coef=0.5 without a guide"):  # any value but the default (1.0)
        GuidedTD3("SpikingPolicy", env, bc_coef=0.5, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        GuidedTD3("SpikingPolicy", env, policy_delay=1, **bc_only)
        GuidedTD3("SpikingPolicy", env, guide=privileged_guide, bc_coef=1.0, **FAST)
        GuidedTD3("SpikingPolicy", env, **FAST)  # plain sequence TD3 with the default bc_coef
        GuidedTD3("SpikingPolicy", env, bc_coef=0.0, **FAST)


@pytest.mark.parametrize("alpha", [0.0, 2.0])
def test_q_pi_is_logged_only_with_a_q_term(alpha):
    from stable_baselines3.common.logger import configure

    model = GuidedTD3("SpikingPolicy", _novel_env(1), guide=privileged_guide, alpha=alpha, bc_coef=1.0, policy_delay=1,
        **FAST, guide_horizon_start=400, guide_horizon_end=None)
    model.set_logger(configure(None, []))
    keys = set()
    original = model.logger.record
    model.logger.record = lambda key, value, exclude=None: (keys.add(key), original(key, value, exclude))
    model.learn(200)
    assert "train/actor_loss" in keys and "train/bc_loss" in keys
    assert ("train/q_pi" in keys) == (alpha > 0) and ("train/critic_loss" in keys) == (alpha > 0)


def test_resolve_guide_accepts_an_import_path_with_keyword_arguments():
    from sb3_spiking.guides import resolve_guide

    guide = resolve_guide({"sb3_spiking.tasks.pendulum:PendulumSwingUpGuide": {"kp": 5.0, "kd": 1.0}})
    assert isinstance(guide, PendulumSwingUpGuide) and (guide.kp, guide.kd, guide.k_energy) == (5.0, 1.0, 1.0)
    assert isinstance(resolve_guide({"sb3_spiking.tasks.pendulum:PendulumSwingUpGuide": None}), PendulumSwingUpGuide)
    with pytest.raises(TypeError, match="could not build the guide 'sb3_spiking.tasks.pendulum:PendulumSwingUpGuide'.*kq"):
        resolve_guide({"sb3_spiking.tasks.pendulum:PendulumSwingUpGuide": {"kq": 5.0}})
    with pytest.raises(ValueError, match="exactly one entry"):
        resolve_guide({})
    with pytest.raises(ValueError, match="saved model: it takes no keyword arguments"):
        resolve_guide({"td3:guide.zip": {"kp": 1.0}})
    model = GuidedTD3(
        "SpikingPolicy", _novel_env(1), guide={"sb3_spiking.tasks.pendulum:PendulumSwingUpGuide": {"kp": 5.0}}, **FAST,
            **LEGACY_DEFAULTS
    )
    assert model._guide.kp == 5.0


class _TwoArgError(Exception):
    def __init__(self, code, detail):
        super().__init__(f"{code}: {detail}")


def test_errors_inside_the_guide_name_the_guide():
    # a guide built for another observation size: numpy's reshape error, now naming the guide
    class FourDimEnv(_MatrixActionEnv):
        observation_space = gym.spaces.Box(-1.0, 1.0, (4,), np.float32)
        action_space = gym.spaces.Box(-2.0, 2.0, (1,), np.float32)

    with pytest.raises(
        ValueError,
        match=r"the guide <sb3_spiking.tasks.pendulum.guide.PendulumSwingUpGuide object .*> raised ValueError "
        r"on a sample observation at construction \(observation of shape \(1, 4\)\): cannot reshape",
    ) as exc:
        GuidedTD3("SpikingPolicy", FourDimEnv(), guide=PendulumSwingUpGuide(), **FAST, **LEGACY_DEFAULTS)
    assert isinstance(exc.value.__cause__, ValueError) and "cannot reshape" in str(exc.value.__cause__)

    calls = {"n": 0}

    def crashing_guide(obs):
        calls["n"] += 1
        if calls["n"] > 20:
            raise KeyError("gain table")
        return PendulumSwingUpGuide()(obs)

    model = GuidedTD3("SpikingPolicy", _novel_env(1), guide=crashing_guide, **FAST, **LEGACY_DEFAULTS)
    with pytest.raises(
        KeyError,
        match=r"the guide <function .*crashing_guide.*> raised KeyError at env step 19 \(observation of shape \(1, 3\)\)",
    ) as exc:
        model.learn(100)
    assert isinstance(exc.value.__cause__, KeyError)

    def odd_guide(obs):
        raise _TwoArgError(3, "no solution")

    with pytest.raises(
        RuntimeError, match="the guide <function .*odd_guide.*> raised _TwoArgError on a sample observation .*3: no solution"
    ) as exc:
        GuidedTD3("SpikingPolicy", _novel_env(1), guide=odd_guide, **FAST)
    assert isinstance(exc.value.__cause__, _TwoArgError)


@pytest.mark.parametrize("horizon", [0, 50])
def test_autonomous_return_counts_only_episodes_flown_by_the_actor(horizon):
    from stable_baselines3.common.logger import configure

    # 1 env, 200-step episodes, random warm-up for the first 100 steps: episode 1 is never the actor's
    model = GuidedTD3("SpikingPolicy", _novel_env(1), guide=privileged_guide, guide_horizon_start=horizon,
                      guide_horizon_end=horizon, **FAST, alpha=2.0, bc_coef=0.2, policy_delay=2)  # fmt: skip
    model.set_logger(configure(None, []))
    model.learn(600, log_interval=1)
    rewards = [info["r"] for info in model.ep_info_buffer]
    assert len(rewards) == 3
    values = {}
    original = model.logger.record
    model.logger.record = lambda key, value, exclude=None: (values.__setitem__(key, value), original(key, value, exclude))
    model.dump_logs()
    if horizon == 0:  # episodes 2 and 3 are the actor's alone
        assert list(model._actor_ep_returns) == pytest.approx(rewards[1:]) and list(model._actor_ep_lengths) == [200, 200]
        assert values["rollout/actor_ep_rew_mean"] == pytest.approx(np.mean(rewards[1:]))
        assert values["rollout/actor_ep_len_mean"] == 200
    else:  # the guide flies the start of every episode: none counts, nothing is logged
        assert not model._actor_ep_returns
        assert "rollout/actor_ep_rew_mean" not in values and "rollout/actor_ep_len_mean" not in values
    assert values["rollout/ep_rew_mean"] == pytest.approx(np.mean(rewards))
    model.learn(200, reset_num_timesteps=True)  # statistics restart with the step counter, as SB3's,
    assert not model._actor_ep_returns  # and the new run's first episode has warm-up steps again


def test_mallopt_is_opt_in_and_a_switch_of_the_process_not_of_the_model(monkeypatch, tmp_path):
    """The process-wide glibc setting is never applied by GuidedTD3; the zoo applies it when the process asks for it
    (its config key, ``--keep-freed-memory`` or SB3_SPIKING_KEEP_FREED_MEMORY=1), also when it loads a model."""
    import yaml

    from sb3_spiking import allocator

    calls = []
    monkeypatch.setattr(allocator, "keep_freed_memory", lambda *a, **k: calls.append(a) or True)
    monkeypatch.setenv(allocator.SWITCH, "0")  # off, and restored after the test (the zoo sets it process-wide)
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", device="cpu", **FAST)
    assert calls == [] and not hasattr(model, "keep_freed_memory")
    model = ZooGuidedTD3("SpikingPolicy", "Pendulum-v1", keep_freed_memory=True, device="cpu", **FAST)
    assert len(calls) == 1 and allocator.requested()
    model.save(tmp_path / "m")
    assert "keep_freed_memory" not in json.loads(zipfile.ZipFile(tmp_path / "m.zip").read("data"))
    ZooGuidedTD3.load(tmp_path / "m", device="cpu")  # the switch is on in this process: applied where training goes on
    assert len(calls) == 2
    GuidedTD3.load(tmp_path / "m", device="cpu")
    assert len(calls) == 2
    # the drone recipes keep the speed they had when the setting was implicit
    with open(Path(__file__).resolve().parents[1] / "zoo_configs" / "guided_td3.yml") as f:
        config = yaml.safe_load(f)
    assert all(config[env_id]["keep_freed_memory"] is True for env_id in ("DroneHover-v0", "DroneHoverRobust-v0"))


def test_guided_td3_hands_the_guide_actions_to_the_buffer_add(monkeypatch):
    """Collection passes the guide's part of every step to SequenceReplayBuffer.add explicitly."""
    model = GuidedTD3("SpikingPolicy", _novel_env(2), guide=privileged_guide, guide_horizon_start=5, guide_horizon_end=5,
                      learning_starts=1000, **{k: v for k, v in FAST.items() if k != "learning_starts"}, alpha=2.0,
                          bc_coef=0.2, policy_delay=2)
    calls = []
    original = model.replay_buffer.add

    def spy(*args, **kwargs):
        calls.append(kwargs)
        original(*args, **kwargs)

    monkeypatch.setattr(model.replay_buffer, "add", spy)
    model.learn(20)  # one rollout of train_freq (50) vector steps
    assert len(calls) == 50 and all(set(c) == {"guide_actions", "guide_acted"} for c in calls)
    assert [c["guide_acted"].tolist() for c in calls] == [[True, True]] * 5 + [[False, False]] * 45
    assert all(c["guide_actions"].shape == (2, 1) for c in calls)


@pytest.mark.parametrize("horizon", [0, 1000])
def test_the_share_of_actor_loss_steps_the_guide_flew_is_logged(horizon):
    """The buffer records who flew each step (guide_acted): train/guide_flown_fraction reads it."""
    from stable_baselines3.common.logger import configure

    model = GuidedTD3("SpikingPolicy", _novel_env(1), guide=privileged_guide, guide_horizon_start=horizon,
                      guide_horizon_end=horizon, seed=0, **FAST)
    model.set_logger(configure(None, []))
    values = {}
    original = model.logger.record
    model.logger.record = lambda key, value, exclude=None: (values.__setitem__(key, value), original(key, value, exclude))
    model.learn(300)
    assert values["train/guide_flown_fraction"] == (1.0 if horizon else 0.0)


def test_a_new_actor_loss_term_is_a_subclass_away():
    """The actor loss is the weighted sum of GuidedTD3.actor_terms(): an experiment adds a term, not an argument."""
    from sb3_spiking.guided_td3.losses import ActorBatch, ActorLossTerm

    class ActionCost:
        name = "action_cost"

        def __call__(self, batch: ActorBatch) -> th.Tensor:
            batch.logs["action_cost"] = batch.policy_actions.pow(2).mean().item()
            return batch.policy_actions.pow(2).mean()

    class WithCost(GuidedTD3):
        def actor_terms(self):
            return [*super().actor_terms(), (10.0, ActionCost())]

    assert isinstance(ActionCost(), ActorLossTerm)
    model = WithCost("SpikingPolicy", _novel_env(1), guide=privileged_guide, seed=0, **FAST)
    model.learn(200)
    data = model.replay_buffer.sample(8)
    loss, bc, *_ = model._actor_loss(data)
    pi = model.actor.unroll(data.observations).detach()[data.actor_mask.bool()]
    assert loss.item() == pytest.approx(model.bc_coef_now * bc + 10.0 * pi.pow(2).mean().item(), rel=1e-5)


def test_the_slope_schedule_is_a_callback_that_announces_itself_and_an_old_file_says_what_it_needs(tmp_path):
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", **FAST)
    schedule = SlopeScheduleCallback("fixed", k=3.0)
    model.learn(120, callback=schedule)
    assert model.slope_callback is schedule and model.policy.slope == 3.0  # evaluations feed it, checkpoints save it
    model.save(tmp_path / "m.zip")
    data = json.loads(zipfile.ZipFile(tmp_path / "m.zip").read("data"))
    assert "slope_callback" not in data and data["slope"] == 2.0  # the initial slope, saved beside policy_kwargs

    def saved_with_a_schedule(raw: bytes) -> bytes:  # what GuidedTD3(slope_schedule=...) of earlier versions saved
        return json.dumps({**json.loads(raw), "slope_schedule": "fixed", "slope_schedule_kwargs": {"k": 3.0}}).encode()

    path = tmp_path / "old.zip"
    with zipfile.ZipFile(tmp_path / "m.zip") as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, saved_with_a_schedule(src.read(item)) if item.filename == "data" else src.read(item))
    loaded = GuidedTD3.load(path, env=gym.make("Pendulum-v1"))
    assert not hasattr(loaded, "slope_schedule")
    with pytest.warns(UserWarning, match="SlopeScheduleCallback"):
        loaded.learn(60, reset_num_timesteps=False)
    assert ZooGuidedTD3.load(path).slope_schedule == "fixed"  # the zoo keeps running it
