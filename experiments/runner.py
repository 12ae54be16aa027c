"""Training and evaluating the reproduction driver's runs: one folder per (experiment, seed).

Each run is trained through our rl-zoo CLI from a derived config (``<out>/<experiment>/seed<k>/config.yml``,
the command in ``command.txt``), records its learning curve (``curve.csv``) and is then scored by
``sb3_spiking.tasks.drone.evaluation`` (``final_evaluation.json``, and the curve's best checkpoint). Finished runs whose
config is unchanged are skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from experiments.experiments import BY_NAME, ENV_ID, Experiment
from sb3_spiking.tasks.drone.config import DroneHoverConfig
from sb3_spiking.tasks.drone.evaluation import BEST_MODEL_NAME

ROOT = Path(__file__).resolve().parent.parent
#: autonomous evaluation every this many env steps during training (64 initial states, seed 1000)
CURVE_EVAL_FREQ = 20_000
#: final evaluation of the learning curve's best checkpoint (``best_autonomous_model.zip``)
BEST_EVALUATION = "final_evaluation_best.json"
#: create ``<out>/STOP`` to let the runs in flight finish and start no new one
STOP_FILE = "STOP"
#: robustness suite of the runs in group "robustness" (sb3_spiking.tasks.drone.evaluation --suite robustness), next to the run
ROBUSTNESS_CSV, ROBUSTNESS_MD = "robustness.csv", "robustness.md"
ADAPTIVE_GUIDE = "sb3_spiking.tasks.drone.pd_guide:AdaptivePDHoverGuide"

_print_lock = threading.Lock()


def _say(line: str) -> None:
    """Print one whole line: the driver's runs finish in parallel threads, and ``print`` writes the newline separately."""
    with _print_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def derive_config(exp: Experiment, steps: int, run_dir: Path, eval_freq: int = CURVE_EVAL_FREQ) -> dict[str, Any]:
    """The experiment's zoo entry with its overrides, the step budget and the curve callback."""
    with open(ROOT / "zoo_configs" / f"{exp.algo}.yml") as f:
        entry = dict(yaml.safe_load(f)[exp.env_id])
    for key, value in exp.overrides.items():
        if value is None:
            entry.pop(key, None)
        else:
            entry[key] = value
    entry["n_timesteps"] = int(steps)
    if entry.get("slope_schedule") == "adaptive":  # one evaluation stream: the curve's feeds the slope
        kwargs = dict(entry.get("slope_schedule_kwargs") or {})
        for key in ("eval_env", "n_eval_episodes"):
            kwargs.pop(key, None)
        kwargs["eval_freq"] = None
        entry["slope_schedule_kwargs"] = kwargs
    # the driver evaluates every run itself: drop the config's own curve / final evaluation callbacks
    callbacks = [c for c in (entry.get("callback") or []) if "LearningCurveCallback" not in str(c) and "FinalEvaluationCallback" not in str(c)]
    callbacks.append({"sb3_spiking.tasks.drone.evaluation.LearningCurveCallback": dict(eval_freq=eval_freq, path=str(run_dir / "curve.csv"))})
    entry["callback"] = callbacks
    return entry


#: drone modules before the task moved to sb3_spiking.tasks.drone: finished runs' config.yml still name them
_LEGACY_MODULES = {"sb3_spiking.envs.drone_vec_env": "sb3_spiking.tasks.drone.vec_env", "sb3_spiking.envs.drone": "sb3_spiking.tasks.drone.env",
                   "sb3_spiking.evaluation": "sb3_spiking.tasks.drone.evaluation",
                   **{f"sb3_spiking.envs.{m}": f"sb3_spiking.tasks.drone.{m}" for m in ("config", "reward", "curriculum", "pd_guide", "simulator", "task")}}
_LEGACY_PATTERN = re.compile("|".join(re.escape(m) + r"(?![A-Za-z0-9_])" for m in _LEGACY_MODULES))


