"""The Crazyflie hover task on l2f: spaces, reward, curriculum, termination, batching, PD guide."""

import warnings

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("l2f")

from gymnasium.utils.env_checker import check_env  # noqa: E402

from sb3_spiking.envs.crazyflie import (  # noqa: E402
    DroneHoverEnv,
    DroneHoverVecEnv,
    PDHoverGuide,
    RewardCurriculumCallback,
    curriculum_stage,
    curriculum_weights,
    hover_action,
    nominal_parameters,
)


def test_check_env_and_spaces():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded Box warnings
        check_env(DroneHoverEnv(), skip_render_check=True)
        check_env(DroneHoverEnv(obs_type="box", history_length=8), skip_render_check=True)
    env = gym.make("DroneHover-v0")
    assert env.observation_space["actor"].shape == (18,) and env.observation_space["privileged"].shape == (150,)
    assert gym.make("DroneHoverBox-v0").observation_space.shape == (18,)


def test_seeded_resets_and_rollouts_are_deterministic():
    a, b = DroneHoverEnv(), DroneHoverEnv()
    oa, _ = a.reset(seed=3)
    ob, _ = b.reset(seed=3)
    assert np.array_equal(oa["privileged"], ob["privileged"])
    rng = np.random.default_rng(0)
    for _ in range(50):
        act = rng.uniform(-1, 1, 4).astype(np.float32)
        ra, rb = a.step(act), b.step(act)
        assert np.array_equal(ra[0]["privileged"], rb[0]["privileged"]) and ra[1:4] == rb[1:4]
    oc, _ = a.reset(seed=4)
    assert not np.array_equal(oc["actor"], oa["actor"])


def test_hover_action_and_reward_hand_computed():
    dyn = nominal_parameters()["dynamics"]
    a_hover = hover_action(dyn)
    assert a_hover == pytest.approx(0.612, abs=2e-3)  # not l2f's stale 2 * 0.726 - 1
    env = DroneHoverEnv(curriculum_stage=2, target=(0.1, 0.0, 0.0))
    env.reset(seed=0)
    eng = env.engine
    # constructed state: position (0.3, -0.2, 0.1), 0.5 rad about x, velocity (0.5, 0, -1), action fixed
    angle = 0.5
    R = np.array([[1, 0, 0], [0, np.cos(angle), -np.sin(angle)], [0, np.sin(angle), np.cos(angle)]])
    o = np.zeros((1, 82), np.float32)
    o[0, 0:3] = [0.3, -0.2, 0.1]
    o[0, 3:12] = R.reshape(-1)
    o[0, 12:15] = [0.5, 0.0, -1.0]
    action = np.array([[0.2, 0.7, -0.1, 0.612]], np.float32)
    w = curriculum_weights(2)  # 0.4 of the way from start to end weights
    assert w["position"] == pytest.approx(1.0 + 0.4 * 2.5) and w["velocity"] == pytest.approx(0.01 + 0.4 * 0.09)
    expected = (1.0 - w["position"] * (0.2**2 + 0.2**2 + 0.1**2) - w["velocity"] * (0.25 + 1.0) - 0.25 * angle
                - w["action"] * ((action[0] - a_hover) ** 2).sum())
    rel = o[:, :18].copy()
    rel[:, 0:3] -= eng.target  # _reward takes the actor-layout state relative to the target
    assert eng._reward(rel, action)[0] == pytest.approx(expected, abs=1e-5)
    # perfect hover at the target scores exactly C_rs = 1
    o2 = np.zeros((1, 18), np.float32)
    o2[0, 3:12] = np.eye(3).reshape(-1)
    assert eng._reward(o2, np.full((1, 4), a_hover, np.float32))[0] == pytest.approx(1.0, abs=1e-6)


def test_curriculum_values_and_callback():
    assert curriculum_stage(0.0) == 0 and curriculum_stage(0.5) == 3 and curriculum_stage(1.0) == 5
    start, mid, end = curriculum_weights(0), curriculum_weights(curriculum_stage(0.5)), curriculum_weights(5)
    assert (start["position"], start["velocity"], start["action"]) == (1.0, 0.01, 0.14)
    assert (end["position"], end["velocity"], end["action"]) == pytest.approx((3.5, 0.10, 0.50))
    assert mid["position"] == pytest.approx(1.0 + 0.6 * 2.5) and mid["orientation"] == 0.25 == end["orientation"]
    assert DroneHoverEnv().engine.stage == 5  # evaluation default: final weights

    from stable_baselines3.common.logger import configure

    venv = DroneHoverVecEnv(4)
    cb = RewardCurriculumCallback()

    class Model:  # the callback needs only these
        num_timesteps, _total_timesteps = 0, 1200
        logger = configure(None, [])

        def get_env(self):
            return venv

    model = Model()
    cb.init_callback(model)
    seen = []
    for t in (0, 600, 1199):
        model.num_timesteps = t
        cb.on_step()
        seen.append(venv.engine.stage)
    assert seen == [0, 3, 5]


