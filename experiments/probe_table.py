"""Table of the weak-guide benchmark's critic-on probes (docs/guided_rl.md), from their run folders.

Each probe is a one-seed run of an experiment in group "probe" of :mod:`experiments.experiments`, stopped
once its learning curve had given its verdict, so it has a ``curve.csv`` and a ``config.yml`` but no
final evaluation. For each probe the table gives its settings, the autonomous return (64 starts,
final weights) at the last evaluation before the Q term switched on, the lowest and the last return
after it, and the critic diagnostic at the switch (its value of the actor's actions vs the
Monte-Carlo return, and their correlation over states)::

    python -m experiments.probe_table experiments/archive/guided_rl/probes
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import yaml

from experiments.experiments import BY_NAME, ENV_ID

SETTINGS = ("alpha", "n_steps", "bc_filter", "bc_anneal_fraction", "q_start_fraction", "anchor_coef")


def probe_rows(folder: Path) -> list[str]:
    """Markdown rows, one per probe folder ``<folder>/<experiment>/seed<k>`` (seeds other than 0 named in the row)."""
    rows = []
    for run in sorted(folder.glob("*/seed*")):
        config = yaml.safe_load((run / "config.yml").read_text())[ENV_ID]
        with open(run / "curve.csv") as f:
            curve = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]
        steps = int(config["n_timesteps"])
        start = float(config.get("q_start_fraction", 0.0)) * steps
        before = [r for r in curve if r["timesteps"] <= start] or curve[:1]
        after = [r for r in curve if r["timesteps"] > start]
        at = before[-1]
        name = run.parent.name
        settings = ", ".join(f"{k} {config.get(k, '–')}" for k in SETTINGS)
        low = min(after, key=lambda r: r["mean_return"]) if after else None
        rows.append(
            f"| {name}{'' if run.name == 'seed0' else f' ({run.name})'} | {BY_NAME[name].label if name in BY_NAME else ''} "
            f"({settings}) | "
            f"{int(curve[-1]['timesteps']):,} of {steps:,} | "
            + (f"{at['mean_return']:.1f} at {int(at['timesteps']):,} | " if start > 0 else "– (on from the start) | ")
            + (f"{low['mean_return']:.1f} at {int(low['timesteps']):,} | {after[-1]['mean_return']:.1f} |" if low else "– | – |")
            + f" {at.get('q_min', float('nan')):.1f} vs {at.get('mc_return', float('nan')):.1f}"
            + f" ({at.get('q_corr', float('nan')):.2f}) |"
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="folder of probe runs (<experiment>/seed0/{config.yml,curve.csv})")
    args = parser.parse_args(argv)
    print(
        "| probe | settings | env steps run | return before the Q term | lowest after | last "
        "| critic Q vs return (corr) at the switch |"
    )
    print("|---|---|---|---|---|---|---|")
    print("\n".join(probe_rows(args.folder)))


if __name__ == "__main__":
    main()
