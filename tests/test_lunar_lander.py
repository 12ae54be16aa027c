"""The LunarLander task (velocities hidden from the actor, heuristic guide) and its zoo config."""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

pytest.importorskip("Box2D", reason="the box2d extra is not installed")

from gymnasium.envs.box2d.lunar_lander import heuristic  # noqa: E402

from sb3_spiking import GuidedTD3  # noqa: E402
from sb3_spiking.guides import resolve_guide  # noqa: E402
from sb3_spiking.tasks.lunar_lander import (  # noqa: E402
    ACTOR_INDICES,
    BOX_ENV_ID,
    ENV_ID,
    HIDDEN_INDICES,
    LunarLanderHeuristicGuide,
    episode_landed,
    evaluate_landing,
    make_lunar_lander_novel_privileged,
    register_envs,
)
from sb3_spiking.zoo import ZooGuidedTD3  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "zoo_configs" / "guided_td3.yml"


class _Constant:
    """A controller that always sends the same command."""

    def __init__(self, action):
        self.action = np.asarray(action, np.float32)

    def __call__(self, obs):
        return np.tile(self.action, (len(obs), 1))


def test_dict_observation_hides_the_velocities_from_the_actor():
    env = make_lunar_lander_novel_privileged()
    assert set(env.observation_space.spaces) == {"actor", "privileged"}
    assert env.observation_space["actor"].shape == (5,) and env.observation_space["privileged"].shape == (8,)
    obs, _ = env.reset(seed=3)
    for _ in range(5):
        assert env.observation_space.contains(obs)
        np.testing.assert_array_equal(obs["actor"], obs["privileged"][list(ACTOR_INDICES)])
        obs, *_ = env.step(env.action_space.sample())
    assert sorted(ACTOR_INDICES + HIDDEN_INDICES) == list(range(8))
    # the lander moves, so the hidden entries carry information the actor's part lacks
    assert np.abs(obs["privileged"][list(HIDDEN_INDICES)]).max() > 0.01


def test_registered_ids_and_the_box_twin_give_the_same_actor_view():
    register_envs()
    priv, box = gym.make(ENV_ID), gym.make(BOX_ENV_ID)
    assert box.observation_space.shape == (5,)
    (o_priv, _), (o_box, _) = priv.reset(seed=11), box.reset(seed=11)
    np.testing.assert_array_equal(o_priv["actor"], o_box)
    a = np.array([0.3, -0.2], np.float32)
    np.testing.assert_array_equal(priv.step(a)[0]["actor"], box.step(a)[0])


def test_actor_history_and_scale_options():
    env = make_lunar_lander_novel_privileged(actor_history=2, actor_scale=10.0)
    assert env.observation_space["actor"].shape == (15,) and env.observation_space["privileged"].shape == (8,)
    obs, _ = env.reset(seed=0)
    first = obs["actor"][:5].copy()
    np.testing.assert_allclose(obs["actor"], np.tile(first, 3))  # history filled with the first frame
    np.testing.assert_allclose(first, 10.0 * obs["privileged"][list(ACTOR_INDICES)], rtol=1e-6)
    obs2, *_ = env.step(np.zeros(2, np.float32))
    np.testing.assert_allclose(obs2["actor"][5:10], first)  # newest first: the previous frame moved back
    np.testing.assert_allclose(obs2["actor"][:5], 10.0 * obs2["privileged"][list(ACTOR_INDICES)], rtol=1e-6)
    with pytest.raises(ValueError, match="actor_scale"):
        make_lunar_lander_novel_privileged(actor_scale=0.0)


def test_guide_is_gymnasiums_heuristic_batched_and_names_itself_on_a_wrong_shape():
    guide = resolve_guide("sb3_spiking.tasks.lunar_lander:LunarLanderHeuristicGuide")
    rng = np.random.default_rng(0)
    obs = rng.uniform(-1, 1, (6, 8)).astype(np.float32)
    obs[:, 6:] = rng.integers(0, 2, (6, 2))
    continuous = gym.make("LunarLanderContinuous-v3")
    expected = np.stack([heuristic(continuous, row) for row in obs.astype(np.float64)])
    actions = guide(obs)
    assert actions.shape == (6, 2) and actions.dtype == np.float32
    np.testing.assert_allclose(actions, expected, rtol=1e-6)
    with pytest.raises(ValueError, match="LunarLanderHeuristicGuide needs the full 8-value observation"):
        guide(obs[:, list(ACTOR_INDICES)])


def test_guide_lands_and_landed_means_at_rest_not_crashed_or_timed_out():
    result = evaluate_landing(LunarLanderHeuristicGuide(), seeds=range(4), observation="privileged")
    assert result.landed.all() and result.returns.min() > 200
    assert (result.lengths < 1000).all()
    crashed = evaluate_landing(_Constant([-1.0, 0.0]), seeds=range(2), observation="privileged")  # engines off: falls
    assert not crashed.landed.any() and (crashed.returns < 0).all()
    assert not episode_landed(make_lunar_lander_novel_privileged(), terminated=False)  # truncation is never a landing


