"""zoo_configs/guided_td3_vine.yml: the drone recipe with the vine phase, written as overrides of the default."""

from __future__ import annotations

import glob

import pytest

from experiments.experiments import BY_NAME
from sb3_spiking.zoo.config import check_hyperparams
from test_zoo import CONFIGS, TINY_NET, load_config, run_cli, tb_scalars

CURRICULUM = "sb3_spiking.tasks.drone.curriculum.RewardCurriculumCallback"


def test_vine_config_is_the_default_plus_the_measured_vine_phase():
    """The file extends the default (its keys are the overrides); resolved, it is what the experiment measured."""
    default = load_config(CONFIGS / "guided_td3.yml")["DroneHover-v0"]
    vine = load_config(CONFIGS / "guided_td3_vine.yml")["DroneHover-v0"]
    check_hyperparams("guided_td3", dict(vine), "guided_td3_vine.yml [DroneHover-v0]")
    # what the docs' numbers were measured with: the experiment main_vine_early80 (its callback=[] drops the curriculum;
    # the reproduce driver adds the learning curve and the final evaluation, as this config does)
    overrides = dict(BY_NAME["main_vine_early80"].overrides)
    assert overrides.pop("callback") == []
    expected = {**default, **overrides, "callback": [c for c in default["callback"] if c != CURRICULUM]}
    assert vine == expected
    assert len(vine["callback"]) == len(default["callback"]) - 1


@pytest.mark.parametrize("copies", ["simulator", "model"])
def test_vine_config_trains_from_the_cli_and_logs_the_vine_phase(tmp_path, copies):
    """`--conf-file zoo_configs/guided_td3_vine.yml` on a tiny budget: the vine phase runs and is logged, with its
    copies on the simulator or on a learnt model (``copies`` given in the YAML's vine_kwargs, a string)."""
    pytest.importorskip("l2f")
    params = ["n_envs:2", "buffer_size:20000", "learning_starts:200", "batch_size:8", "n_seq:20", "n_warmup:5", "stride:5",
              TINY_NET, "env_kwargs:dict(actor_history=0)", "vine_start_fraction:0.5",
              "vine_kwargs:dict(n_leaders=2,horizon=20,leader_steps=20,spacing=10,early_steps=10,early_spacing=3,batch_size=8,"
              f"copies='{copies}',model_updates=3)"]
    run_cli(["train", "--algo", "guided_td3", "--env", "DroneHover-v0", "-f", "logs", "-n", "1200", "--eval-freq", "-1",
             "--seed", "1", "--log-interval", "1", "-tb", "tb", "--conf-file", str(CONFIGS / "guided_td3_vine.yml"),
             "-params", *params], tmp_path)  # fmt: skip
    run = tmp_path / "logs" / "guided_td3" / "DroneHover-v0_1"
    assert (run / "DroneHover-v0.zip").is_file() and (run / "final_evaluation.json").is_file()
    scalars = tb_scalars(glob.glob(str(tmp_path / "tb" / "DroneHover-v0" / "GuidedTD3_*"))[0])
    assert scalars["vine/samples"][-1] > 0 and scalars["vine/learning_rate"][-1] < scalars["vine/learning_rate"][0]
    assert "curriculum/stage" not in scalars  # no reward curriculum in this recipe
    assert ("vine/model_loss" in scalars) == (copies == "model")
