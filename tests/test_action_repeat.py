"""Action repetition (sb3_spiking.envs.action_repeat): held actions in training, evaluation and the drone's protocols."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.env_util import make_vec_env

from sb3_spiking.envs.action_repeat import ActionRepeat, HeldActions, VecActionRepeat, action_repeat_of


def test_action_repeat_holds_each_action_k_steps_and_sums_their_rewards():
    action = np.array([0.7], dtype=np.float32)
    plain, held = gym.make("Pendulum-v1"), ActionRepeat(gym.make("Pendulum-v1", max_episode_steps=5), 3)
    plain.reset(seed=3)
    held.reset(seed=3)
    rewards = [plain.step(action)[1] for _ in range(3)]
    obs, reward, terminated, truncated, _ = held.step(action)
    assert reward == pytest.approx(sum(rewards)) and np.allclose(obs, plain.unwrapped._get_obs())
    assert not (terminated or truncated)
    *_, truncated, _ = held.step(action)  # steps 4 and 5: the limit ends the decision early
    assert truncated and held.unwrapped.last_u == pytest.approx(0.7)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="integer >= 1"):
            ActionRepeat(plain, bad)


def test_vec_action_repeat_matches_the_gym_wrapper_until_an_episode_ends():
    # Pendulum truncates at 200 steps: with k = 3 the 67th decision ends the episode after 2 repetitions
    vec = VecActionRepeat(make_vec_env("Pendulum-v1", n_envs=2, seed=5), 3)
    ref = [ActionRepeat(gym.make("Pendulum-v1"), 3) for _ in range(2)]
    obs = vec.reset()
    for i, env in enumerate(ref):
        assert np.allclose(obs[i], env.reset(seed=5 + i)[0])
    rng = np.random.default_rng(0)
    for t in range(67):
        actions = rng.uniform(-2, 2, (2, 1)).astype(np.float32)
        obs, rewards, dones, infos = vec.step(actions)
        for i, env in enumerate(ref):
            o, r, _, trunc, _ = env.step(actions[i])
            assert rewards[i] == pytest.approx(r, rel=1e-5)
            assert dones[i] == trunc == (t == 66)
            if dones[i]:  # the ended episode's last state, as SB3 hands it over
                assert np.allclose(infos[i]["terminal_observation"], o, atol=1e-6)
            else:
                assert np.allclose(obs[i], o, atol=1e-6)
    assert action_repeat_of(vec) == 3 and action_repeat_of(vec.venv) == 1


def test_held_actions_decide_every_k_steps_and_restart_with_an_episode():
    class Model:  # answers its call count; the state counts the decisions
        calls = 0
        gamma = 0.5

        def predict(self, obs, state=None, episode_start=None, deterministic=False):
            self.calls += 1
            return np.array([self.calls]), (state or 0) + 1

    controller, state, actions = HeldActions(Model(), 2), None, []
    for t in range(5):
        action, state = controller.predict(None, state, np.array([t in (0, 3)]))
        actions.append(int(action[0]))
    assert actions == [1, 1, 2, 3, 3]  # a new episode at step 3 asks at once
    assert state == 3
    assert controller.gamma == 0.5  # the model's other attributes show through


def test_the_drone_protocols_fly_at_the_decision_rate_a_model_was_trained_with():
    pytest.importorskip("l2f")
    from sb3_spiking.tasks.drone.protocols import fly
    from sb3_spiking.tasks.drone.training_callbacks import actor_input_options
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    guide = "sb3_spiking.tasks.drone.pd_guide:PDHoverGuide"
    plain, held = fly(None, guide, n_episodes=8), fly(None, guide, n_episodes=8, action_repeat=2)
    assert plain.lengths.max() == 500 and held.lengths.max() == 250  # 250 decisions of 2 steps
    assert held.mean_return != pytest.approx(plain.mean_return)  # the guide really holds its commands
    assert held.mean_return > 0.8 * plain.mean_return  # ... and still hovers (365.5 vs 399.2 on the 100 final starts)
    assert actor_input_options(VecActionRepeat(DroneHoverVecEnv(2), 2)) == {"action_repeat": 2}
    assert actor_input_options(DroneHoverVecEnv(2)) == {}
