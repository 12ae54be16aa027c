"""Vine gradients (sb3_spiking.guided_td3.vine): copies of env rows, the measured gradient, GuidedTD3's use of it."""

from __future__ import annotations

import csv

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from experiments.weak_guides import WeakPDGuide75
from sb3_spiking import GuidedTD3
from sb3_spiking.guided_td3.vine import VineGradient, VineSettings, branchable_env
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

TARGET = np.array([0.3, -0.5], np.float32)


class QuadraticVecEnv(VecEnv):
    """Reward ``-|a - TARGET|²`` per step, 20-step episodes, rows copyable: ``∇_a Q`` is known exactly."""

    def __init__(self, num_envs: int) -> None:
        self.render_mode = None
        super().__init__(num_envs, spaces.Box(-1, 1, (1,), np.float32), spaces.Box(-1, 1, (2,), np.float32))
        self.t = np.zeros(num_envs, np.int64)
        self._actions: np.ndarray | None = None

    def reset(self):
        self.t[:] = 0
        return self._obs()

    def _obs(self) -> np.ndarray:
        return (self.t[:, None] / 20.0).astype(np.float32)

    def step_async(self, actions):
        self._actions = np.asarray(actions, np.float32)

    def step_wait(self):
        reward = -((self._actions - TARGET) ** 2).sum(1)
        self.t += 1
        done = self.t >= 20
        infos = [{"terminal_observation": self._obs()[i], "TimeLimit.truncated": True} if d else {} for i, d in enumerate(done)]
        self.t[done] = 0
        return self._obs(), reward.astype(np.float32), done, infos

    def branch_env(self, num_envs: int) -> QuadraticVecEnv:
        return QuadraticVecEnv(num_envs)

    def copy_rows_from(self, src, src_rows, dst_rows):
        self.t[dst_rows] = src.t[src_rows]
        return self._obs()

    def close(self):
        pass

    def get_attr(self, attr_name, indices=None):
        return [getattr(self, attr_name)] * self.num_envs

    def set_attr(self, attr_name, value, indices=None):
        setattr(self, attr_name, value)

    def env_method(self, method_name, *args, indices=None, **kwargs):
        return [getattr(self, method_name)(*args, **kwargs)] * self.num_envs

    def env_is_wrapped(self, wrapper_class, indices=None):
        return [False] * self.num_envs


class ConstantActor(th.nn.Module):
    """A stateful-actor stand-in whose action is ``tanh(bias)`` whatever it sees."""

    def __init__(self, start: tuple[float, float]) -> None:
        super().__init__()
        self.bias = th.nn.Parameter(th.atanh(th.tensor(start)))

    def initial_state(self, n: int):
        return (th.zeros(n, 1),)

    def step(self, obs, state):
        return th.tanh(self.bias).expand(obs.shape[0], 2), state

    def unroll(self, x, burn_in: int = 0):
        return th.tanh(self.bias).expand(x.shape[0], x.shape[1], 2)


def test_measured_gradient_is_the_exact_action_gradient_of_the_value():
    actor = ConstantActor((-0.2, 0.4))
    settings = VineSettings(n_leaders=3, eps=0.1, hold=4, horizon=8, spacing=6, leader_steps=60, updates=0)
    vine = VineGradient(QuadraticVecEnv(2), actor, settings, n_seq=30, n_warmup=5, seed=0)
    vine.collect(actor)
    assert len(vine) >= 3 * 6  # at least 6 branch points, one gradient per leader each
    a = np.tanh(actor.bias.detach().numpy())
    # central differences of a quadratic are exact: Q(a + ε) − Q(a − ε) over `hold` steps / 2ε = −2 hold (a − c);
    # branch points within `hold` steps of the episode end see fewer perturbed steps
    grads, lengths = vine._grads[: len(vine)], vine._lengths[: len(vine)]
    remaining = 20 - (lengths - 1)  # a window holds the episode so far (n_seq 30 > 20 steps)
    full_hold = remaining >= settings.hold
    assert full_hold.sum() >= 12
    expected = np.broadcast_to(-2 * settings.hold * (a - TARGET), grads[full_hold].shape)
    np.testing.assert_allclose(grads[full_hold], expected, rtol=1e-4)
    assert vine.sim_steps > 60 * 3


