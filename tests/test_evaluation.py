"""Paired evaluation protocols of drone controllers (sb3_spiking.tasks.drone.evaluation)."""

import os

import numpy as np
import pytest

from _legacy_defaults import LEGACY_DEFAULTS
from sb3_spiking import GuidedTD3
from sb3_spiking.tasks.drone.evaluation import FinalEvaluationCallback, actor_history_of, fly, format_report
from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide, evaluate_guide
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv


@pytest.fixture(scope="module")
def model():
    env = DroneHoverVecEnv(2, actor_history=4)
    return GuidedTD3("SpikingPolicy", env, guide=PDHoverGuide(), policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16])),
        seed=0, **LEGACY_DEFAULTS)


def test_guide_alone_matches_evaluate_guide():
    ours = fly(None, PDHoverGuide(), n_episodes=8, seed=5)
    ref = evaluate_guide(PDHoverGuide(), n_episodes=8, seed=5)
    assert ours.mean_return == pytest.approx(ref["mean_return"], rel=1e-6)
    assert ours.full_length == ref["full_length"]


def test_protocol_a_with_a_full_warmup_is_the_guide(model):
    # the guide flies every step: the actor only observes, so the episode is the guide's
    a = fly(model, PDHoverGuide(), guide_steps=500, n_episodes=6, seed=7)
    g = fly(None, PDHoverGuide(), n_episodes=6, seed=7)
    np.testing.assert_allclose(a.returns, g.returns, rtol=1e-6)


def test_autonomous_untrained_actor_differs_from_guide(model):
    assert actor_history_of(model) == 4
    b = fly(model, None, n_episodes=6, seed=7)
    g = fly(None, PDHoverGuide(), n_episodes=6, seed=7)
    assert b.lengths.shape == (6,) and (b.lengths >= 1).all() and (b.lengths <= 500).all()
    assert b.mean_return < g.mean_return  # an untrained actor does not hover like the PD guide


def test_fly_needs_a_guide_for_the_warmup(model):
    with pytest.raises(ValueError, match="guide is needed"):
        fly(model, None, guide_steps=10, n_episodes=2)


def test_final_evaluation_callback_writes_json(model, tmp_path):
    cb = FinalEvaluationCallback(n_episodes=3, path=str(tmp_path))
    model.learn(10, callback=cb)
    assert (tmp_path / "final_evaluation.json").exists()
    assert set(cb.results) >= {"a_guide_warmup", "b_autonomous", "guide", "b_autonomous@start"}
    assert "(b) autonomous" in format_report(cb.results)


def test_learning_curve_keeps_the_best_autonomous_controller(tmp_path):
    from sb3_spiking.tasks.drone.evaluation import BEST_MODEL_NAME, LearningCurveCallback

    env = DroneHoverVecEnv(2)
    model = GuidedTD3("SpikingPolicy", env, guide=PDHoverGuide(), learning_starts=20, train_freq=10, gradient_steps=1,
                      n_seq=10, n_warmup=2, stride=5, batch_size=4, policy_kwargs=dict(net_arch=dict(pi=[16], qf=[16])),
                          seed=0, **LEGACY_DEFAULTS)
    best = tmp_path / BEST_MODEL_NAME
    best.write_bytes(b"stale file of an earlier run")
    curve = LearningCurveCallback(eval_freq=20, n_episodes=3, path=str(tmp_path / "curve.csv"), start_weights=False, verbose=0)
    final = FinalEvaluationCallback(n_episodes=3, path=str(tmp_path))
    model.learn(100, callback=[curve, final])
    returns = [row["mean_return"] for row in curve.rows]
    assert len(returns) == 5 and curve.best_return == pytest.approx(max(returns), abs=0.01)
    kept = GuidedTD3.load(best)  # the stale file was replaced by a loadable model ...
    first_max = 20 * (1 + int(np.argmax(returns)))
    assert first_max <= kept.num_timesteps < first_max + 2  # ... saved at the first evaluation with the best return
    b = fly(kept, None, n_episodes=3, seed=1_000)  # the curve's initial states: the same flights again
    assert b.mean_return == pytest.approx(max(returns), abs=0.01)
    assert final.results["best_checkpoint"]["timesteps"] == kept.num_timesteps
    assert set(final.results["best_checkpoint"]) >= {"a_guide_warmup", "b_autonomous", "guide"}
    # resuming appends to the curve and keeps the best return recorded so far
    resumed = LearningCurveCallback(eval_freq=20, n_episodes=3, path=str(tmp_path / "curve.csv"), verbose=0)
    model.learn(20, callback=resumed, reset_num_timesteps=False)
    assert resumed.best_return >= max(returns)
    assert len((tmp_path / "curve.csv").read_text().splitlines()) == 1 + 5 + 1  # one header, rows appended
    # a resumed run's final evaluation also scores a best checkpoint saved before the interruption
    os.utime(best, (0, 0))
    resumed = LearningCurveCallback(eval_freq=20, n_episodes=3, path=str(tmp_path / "curve.csv"), save_best=False, verbose=0)
    final = FinalEvaluationCallback(n_episodes=3, path=str(tmp_path))
    model.learn(20, callback=[resumed, final], reset_num_timesteps=False)
    assert final.results["best_checkpoint"]["timesteps"] == GuidedTD3.load(best).num_timesteps <= 120


