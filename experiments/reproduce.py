"""Reproduce the paper's drone experiments (arXiv 2510.24461) and write ``experiments/results.md``.

    python -m experiments.reproduce --quick            # <= 20 min on 2 cores: 1 seed, short budgets
    python -m experiments.reproduce --full             # 3 seeds, full budgets (duration: experiments/results.md)
    python -m experiments.reproduce --only main,mlp --seeds 0 1 2 --steps 1000000

Every experiment is one rl-zoo config (``zoo_configs/<algo>.yml``, entry ``DroneHover-v0`` unless the
experiment names another, e.g. ``DroneHoverRobust-v0``) plus the overrides on its line in
``experiments/experiments.py``. The driver writes the derived config next to the run
(``<out>/<experiment>/seed<k>/config.yml``) and trains it through our rl-zoo CLI, so any run can be redone
alone with the command stored in ``command.txt``. Each run records a learning curve (``curve.csv``: batched
autonomous evaluations on 64 fixed initial states, which also feed the adaptive slope schedule) and, after
training, the final evaluation (``final_evaluation.json``: 100 initial states, protocols (a) guide warm-up and
(b) autonomous, beside the PD guide, at the final and start reward weights); runs in the group "robustness"
also fly the robustness suite (``robustness.csv``: docs/robustness.md). Finished runs are skipped, so an
interrupted driver continues where it stopped. To stop cleanly, create the file ``<out>/STOP``: runs in flight
finish, no new one starts (the driver deletes the file when it starts, so the next call runs again). The
report (tables beside the paper's numbers, plots) is rebuilt from whatever runs exist.

Modules: ``experiments`` (the table), ``runner`` (training and evaluating runs), ``run_records`` (finished runs read
back), ``report`` / ``findings`` / ``plots`` (experiments/results.md).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from experiments.experiments import BY_NAME, PROFILES
from experiments.report import write_report
from experiments.runner import CURVE_EVAL_FREQ, ROOT, run_all


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="1 seed, 60 k steps per experiment (<= 20 min on 2 cores)")
    mode.add_argument("--full", action="store_true", help="3 seeds, 600 k steps per experiment")
    parser.add_argument("--only", help="comma-separated experiment names: " + ",".join(BY_NAME))
    parser.add_argument("--seeds", type=int, nargs="+")
    parser.add_argument("--steps", type=int, help="env steps per run (overrides the profile)")
    parser.add_argument("--eval-freq", type=int, default=CURVE_EVAL_FREQ, help="env steps between learning-curve evaluations")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (one core each)")
    parser.add_argument("--out", nargs="+", help="run folder (default: runs/reproduce_quick for --quick, else runs/reproduce); "
                        "more folders: the report also takes experiments missing from the first one from them")
    parser.add_argument("--report", help="markdown report (default: <out>/results.md for --quick, else experiments/results.md; "
                        "pictures go to archive/reproduce/ beside it)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from finished runs")
    parser.add_argument("--force", action="store_true", help="retrain finished runs")
    args = parser.parse_args(argv)
    profile_name = "full" if args.full else "quick"
    profile = PROFILES[profile_name]
    names = args.only.split(",") if args.only else profile["only"]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        parser.error(f"unknown experiment(s) {unknown}; choose from {', '.join(BY_NAME)}")
    archived = [n for n in names if BY_NAME[n].archived]
    if archived and not args.report_only:
        parser.error(f"archived experiment(s) {archived} cannot be rerun: {BY_NAME[archived[0]].archived}")
    seeds = args.seeds if args.seeds is not None else profile["seeds"]
    steps = args.steps or profile["steps"]
    default_out = ROOT / "runs" / ("reproduce_quick" if args.quick else "reproduce")
    outs = [Path(o).resolve() for o in args.out] if args.out else [default_out.resolve()]
    out = outs[0]
    command = "python -m experiments.reproduce " + " ".join(argv if argv is not None else sys.argv[1:])
    timing = None if args.report_only else run_all(names, seeds, steps, out, args.jobs, args.force, args.eval_freq)
    report = Path(args.report) if args.report else (out / "results.md" if args.quick else ROOT / "experiments" / "results.md")
    text = write_report(outs, report, command, timing)
    print(f"report written to {report}\n")
    print(text)


if __name__ == "__main__":
    main()
