"""The command in force (issue 27): the optional ``"command"`` observation entry, the drone env's ``command_obs``, and
an action-feedback actor whose state starts from it in predict, collection, replay windows, evaluation and C."""

import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecNormalize

import sb3_spiking.tasks.drone  # noqa: F401  (registers the drone ids)
from sb3_spiking import GuidedTD3
from sb3_spiking.guided_td3.collection import GuidedCollector
from sb3_spiking.guided_td3.policies import SpikingPolicy
from sb3_spiking.obs_keys import check_observation_space
from sb3_spiking.tasks.drone.config import DroneHoverConfig
from sb3_spiking.tasks.drone.protocols import fly
from sb3_spiking.tasks.drone.task import DroneHoverTask
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

BOX = spaces.Box(-np.inf, np.inf, (5,), np.float32)
SMALL = dict(net_arch=dict(pi=[16, 8], qf=[16, 16]), feedback=True, readout="leaky")


def _model(env, **kwargs):
    return GuidedTD3("SpikingPolicy", env, learning_starts=50, batch_size=4, n_seq=10, n_warmup=2, stride=5,
                     train_freq=20, gradient_steps=1, seed=0, policy_kwargs=SMALL, **kwargs)


def test_a_dict_observation_may_carry_the_command_and_nothing_else():
    assert check_observation_space(spaces.Dict(actor=BOX, privileged=BOX, command=spaces.Box(-1, 1, (2,)))) is not None
    with pytest.raises(ValueError, match="may have 'command'"):
        check_observation_space(spaces.Dict(actor=BOX, privileged=BOX, extra=BOX))
    with pytest.raises(ValueError, match="'command' must be a Box"):
        check_observation_space(spaces.Dict(actor=BOX, privileged=BOX, command=spaces.Discrete(3)))
    with pytest.raises(ValueError, match="'command' .* has 3 values, the action 2"):
        SpikingPolicy(spaces.Dict(actor=BOX, privileged=BOX, command=spaces.Box(-1, 1, (3,))), spaces.Box(-1, 1, (2,)),
                      lambda _: 1e-3, **SMALL)


def test_the_drone_hands_over_the_initial_motor_command_then_the_executed_one():
    env = DroneHoverVecEnv(3, command_obs=True, history_fill=-0.5)
    env.seed(0)
    obs = env.reset()
    assert env.observation_space["command"].shape == (4,)
    # the command that holds the motors at their initial speeds, whatever the history claims
    np.testing.assert_array_equal(obs["command"], obs["privileged"][:, 18:22])
    assert np.ptp(obs["command"]) > 0.05 and np.all(obs["privileged"][:, 22:26] == -0.5)
    action = np.array([[2.0, -0.3, 0.1, 0.4]] * 3, np.float32)
    obs, *_ = env.step(action)
    np.testing.assert_array_equal(obs["command"], np.clip(action, -1, 1))
    plain = DroneHoverVecEnv(3)
    assert "command" not in plain.observation_space.spaces  # off by default: saved models keep loading
    for bad, match in ((dict(obs_mode="actor"), "obs_mode is 'actor'"), (dict(), "true or false")):
        with pytest.raises(ValueError, match=match):
            DroneHoverConfig.from_options(command_obs=1 if not bad else True, **bad)


def test_a_copied_drone_row_keeps_its_command():
    config = DroneHoverConfig(command_obs=True)
    src, dst = DroneHoverTask(2, config), DroneHoverTask(2, config)
    src.seed(1)
    dst.seed(2)
    src.reset_rows(np.ones(src.n_rows, bool))
    dst.reset_rows(np.ones(dst.n_rows, bool))
    src.step(np.full((2, 4), 0.3, np.float32))
    dst.copy_rows_from(src, np.array([1]), np.array([0]))
    np.testing.assert_array_equal(dst.observation(slice(0, 1))["command"], src.observation(slice(1, 2))["command"])