def test_early_steps_make_branch_points_denser_at_the_start_of_episodes():
    actor = ConstantActor((0.0, 0.0))

    def branch_steps(**early) -> np.ndarray:
        settings = VineSettings(n_leaders=2, eps=0.1, hold=1, horizon=2, spacing=8, leader_steps=400, updates=0,
                                buffer_size=1000, **early)
        vine = VineGradient(QuadraticVecEnv(2), actor, settings, n_seq=30, n_warmup=5, seed=3)
        vine.collect(actor)
        return vine._lengths[: len(vine): 2] - 1  # episode step of each branch point (20-step episodes)

    plain, early = branch_steps(), branch_steps(early_steps=6, early_spacing=1)
    assert 40 <= len(plain) <= 60  # one branch point per ~8 steps
    # without: the first 6 of 20 steps get ~30 % of the branch points; at every step there: well over half
    assert np.mean(plain < 6) < 0.45
    assert np.mean(early < 6) > 0.65
    assert len(early) > 2 * len(plain)  # added there, not taken from the rest of the episode
    assert np.sum(early >= 6) >= 0.6 * np.sum(plain >= 6)
    with pytest.raises(ValueError, match="early_steps"):
        VineSettings(early_steps=-1)
    with pytest.raises(ValueError, match="early_spacing"):
        VineSettings(early_spacing=0)


# the bounded improvement step, scaled by the buffer's rms
@pytest.mark.parametrize("step", [0.05])
def test_following_the_measured_gradient_reaches_the_best_action(step):
    actor = ConstantActor((-0.2, 0.4))
    settings = VineSettings(n_leaders=4, eps=0.05, hold=2, horizon=4, spacing=4, leader_steps=20, updates=5, batch_size=16,
                            buffer_size=20, learning_rate=0.02, step=step)  # one collect: none stale
    vine = VineGradient(QuadraticVecEnv(2), actor, settings, n_seq=10, n_warmup=5, seed=1)
    for _ in range(60):
        vine.collect(actor)
        for _ in range(settings.updates):
            vine.update(actor)
    # from 0.5 and 0.9 away to within Adam's step noise (5 steps of lr 0.02 on each collect's gradients)
    np.testing.assert_allclose(np.tanh(actor.bias.detach().numpy()), TARGET, atol=0.1)


def hovering_env(n: int, seed: int, steps: int, **options) -> tuple[DroneHoverVecEnv, np.random.Generator]:
    """A drone env of ``n`` rows after ``steps`` steps of noisy hover commands, and the generator that drew them."""
    env = DroneHoverVecEnv(n, **options)
    env.seed(seed)
    env.reset()
    rng = np.random.default_rng(0)
    for _ in range(steps):
        env.step(np.clip(env.hover_actions[:, None] + rng.normal(0, 0.05, (n, 4)), -1, 1).astype(np.float32))
    return env, rng


def test_copied_drone_rows_fly_bit_for_bit_like_their_source():
    # noise and randomised dynamics too: the copies share the source rows' noise and random generators
    options = dict(actor_history=4, obs_noise={"position": 0.05, "angular_velocity": 0.2}, domain_randomization=0.2)
    src, rng = hovering_env(3, 7, 30, **options)
    hover = src.hover_actions[:, None]
    dst = src.branch_env(6)
    obs_dst = dst.copy_rows_from(src, np.array([0, 1, 2, 2, 1, 0]), np.arange(6))
    obs_src = src.task.observation(slice(0, 3))
    for key in obs_src:
        np.testing.assert_array_equal(obs_dst[key][:3], obs_src[key])
        np.testing.assert_array_equal(obs_dst[key][3:], obs_src[key][::-1])
    for _ in range(120):  # past a 64-step noise refill
        a = np.clip(hover + rng.normal(0, 0.05, (3, 4)), -1, 1).astype(np.float32)
        o1, r1, d1, _ = src.step(a)
        o2, r2, d2, _ = dst.step(np.concatenate([a, a[::-1]]))
        np.testing.assert_array_equal(r2[:3], r1)
        np.testing.assert_array_equal(r2[3:], r1[::-1])
        if d1.any():
            break
        np.testing.assert_array_equal(o2["actor"][:3], o1["actor"])
        np.testing.assert_array_equal(o2["privileged"][3:], o1["privileged"][::-1])


