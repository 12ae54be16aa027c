"""The non-spiking baseline actor (MlpSequencePolicy) and the drone env's actor_history option."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

import sb3_spiking.tasks.drone  # noqa: F401  (registers the drone ids)
from _legacy_defaults import LEGACY_DEFAULTS
from sb3_spiking import GuidedTD3
from sb3_spiking.guided_td3.policies import MlpSequenceActor
from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv
from sb3_spiking.zoo.algos import ZooGuidedTD3


def test_actor_history_is_the_privileged_history_prefix():
    env = gym.make("DroneHover-v0", actor_history=8)
    assert env.observation_space["actor"].shape == (18 + 32,)
    obs, _ = env.reset(seed=3)
    for _ in range(5):
        obs, *_ = env.step(env.action_space.sample())
    # actor part = clean 18 values + the 8 most recent actions, the same as in the privileged part
    np.testing.assert_array_equal(obs["actor"][:18], obs["privileged"][:18])
    np.testing.assert_array_equal(obs["actor"][18:], obs["privileged"][22 : 22 + 32])


def test_history_fill_hides_the_initial_motor_speeds_from_the_history():
    """l2f starts the history with the motors' initial speeds (an actor with a history reads them at step 0);
    history_fill replaces them with a constant command, and only the history: the motors start as before."""
    plain, filled = (gym.make("DroneHover-v0", actor_history=4, **kw) for kw in ({}, dict(history_fill=-0.5)))
    (obs, _), (obs_f, _) = plain.reset(seed=3), filled.reset(seed=3)
    motors = obs["privileged"][18:22]  # the initial motor speeds 2 rpm - 1, drawn from [-1, 0]
    assert np.ptp(motors) > 0.01
    np.testing.assert_allclose(obs["actor"][18:], np.tile(motors, 4))
    np.testing.assert_array_equal(obs_f["actor"][18:], np.full(16, -0.5, np.float32))
    np.testing.assert_array_equal(obs_f["privileged"][:22], obs["privileged"][:22])  # same state and motors
    action = np.array([0.1, -0.2, 0.3, 0.0], np.float32)
    obs, obs_f = plain.step(action)[0], filled.step(action)[0]
    np.testing.assert_array_equal(obs_f["actor"][18:22], action)  # then the commands, as before
    np.testing.assert_array_equal(obs_f["actor"][22:], np.full(12, -0.5, np.float32))
    with pytest.raises(ValueError, match="history_fill"):
        gym.make("DroneHover-v0", history_fill=2.0)


def test_actor_history_validated():
    with pytest.raises(ValueError, match="actor_history"):
        gym.make("DroneHover-v0", action_history=4, actor_history=8)


def test_mlp_baseline_trains_and_predicts_statelessly(tmp_path):
    env = DroneHoverVecEnv(4, actor_history=32)
    env.seed(0)
    model = GuidedTD3(
        "MlpSequencePolicy", env, guide=PDHoverGuide(), learning_starts=200, batch_size=8, train_freq=50,
        gradient_steps=2, n_seq=20, n_warmup=5, stride=10, guide_horizon_start=50, seed=0,
        policy_kwargs=dict(net_arch=dict(pi=[32, 32], qf=[32, 32])), alpha=2.0, bc_coef=0.2, policy_delay=2,
            guide_horizon_end=None,
    )
    assert isinstance(model.actor, MlpSequenceActor) and model.policy.slope is None
    before = [p.detach().clone() for p in model.actor.parameters()]
    model.learn(1200)
    assert any(not th.equal(b, p) for b, p in zip(before, model.actor.parameters()))
    obs = env.reset()
    action, state = model.predict(obs, state=None, episode_start=np.ones(4, bool))
    assert action.shape == (4, 4) and state == ()
    # stateless: the same observation gives the same action whatever came before
    again, _ = model.predict(obs, state=state)
    np.testing.assert_array_equal(action, again)
    model.save(tmp_path / "mlp")
    loaded = GuidedTD3.load(tmp_path / "mlp")
    np.testing.assert_allclose(loaded.predict(obs)[0], action, rtol=0, atol=1e-6)


def test_mlp_baseline_refuses_a_slope_schedule():
    env = DroneHoverVecEnv(2)
    with pytest.raises(ValueError, match="needs a spiking actor"):
        # the slope schedule is the zoo's knob now (a SlopeScheduleCallback otherwise)
        ZooGuidedTD3("MlpSequencePolicy", env, guide=PDHoverGuide(), slope_schedule="adaptive", **LEGACY_DEFAULTS)


def test_efficiency_of_a_trained_mlp_actor(tmp_path):
    from sb3_spiking.analysis.efficiency import footprint
    from sb3_spiking.tasks.drone.efficiency import trained_mlp_efficiency

    env = DroneHoverVecEnv(2, actor_history=32)
    model = GuidedTD3("MlpSequencePolicy", env, guide=PDHoverGuide(), seed=1,
                      policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[32, 32])), **LEGACY_DEFAULTS)
    model.save(tmp_path / "mlp_hist")
    report = trained_mlp_efficiency(str(tmp_path / "mlp_hist"), "MLP", n_episodes=2, seed=3)
    # the paper's 146-64-64-4 MLP: 146*64 + 64*64 + 64*4 dense synaptic connections, 55 312 B of parameters
    assert report.dense_synops == 146 * 64 + 64 * 64 + 64 * 4
    assert report.footprint_bytes == footprint(model.actor.mu) == 55_312
    assert 0.0 <= report.activation_sparsity <= 1.0 and report.reward is not None


def test_evaluations_fly_the_history_fill_the_model_was_trained_with():
    from stable_baselines3.common.vec_env import VecMonitor

    from sb3_spiking.tasks.drone.training_callbacks import actor_input_options

    assert actor_input_options(VecMonitor(DroneHoverVecEnv(2, actor_history=4, history_fill=-0.5))) == {"history_fill": -0.5}
    assert actor_input_options(VecMonitor(DroneHoverVecEnv(2, actor_history=4))) == {}
    assert actor_input_options(None) == {}