def test_predict_starts_the_feedback_from_the_command_in_force_row_by_row():
    env = DroneHoverVecEnv(2, command_obs=True)
    env.seed(0)
    model = _model(env)
    obs = env.reset()
    actor = model.actor
    with th.no_grad():
        start = actor.start_state(model.policy.obs_to_tensor(obs)[0])
    np.testing.assert_array_equal(start[-1].numpy(), obs["command"])  # the last command, in [-1, 1] already
    np.testing.assert_array_equal(start[-2].numpy(), np.tile(obs["command"], (1, actor.net.feedback.n_traces)))
    assert all(float(s.abs().sum()) == 0 for s in start[:-2])  # the neurons start at rest
    _, state = model.predict(obs, None)
    with th.no_grad():
        _, expected = actor.step(model.policy.obs_to_tensor(obs)[0], start)
    np.testing.assert_array_equal(state[-2], expected[-2].numpy())
    # an episode start in row 1 only: row 0 keeps its state, row 1 starts from its own command
    obs2, *_ = env.step(np.zeros((2, 4), np.float32))
    _, kept = model.predict(obs2, state, episode_start=np.array([False, False]))
    _, restarted = model.predict(obs2, state, episode_start=np.array([False, True]))
    _, fresh = model.predict({k: v[1:] for k, v in obs2.items()}, None)
    np.testing.assert_array_equal(restarted[-1][0], kept[-1][0])
    np.testing.assert_array_equal(restarted[-2][1], fresh[-2][0])


def test_action_bounds_scale_the_command_to_the_network_units():
    space = spaces.Dict(actor=BOX, privileged=BOX, command=spaces.Box(-np.inf, np.inf, (2,), np.float32))
    policy = SpikingPolicy(space, spaces.Box(np.array([0.0, -2.0], np.float32), np.array([1.0, 2.0], np.float32)),
                           lambda _: 1e-3, **SMALL)
    obs = {"actor": th.zeros(3, 5), "privileged": th.zeros(3, 5), "command": th.tensor([[0.0, -2.0], [0.5, 1.0], [1.0, 9.0]])}
    start = policy.actor.start_state(obs)
    np.testing.assert_allclose(start[-1].numpy(), [[-1.0, -1.0], [0.0, 0.5], [1.0, 1.0]])  # clipped beyond the bounds


def test_collection_and_replay_windows_start_from_the_command():
    env = DroneHoverVecEnv(2, command_obs=True)
    env.seed(0)
    model = _model(env)
    collector = GuidedCollector(model.policy, 2, None)
    obs = env.reset()
    collector.choose(obs, obs, 0, False, None)
    # the traces of the first step: alpha*c + (1 - alpha)*c with c the command in force, c itself
    np.testing.assert_allclose(collector.actor_state[-2].numpy(), np.tile(obs["command"], (1, 4)), atol=1e-6)
    collector.end_step(np.array([True, False]), [{}, {}])
    obs2 = {k: v.copy() for k, v in obs.items()}
    obs2["command"][0] = 0.25
    collector.choose(obs2, obs2, 0, False, None)
    np.testing.assert_allclose(collector.actor_state[-2][0].numpy(), np.full(16, 0.25), atol=1e-6)
    model.learn(200)
    data = model.replay_buffer.sample(4)
    with th.no_grad():
        a = model.actor.unroll(data.observations, commands=data.actions)
        first = {k: v[:, 0] for k, v in data.observations.items()}
        manual = model.actor.step(first, model.actor.start_state(first))[0]
    np.testing.assert_array_equal(a[:, 0].numpy(), manual.numpy())


def test_evaluation_flies_a_model_with_the_command_it_was_trained_with(tmp_path):
    env = DroneHoverVecEnv(2, command_obs=True)
    model = _model(env)
    model.save(tmp_path / "m.zip")
    loaded = GuidedTD3.load(tmp_path / "m.zip")
    stats = fly(loaded, n_episodes=3)  # a plain drone env would fail SB3's space check
    assert stats.returns.shape == (3,)


def test_the_vine_and_a_normalised_command_are_refused_before_training():
    env = DroneHoverVecEnv(2, command_obs=True)
    model = _model(env, vine_kwargs=dict(start_fraction=0.5))
    with pytest.raises(ValueError, match="vine phase does not support an actor with action feedback"):
        model.learn(10)
    assert model.num_timesteps == 0
    normalised = VecNormalize(DroneHoverVecEnv(2, command_obs=True), norm_obs_keys=["actor", "command"])
    with pytest.raises(ValueError, match="normalises the observation entry 'command'"):
        _model(normalised).learn(10)
    _model(VecNormalize(DroneHoverVecEnv(2, command_obs=True), norm_obs_keys=["actor"])).learn(10)