def test_learning_curve_save_best_off_writes_no_model(tmp_path, model):
    from sb3_spiking.tasks.drone.evaluation import BEST_MODEL_NAME, LearningCurveCallback

    cb = LearningCurveCallback(
        eval_freq=2, n_episodes=2, path=str(tmp_path / "curve.csv"), start_weights=False, save_best=False, verbose=0
    )
    model.learn(4, callback=cb)
    assert len(cb.rows) >= 1 and not (tmp_path / BEST_MODEL_NAME).exists()


def test_the_evaluation_cli_and_the_driver_fly_a_model_with_the_history_fill_it_was_trained_with(model, tmp_path):
    import json

    from experiments.runner import evaluation_flags
    from sb3_spiking.tasks.drone.evaluation import main

    assert evaluation_flags({"env_kwargs": {"actor_history": 4, "history_fill": -0.5}}) == ["--history-fill", "-0.5"]
    assert evaluation_flags({"env_kwargs": {"actor_history": 4}}) == [] and evaluation_flags({}) == []
    model.save(tmp_path / "m.zip")
    main([str(tmp_path / "m.zip"), "--episodes", "4", "--history-fill", "-0.5", "--json", str(tmp_path / "e.json")])
    got = json.loads((tmp_path / "e.json").read_text())["b_autonomous"]["mean_return"]
    assert got == pytest.approx(fly(model, None, 0, 4, history_fill=-0.5).mean_return)
    assert got != pytest.approx(fly(model, None, 0, 4).mean_return)  # the fill reaches the actor's input


def test_the_evaluation_cli_and_the_driver_fly_a_model_at_the_decision_rate_it_was_trained_with(model, tmp_path):
    import json

    from experiments.runner import evaluation_flags
    from sb3_spiking.tasks.drone.evaluation import main

    wrapper = {"sb3_spiking.envs.action_repeat.VecActionRepeat": {"k": 2}}
    assert evaluation_flags({"vec_env_wrapper": wrapper}) == ["--action-repeat", "2"]
    model.save(tmp_path / "m.zip")
    main([str(tmp_path / "m.zip"), "--episodes", "4", "--action-repeat", "2", "--json", str(tmp_path / "e.json")])
    got = json.loads((tmp_path / "e.json").read_text())
    assert got["guide"]["mean_return"] == pytest.approx(fly(None, "sb3_spiking.tasks.drone.pd_guide:PDHoverGuide", 0, 4,
                                                            action_repeat=2).mean_return)
    assert got["b_autonomous"]["mean_return"] == pytest.approx(fly(model, None, 0, 4, action_repeat=2).mean_return)
    with pytest.raises(SystemExit):
        main([str(tmp_path / "m.zip"), "--action-repeat", "0"])
