"""SpikingPolicy: sb3-contrib's recurrent predict contract and the asymmetric actor-critic."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from gymnasium import spaces
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from sb3_spiking import GuidedTD3, SpikingPolicy
from sb3_spiking.envs.wrappers import PrivilegedSplit

SMALL = dict(net_arch=dict(pi=[32, 16], qf=[32, 32]))


def _policy(obs_space, act_space=None):
    act_space = act_space or spaces.Box(-2, 2, (1,), np.float32)
    th.manual_seed(0)
    return SpikingPolicy(obs_space, act_space, lambda _: 1e-3, **SMALL)


def test_predict_state_contract(pendulum):
    policy = _policy(pendulum.observation_space)
    obs = np.stack([pendulum.observation_space.sample() * 3 for _ in range(3)])
    a0, s0 = policy.predict(obs)  # None -> zero state
    assert a0.shape == (3, 1) and np.all(np.abs(a0) <= 2)
    assert [s.shape for s in s0] == [(3, 32), (3, 16)]
    a_zero, s_zero = policy.predict(obs, state=policy.initial_state(3))
    assert np.array_equal(a0, a_zero) and all(np.array_equal(a, b) for a, b in zip(s0, s_zero))
    # the state carries: feeding the same observation again gives a different membrane
    a1, s1 = policy.predict(obs, state=s0, episode_start=np.zeros(3))
    assert not all(np.array_equal(a, b) for a, b in zip(s0, s1))
    # episode_start resets exactly the flagged envs
    a2, s2 = policy.predict(obs, state=s1, episode_start=np.array([1, 0, 0]))
    a_fresh, s_fresh = policy.predict(obs[:1])
    a_cont, s_cont = policy.predict(obs[1:], state=tuple(s[1:] for s in s1))
    assert np.allclose(a2[:1], a_fresh) and np.allclose(a2[1:], a_cont)
    assert all(np.allclose(a[:1], b) for a, b in zip(s2, s_fresh))
    # deterministic: same inputs, same outputs; inputs not modified
    s1_copy = tuple(s.copy() for s in s1)
    b2, t2 = policy.predict(obs, state=s1, episode_start=np.array([1, 0, 0]), deterministic=True)
    assert np.array_equal(a2, b2) and all(np.array_equal(a, b) for a, b in zip(s1, s1_copy))


def test_single_observation_and_bad_state(pendulum):
    policy = _policy(pendulum.observation_space)
    obs, _ = pendulum.reset(seed=0)
    action, state = policy.predict(obs)
    assert action.shape == (1,) and state[0].shape == (1, 32)
    with pytest.raises(ValueError, match="state must be"):
        policy.predict(obs, state=(np.zeros((1, 5)),))
    with pytest.raises(ValueError, match="tuple"):
        policy.predict(pendulum.reset(seed=0))


def test_asymmetric_actor_critic(pendulum_novel):
    space = pendulum_novel.observation_space
    policy = _policy(space)
    obs = {
        "actor": np.array([[1.0, 0.0], [0.0, 1.0]], np.float32),
        "privileged": np.array([[1.0, 0.0, 3.0], [0.0, 1.0, -2.0]], np.float32),
    }
    a, _ = policy.predict(obs)
    other = dict(obs, privileged=obs["privileged"] * -5)
    assert np.array_equal(a, policy.predict(other)[0]), "the actor must not see the privileged part"
    assert policy.actor.net.fcs[0].in_features == 2
    assert policy.critic.qf0[0].in_features == 3 + 1
    t_obs = {k: th.as_tensor(v) for k, v in obs.items()}
    act = th.zeros(2, 1)
    q = policy.critic(t_obs, act)[0]
    q_other_actor = policy.critic(dict(t_obs, actor=t_obs["actor"] * 7), act)[0]
    assert th.equal(q, q_other_actor), "the critic must read the privileged part only"


@pytest.mark.parametrize(
    "space, match",
    [
        (spaces.Dict({"actor": spaces.Box(-1, 1, (2,)), "state": spaces.Box(-1, 1, (3,))}), "must have the keys"),
        (spaces.Dict({"actor": spaces.Discrete(3), "privileged": spaces.Box(-1, 1, (3,))}), "must be a Box"),
        (spaces.Discrete(4), "Box or a Dict"),
    ],
)
def test_bad_observation_spaces(space, match):
    with pytest.raises(ValueError, match=match):
        _policy(space)


def test_non_box_action_space_rejected():
    with pytest.raises(ValueError, match="only supports .*Box.* Discrete"):
        GuidedTD3("SpikingPolicy", "CartPole-v1")


def test_evaluate_policy_runs_stateful_policy_on_vec_env():
    env = make_vec_env(lambda: PrivilegedSplit(gym.make("Pendulum-v1"), [0, 1]), n_envs=2, seed=0)
    model = GuidedTD3("SpikingPolicy", env, policy_kwargs=SMALL, n_seq=10, n_warmup=2, stride=5, seed=0)
    returns, lengths = evaluate_policy(model, env, n_eval_episodes=4, return_episode_rewards=True)
    assert lengths == [200] * 4 and all(np.isfinite(returns))
    # same seeds, same returns: predict is deterministic and state resets between episodes
    env.seed(0)
    again, _ = evaluate_policy(model, env, n_eval_episodes=4, return_episode_rewards=True)
    assert np.allclose(sorted(returns), sorted(again))


def test_burn_in_same_outputs_and_gradients_where_kept(pendulum_novel):
    policy = _policy(pendulum_novel.observation_space)
    th.manual_seed(3)
    obs = {"actor": th.randn(4, 12, 2) * 2, "privileged": th.randn(4, 12, 3)}
    actor = policy.actor

    def run(**kw):
        actor.zero_grad()
        out = actor.unroll(obs, **kw)
        out[:, 5:].sum().backward()  # loss only after the warm-up
        return out.detach(), actor.net.fcs[0].weight.grad.clone()

    full_out, full_grad = run()
    burn_out, burn_grad = run(burn_in=5)
    assert th.allclose(full_out, burn_out, atol=1e-6)
    assert not th.allclose(full_grad, burn_grad)  # gradient truncated at the warm-up
    rows = th.tensor([True, False, True, False])
    kept_out, _ = run(burn_in=5, grad_rows=rows)
    assert th.allclose(full_out, kept_out, atol=1e-6)
    # with every row kept, the graph is the full one
    _, all_kept_grad = run(burn_in=5, grad_rows=th.ones(4, dtype=th.bool))
    assert th.allclose(full_grad, all_kept_grad, atol=1e-5)


def test_leaky_readout_policy_predicts_trains_and_saves(tmp_path, pendulum):
    kwargs = dict(net_arch=dict(pi=[32, 16], qf=[32, 32]), readout="leaky", readout_beta=0.6)
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", policy_kwargs=kwargs, learning_starts=100, n_seq=20, n_warmup=5, stride=10,
                      batch_size=8, train_freq=50, gradient_steps=2, seed=0)
    obs = np.stack([pendulum.observation_space.sample() for _ in range(2)])
    a, state = model.predict(obs)
    assert [s.shape for s in state] == [(2, 32), (2, 16), (2, 1)]  # LIF membranes + readout membrane
    # the readout membrane carries: the same observation again gives a different action
    a2, _ = model.predict(obs, state=state, episode_start=np.zeros(2))
    assert not np.allclose(a, a2)
    model.learn(300)
    beta = model.actor.net.readout_beta.detach().clone()
    assert not th.allclose(beta, th.full_like(beta, 0.6))  # learned
    model.save(tmp_path / "leaky.zip")
    loaded = GuidedTD3.load(tmp_path / "leaky.zip")
    assert loaded.actor.net.readout_kind == "leaky" and th.equal(loaded.actor.net.readout_beta, beta)
    b, _ = loaded.predict(obs, state=state, episode_start=np.zeros(2))
    assert np.allclose(b, model.predict(obs, state=state, episode_start=np.zeros(2))[0])
    with pytest.raises(ValueError, match="readout must be one of"):
        SpikingPolicy(pendulum.observation_space, pendulum.action_space, lambda _: 1e-3, readout="lstm")


def test_spiking_and_mlp_policies_are_siblings_on_one_sequence_base():
    """Both share SequencePolicy's predict/initial_state; neither disables the other's features."""
    from stable_baselines3.common.preprocessing import get_action_dim as sb3_get_action_dim

    from sb3_spiking.guided_td3 import policies
    from sb3_spiking.guided_td3.policies import MlpSequencePolicy, SequencePolicy

    assert issubclass(SpikingPolicy, SequencePolicy) and issubclass(MlpSequencePolicy, SequencePolicy)
    assert not issubclass(MlpSequencePolicy, SpikingPolicy)
    assert "predict" not in vars(SpikingPolicy) and "predict" not in vars(MlpSequencePolicy)
    assert getattr(policies, "get_action_dim", sb3_get_action_dim) is sb3_get_action_dim  # SB3's name is not shadowed
    assert policies.check_box_action_dim(spaces.Box(-1, 1, (2, 3)), "X") == 6
    with pytest.raises(ValueError, match="X needs a Box action space"):
        policies.check_box_action_dim(spaces.Discrete(3), "X")