def _zoo_entry() -> dict:
    with open(CONFIG) as f:
        return dict(yaml.safe_load(f)[ENV_ID])


def test_zoo_entry_builds_and_learns_a_few_hundred_steps():
    """The shipped config, shrunk to a smoke run: collection with the guide, actor-only updates, an evaluation."""
    from stable_baselines3.common.env_util import make_vec_env

    hp = _zoo_entry()
    assert hp["guide"] == "sb3_spiking.tasks.lunar_lander:LunarLanderHeuristicGuide"
    assert (hp["alpha"], hp["bc_target"], hp["guide_horizon_end"], hp["policy_delay"]) == (0.0, "guide", 0, 1)
    env_kwargs = hp["env_kwargs"]
    env = make_vec_env(make_lunar_lander_novel_privileged, n_envs=2, seed=0, env_kwargs=env_kwargs)
    keep = ("policy", "policy_kwargs", "guide", "alpha", "bc_coef", "bc_target", "policy_delay", "guide_horizon_start",
            "guide_horizon_end", "guide_horizon_fraction", "n_seq", "n_warmup", "stride")
    kwargs = {k: hp[k] for k in keep}
    kwargs["policy_kwargs"] = dict(kwargs["policy_kwargs"], net_arch=dict(pi=[16, 16], qf=[16]))
    kwargs.update(learning_starts=100, batch_size=4, train_freq=20, gradient_steps=2, buffer_size=5000, seed=0)
    model = ZooGuidedTD3(env=env, **kwargs)
    model.learn(400)
    assert model.num_timesteps == 400
    assert 0.0 < model._guided_steps < 400  # the guide flew the first steps of each episode, the actor the rest
    assert model.replay_buffer.size() > 0
    result = evaluate_landing(model, seeds=range(2), observation="dict", env_kwargs=env_kwargs)
    assert np.isfinite(result.returns).all() and len(result.returns) == 2


def test_plain_guided_td3_defaults_run_on_the_task():
    """A new user's call: the env, the guide, nothing else; the defaults are the measured recipe (BC alone)."""
    model = GuidedTD3("SpikingPolicy", make_lunar_lander_novel_privileged(), guide=LunarLanderHeuristicGuide(),
                      policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16])), learning_starts=100, train_freq=50,
                      gradient_steps=2, n_seq=20, n_warmup=5, stride=5, batch_size=4, buffer_size=5000, seed=0)
    assert (model.alpha, model.policy_delay, model.bc_coef, model.guide_horizon_end) == (0.0, 1, 1.0, 0)
    critic_before = [p.detach().clone() for p in model.critic.parameters()]
    model.learn(300)
    assert all(th_equal(a, b) for a, b in zip(critic_before, model.critic.parameters())), "alpha 0: no critic update"


def th_equal(a, b) -> bool:
    return bool((a == b.detach()).all())


def test_the_archived_comparisons_keep_the_actor_they_were_measured_with():
    # the experiments of docs/lunar_lander.md, the weak-teacher study and the memory table's history row ran on the
    # config's actor until issue 27 (LIF, the previous frame in its input, 200 k steps); they keep it
    import json

    from experiments.lunar_lander import history_entry
    from experiments.memory import zoo_entry as memory_base
    from experiments.weak_teacher_lunar import settings

    runs = CONFIG.parents[1] / "experiments" / "archive" / "lunar_lander" / "runs"
    archived = json.loads((runs / "guided_td3_s0.json").read_text())
    entry = history_entry()
    assert entry["env_kwargs"] == archived["env_kwargs"] == {"actor_history": 1, "actor_scale": 10.0}
    assert entry["n_timesteps"] == archived["budget_timesteps"] == 200_000 and "neuron" not in entry["policy_kwargs"]
    assert memory_base("lunar") == entry and settings("td3bc")["env_kwargs"] == entry["env_kwargs"]
    # ... except the weak-teacher variants named for the config's own actor since then
    alif = settings("alif_td3bc")
    assert alif["env_kwargs"] == _zoo_entry()["env_kwargs"] and alif["policy_kwargs"]["neuron"] == "adaptive"
    assert alif["alpha"] == settings("td3bc")["alpha"] == 2.5 and settings("td3bc_long")["n_timesteps"] == 400_000
    # held actions: the teacher flies the same 200 simulator steps, counted in decisions
    assert settings("td3bc")["guide_horizon_start"] == 200 and settings("td3bc_rep2")["guide_horizon_start"] == 100
    assert settings("td3bc_rep4_long")["guide_horizon_start"] == 50 and settings("alif_td3bc_rep4")["action_repeat"] == 4
    assert {k: v for k, v in entry.items() if k not in ("n_timesteps", "policy_kwargs", "env_kwargs")} == {
        k: v for k, v in _zoo_entry().items() if k not in ("n_timesteps", "policy_kwargs", "env_kwargs")}
