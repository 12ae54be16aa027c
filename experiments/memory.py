"""Memory in the network (issue 27): every hidden-layer type × task, the actor seeing only the current step.

Each run trains GuidedTD3 with the task's zoo config (``zoo_configs/guided_td3.yml``) plus a variant's
overrides, then flies the deployed actor alone (recurrent state from zero at every episode start,
deterministic) on 100 fixed start seeds (0–99):

* ``lunar``: ``LunarLanderContinuousNoVelPrivileged-v3``, the actor sees ``[x, y, θ, leg1, leg2]``
  (×10, the config's ``actor_scale``); ``actor_history 0`` unless the variant is ``history`` (the
  shipped config: the previous frame too). Score: return and landed share (gymnasium's heuristic
  guide: 280.5, 99 %).
* ``pendulum``: ``PendulumNoVelPrivileged-v1``, the actor sees ``(cos θ, sin θ)`` only.

The drone rows come from the reproduction driver (``experiments.reproduce``, experiments ``mem_*``).

    python -m experiments.memory --task lunar --variants lif feedback synaptic --seeds 0 1 2 --jobs 2
    python -m experiments.memory --report        # results.md from every run in the folder

One JSON per run in ``experiments/archive/memory/runs/`` (every episode's return); ``results.md`` beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "archive" / "memory"
EVAL_SEEDS = tuple(range(100))
TASKS = {"lunar": "LunarLanderContinuousNoVelPrivileged-v3", "pendulum": "PendulumNoVelPrivileged-v1"}
#: variant -> (policy_kwargs overrides, env_kwargs overrides)
VARIANTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "history": ({}, {}),  # the entry as it was shipped until issue 27 (LunarLander: the previous frame in the input)
    "lif": ({}, {"actor_history": 0}),
    "feedback": ({"feedback": True}, {"actor_history": 0}),
    "synaptic": ({"neuron": "synaptic"}, {"actor_history": 0}),
    "adaptive": ({"neuron": "adaptive"}, {"actor_history": 0}),
    "recurrent": ({"neuron": "recurrent"}, {"actor_history": 0}),
    "synaptic_feedback": ({"neuron": "synaptic", "feedback": True}, {"actor_history": 0}),
    # spike-frequency adaptation responds to changes of its input (a high-pass filter): velocity from positions
    "synaptic_adaptive": ({"neuron": ["synaptic", "adaptive"]}, {"actor_history": 0}),
}
LABELS = {
    "history": "LIF, history in the input (the config until issue 27)",
    "lif": "LIF (feed-forward), no history",
    "feedback": "LIF + action feedback, no history",
    "synaptic": "synaptic LIF, no history",
    "adaptive": "adaptive LIF, no history",
    "recurrent": "recurrent LIF, no history",
    "synaptic_feedback": "synaptic LIF + action feedback, no history",
    "synaptic_adaptive": "synaptic LIF, then adaptive LIF, no history",
}
GUIDE_SCORE = {"lunar": 280.5}


def zoo_entry(task: str) -> dict[str, Any]:
    """The settings every variant starts from: the zoo entry; on LunarLander the actor and budget the variants were
    measured with (``experiments.lunar_lander.HISTORY_RECIPE``: the config's until issue 27)."""
    if task == "lunar":
        from experiments.lunar_lander import history_entry

        return history_entry()
    with open(REPO / "zoo_configs" / "guided_td3.yml") as f:
        return dict(yaml.safe_load(f)[TASKS[task]])


def _env_kwargs(task: str, variant: str) -> dict[str, Any]:
    kwargs = dict(zoo_entry(task).get("env_kwargs") or {})
    kwargs.update(VARIANTS[variant][1])
    if task == "pendulum":
        kwargs.pop("actor_history", None)  # the pendulum env has no history option: its actor sees one frame
    return kwargs


def train(task: str, variant: str, seed: int, timesteps: int | None):
    import torch as th

    from experiments.zoo_entry import model_from_entry
    from sb3_spiking.task_registry import load_tasks

    load_tasks()  # the task plugins register their env ids
    th.set_num_threads(1)
    entry = zoo_entry(task)
    entry["policy_kwargs"] = {**dict(entry.get("policy_kwargs") or {}), **VARIANTS[variant][0]}
    env_kwargs = _env_kwargs(task, variant)
    model, steps = model_from_entry(entry, TASKS[task], seed, env_kwargs=env_kwargs)
    steps = steps if timesteps is None else timesteps
    model.learn(steps)
    return model, env_kwargs, steps


def evaluate(task: str, model, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    if task == "lunar":
        from sb3_spiking.tasks.lunar_lander import evaluate_landing

        r = evaluate_landing(model, EVAL_SEEDS, observation="dict", env_kwargs=env_kwargs)
        return dict(mean_return=r.mean_return, std_return=r.std_return, landed=r.landed_fraction,
                    returns=r.returns.round(2).tolist())
    import gymnasium as gym

    env = gym.make(TASKS[task], **env_kwargs)
    returns = []
    for seed in EVAL_SEEDS:
        obs, _ = env.reset(seed=int(seed))
        state, start, total, done = None, np.ones(1, dtype=bool), 0.0, False
        while not done:
            action, state = model.predict(obs, state, episode_start=start, deterministic=True)
            start = np.zeros(1, dtype=bool)
            obs, reward, terminated, truncated, _ = env.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    returns_ = np.asarray(returns)
    return dict(mean_return=float(returns_.mean()), std_return=float(returns_.std()), returns=returns_.round(2).tolist())


def run(task: str, variant: str, seed: int, timesteps: int | None, out: Path) -> dict[str, Any]:
    start = time.perf_counter()
    model, env_kwargs, steps = train(task, variant, seed, timesteps)
    minutes = (time.perf_counter() - start) / 60
    record = dict(task=task, variant=variant, seed=seed, timesteps=steps, train_minutes=round(minutes, 2),
                  policy_kwargs=VARIANTS[variant][0], env_kwargs=env_kwargs,
                  command=" ".join(["python", "-m", "experiments.memory", *sys.argv[1:]]), **evaluate(task, model, env_kwargs))
    (out / "runs").mkdir(parents=True, exist_ok=True)
    budget = "" if timesteps is None else f"_{steps // 1000}k"  # a budget other than the config's: its own record
    (out / "runs" / f"{task}_{variant}{budget}_s{seed}.json").write_text(json.dumps(record, indent=1))
    print(f"{task} {variant} seed {seed}: {record['mean_return']:.1f} in {minutes:.1f} min", flush=True)
    return record


#: drone rows: experiment -> label; memory runs archived under ``<out>/drone/<experiment>/seed<k>`` (copied from
#: the reproduction driver's run folders), the history rows from the reproduction archive
DRONE_ROWS = {
    "main": "LIF, 4 past commands in the input (the default config until issue 27)",
    "paper_actor": "LIF, no history (paper's actor: linear readout, 10 updates / 50 steps)",
    "leaky": "LIF, no history (leaky readout, 10 updates / 50 steps)",
    "mem_hist4_blind": "LIF, 4 past commands in, starting at -0.5 (not the initial motor speeds)",
    "mem_feedback": "LIF + action feedback, no history",
    "mem_feedback_syn": "synaptic LIF + action feedback, no history",
    "mem_feedback_efference": "LIF + action feedback starting from the command in force (probe), no history",
    "mem_feedback_start": "LIF + action feedback starting from the constant command -0.5 (control), no history",
    "mem_synaptic": "synaptic LIF, no feedback, no history",
    "mem_adaptive": "adaptive LIF, no feedback, no history",
    "mem_recurrent": "recurrent LIF, no feedback, no history",
    "mem_feedback_command": "LIF + action feedback starting from the env's command in force (default config), no history",
}
PD_GUIDE = 399.2  # PDHoverGuide, protocol (b), the same 100 starts
ARCHIVE = REPO / "experiments" / "archive" / "reproduce" / "runs"
LUNAR_ARCHIVE = REPO / "experiments" / "archive" / "lunar_lander" / "runs"


def _drone_lines(out: Path) -> list[str]:
    lines = []
    for name, label in DRONE_ROWS.items():
        folder = out / "drone" / name if (out / "drone" / name).is_dir() else ARCHIVE / name
        evals = sorted(folder.glob("seed*/final_evaluation.json"))
        if not evals:
            continue
        b = np.array([json.loads(p.read_text())["b_autonomous"]["mean_return"] for p in evals])
        a = np.array([json.loads(p.read_text())["a_guide_warmup"]["mean_return"] for p in evals])
        full = np.mean([json.loads(p.read_text())["b_autonomous"]["full_length"] for p in evals])
        minutes = [float(np.loadtxt(p.parent / "curve.csv", delimiter=",", skiprows=1, usecols=1)[-1]) for p in evals]
        seeds = ", ".join(p.parent.name.removeprefix("seed") for p in evals)
        per_seed = ", ".join(f"{v:.1f}" for v in b)
        lines.append(f"| drone | {label} | {seeds} | 600,000 | {np.mean(minutes):.1f} | {b.mean():.1f} ± {b.std():.1f} "
                     f"({per_seed}); (a) {a.mean():.1f} | {100 * b.mean() / PD_GUIDE:.1f} | {100 * full:.0f} % full-length |")
    return lines


def _row(task: str, variant: str, rs: list[dict[str, Any]]) -> list[str]:
    """The table row of one (task, variant, budget)."""
    means = np.array([r["mean_return"] for r in rs])
    guide = GUIDE_SCORE.get(task)
    pct = f"{100 * means.mean() / guide:.1f}" if guide else "–"
    landed = (f"{100 * np.mean([r['landed'] for r in rs]):.0f} %" if "landed" in rs[0] else "–")
    per_seed = ", ".join(f"{m:.1f}" for m in means)
    minutes = np.mean([r["train_minutes"] for r in rs])
    seeds = ", ".join(str(r["seed"]) for r in rs)
    return [f"| {task} | {LABELS[variant]} | {seeds} | {rs[0]['timesteps']:,} | {minutes:.1f} | "
            f"{means.mean():.1f} ± {means.std():.1f} ({per_seed}) | {pct} | {landed} |"]


def report(out: Path) -> str:
    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    if not any(r["task"] == "lunar" and r["variant"] == "history" and r["timesteps"] <= 200_192 for r in runs):
        # the LunarLander config's runs until issue 27 (experiments.lunar_lander, same 100 starts, 200 k steps), as the
        # "history" row at that budget
        for p in sorted(LUNAR_ARCHIVE.glob("guided_td3_s*.json")):
            r = json.loads(p.read_text())
            runs.append(dict(r, task="lunar", variant="history"))
    lines = ["| task | actor | seeds | env steps | train min | return (100 starts) | % of guide | landed |",
             "|---|---|---|---|---|---|---|---|", *_drone_lines(out)]
    for task in TASKS:
        for variant in VARIANTS:
            rows = [r for r in runs if r["task"] == task and r["variant"] == variant]
            for steps in sorted({r["timesteps"] for r in rows}):  # one row per budget
                lines += _row(task, variant, [r for r in rows if r["timesteps"] == steps])
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(
        "# Memory in the network: layer type × task\n\nMade by `python -m experiments.memory --report` from the runs in "
        "`runs/` (each JSON holds its command) and, for the drone, `drone/<experiment>/seed<k>/` (the reproduction "
        "driver's records, `command.txt` in each; the history rows from `experiments/archive/reproduce/runs`). Drone: protocol "
        "(b), final weights, 100 starts, % of the PD guide (399.2); (a) = the guide flies the first 50 steps. "
        "Train minutes are wall time on the shared 2-core machine (several runs at once).\n\n" + text)
    return text


#: the actors of the initial-motor check: CSV prefix -> label (``<prefix>_<motors>.csv`` from experiments.return_gap)
MOTOR_ACTORS = {
    "history": "LIF, 4 past commands in (default config)",
    "blind": "LIF, 4 past commands in, starting at -0.5 (mem_hist4_blind)",
    "feedback": "LIF + action feedback, no history (mem_feedback)",
    "efference": "LIF + feedback from the command in force (mem_feedback_efference)",
    "start": "LIF + feedback from the constant -0.5 (mem_feedback_start)",
}
MOTOR_CONDITIONS = ("none", "0.0", "0.25", "0.5")


def initial_motor_report(folder: Path) -> str:
    """The return gap to the PD guide with l2f's random initial motor speeds and with the four motors started at one
    fixed speed, per actor (mean over the models in each CSV); writes ``<folder>/results.md``."""
    import csv

    lines = ["| actor | models | initial motors | return | PD guide | gap | crashes | crashed part | steps 0–50 | "
             "steps 50–200 | steps 200–500 |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for prefix, label in MOTOR_ACTORS.items():
        for motors in MOTOR_CONDITIONS:
            path = folder / f"{prefix}_{motors}.csv"
            if not path.exists():
                continue
            with open(path) as f:
                rows = [{k: float(v) for k, v in r.items() if k not in ("model", "initial_motor")} for r in csv.DictReader(f)]
            m = {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}
            condition = "uniform [0, 0.5] (l2f)" if motors == "none" else f"all at {motors}"
            lines.append(f"| {label} | {len(rows)} | {condition} | {m['return']:.1f} | {m['guide_return']:.1f} | "
                         f"{m['gap']:.1f} | "
                         f"{m['crashes']:.1f} | {m['gap_crashed']:.1f} | {m['gap_steps_0_25'] + m['gap_steps_25_50']:.1f} | "
                         f"{m['gap_steps_50_100'] + m['gap_steps_100_200']:.1f} | "
                         f"{m['gap_steps_200_300'] + m['gap_steps_300_500']:.1f} |")
    text = ("# The history actor's lead and the initial motor speeds\n\n"
            f"Made by `python -m experiments.memory --initial-motors {folder.relative_to(REPO)}` from the CSVs of "
            "`python -m experiments.return_gap <models> [--initial-motor x] --csv <prefix>_<x>.csv` (commands in "
            "commands.txt). Protocol (b), final weights, the same 100 starts; gap = PD guide − actor, split into the "
            "crashed episodes and, for the others, step ranges.\n\n" + "\n".join(lines) + "\n")
    (folder / "results.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=TASKS)
    parser.add_argument("--variants", nargs="+", choices=VARIANTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, help="env steps per run (default: the zoo config's)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="only rebuild results.md")
    parser.add_argument("--initial-motors", type=Path, metavar="FOLDER",
                        help="only rebuild FOLDER/results.md, the initial-motor check, from its return_gap CSVs")
    args = parser.parse_args(argv)
    if args.initial_motors is not None:
        print(initial_motor_report(args.initial_motors.resolve()))
        return
    if not args.report:
        if args.task is None or not args.variants:
            parser.error("--task and --variants are needed to train (or pass --report)")
        jobs = [(args.task, v, s, args.timesteps, args.out) for v in args.variants for s in args.seeds]
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            for f in [pool.submit(run, *j) for j in jobs]:
                f.result()
    print(report(args.out))


if __name__ == "__main__":
    main()
