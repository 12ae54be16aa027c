"""Command line of the analysis tools: ``sb3-spiking-analysis <command> ...`` (or ``python -m sb3_spiking.analysis.cli``).

Commands of the core:

* ``slopes``: surrogate-gradient slope analysis (paper Fig. 1) -> CSV + two-panel PNG.

Task plugins add their own commands (:func:`sb3_spiking.task_registry.register_analysis_commands`); the drone task's,
with the ``drone`` extra: ``efficiency`` (NeuroBench-style table, SNN vs MLP actors on real drone rollouts),
``flight`` (flight plots and the spike raster) and ``export`` (C + NIR export, the C actor checked in closed loop).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from sb3_spiking import task_registry

PROG = "sb3-spiking-analysis"


def _slopes(args: argparse.Namespace) -> None:
    from sb3_spiking.analysis.surrogate_gradients import SlopeAnalysisConfig, analyse_slopes, format_comparison, plot, write_csv

    cfg = SlopeAnalysisConfig(
        n_layers=args.layers, width=args.width, n_runs=args.runs, slopes=tuple(args.slopes), reference_slope=args.reference,
        n_steps=args.steps, batch_size=args.batch, input_mean=args.input_mean, input_std=args.input_std,
        weight_gain=args.weight_gain, seed=args.seed,
    )
    result = analyse_slopes(cfg)
    out = Path(args.out)
    csv_path = write_csv(result, out / "surrogate_gradients.csv")
    png_path = plot(result, out / "surrogate_gradients.png")
    print(format_comparison(result))
    print(f"wrote {csv_path}\nwrote {png_path}")


def build_parser() -> argparse.ArgumentParser:
    """The parser: the core's commands, then those of every task plugin that registered some."""
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("slopes", help="surrogate-gradient slope analysis (paper Fig. 1)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--width", type=int, default=64)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--slopes", type=float, nargs="+", default=[1, 10, 25, 50, 100])
    p.add_argument("--reference", type=float, default=100.0, help="slope of the reference gradient")
    p.add_argument("--steps", type=int, default=10, help="time steps per sequence")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--input-mean", type=float, default=0.5)
    p.add_argument("--input-std", type=float, default=1.0)
    p.add_argument("--weight-gain", type=float, default=2.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/analysis")
    p.set_defaults(func=_slopes)

    task_registry.load_tasks()
    for add_commands in task_registry.analysis_command_providers():
        add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point (``sb3-spiking-analysis`` console script)."""
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args = build_parser().parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()


__all__ = ["build_parser", "main"]
