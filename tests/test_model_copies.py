"""The vine's copies on a learnt dynamics model (vine_kwargs copies: model): the model, the drone's model copies,
the replay sampler, GuidedTD3's use of them and the scripts that measure them."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.vec_env import DummyVecEnv

from experiments.weak_guides import WeakPDGuide75
from sb3_spiking import GuidedTD3
from sb3_spiking.guided_td3.dynamics import DynamicsModel, replay_transitions
from sb3_spiking.guided_td3.vine import VineGradient, VineSettings
from sb3_spiking.tasks.drone.model_copies import PHYSICAL_DIM
from sb3_spiking.tasks.drone.reward import hover_reward
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv
from test_vine import hovering_env, small_vine_model


def test_the_dynamics_model_learns_a_linear_system_and_its_action_effect():
    rng = np.random.default_rng(0)
    A = 0.01 * rng.normal(size=(6, 6))
    B = 0.01 * rng.normal(size=(6, 2))

    def sample(n):
        s = rng.normal(size=(n, 6)).astype(np.float32)
        a = rng.uniform(-1, 1, (n, 2)).astype(np.float32)
        return s, a, (s + s @ A.T + a @ B.T).astype(np.float32)

    th.manual_seed(0)
    model = DynamicsModel(6, 2, hidden=64)
    first = model.fit(sample, 20)
    last = model.fit(sample, 1500)
    assert last < 0.02 < first  # standardised change: 1 = predicting its mean
    s = th.zeros(1, 6)
    a = th.zeros(1, 2, requires_grad=True)
    model(s, a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy()[0], B.sum(0), atol=0.1 * np.abs(B.sum(0)).max())


def test_the_replay_sampler_draws_stored_transitions_without_terminations():
    buf = ReplayBuffer(100, spaces.Box(-np.inf, np.inf, (2,)), spaces.Box(-1, 1, (1,)), n_envs=2)
    for t in range(50):
        obs = np.array([[t, 0], [t, 1]], np.float32)  # (step, env)
        nxt = obs + np.array([1, 0], np.float32)
        done = np.array([t % 10 == 9, t % 7 == 6])  # env 0 terminates, env 1 reaches a time limit
        infos = [{}, {"TimeLimit.truncated": bool(t % 7 == 6)}]
        buf.add(obs, nxt, np.full((2, 1), t / 100, np.float32), np.zeros(2), done, infos)
    s, a, s_next = replay_transitions(buf, lambda o: o)(2000)
    assert s.shape == s_next.shape == (2000, 2) and a.shape == (2000, 1)
    np.testing.assert_array_equal(s_next - s, np.array([[1, 0]] * 2000))
    np.testing.assert_allclose(a[:, 0], s[:, 0] / 100, atol=1e-6)  # the action stored with that step
    env0, env1 = s[s[:, 1] == 0, 0], s[s[:, 1] == 1, 0]
    assert not np.isin(env0, [9, 19, 29, 39, 49]).any()  # terminations never come back
    assert np.isin(env1, [6, 13, 20, 27, 34, 41, 48]).any()  # time limits do (a real next state)
    with pytest.raises(RuntimeError, match="empty"):
        replay_transitions(ReplayBuffer(4, spaces.Box(-1, 1, (1,)), spaces.Box(-1, 1, (1,))), lambda o: o)(5)


class _Replay(th.nn.Module):
    """A 'model' that answers with given next states (the simulator's), checking what it is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("in_mean", th.zeros(1))
        self.answer: np.ndarray | None = None
        self.asked: tuple[np.ndarray, np.ndarray] | None = None

    def forward(self, s, a):
        self.asked = (s.numpy().copy(), a.numpy().copy())
        return th.as_tensor(self.answer[: len(s)]).clone()


def test_model_copies_start_from_what_the_rows_observe_and_answer_as_the_env_would():
    env, rng = hovering_env(3, 3, 20, actor_history=4, command_obs=True)
    hover = env.hover_actions[:, None]
    oracle = _Replay()
    copies = env.model_copies(3, oracle)
    obs = copies.copy_rows_from(env, np.array([2, 0, 1]), np.arange(3))
    now = env.task.observation(np.array([2, 0, 1]))
    for key in now:
        np.testing.assert_array_equal(obs[key], now[key])
    truth = env.branch_env(3)
    truth.copy_rows_from(env, np.array([2, 0, 1]), np.arange(3))
    for _ in range(5):
        a = np.clip(hover + rng.normal(0, 0.3, (3, 4)), -1, 1).astype(np.float32)
        a[0, 0] = 1.7  # clipped as the env clips it
        before = truth.physical_state(truth.task.observation(slice(0, 3)))
        o_true, r_true, d_true, _ = truth.step(a)
        oracle.answer = truth.physical_state(o_true)
        o, r, d, _ = copies.step(a)
        np.testing.assert_allclose(oracle.asked[0], before, atol=1e-6)  # the model is asked from the observed state
        np.testing.assert_array_equal(oracle.asked[1], np.clip(a, -1, 1))
        np.testing.assert_allclose(r, r_true, atol=1e-4)
        np.testing.assert_array_equal(d, d_true)
        for key in o_true:
            np.testing.assert_allclose(o[key], o_true[key], atol=1e-5)
    # a state past the crash limits ends that copy; the others run on; the time limit ends a copy too
    answer = truth.physical_state(o_true)
    answer[1, 0] = 100.0
    oracle.answer = answer
    copies._steps[2] = env.config.max_episode_steps - 1
    _, r, d, _ = copies.step(a)
    assert d.tolist() == [False, True, True]
    np.testing.assert_allclose(r, hover_reward(answer[:, :18], a.clip(-1, 1), env.hover_actions, env.task.weights), rtol=1e-5)
    with pytest.raises(ValueError, match="privileged"):
        DroneHoverVecEnv(2, obs_mode="actor").physical_state(np.zeros((2, 18)))
    assert env.physical_state_dim == PHYSICAL_DIM
    assert DroneHoverVecEnv(2, privileged_dynamics=True).physical_state_dim == PHYSICAL_DIM + 4


def test_guided_td3_vine_on_model_copies_learns_the_model_from_its_replay_buffer(tmp_path):
    env = DroneHoverVecEnv(8, actor_history=4)
    model = small_vine_model(env, dict(copies="model", model_updates=5))
    model.learn(2_000)
    vine = model._vine
    assert vine is not None and len(vine) > 0 and vine.dynamics is not None
    assert type(vine.branches).__name__ == "DroneModelCopies"  # nothing of the simulator is copied
    assert 0 < vine.env_steps < vine.sim_steps  # the leaders fly the env; the copies fly the model
    first = vine.model_loss
    assert np.isfinite(first) and model.logger.name_to_value["vine/model_loss"] == first
    model.train(gradient_steps=1, batch_size=8)
    assert vine.model_loss < first  # it keeps learning from the replay buffer, round by round
    model.save(tmp_path / "m.zip")  # the settings are saved, the model and its copies are not (rebuilt when resumed)
    loaded = GuidedTD3.load(tmp_path / "m.zip", env=env)
    assert loaded._vine is None and loaded.vine_kwargs["copies"] == "model" and loaded.vine_kwargs["model_updates"] == 5


def test_branch_points_from_the_replay_buffer_need_no_flights_beyond_training():
    env = DroneHoverVecEnv(8, actor_history=4)
    model = small_vine_model(env, dict(copies="model", model_updates=5, branch_from="replay"), n_seq=20, n_warmup=5, stride=5)
    model.learn(2_000)
    vine = model._vine
    assert vine.leaders is None and len(vine) > 0  # no leader env exists: every measured state was a training step
    assert vine.env_steps == 0 < vine.sim_steps and model.logger.name_to_value["vine/env_steps"] == 0
    n = len(vine)
    windows, lengths = vine._windows[:n], vine._lengths[:n]
    assert (lengths >= 1).all()
    last = windows[np.arange(n), lengths - 1]
    stored = model.replay_buffer.observations["actor"].reshape(-1, windows.shape[2])
    assert all(np.isclose(stored, w).all(1).any() for w in last)  # each branch state is a stored observation
    with pytest.raises(RuntimeError, match="has none"):
        vine.measure_now(model.actor)
    with pytest.raises(ValueError, match="needs copies 'model'"):
        VineSettings(branch_from="replay")


def test_model_copies_are_refused_where_the_env_cannot_say_its_physical_state():
    model = GuidedTD3("SpikingPolicy", DummyVecEnv([lambda: gym.make("Pendulum-v1")]),
                      vine_kwargs={"start_fraction": 0.5, "copies": "model"}, policy_kwargs=dict(net_arch=dict(pi=[8], qf=[8])))
    with pytest.raises(ValueError, match="physical state"):
        model.learn(10)
    with pytest.raises(ValueError, match="copies"):
        VineSettings(copies="learnt")
    with pytest.raises(ValueError, match="must be a string"):
        VineSettings.from_kwargs({"copies": 1})
    with pytest.raises(ValueError, match="transitions"):
        VineGradient(DroneHoverVecEnv(2, actor_history=4), model.actor, VineSettings(copies="model"), 8, 4)


def _student(tmp_path):
    model = GuidedTD3("SpikingPolicy", DroneHoverVecEnv(2, actor_history=4), guide=WeakPDGuide75(),
                      policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16]), readout="leaky"), seed=0)
    model.save(tmp_path / "student.zip")
    return str(tmp_path / "student.zip")


