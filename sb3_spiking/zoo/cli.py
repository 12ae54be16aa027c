"""``python -m sb3_spiking.zoo COMMAND [rl-zoo flags]`` / ``sb3-spiking COMMAND …``.

Registers the sb3_spiking algorithms with rl-zoo, then runs rl-zoo's own command with all its flags:

=================  ==========================================================================
train              ``rl_zoo3.train`` (also ``-optimize``, ``--trial-id``); extra flags
                   (:data:`TRAIN_OPTIONS_HELP`): ``--search-space``, ``--checkpoint-freq``,
                   ``--checkpoint-keep``, ``--resume``, ``--heartbeat-interval``,
                   ``--heartbeat-grace``, ``--trial-retries``, ``--keep-freed-memory``
enjoy              ``rl_zoo3.enjoy``
record_video       ``rl_zoo3.record_video`` (run as ``__main__``, as rl-zoo requires)
record_training    ``rl_zoo3.record_training`` (its ``record_video`` sub-processes use this CLI)
push_to_hub        ``rl_zoo3.push_to_hub``
load_from_hub      ``rl_zoo3.load_from_hub``
plot_train / plot  ``rl_zoo3.plots.plot_train`` (training-episode curves from monitor files);
                   extra flag ``--output FILE`` saves the figure instead of showing it
all_plots          ``rl_zoo3.plots.all_plots`` (evaluation curves; needs seaborn)
plot_from_file     ``rl_zoo3.plots.plot_from_file``
study              summary of an optuna study (trials per state, best trial, workers);
                   ``--create`` makes an empty study (do it once before starting many workers);
                   ``--fail-stale`` fails (and re-queues) trials of workers that died
=================  ==========================================================================

For our algorithms ``train`` defaults ``--conf-file`` to ``zoo_configs/<algo>.yml`` (looked up in
the working directory, then in the source checkout).
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from sb3_spiking import allocator, task_registry
from sb3_spiking.zoo._patching import swapped
from sb3_spiking.zoo.config import ZooConfigError
from sb3_spiking.zoo.registration import ALGO_NAMES, register

PROG = "sb3-spiking"
RUNPY_COMMANDS = {
    "record_video": "rl_zoo3.record_video",
    "record_training": "rl_zoo3.record_training",
    "push_to_hub": "rl_zoo3.push_to_hub",
    "load_from_hub": "rl_zoo3.load_from_hub",
}
PLOT_COMMANDS = {"plot_train": "plot_train", "plot": "plot_train", "all_plots": "all_plots", "plot_from_file": "plot_from_file"}
COMMANDS = ("train", "enjoy", *RUNPY_COMMANDS, *PLOT_COMMANDS, "study")
CONFIG_DIR = "zoo_configs"
TRAIN_OPTIONS_HELP = """\
sb3_spiking options of `train` (before rl-zoo's own options, listed below):
  --search-space JSON|YAML|FILE  narrow the optuna search space (-optimize)
  --checkpoint-freq N      every N env steps write a full checkpoint (model, replay buffer, slope
                           schedule, callback states, step budget) to <run folder>/checkpoints/
                           (default 0: none)
  --checkpoint-keep K      keep the K most recent checkpoints (default 2)
  --resume auto|PATH       continue from a checkpoint, in its run folder, at its step with its
                           total step budget. auto: the latest checkpoint of the most recent run
                           folder that has one (a new run when there is none or that run finished);
                           PATH: a checkpoints/step_* folder, its parent, or a run folder
  --heartbeat-interval S   -optimize: heartbeat of running trials every S seconds (default 60,
                           0: off); trials of dead workers are failed by the other workers
  --heartbeat-grace S      seconds without a heartbeat before a trial is failed (default 3 x interval)
  --trial-retries N        re-queue a trial failed that way N times, same parameters (default 1)
  --keep-freed-memory      keep freed memory mapped (sb3_spiking.allocator; process-wide, applied on CPU):
                           faster sequence updates; the same as SB3_SPIKING_KEEP_FREED_MEMORY=1 or a
                           config's keep_freed_memory: true (the drone configs set it)
"""


def _usage() -> str:
    return (
        f"usage: {PROG} {{{','.join(COMMANDS)}}} [rl-zoo flags]\n"
        f"  algorithms added to rl-zoo: {', '.join(ALGO_NAMES)}\n"
        f"  e.g. {PROG} train --algo guided_td3 --env Pendulum-v1 -f logs/\n"
        f"       {PROG} train --algo guided_td3 --env Pendulum-v1 -f logs/ --checkpoint-freq 5000 --resume auto\n"
        f"       {PROG} enjoy --algo guided_td3 --env Pendulum-v1 -f logs/ --no-render\n"
        f"  '{PROG} COMMAND -h' shows the command's own flags"
    )


def _pop_option(args: list[str], names: tuple[str, ...]) -> str | None:
    """Remove ``--name value`` / ``--name=value`` from ``args``; return the value (last one wins)."""
    value = None
    i = 0
    while i < len(args):
        arg = args[i]
        name, eq, inline = arg.partition("=")
        if name in names:
            if eq:
                value = inline
                del args[i]
            else:
                if i + 1 >= len(args):
                    raise ZooConfigError(f"{name} needs a value")
                value = args[i + 1]
                del args[i : i + 2]
            continue
        i += 1
    return value


def _option_value(args: list[str], names: tuple[str, ...]) -> str | None:
    for i, arg in enumerate(args):
        name, eq, inline = arg.partition("=")
        if name in names:
            return inline if eq else (args[i + 1] if i + 1 < len(args) else None)
    return None


def default_config(algo: str) -> str | None:
    """``zoo_configs/<algo>.yml`` in the working directory, else in the source checkout."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        path = root / CONFIG_DIR / f"{algo}.yml"
        if path.is_file():
            return str(path)
    return None


def load_search_space(text: str) -> dict[str, Any]:
    """``--search-space`` value: a YAML/JSON file path or an inline YAML/JSON mapping."""
    source = Path(text).read_text() if os.path.isfile(text) else text
    try:
        space = yaml.safe_load(source)
    except yaml.YAMLError as e:
        raise ZooConfigError(f"--search-space: not valid YAML/JSON: {e}") from e
    if not isinstance(space, dict):
        raise ZooConfigError(f"--search-space must be a mapping knob -> choices/range, got {space!r}")
    return space


def _int_option(args: list[str], name: str, default: int | None) -> int | None:
    value = _pop_option(args, (name,))
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ZooConfigError(f"{name} must be an integer, got {value!r}") from None


def pop_reliability_options(args: list[str]):  # -> ReliabilityOptions
    """Remove the checkpoint / resume / heartbeat flags from ``args`` and return them."""
    from sb3_spiking.zoo.heartbeat import HeartbeatSettings
    from sb3_spiking.zoo.manager import ReliabilityOptions

    freq = _int_option(args, "--checkpoint-freq", 0)
    keep = _int_option(args, "--checkpoint-keep", 2)
    resume = _pop_option(args, ("--resume",))
    try:
        heartbeat = HeartbeatSettings(
            interval=_int_option(args, "--heartbeat-interval", 60),  # type: ignore[arg-type]
            grace=_int_option(args, "--heartbeat-grace", None),
            retries=_int_option(args, "--trial-retries", 1),  # type: ignore[arg-type]
        )
    except ValueError as e:
        raise ZooConfigError(str(e)) from e
    return ReliabilityOptions(checkpoint_freq=freq, checkpoint_keep=keep, resume=resume, heartbeat=heartbeat)  # type: ignore[arg-type]


def _train(args: list[str]) -> None:
    import functools

    import rl_zoo3.train

    from sb3_spiking.zoo.manager import ZooExperimentManager
    from sb3_spiking.zoo.sampler import set_search_space

    if {"-h", "--help"} & set(args):
        print(TRAIN_OPTIONS_HELP)
    options = pop_reliability_options(args)
    if "--keep-freed-memory" in args:
        args.remove("--keep-freed-memory")
        allocator.request_keep_freed_memory()
    space = _pop_option(args, ("--search-space",))
    if space is not None:
        try:
            set_search_space(load_search_space(space))
        except ValueError as e:
            raise ZooConfigError(str(e)) from e
    algo = _option_value(args, ("--algo",))
    if algo in ALGO_NAMES and _option_value(args, ("-conf", "--conf-file")) is None and not {"-h", "--help"} & set(args):
        config = default_config(algo)
        if config is None:
            raise ZooConfigError(f"no config for --algo {algo}: pass -conf FILE (looked for {CONFIG_DIR}/{algo}.yml)")
        args += ["--conf-file", config]
    env_id = _option_value(args, ("--env",)) or ""
    if (
        task_registry.prefers_single_thread(env_id)
        and _option_value(args, ("--num-threads",)) is None
        and not {"-h", "--help"} & set(args)
    ):
        # the env's task asked for one torch thread (the drone: torch's and the simulator's OpenMP
        # threads fight for the cores)
        args += ["--num-threads", "1"]
        print(f"{PROG} train: torch uses 1 thread on {env_id} (pass --num-threads N to change it)", flush=True)
    # rl-zoo's train() builds the manager by its module-level name: ours, for this call only
    manager = functools.partial(ZooExperimentManager, options=options)
    with swapped(rl_zoo3.train, "ExperimentManager", manager), swapped(sys, "argv", [f"{PROG} train", *args]):
        rl_zoo3.train.train()


def _enjoy(args: list[str]) -> None:
    import rl_zoo3.enjoy

    with swapped(sys, "argv", [f"{PROG} enjoy", *args]):
        rl_zoo3.enjoy.enjoy()


#: how rl-zoo's record_training starts record_video (checked by tests/test_zoo_canary.py)
RECORD_VIDEO_CALL = ["python", "-m", "rl_zoo3.record_video"]


def _run_module(command: str, args: list[str]) -> None:
    import subprocess

    module = RUNPY_COMMANDS[command]
    with contextlib.ExitStack() as stack:
        if command == "record_training":
            # it calls `python -m rl_zoo3.record_video` in sub-processes, which would not know our algorithms
            original_call = subprocess.call

            def call(cmd, *a, **kw):  # type: ignore[no-untyped-def]
                if isinstance(cmd, list) and cmd[:3] == RECORD_VIDEO_CALL:
                    cmd = [sys.executable, "-m", "sb3_spiking.zoo", "record_video", *cmd[3:]]
                return original_call(cmd, *a, **kw)

            stack.enter_context(swapped(subprocess, "call", call))
        stack.enter_context(swapped(sys, "argv", [f"{PROG} {command}", *args]))
        runpy.run_module(module, run_name="__main__", alter_sys=False)


def _plot(command: str, args: list[str]) -> None:
    output = _pop_option(args, ("--output",)) if PLOT_COMMANDS[command] == "plot_train" else None
    import matplotlib

    if output is not None:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from rl_zoo3 import plots

    with contextlib.ExitStack() as stack:
        stack.enter_context(swapped(sys, "argv", [f"{PROG} {command}", *args]))
        if output is not None:  # the figure is saved instead of shown
            stack.enter_context(swapped(plt, "show", lambda *a, **k: None))
        getattr(plots, PLOT_COMMANDS[command])()
    if output is not None:
        plt.gcf().savefig(output)
        print(f"saved {output}")


def study_summary(storage: str, study_name: str) -> dict[str, Any]:
    """Counts per trial state, per worker, and the best trial of a study (what ``study`` prints)."""
    import optuna

    from sb3_spiking.zoo.manager import mask_password, open_storage

    study = optuna.load_study(storage=open_storage(storage), study_name=study_name)
    trials = study.trials
    summary: dict[str, Any] = {
        "study": study_name,
        "storage": mask_password(storage),
        "n_trials": len(trials),
        "states": dict(Counter(t.state.name for t in trials)),
        "workers": dict(Counter(t.user_attrs.get("worker", "?") for t in trials)),
        "trial_numbers": [t.number for t in trials],
    }
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    if complete:
        best = study.best_trial
        summary["best"] = {"number": best.number, "value": best.value, "params": best.params}
    summary["pruned"] = [
        {"number": t.number, "evaluations": len(t.intermediate_values), "last_value": t.intermediate_values.get(t.last_step)}
        for t in trials
        if t.state.name == "PRUNED"
    ]
    return summary


def _study(args: list[str]) -> None:
    import argparse

    import optuna

    from sb3_spiking.zoo.manager import default_storage, default_study_name, mask_password, open_storage

    parser = argparse.ArgumentParser(prog=f"{PROG} study", description="Summary of (or create) an optuna study.")
    parser.add_argument("--storage", help="optuna storage URL or journal *.log file (default: the embedded one)")
    parser.add_argument("--study-name", help="default: <algo>_<env>")
    parser.add_argument("--algo", default="guided_td3")
    parser.add_argument("--env", help="env id of the study (names its default storage and study name)")
    parser.add_argument("-f", "--log-folder", default="logs")
    parser.add_argument("--create", action="store_true", help="create the study (maximize) if missing, then summarise")
    parser.add_argument("--fail-stale", action="store_true",
                        help="fail the RUNNING trials without a heartbeat for --heartbeat-grace seconds (workers that died) "
                             "and re-queue them --trial-retries times; what running workers do before each trial")  # fmt: skip
    parser.add_argument("--heartbeat-grace", type=int, default=180, help="seconds (default 180)")
    parser.add_argument("--trial-retries", type=int, default=1, help="default 1")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    ns = parser.parse_args(args)
    if ns.env is None and (ns.storage is None or ns.study_name is None):
        parser.error("--env is needed to find the study (or give both --storage and --study-name)")
    storage = ns.storage or default_storage(ns.log_folder, ns.algo, ns.env)
    name = ns.study_name or default_study_name(ns.algo, ns.env)
    if ns.create:
        optuna.create_study(storage=open_storage(storage), study_name=name, direction="maximize", load_if_exists=True)
    if ns.fail_stale:
        from sb3_spiking.zoo.heartbeat import HeartbeatSettings, fail_stale_trials

        try:
            # the interval only switches the heartbeat machinery on here; no trial runs in this process
            settings = HeartbeatSettings(interval=1, grace=ns.heartbeat_grace, retries=ns.trial_retries)
            study = optuna.load_study(storage=open_storage(storage, settings), study_name=name)
        except ValueError as e:
            raise ZooConfigError(str(e)) from e
        except KeyError as e:
            raise ZooConfigError(f"no study {name!r} in {mask_password(storage)} ({e})") from e
        print(f"failed stale trials: {fail_stale_trials(study)}")
    try:
        summary = study_summary(storage, name)
    except KeyError as e:  # optuna: "Record does not exist."
        raise ZooConfigError(f"no study {name!r} in {mask_password(storage)} ({e}); --create makes an empty one") from e
    if ns.json:
        print(json.dumps(summary, indent=2, default=str))
        return
    print(f"study {name} in {summary['storage']}: {summary['n_trials']} trials {summary['states']}")
    print(f"  workers: {summary['workers']}")
    if "best" in summary:
        best = summary["best"]
        print(f"  best trial {best['number']}: value {best['value']:.2f}")
        for key, value in best["params"].items():
            print(f"    {key}: {value}")
    for p in summary["pruned"]:
        print(f"  pruned trial {p['number']} after {p['evaluations']} evaluation(s), last value {p['last_value']}")


def main(argv: list[str] | None = None) -> None:
    """Entry point of ``python -m sb3_spiking.zoo`` and the ``sb3-spiking`` console script."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        sys.exit(0 if args else 2)
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"{PROG}: unknown command {command!r}\n{_usage()}", file=sys.stderr)
        sys.exit(2)
    try:
        if command not in PLOT_COMMANDS and command != "study":
            register()
        if command == "train":
            _train(rest)
        elif command == "enjoy":
            _enjoy(rest)
        elif command in RUNPY_COMMANDS:
            _run_module(command, rest)
        elif command in PLOT_COMMANDS:
            _plot(command, rest)
        else:
            _study(rest)
    except ZooConfigError as e:
        if os.environ.get("SB3_SPIKING_DEBUG"):
            raise
        print(f"{PROG} {command}: config error: {e}", file=sys.stderr)
        sys.exit(2)


__all__ = ["main", "study_summary"]
