"""Drone hover task, split-module implementation (ids ``DroneHover-v0`` / ``DroneHoverBox-v0``).

Spaces, seeding, reward, curriculum, batched == single, SB3 conventions, PD guide, bad input.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pytest

pytest.importorskip("l2f")

import gymnasium as gym  # noqa: E402
from gymnasium.utils.env_checker import check_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from sb3_spiking.task_registry import make_vec_env as make_drone_vec_env  # SB3's, with the drone's batched env
from sb3_spiking.tasks.drone import register_envs  # noqa: E402
from sb3_spiking.tasks.drone.curriculum import RewardCurriculumCallback  # noqa: E402
from sb3_spiking.tasks.drone.env import DroneHoverEnv  # noqa: E402
from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide, evaluate_guide  # noqa: E402
from sb3_spiking.tasks.drone.reward import (  # noqa: E402
    FINAL_WEIGHTS,
    START_WEIGHTS,
    curriculum_weights,
    hover_reward,
    orientation_error,
    stage_from_progress,
)
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402


def _quat_x(angle: float) -> list[float]:
    return [np.cos(angle / 2), np.sin(angle / 2), 0.0, 0.0]


def test_registration_spaces_and_check_env():
    register_envs()
    register_envs()  # idempotent
    env = gym.make("DroneHover-v0")
    assert env.observation_space["actor"].shape == (18,)
    assert env.observation_space["privileged"].shape == (18 + 4 + 4 * 32,)
    assert gym.make("DroneHoverBox-v0").observation_space.shape == (18,)
    assert gym.make("DroneHoverBox-v0", obs_mode="privileged").observation_space.shape == (150,)
    assert env.action_space == gym.spaces.Box(-1, 1, (4,), np.float32)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*infinity.*")  # unbounded Box: honest, only a hint
        warnings.filterwarnings("ignore", message=".*render modes.*")
        for mode in ("dict", "actor", "privileged"):
            check_env(DroneHoverEnv(obs_mode=mode))
        check_env(
            DroneHoverEnv(
                action_history=4,
                obs_noise={"position": 0.05, "angular_velocity": 0.2},
                domain_randomization=0.1,
                init={"max_angle": 0.8, "guidance": 0.0},
            )
        )


def test_seeding_is_deterministic():
    a, b = DroneHoverEnv(obs_noise={"position": 0.05}, domain_randomization=0.1), DroneHoverEnv(
        obs_noise={"position": 0.05}, domain_randomization=0.1
    )
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    assert np.array_equal(oa["privileged"], ob["privileged"]) and np.array_equal(oa["actor"], ob["actor"])
    rng = np.random.default_rng(0)
    for _ in range(200):  # random actions crash quickly: unseeded resets are covered too
        act = rng.uniform(-1, 1, 4).astype(np.float32)
        ra, rb = a.step(act), b.step(act)
        assert np.array_equal(ra[0]["actor"], rb[0]["actor"]) and ra[1:4] == rb[1:4]
        if ra[2] or ra[3]:
            assert np.array_equal(a.reset()[0]["actor"], b.reset()[0]["actor"])
    assert not np.array_equal(a.reset(seed=4)[0]["actor"], oa["actor"])
    assert np.array_equal(a.reset(seed=3)[0]["actor"], oa["actor"])


def test_reward_hand_computed():
    # p = (0.1, -0.2, 0.3): |p|^2 = 0.14; v = (0.5, 0, -0.5): 0.5; 0.3 rad about x; |a - a_h|^2 = 0.02
    # final weights: 1 - 3.5 * 0.14 - 0.1 * 0.5 - 0.25 * 0.3 - 0.5 * 0.02 = 0.375
    c, s = np.cos(0.3), np.sin(0.3)
    state = np.array([[0.1, -0.2, 0.3, 1, 0, 0, 0, c, -s, 0, s, c, 0.5, 0.0, -0.5, 3.0, -1.0, 2.0]])
    a_h = 0.612
    action = np.array([[a_h + 0.1, a_h, a_h, a_h - 0.1]])
    assert orientation_error(state[:, 3:12])[0] == pytest.approx(0.3)
    assert hover_reward(state, action, a_h, FINAL_WEIGHTS)[0] == pytest.approx(0.375)
    # start weights: 1 - 0.14 - 0.005 - 0.075 - 0.0028
    assert hover_reward(state, action, a_h, START_WEIGHTS)[0] == pytest.approx(0.7772)
    perfect = np.zeros((1, 18))
    perfect[0, [3, 7, 11]] = 1.0
    assert hover_reward(perfect, np.full((1, 4), a_h), a_h, FINAL_WEIGHTS)[0] == pytest.approx(1.0)


def test_env_reward_matches_formula_on_constructed_state():
    target = (0.1, 0.0, -0.2)
    env = DroneHoverEnv(curriculum_stage=2, target_position=target)
    env.reset(seed=0)
    assert env.hover_action == pytest.approx(0.612, abs=2e-3)  # not l2f's stale 2 * 0.726 - 1
    env.task.sim.set_state(
        0, position=[0.3, -0.2, 0.1], orientation=_quat_x(0.4), linear_velocity=[0.5, 0, -1], angular_velocity=[1, 0, 0]
    )
    action = np.array([0.2, 0.7, -0.1, 1.5], np.float32)  # the last one is clipped to 1
    obs, reward, terminated, truncated, _ = env.step(action)
    clean = env.task.sim.obs82[:, :18]
    expected = hover_reward(clean, np.clip(action, -1, 1)[None], env.hover_action, curriculum_weights(2), target)
    assert reward == pytest.approx(expected[0], abs=1e-5)
    assert np.allclose(obs["actor"][:3], clean[0, :3] - np.array(target), atol=1e-7)
    assert not terminated and not truncated


def test_curriculum_values():
    assert [stage_from_progress(p) for p in (0.0, 0.5, 1.0, 5 / 6 - 1e-9, 2.0)] == [0, 3, 5, 4, 5]
    assert curriculum_weights(stage_from_progress(0.0)) == START_WEIGHTS
    assert curriculum_weights(stage_from_progress(1.0)) == FINAL_WEIGHTS
    mid = curriculum_weights(stage_from_progress(0.5))  # stage 3 = 3/5 of the way
    assert (mid.c_rp, mid.c_rv, mid.c_ra, mid.c_rq, mid.c_rs) == pytest.approx((2.5, 0.064, 0.356, 0.25, 1.0))
    assert DroneHoverEnv().curriculum_stage == 5  # evaluation default: final weights
    with pytest.raises(ValueError):
        curriculum_weights(6)


def test_curriculum_callback_sets_training_envs():
    from stable_baselines3 import TD3

    venv = DroneHoverVecEnv(4, obs_mode="actor")
    seen: list[int] = []
    original = venv.set_curriculum_stage
    venv.set_curriculum_stage = lambda stage: (seen.append(stage), original(stage))[1]
    model = TD3("MlpPolicy", venv, learning_starts=10**6, policy_kwargs={"net_arch": [8]}, seed=0)
    callback = RewardCurriculumCallback()
    model.learn(total_timesteps=1200, callback=callback)
    assert seen == [0, 1, 2, 3, 4, 5] and venv.curriculum_stage == 5 and callback.stage == 5
    # explicit budget (resumed run): 1200 more steps of 4800 in total -> progress 0.5 -> stage 3
    model.learn(1200, callback=RewardCurriculumCallback(total_timesteps=4800), reset_num_timesteps=False)
    assert venv.get_attr("curriculum_stage") == [3] * 4
    # the same callback drives a DummyVecEnv of single envs through env_method
    dummy = DummyVecEnv([lambda: Monitor(DroneHoverEnv(obs_mode="actor")) for _ in range(2)])
    TD3("MlpPolicy", dummy, learning_starts=10**6, policy_kwargs={"net_arch": [8]}).learn(
        60, callback=RewardCurriculumCallback(total_timesteps=120)
    )
    assert dummy.get_attr("curriculum_stage") == [3, 3]
    venv.set_attr("curriculum_stage", 1)
    assert venv.env_method("get_curriculum_stage") == [1] * 4
    with pytest.raises(ValueError):
        venv.set_attr("curriculum_stage", 2, indices=[0])


def test_batched_vec_env_equals_single_envs():
    n, seed, steps = 5, 11, 150  # 5 rows run on an l2f vector of 8
    options = dict(
        max_episode_steps=60,
        domain_randomization=0.1,
        obs_noise={"position": 0.02, "orientation": 0.01, "linear_velocity": 0.05, "angular_velocity": 0.1},
        init={"max_angle": 0.8},
        action_history=8,
    )
    venv = DroneHoverVecEnv(n, **options)
    venv.seed(seed)
    singles = [DroneHoverEnv(**options) for _ in range(n)]
    obs_v = venv.reset()
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(singles)]
    rng = np.random.default_rng(0)
    returns = np.zeros(n)
    ends = 0
    for _ in range(steps):
        for i in range(n):
            for key in ("actor", "privileged"):
                assert np.array_equal(obs_v[key][i], obs_s[i][key])
        actions = rng.uniform(-0.3, 1, (n, 4)).astype(np.float32)
        obs_v, rew_v, done_v, infos = venv.step(actions)
        for i, env in enumerate(singles):
            o, r, term, trunc, _ = env.step(actions[i])
            returns[i] += r
            assert rew_v[i] == np.float32(r)  # bit for bit
            assert done_v[i] == (term or trunc)
            if term or trunc:
                ends += 1
                assert np.array_equal(infos[i]["terminal_observation"]["privileged"], o["privileged"])
                assert infos[i]["TimeLimit.truncated"] == trunc
                assert infos[i]["episode"]["r"] == pytest.approx(returns[i], abs=1e-9)
                returns[i] = 0.0
                o, _ = env.reset()
            else:
                assert "terminal_observation" not in infos[i]
            obs_s[i] = o
    assert ends >= 2 * n  # several terminations and truncations were compared


def test_vec_env_sb3_conventions_and_factory():
    venv = make_drone_vec_env("DroneHover-v0", n_envs=3, seed=0, env_kwargs={"max_episode_steps": 40})
    assert isinstance(venv, DroneHoverVecEnv) and venv.num_envs == 3 and venv.task.n_rows == 4
    assert venv.env_is_wrapped(Monitor) == [True] * 3
    guide = PDHoverGuide()

    class GuidePolicy:
        def predict(self, obs, state=None, episode_start=None, deterministic=True):
            return guide(obs), state

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "not wrapped with a Monitor" warning
        rewards, lengths = evaluate_policy(GuidePolicy(), venv, n_eval_episodes=6, return_episode_rewards=True)
    assert lengths == [40] * 6 and np.isfinite(rewards).all()
    # rl-zoo passes a callable; anything that is not a drone env goes to SB3's make_vec_env
    zoo_style = make_drone_vec_env(lambda **kw: gym.make("DroneHoverBox-v0", **kw), n_envs=2, seed=1)
    assert isinstance(zoo_style, DroneHoverVecEnv) and zoo_style.observation_space.shape == (18,)
    assert isinstance(make_drone_vec_env("Pendulum-v1", n_envs=2, seed=0), DummyVecEnv)
    with pytest.raises(ValueError):
        make_drone_vec_env("DroneHover-v0", n_envs=2, wrapper_class=gym.wrappers.ClipAction)


def test_motor_replica_matches_simulator():
    venv = DroneHoverVecEnv(8, obs_mode="privileged", domain_randomization=0.2)
    venv.seed(2)
    obs = venv.reset()
    rng = np.random.default_rng(1)
    for _ in range(100):
        obs = venv.step(rng.uniform(-1, 1, (8, 4)).astype(np.float32))[0]
        assert np.allclose((obs[:, 18:22] + 1) / 2, venv.task.sim.true_motors(), atol=2e-5)


def test_pd_guide_hovers():
    guide = PDHoverGuide()
    result = evaluate_guide(guide, n_episodes=32, seed=0)  # final weights, simulator limits
    assert result["full_length"] >= 0.9
    assert result["mean_return"] > 350  # measured 410 on these seeds, 389 over 1024 episodes
    venv = DroneHoverVecEnv(2)
    obs = venv.reset()
    single = guide({k: v[0] for k, v in obs.items()})
    assert single.shape == (4,) and single.dtype == np.float32
    assert np.array_equal(guide(obs)[0], single)
    assert np.abs(guide(obs)).max() <= 1
    with pytest.raises(ValueError):
        guide(obs["actor"])  # lag compensation needs the motor states


@pytest.mark.parametrize(
    "action",
    [
        np.zeros(3, np.float32),
        np.zeros((1, 4), np.float32),
        np.array(["a", "b", "c", "d"]),
        np.zeros(4, complex),
        np.array([0.0, np.nan, 0.0, 0.0]),
        np.array([0.0, 0.0, np.inf, 0.0]),
    ],
)
def test_bad_actions_raise(action):
    env = DroneHoverEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError):
        env.step(action)


def test_bad_vec_actions_raise():
    venv = DroneHoverVecEnv(3)
    venv.reset()
    for bad in (np.zeros((2, 4)), np.zeros((3, 4, 1)), np.full((3, 4), np.nan), [[None] * 4] * 3):
        with pytest.raises(ValueError):
            venv.step(bad)
    venv.step(np.zeros((3, 4), np.float64))  # any real dtype is fine


def test_unknown_or_invalid_options_raise():
    with pytest.raises(ValueError, match="did you mean 'max_episode_steps'"):
        DroneHoverEnv(max_episode_step=100)
    with pytest.raises(ValueError, match="unknown init option 'max_pos'"):
        DroneHoverEnv(init={"max_pos": 1})
    with pytest.raises(ValueError, match="unknown termination option"):
        DroneHoverEnv(termination={"height": 1.0})
    with pytest.raises(ValueError, match="unknown obs_noise option"):
        DroneHoverEnv(obs_noise={"pos": 0.1})
    with pytest.raises(ValueError, match="unknown domain_randomization option"):
        DroneHoverVecEnv(2, domain_randomization={"weight": 0.1})
    for bad in (
        {"termination": "wall"},
        {"curriculum_stage": 6},
        {"obs_mode": "box"},
        {"domain_randomization": 1.5},
        {"target_position": (2.0, 0.0, 0.0)},
        {"max_episode_steps": 0},
    ):
        with pytest.raises(ValueError):
            DroneHoverEnv(**bad)
    with pytest.raises(ValueError):
        gym.make("DroneHover-v0", mass=0.1)


@pytest.mark.parametrize("termination", ["simulator", "none"])
@pytest.mark.parametrize("field", ["linear_velocity", "orientation"])
def test_diverged_state_terminates_with_warning(caplog, termination, field):
    env = DroneHoverEnv(termination=termination)
    env.reset(seed=0)
    value = [np.nan] * (4 if field == "orientation" else 3)
    env.task.sim.set_state(0, **{field: value})
    with caplog.at_level(logging.WARNING, logger="sb3_spiking.tasks.drone.task"):
        obs, reward, terminated, truncated, _ = env.step(np.zeros(4, np.float32))
    assert terminated and not truncated and reward == 0.0
    assert all(np.isfinite(v).all() for v in obs.values())
    assert "diverged" in caplog.text


def test_episode_lengths_and_padding():
    venv = DroneHoverVecEnv(3, max_episode_steps=7, init={"guidance": 1.0})  # start at rest, level
    venv.seed(0)
    obs = venv.reset()
    assert obs["actor"].shape == (3, 18)
    hover = np.repeat(venv.hover_actions[:, None], 4, 1)
    for _ in range(7):
        obs, _, dones, infos = venv.step(hover)
    assert dones.all() and all(i["TimeLimit.truncated"] and i["episode"]["l"] == 7 for i in infos)
    assert all(np.allclose(i["episode"]["r"], 7.0, atol=0.3) for i in infos)  # near-perfect hover


def test_sim_threads_leave_torch_setting_alone():
    torch = pytest.importorskip("torch")
    from sb3_spiking.tasks.drone._openmp import omp_max_threads

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        venv = DroneHoverVecEnv(4)  # sim_threads=1 around every simulator call
        venv.reset()
        venv.step(np.zeros((4, 4), np.float32))
        assert torch.get_num_threads() == 2 and omp_max_threads() == 2
    finally:
        torch.set_num_threads(before)