def test_model_gradients_agree_with_the_simulator_s_and_the_finetune_runs_on_them(tmp_path, capsys):
    from experiments import model_vine, vine_finetune

    student = _student(tmp_path)
    res = model_vine.main([student, "--collect", "4000", "--fit", "400", "--points", "64", "--horizon", "30"])
    assert res["n"] == 64
    assert res["corr_all"] > 0.5, res  # the untrained student crashes: the model must see how soon
    out = tmp_path / "curve.csv"
    vine_finetune.main([student, "--copies", "model", "--collect", "2000", "--collect-per-round", "160", "--model-updates", "3",
                        "--rounds", "2", "--eval-every", "1", "--n-leaders", "2", "--horizon", "20", "--leader-steps", "60",
                        "--spacing", "20", "--batch-size", "8", "--csv", str(out)])
    rows = list(csv.DictReader(open(out)))
    assert [int(r["round"]) for r in rows] == [0, 1, 2]
    assert int(rows[2]["samples"]) > 0


def test_model_copies_keep_the_observed_dynamics_factors_of_their_episode():
    env, _ = hovering_env(2, 5, 10, actor_history=4, privileged_dynamics=True, domain_randomization=0.2)
    oracle = _Replay()
    copies = env.model_copies(2, oracle)
    obs = copies.copy_rows_from(env, np.arange(2), np.arange(2))
    factors = obs["privileged"][:, -4:].copy()
    answer = env.physical_state(obs)
    answer[:, -4:] += 0.5  # a model's drift in the factors is not taken over: only the 22 physical values move
    oracle.answer = answer
    obs, _, _, _ = copies.step(env.hover_actions[:, None].repeat(4, 1).astype(np.float32))
    np.testing.assert_array_equal(obs["privileged"][:, -4:], factors)
    np.testing.assert_array_equal(oracle.asked[0][:, -4:], factors)  # the model is asked with them
    assert factors.any()  # randomised drones: the factors are not all zero