def test_termination_limits_and_box_option():
    env = DroneHoverVecEnv(2, termination="box")
    env.reset()
    o = np.zeros((2, 82), np.float32)
    o[:, 3:12] = np.eye(3).reshape(-1)
    o[0, 0] = 0.65
    assert env.engine._crashed(o).tolist() == [True, False]
    sim = DroneHoverVecEnv(2)
    sim.reset()
    assert sim.engine._crashed(o).tolist() == [False, False]
    o[1, 13] = 2.5  # |v_y| > 2 m/s
    o[0, 0] = 0.5
    o[0, 17] = 36.0  # |ω_z| > 35 rad/s
    assert sim.engine._crashed(o).tolist() == [True, True]


def test_episodes_are_truncated_not_terminated():
    env = DroneHoverEnv(max_episode_steps=20, init={"guidance": 1.0})  # start at rest at the origin
    obs, _ = env.reset(seed=0)
    guide = PDHoverGuide()
    for t in range(20):
        obs, r, term, trunc, _ = env.step(guide(obs["privileged"][None])[0])
        assert not term
    assert trunc


def test_vec_env_equals_single_envs_step_by_step():
    n = 4
    venv = DroneHoverVecEnv(n, seed=5)
    obs = venv.reset()
    singles = [DroneHoverVecEnv(n, seed=5) for _ in range(1)]  # same seed, same layout
    ref = singles[0].reset()
    assert np.array_equal(obs["privileged"], ref["privileged"])
    rng = np.random.default_rng(1)
    for _ in range(300):
        act = rng.uniform(-0.2, 0.6, (n, 4)).astype(np.float32)
        o1, r1, d1, i1 = venv.step(act)
        o2, r2, d2, i2 = singles[0].step(act)
        assert np.array_equal(o1["privileged"], o2["privileged"]) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
    # the batched env equals N independently stepped single envs: env i of the vector sees the
    # same dynamics as a 1-env engine started from the same state
    single = DroneHoverEnv()
    single.reset(seed=0)
    vec1 = DroneHoverVecEnv(1, seed=0)
    v_obs = vec1.reset()
    s_obs = single.engine.observe()
    assert np.array_equal(v_obs["privileged"], s_obs["privileged"])
    for _ in range(100):
        act = rng.uniform(-1, 1, (1, 4)).astype(np.float32)
        vo, vr, vd, vi = vec1.step(act)
        so, sr, sterm, strunc, _ = single.step(act[0])
        if vd[0]:
            assert sterm or strunc
            break
        assert np.array_equal(vo["privileged"][0], so["privileged"]) and vr[0] == pytest.approx(sr)


def test_vec_env_infos_follow_sb3_conventions():
    venv = DroneHoverVecEnv(8, seed=0, max_episode_steps=30)
    obs = venv.reset()
    guide = PDHoverGuide()
    returns = np.zeros(8)
    for t in range(30):
        obs, r, done, infos = venv.step(guide(obs))
        returns += r
    assert done.all()
    for i, info in enumerate(infos):
        assert info["TimeLimit.truncated"] is True
        assert info["episode"]["l"] == 30 and info["episode"]["r"] == pytest.approx(returns[i], rel=1e-5)
        assert info["terminal_observation"]["actor"].shape == (18,)
        # the terminal observation is the last state of the episode, not the reset one
        assert not np.array_equal(info["terminal_observation"]["privileged"], obs["privileged"][i])
    assert venv.engine.steps[:8].tolist() == [0] * 8  # auto-reset


def test_bad_actions_and_options_fail_clearly():
    env = DroneHoverEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([0, np.nan, 0, 0], np.float32))
    with pytest.raises(ValueError, match="real numbers"):
        env.step(np.array(["a", "b", "c", "d"]))
    with pytest.raises(ValueError, match="unknown drone option"):
        DroneHoverEnv(max_steps=100)
    with pytest.raises(ValueError, match="unknown init option"):
        DroneHoverEnv(init={"max_pos": 1})
    with pytest.raises(ValueError, match="termination"):
        DroneHoverEnv(termination="wall")
    with pytest.raises(ValueError, match="curriculum stage"):
        DroneHoverEnv(curriculum_stage=6)


def test_diverged_state_terminates_with_warning():
    venv = DroneHoverVecEnv(2, seed=0)
    venv.reset()
    venv.engine.state.states[0].position = [float("nan")] * 3
    with pytest.warns(UserWarning, match="diverged"):
        obs, r, done, infos = venv.step(np.zeros((2, 4), np.float32))
    assert done[0] and not infos[0]["TimeLimit.truncated"] and r[0] == 0.0 and not done[1]
    assert np.isfinite(obs["privileged"]).all()


def test_pd_guide_hovers():
    """32 fresh episodes at the final weights, default termination (full figure: docs/drone_env.md)."""
    venv = DroneHoverVecEnv(32, seed=123)
    obs = venv.reset()
    guide = PDHoverGuide()
    first: dict[int, tuple[float, int]] = {}
    for _ in range(500):
        obs, r, done, infos = venv.step(guide(obs))
        for i in np.flatnonzero(done):
            first.setdefault(int(i), (infos[i]["episode"]["r"], infos[i]["episode"]["l"]))
    returns = np.array([first[i][0] for i in range(32)])
    full = np.mean([first[i][1] == 500 for i in range(32)])
    assert full >= 0.9 and returns.mean() > 330