def _current_paths(entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` with the import paths of moved modules (guides, callbacks) spelled as today."""
    return json.loads(_LEGACY_PATTERN.sub(lambda m: _LEGACY_MODULES[m.group(0)], json.dumps(entry)))


def _comparable(entry: dict[str, Any]) -> dict[str, Any]:
    """A run's config without what only names its folder (the curve's path) and with the env's defaults left out."""
    entry = _current_paths(dict(entry))
    entry.pop("keep_freed_memory", None)  # a speed setting (glibc mallopt): runs with and without it are the same experiment
    entry["callback"] = [{name: {k: v for k, v in (kwargs or {}).items() if k != "path"} for name, kwargs in c.items()}
                         if isinstance(c, dict) else c for c in entry.get("callback") or []]
    defaults = {f.name: f.default for f in fields(DroneHoverConfig)}
    entry["env_kwargs"] = {k: v for k, v in (entry.get("env_kwargs") or {}).items() if defaults.get(k, object()) != v}
    return entry


def config_changes(stored: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Hyper-parameters that differ between a finished run's ``config.yml`` entry and today's derivation."""
    a, b = _comparable(stored), _comparable(current)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def why_train(run_dir: Path, entry: dict[str, Any], steps: int, env_id: str = ENV_ID) -> str | None:
    """``None`` if ``run_dir`` holds a finished run of this config entry and step budget; else why it must be trained
    (``""``: it never finished)."""
    if not (run_dir / "final_evaluation.json").exists():
        return ""
    meta = json.loads((run_dir / "run.json").read_text())
    if meta.get("steps") != steps:
        return f"the finished run had {meta.get('steps'):,} steps"
    stored = yaml.safe_load((run_dir / "config.yml").read_text())
    if env_id not in stored:
        return f"the finished run trained on {', '.join(stored)}"
    changed = config_changes(stored[env_id], entry)
    return f"the finished run had other values of {', '.join(changed)}" if changed else None


def run_one(exp: Experiment, seed: int, steps: int, out: Path, force: bool = False, eval_freq: int = CURVE_EVAL_FREQ,
            stop: Path | None = None) -> Path | None:
    """Train and evaluate one (experiment, seed); returns the run folder, or ``None`` if it would have to train while the
    file ``stop`` exists.

    A finished run is skipped if it had the same step budget and the same config as today's derivation
    (zoo config + overrides); one whose config has changed since is trained again, with a message.
    """
    run_dir = out / exp.name / f"seed{seed}"
    done = run_dir / "final_evaluation.json"
    entry = derive_config(exp, steps, run_dir, eval_freq)
    reason = "" if force else why_train(run_dir, entry, steps, exp.env_id)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if reason is None:  # finished; one that predates the robustness suite gets it while its model is still there
        model = out / json.loads((run_dir / "run.json").read_text()).get("model", "")
        if model.is_file():
            _fly_robustness_suite(exp, run_dir, model, env)
        return run_dir
    if stop is not None and stop.exists():
        return None
    exp.check_rerunnable()
    if reason:
        _say(f"{exp.name} seed {seed}: retraining, {reason}")
    run_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("curve.csv", "final_evaluation.json", BEST_EVALUATION, ROBUSTNESS_CSV, ROBUSTNESS_MD):
        (run_dir / stale).unlink(missing_ok=True)
    config = run_dir / "config.yml"
    config.write_text(yaml.safe_dump({exp.env_id: entry}, sort_keys=False))
    logs = run_dir / "logs"
    cmd = [sys.executable, "-m", "sb3_spiking.zoo", "train", "--algo", exp.algo, "--env", exp.env_id, "--conf-file", str(config),
           "--seed", str(seed), "-f", str(logs), "--eval-freq", "-1", "--num-threads", "1", "--log-interval", "-1"]
    (run_dir / "command.txt").write_text(" ".join(cmd) + "\n")
    start = time.time()
    with open(run_dir / "train.log", "w") as log:
        proc = subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    minutes = (time.time() - start) / 60
    if proc.returncode != 0:
        raise RuntimeError(f"{exp.name} seed {seed} failed (exit {proc.returncode}); see {run_dir / 'train.log'}")
    models = sorted(logs.glob(f"{exp.algo}/{exp.env_id}_*/{exp.env_id}.zip"), key=os.path.getmtime)
    if not models:
        raise RuntimeError(f"{exp.name} seed {seed}: no saved model under {logs}")
    best = run_dir / BEST_MODEL_NAME  # kept by the learning curve (64 starts of another seed)
    flags = evaluation_flags(entry)
    if best.exists():
        subprocess.run([sys.executable, "-m", "sb3_spiking.tasks.drone.evaluation", str(best), "--json", str(run_dir / BEST_EVALUATION),
                        *flags], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    subprocess.run([sys.executable, "-m", "sb3_spiking.tasks.drone.evaluation", str(models[-1]), "--json", str(done), *flags],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    _fly_robustness_suite(exp, run_dir, models[-1], env)
    eval_minutes = (time.time() - start) / 60 - minutes  # the run's share of a --full's wall time is training + evaluation
    (run_dir / "run.json").write_text(json.dumps(dict(experiment=exp.name, seed=seed, steps=steps, train_minutes=round(minutes, 2),
                                                      eval_minutes=round(eval_minutes, 2),
                                                      model=str(models[-1].relative_to(out)))))
    return run_dir


def evaluation_flags(config: dict[str, Any]) -> list[str]:
    """The evaluation CLI's flags for the env options in a run's config that shape the actor's input or its decision
    rate (the models do not record them): flown as trained."""
    fill = (config.get("env_kwargs") or {}).get("history_fill")
    flags = [] if fill is None else ["--history-fill", str(fill)]
    repeat = (config.get("vec_env_wrapper") or {}).get("sb3_spiking.envs.action_repeat.VecActionRepeat")
    return flags + ([] if repeat is None else ["--action-repeat", str(repeat.get("k", 2))])


def _fly_robustness_suite(exp: Experiment, run_dir: Path, model: Path, env: dict[str, str]) -> None:
    """For runs in group "robustness" without a suite table yet: the final model under every condition of the
    robustness suite, beside the PD and the adaptive guide (100 starts, ~10 s)."""
    if "robustness" not in exp.groups or (run_dir / ROBUSTNESS_CSV).exists():
        return
    subprocess.run([sys.executable, "-m", "sb3_spiking.tasks.drone.evaluation", str(model), "--suite", "robustness", "--guide", ADAPTIVE_GUIDE,
                    "--csv", str(run_dir / ROBUSTNESS_CSV), "--markdown", str(run_dir / ROBUSTNESS_MD)],
                   cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)


def run_all(names: list[str], seeds: list[int], steps: int, out: Path, jobs: int = 2, force: bool = False,
            eval_freq: int = CURVE_EVAL_FREQ) -> str:
    """Train every (experiment, seed) not finished yet, ``jobs`` at a time, printing one line per run.

    :return: what this call trained and how long it took (a line of the report).
    """
    work_list = [(BY_NAME[n], s) for s in seeds for n in names]  # seed-major: every experiment gets seed 0 first
    print(f"{len(work_list)} runs ({len(names)} experiments × seeds {seeds}), {steps:,} env steps each, {jobs} in parallel -> {out}", flush=True)
    start = time.time()
    failures, trained = [], []

    stop = out / STOP_FILE
    stop.unlink(missing_ok=True)
    stopped: list[tuple[Experiment, int]] = []

    def work(job: tuple[Experiment, int]) -> None:
        exp, seed = job
        t0 = time.time()
        try:
            run_dir = run_one(exp, seed, steps, out, force, eval_freq, stop)
            if run_dir is None:  # would train; a finished run is still reported below
                stopped.append(job)
                return
            b = json.loads((run_dir / "final_evaluation.json").read_text())["b_autonomous"]
            new = (run_dir / "run.json").stat().st_mtime >= t0  # else finished by an earlier call
            trained.extend([job] if new else [])
            _say(f"[{(time.time() - start) / 60:6.1f} min] {exp.name:12s} seed {seed}: (b) {b['mean_return']:7.1f}, "
                 f"full-length {100 * b['full_length']:3.0f} %  " + (f"({(time.time() - t0) / 60:.1f} min)" if new else "(finished before)"))
        except Exception as e:  # keep the other runs going; report at the end
            failures.append(f"{exp.name} seed {seed}: {e}")
            _say(f"FAILED {exp.name} seed {seed}: {e}")

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        list(pool.map(work, work_list))
    duration = (time.time() - start) / 60
    others = [f"{n} {what}" for n, what in ((len(work_list) - len(trained) - len(failures) - len(stopped), "had finished before"),
                                            (len(failures), "failed"), (len(stopped), "not started")) if n]
    timing = f"that call trained {len(trained)} of its {len(work_list)} runs in {duration:.0f} min" + (f" ({', '.join(others)})" if others else "")
    print(timing, flush=True)
    if stopped:
        print(f"stopped by {stop}; not started: {', '.join(f'{e.name} seed {s}' for e, s in stopped)}", flush=True)
    if failures:
        print("failed runs:\n  " + "\n  ".join(failures), file=sys.stderr)
    return timing
