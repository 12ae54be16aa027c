"""The efference probe (issue 27, experiments/efference_probe.py): the feedback state starts from the command in force."""

import numpy as np
import torch as th

import sb3_spiking.tasks.drone  # noqa: F401  (registers the drone ids)
from experiments.efference_probe import LAST_COMMAND, EfferenceSpikingPolicy
from sb3_spiking import GuidedTD3
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv


def test_a_fresh_state_holds_the_command_in_force_in_predict_and_in_replay_windows(tmp_path):
    env = DroneHoverVecEnv(2, actor_history=0)
    env.seed(0)
    model = GuidedTD3(EfferenceSpikingPolicy, env, learning_starts=50, batch_size=4, n_seq=10, n_warmup=2, stride=5,
                      train_freq=20, gradient_steps=1, seed=0,
                      policy_kwargs=dict(net_arch=dict(pi=[16, 8], qf=[16, 16]), feedback=True, readout="leaky"))
    obs = env.reset()
    command = obs["privileged"][:, LAST_COMMAND]  # l2f: the initial motor speeds 2 rpm - 1
    assert np.ptp(command) > 0.01
    _, state = model.predict(obs, None, episode_start=np.ones(2, bool))
    # the state after one step: the traces moved on from the held command by one step of the actor's output
    actor = model.actor
    start = actor._held(actor.net.initial_state(2), {"privileged": th.as_tensor(obs["privileged"])}, None)
    np.testing.assert_allclose(start[-1].numpy(), command)
    np.testing.assert_allclose(start[-2].numpy(), np.tile(command, (1, actor.net.feedback.n_traces)))
    with th.no_grad():
        _, step_state = actor.step(model.policy.obs_to_tensor(obs)[0], start)
        _, cold_state = super(type(actor), actor).step(model.policy.obs_to_tensor(obs)[0], actor.net.initial_state(2))
    np.testing.assert_allclose(state[-2], step_state[-2].numpy(), atol=1e-6)
    assert np.abs(state[-2] - cold_state[-2].numpy()).max() > 0.1  # a plain feedback actor starts its traces at 0
    model.learn(200)
    data = model.replay_buffer.sample(4)
    with th.no_grad():
        a, _ = model.actor.unroll(data.observations, return_spikes=True, commands=data.actions)
        first = {k: v[:, 0] for k, v in data.observations.items()}
        manual = model.actor.step(first, model.actor._held(model.actor.net.initial_state(4), first, None))[0]
    np.testing.assert_allclose(a[:, 0].numpy(), manual.numpy(), atol=1e-5)
    model.save(tmp_path / "m.zip")
    loaded = GuidedTD3.load(tmp_path / "m.zip")
    assert type(loaded.actor).__name__ == "EfferenceActor"


def test_the_control_starts_from_a_constant_command():
    from experiments.efference_probe import ConstantStartSpikingPolicy

    env = DroneHoverVecEnv(2, actor_history=0)
    env.seed(0)
    model = GuidedTD3(ConstantStartSpikingPolicy, env, seed=0,
                      policy_kwargs=dict(net_arch=dict(pi=[16, 8], qf=[16, 16]), feedback=True, readout="leaky"))
    obs = model.policy.obs_to_tensor(env.reset())[0]
    start = model.actor._held(model.actor.net.initial_state(2), obs, None)
    np.testing.assert_array_equal(start[-1].numpy(), np.full((2, 4), -0.5, np.float32))


def test_the_product_version_acts_exactly_as_the_probe():
    # the env's "command" entry + SpikingActor.start_state replace the probe's privileged read and zero-state test
    from sb3_spiking.guided_td3.policies import SpikingPolicy

    env = DroneHoverVecEnv(2, actor_history=0, command_obs=True)
    kwargs = dict(net_arch=dict(pi=[16, 8], qf=[16, 16]), feedback=True, readout="leaky")
    product = SpikingPolicy(env.observation_space, env.action_space, lambda _: 1e-3, **kwargs)
    plain = DroneHoverVecEnv(2, actor_history=0)
    probe = EfferenceSpikingPolicy(plain.observation_space, plain.action_space, lambda _: 1e-3, **kwargs)
    probe.actor.load_state_dict(product.actor.state_dict())
    env.seed(3)
    obs, s1, s2, start = env.reset(), None, None, np.ones(2, bool)
    windows = []
    for _ in range(40):
        a1, s1 = product.predict(obs, s1, start)
        a2, s2 = probe.predict({k: v for k, v in obs.items() if k != "command"}, s2, start)
        np.testing.assert_array_equal(a1, a2)
        windows.append(obs)
        start = np.zeros(2, bool)
        obs, *_ = env.step(a1)
    # a replay window starting mid-episode (step 10): both start from the command in force there
    seq = {k: th.as_tensor(np.stack([w[k] for w in windows[10:30]], 1)) for k in windows[0]}
    with th.no_grad():
        u1 = product.actor.unroll(seq, burn_in=5)
        u2 = probe.actor.unroll({k: v for k, v in seq.items() if k != "command"}, burn_in=5)
    assert th.equal(u1, u2)
