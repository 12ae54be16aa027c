"""Canary for rl-zoo upgrades: every rl_zoo3 name, method and attribute sb3_spiking.zoo relies on.

rl-zoo has no plugin API, so sb3_spiking.zoo registers into its tables, subclasses its
ExperimentManager and swaps a few module-level names for one call (sb3_spiking/zoo/_patching.py).
A rename in rl_zoo3 would break that silently or deep inside a training run; these tests fail
first, naming what is missing. Keep the lists in step with ``grep -rn rl_zoo3 sb3_spiking/zoo``.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import inspect

import pytest

pytest.importorskip("rl_zoo3")

#: (module, name): module-level names used, and where
MODULE_NAMES = [
    ("rl_zoo3.train", "train", "cli._train calls it"),
    ("rl_zoo3.train", "ExperimentManager", "cli._train swaps it for ZooExperimentManager"),
    ("rl_zoo3.enjoy", "enjoy", "cli._enjoy calls it"),
    ("rl_zoo3.exp_manager", "ExperimentManager", "manager.ZooExperimentManager subclasses it"),
    ("rl_zoo3.exp_manager", "make_vec_env", "ZooExperimentManager.create_envs swaps it for task_registry.make_vec_env"),
    ("rl_zoo3.exp_manager", "optuna", "ZooExperimentManager.hyperparameters_optimization swaps it"),
    ("rl_zoo3.utils", "ALGOS", "registration.register adds the algorithms; manager builds models from it"),
    ("rl_zoo3.hyperparams_opt", "HYPERPARAMS_SAMPLER", "registration.register adds the samplers"),
    ("rl_zoo3.hyperparams_opt", "HYPERPARAMS_CONVERTER", "registration.register adds the converters"),
    ("rl_zoo3.plots", "plot_train", "cli._plot (plot_train / plot)"),
    ("rl_zoo3.plots", "all_plots", "cli._plot (all_plots)"),
    ("rl_zoo3.plots", "plot_from_file", "cli._plot (plot_from_file)"),
    ("rl_zoo3.plots.plot_train", "plt", "cli._plot --output swaps plt.show"),
]

#: modules run with runpy as __main__ (cli.RUNPY_COMMANDS)
RUNPY_MODULES = ["rl_zoo3.record_video", "rl_zoo3.record_training", "rl_zoo3.push_to_hub", "rl_zoo3.load_from_hub"]

#: ExperimentManager methods ZooExperimentManager overrides or calls, with the parameters it passes
METHODS = {
    "__init__": [],
    "setup_experiment": [],
    "read_hyperparameters": [],
    "load_trial": ["storage", "study_name", "trial_id", "convert"],
    "create_callbacks": [],
    "create_envs": ["n_envs", "eval_env", "no_log"],
    "_maybe_normalize": ["env", "eval_env"],
    "_load_pretrained_agent": ["hyperparams", "env"],
    "learn": ["model"],
    "hyperparameters_optimization": [],
    "objective": ["trial"],
}

#: ExperimentManager instance attributes ZooExperimentManager reads or sets
ATTRIBUTES = [
    "_eval_env_kwargs_args", "_hyperparams", "algo", "callbacks", "config", "continue_training", "device", "env_kwargs",
    "env_name", "eval_env_kwargs", "log_folder", "log_interval", "log_path", "monitor_kwargs", "n_timesteps",
    "optimize_hyperparameters", "params_path", "save_path", "storage", "study_name", "tensorboard_log", "trial_id",
    "verbose",
]  # fmt: skip

#: (function, global names it must look up at call time for the swap to take effect)
LOOKED_UP = [
    ("rl_zoo3.train:train", ["ExperimentManager"]),
    ("rl_zoo3.exp_manager:ExperimentManager.create_envs", ["make_vec_env"]),
    ("rl_zoo3.exp_manager:ExperimentManager.hyperparameters_optimization", ["optuna", "create_study"]),
    ("rl_zoo3.plots.plot_train:plot_train", ["plt", "show"]),
]


def _resolve(path: str):
    module, _, qualname = path.partition(":")
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


@pytest.mark.parametrize("module, name, use", MODULE_NAMES, ids=[f"{m}.{n}" for m, n, _ in MODULE_NAMES])
def test_module_level_names(module, name, use):
    mod = importlib.import_module(module)
    assert hasattr(mod, name), f"rl_zoo3 renamed or removed {module}.{name}, which sb3_spiking.zoo uses ({use})"


@pytest.mark.parametrize("module", RUNPY_MODULES)
def test_modules_run_as_main_exist(module):
    assert importlib.util.find_spec(module) is not None, f"rl_zoo3 has no module {module} (sb3_spiking.zoo runs it)"


@pytest.mark.parametrize("method", sorted(METHODS))
def test_experiment_manager_methods(method):
    from rl_zoo3.exp_manager import ExperimentManager

    assert callable(getattr(ExperimentManager, method, None)), (
        f"rl_zoo3's ExperimentManager has no method {method!r}, which ZooExperimentManager overrides or calls"
    )
    params = list(inspect.signature(getattr(ExperimentManager, method)).parameters)
    missing = [p for p in METHODS[method] if p not in params]
    assert not missing, f"ExperimentManager.{method} lost the parameter(s) {missing} (it takes {params})"


def test_experiment_manager_attributes():
    from rl_zoo3 import exp_manager

    tree = ast.parse(inspect.getsource(exp_manager))
    assigned = set()
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        for target in targets:
            for sub in ast.walk(target):
                if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "self":
                    assigned.add(sub.attr)
    missing = sorted(set(ATTRIBUTES) - assigned)
    assert not missing, f"rl_zoo3's ExperimentManager no longer sets the attribute(s) {missing}, which ZooExperimentManager uses"


@pytest.mark.parametrize("path, names", LOOKED_UP, ids=[p for p, _ in LOOKED_UP])
def test_swapped_names_are_looked_up_at_call_time(path, names):
    code = _resolve(path).__code__
    found = set(code.co_names)
    for const in code.co_consts:  # nested functions and comprehensions
        if inspect.iscode(const):
            found |= set(const.co_names)
    missing = [n for n in names if n not in found]
    assert not missing, f"{path} no longer looks up {missing}: swapping them (sb3_spiking/zoo/_patching.py) has no effect"


def test_record_training_starts_record_video_as_the_cli_rewrites_it():
    from sb3_spiking.zoo.cli import RECORD_VIDEO_CALL

    source = inspect.getsource(importlib.import_module("rl_zoo3.record_training"))
    call = ", ".join(f'"{part}"' for part in RECORD_VIDEO_CALL)
    assert f"subprocess.call([{call}" in source, (
        f"rl_zoo3.record_training no longer runs subprocess.call([{call}, ...]): the record_training command of "
        "sb3_spiking.zoo would start record_video without our algorithms"
    )


def test_registration_tables_are_dicts():
    from rl_zoo3 import hyperparams_opt, utils

    for table in (utils.ALGOS, hyperparams_opt.HYPERPARAMS_SAMPLER, hyperparams_opt.HYPERPARAMS_CONVERTER):
        assert isinstance(table, dict), f"rl_zoo3 changed a registration table to {type(table).__name__}"


def test_study_command_names_no_task_by_default(capsys):
    """The core CLI assumes no task: ``study`` needs ``--env`` (or both ``--storage`` and ``--study-name``)."""
    from sb3_spiking.zoo.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["study", "--algo", "guided_td3"])
    assert exc.value.code == 2 and "--env is needed" in capsys.readouterr().err