def test_copy_rows_from_refuses_mismatched_envs():
    a, b = DroneHoverVecEnv(2, actor_history=4), DroneHoverVecEnv(2, actor_history=0)
    with pytest.raises(ValueError, match="same config"):
        b.copy_rows_from(a, np.array([0]), np.array([1]))
    with pytest.raises(ValueError, match="out of range"):
        a.branch_env(2).copy_rows_from(a, np.array([0]), np.array([5]))


def test_envs_whose_rows_cannot_be_copied_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="rows can be copied"):
        branchable_env(DummyVecEnv([lambda: gym.make("Pendulum-v1")]))
    with pytest.raises(ValueError, match="VecNormalize"):
        branchable_env(VecNormalize(DroneHoverVecEnv(2, obs_mode="actor")))
    with pytest.raises(ValueError, match="unknown vine_kwargs"):
        VineSettings.from_kwargs({"epsilon": 0.1})
    with pytest.raises(ValueError, match="hold"):
        VineSettings(hold=20, horizon=10)


SMALL = dict(policy_kwargs=dict(net_arch=dict(pi=[32, 16], qf=[32, 32]), readout="leaky"), learning_starts=300,
             train_freq=50, gradient_steps=2, seed=0)


def small_vine_model(env: DroneHoverVecEnv, vine: dict | None = None, **kwargs) -> GuidedTD3:
    """A small GuidedTD3 taught by WeakPDGuide75 whose vine phase (tiny settings, plus ``vine``) runs in the second
    half of training."""
    vine_kwargs = dict(start_fraction=0.5, n_leaders=4, horizon=20, spacing=10, leader_steps=40, updates=1, batch_size=8)
    return GuidedTD3("SpikingPolicy", env, guide=WeakPDGuide75(), vine_kwargs={**vine_kwargs, **(vine or {})},
                     **{**SMALL, **kwargs})


def test_guided_td3_follows_the_vine_gradient_after_its_start_and_saves_without_it(tmp_path):
    env = DroneHoverVecEnv(8, actor_history=4)
    model = small_vine_model(env)
    model.learn(2_000)  # the vine acts in the second half
    assert model._vine is not None and len(model._vine) > 0
    env.task.set_curriculum_stage(2)  # the leaders (and through them the copies) earn what the agent earns
    model.train(gradient_steps=1, batch_size=8)
    assert model._vine.leaders.task.curriculum_stage == 2
    model._current_progress_remaining = 0.6
    assert not model.vine_active and model.bc_coef_now > 0
    model._current_progress_remaining = 0.4
    assert model.vine_active
    before = [p.detach().clone() for p in model.actor.parameters()]
    samples = model._vine.samples
    model.train(gradient_steps=2, batch_size=8)
    assert model._vine.samples > samples
    assert model.bc_coef_now == 0.0  # the vine phase replaces imitation: only the vine term moved the actor
    assert any(not th.equal(a, b) for a, b in zip(before, model.actor.parameters()))
    assert model.logger.name_to_value["vine/samples"] > 0
    model.save(tmp_path / "m.zip")
    loaded = GuidedTD3.load(tmp_path / "m.zip", env=env)
    assert loaded._vine is None and loaded.vine_start_fraction == 0.5 and loaded.vine_kwargs["n_leaders"] == 4


def test_vine_needs_a_copyable_env_at_learn():
    model = GuidedTD3("SpikingPolicy", DummyVecEnv([lambda: gym.make("Pendulum-v1")]), vine_kwargs={"start_fraction": 0.5},
                      policy_kwargs=dict(net_arch=dict(pi=[8], qf=[8])))
    with pytest.raises(ValueError, match="rows can be copied"):
        model.learn(10)
    with pytest.raises(ValueError, match="without vine_start_fraction"):
        GuidedTD3("SpikingPolicy", DummyVecEnv([lambda: gym.make("Pendulum-v1")]), vine_kwargs={"eps": 0.1})


