"""GuidedTD3's constructor defaults (the best measured recipe) and the presets one argument away."""

from __future__ import annotations

import inspect
import re
import warnings
from pathlib import Path

import pytest

from _legacy_defaults import LEGACY_DEFAULTS
from sb3_spiking import PAPER_RECIPE, GuidedTD3, SpikingPolicy
from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide
from test_guided_td3 import FAST, _novel_env, privileged_guide  # the same small Pendulum set-up

PAPER = Path(__file__).parent / "data" / "paper_recipe_excerpt.md"  # the paper summary's recipe section, in the checkout

#: the paper's values (its hyper-parameter table and §3.1 / S5, as summarised in shared/reference/paper.md §6)
PAPER_VALUES = dict(learning_rate=1e-3, tau=0.01, gamma=0.99, target_policy_noise=0.2, target_noise_clip=0.5, n_seq=100,
                    n_warmup=50, alpha=2.0, bc_coef=0.2, bc_decay=0.99, bc_target="executed", guide_horizon_start=500 - 100,
                    guide_horizon_end=50, guide_horizon_fraction=0.8, critic_fraction=1.0)  # fmt: skip
PAPER_SLOPE = 2.0  # the paper's initial slope: SpikingPolicy's default, a policy kwarg


def test_paper_recipe_has_the_papers_values():
    for key, value in PAPER_VALUES.items():
        assert PAPER_RECIPE[key] == value, key
    assert inspect.signature(SpikingPolicy.__init__).parameters["slope"].default == PAPER_SLOPE
    # every key is a constructor argument, and the preset cannot be changed by accident
    assert set(PAPER_RECIPE) <= set(inspect.signature(GuidedTD3.__init__).parameters)
    with pytest.raises(TypeError):
        PAPER_RECIPE["alpha"] = 0.0  # type: ignore[index]


def test_paper_recipe_matches_the_reference_text():
    text = PAPER.read_text()
    table = text[text.index("Hyper-parameters (paper table)") :][:400]
    for phrase in ("lr 1e-3", "warm-up 50", "policy noise\n0.2", "noise clip 0.5", "α 2.0", "τ 0.01", "γ 0.99",
                   "λ_BC 0.2", "BC decay 0.99"):  # fmt: skip
        assert phrase.replace("\n", " ") in table.replace("\n", " "), phrase
    assert "n_seq = 100" in text and "`a_i` is the buffer action" in text  # bc_target "executed"
    assert re.search(r"`H` starts at `500 − N`", text) and "until only the 50-step\n  warm-up is guided" in text
    assert "~80 % of training" in text


def test_paper_recipe_builds_a_model_with_those_settings():
    model = GuidedTD3("SpikingPolicy", _novel_env(1), guide=privileged_guide, **{**FAST, **PAPER_RECIPE, "n_seq": 16,
                                                                                  "n_warmup": 4})
    assert (model.alpha, model.bc_coef, model.bc_target, model.policy_delay) == (2.0, 0.2, "executed", 2)
    assert (model.guide_horizon_start, model.guide_horizon_end, model.critic_fraction) == (400, 50, 1.0)


def test_defaults_with_a_guide_are_the_measured_recipe_and_warn_about_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. the alpha=0 + policy_delay>1 warning must not fire on the defaults
        model = GuidedTD3("SpikingPolicy", _novel_env(1), guide=privileged_guide, **FAST)
    assert (model.alpha, model.bc_coef, model.bc_target, model.policy_delay) == (0.0, 1.0, "guide", 1)
    assert (model.guide_horizon_start, model.guide_horizon_end) == (200, 0)
    model._current_progress_remaining = 0.0  # end of training: the actor flies whole episodes
    assert model.guide_horizon == 0


def test_defaults_without_a_guide_are_sequence_td3():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = GuidedTD3("SpikingPolicy", "Pendulum-v1", **FAST)
    assert (model.alpha, model.policy_delay) == (2.0, 2), "without a guide the Q term is the actor's only loss"
    explicit = GuidedTD3("SpikingPolicy", "Pendulum-v1", alpha=0.5, **FAST)
    assert explicit.policy_delay == 2  # a Q term: TD3's delay


def test_legacy_defaults_restore_the_old_constructor():
    model = GuidedTD3("SpikingPolicy", "Pendulum-v1", guide=PendulumSwingUpGuide(), **FAST, **LEGACY_DEFAULTS)
    assert (model.alpha, model.bc_coef, model.policy_delay, model.bc_target) == (2.0, 0.2, 2, "guide")
    assert (model.guide_horizon_start, model.guide_horizon_end) == (400, FAST["n_warmup"])


@pytest.mark.parametrize(("key", "value", "expected"), [("alpha", "two", "a number"), ("policy_delay", 1.5, "an integer")])
def test_zoo_configs_still_type_check_the_arguments_whose_default_is_none(key, value, expected):
    from sb3_spiking.zoo.config import ZooConfigError, check_hyperparams

    entry = {"n_timesteps": 100, "policy": "SpikingPolicy"}
    check_hyperparams("guided_td3", {**entry, key: None}, "test")  # None: the constructor's choice
    with pytest.raises(ZooConfigError, match=f"{key}.*{expected}"):
        check_hyperparams("guided_td3", {**entry, key: value}, "test")