def test_vine_finetune_benchmark_runs_and_writes_its_curve(tmp_path):
    from experiments import vine_finetune

    model = GuidedTD3("SpikingPolicy", DroneHoverVecEnv(2, actor_history=4), guide=WeakPDGuide75(),
                      policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16]), readout="leaky"), seed=0)
    model.save(tmp_path / "student.zip")
    out = tmp_path / "curve.csv"
    vine_finetune.main([str(tmp_path / "student.zip"), "--rounds", "2", "--eval-every", "1", "--n-leaders", "2",
                        "--horizon", "20", "--leader-steps", "60", "--spacing", "20", "--batch-size", "8", "--csv", str(out),
                        "--save", str(tmp_path / "improved.zip")])
    rows = list(csv.DictReader(open(out)))
    assert [int(r["round"]) for r in rows] == [0, 1, 2]
    assert 0 == int(rows[0]["sim_steps"]) < int(rows[1]["sim_steps"]) < int(rows[2]["sim_steps"])
    assert all(0.0 <= float(r["full_length"]) <= 1.0 for r in rows)
    assert (tmp_path / "improved.zip").exists()


def test_return_gap_parts_add_up_to_the_gap(tmp_path):
    from experiments import return_gap

    model = GuidedTD3("SpikingPolicy", DroneHoverVecEnv(2, actor_history=4), guide=WeakPDGuide75(),
                      policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16]), readout="leaky"), seed=0)
    model.save(tmp_path / "student.zip")
    out = tmp_path / "gap.csv"
    return_gap.main([str(tmp_path / "student.zip"), "--episodes", "6", "--csv", str(out)])
    row = next(csv.DictReader(open(out)))
    parts = float(row["gap_crashed"]) + sum(float(v) for k, v in row.items() if k.startswith("gap_steps_"))
    assert float(row["gap"]) == pytest.approx(parts, abs=1e-3)
    assert float(row["gap"]) == pytest.approx(float(row["guide_return"]) - float(row["return"]), abs=1e-2)
    assert int(row["crashes"]) == 6  # an untrained actor crashes from every start; the PD guide from none
    assert float(row["gap"]) > 100
    with pytest.raises(SystemExit):
        return_gap.main([str(tmp_path / "student.zip"), "--bins", "0", "100"])  # does not reach the episode end


def test_measure_now_returns_the_gradients_it_stores_and_the_noise_benchmark_runs(tmp_path):
    from experiments import vine_gradient_noise

    actor = ConstantActor((-0.2, 0.4))
    settings = VineSettings(n_leaders=3, eps=0.1, hold=4, horizon=8, spacing=10**6, leader_steps=5, updates=0, buffer_size=4)
    vine = VineGradient(QuadraticVecEnv(2), actor, settings, n_seq=30, n_warmup=5, seed=0)
    vine.collect(actor)
    assert len(vine) == 0 and vine.episode_steps.tolist() == [5, 5, 5]  # no branch point on this schedule
    expected = -2 * settings.hold * (np.tanh(actor.bias.detach().numpy()) - TARGET)
    for _ in range(2):  # the second call wraps around the 4-slot buffer
        grads = vine.measure_now(actor)
        assert grads.shape == (3, 2)
        np.testing.assert_allclose(grads, np.broadcast_to(expected, (3, 2)), rtol=1e-4)
    assert len(vine) == 4

    model = GuidedTD3("SpikingPolicy", DroneHoverVecEnv(2, actor_history=4), guide=WeakPDGuide75(),
                      policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16]), readout="leaky"), seed=0)
    model.save(tmp_path / "student.zip")
    out = tmp_path / "noise.csv"
    vine_gradient_noise.main([str(tmp_path / "student.zip"), "--t", "3", "--leaders", "2", "--horizon", "12", "--csv", str(out)])
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == len(vine_gradient_noise.SETTINGS)
    assert all(-1.0 <= float(r["median_cos"]) <= 1.0 and float(r["abs_grad"]) >= 0 for r in rows)
