"""Plot autonomous-evaluation curves (``eval.csv`` files of ``examples/train_drone.py``) side by side
and print a markdown table of the final and best returns.

    python -m experiments.plot_eval_curves --out experiments/archive/drone_config_probe/curves.png \
        LABEL=path/eval.csv [LABEL=path/eval.csv ...]
"""

from __future__ import annotations

import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="LABEL=path/to/eval.csv")
    parser.add_argument("--out", required=True)
    parser.add_argument("--reference", type=float, default=None, help="horizontal line, e.g. the guide's return")
    args = parser.parse_args()
    fig, ax = plt.subplots(figsize=(7, 4))
    print("| run | final return | final full-length | best return | minutes |\n|---|---|---|---|---|")
    for spec in args.runs:
        label, path = spec.rsplit("=", 1)
        with open(path) as f:
            rows = list(csv.DictReader(f))
        steps = [int(r["timesteps"]) for r in rows]
        returns = [float(r["mean_return"]) for r in rows]
        ax.plot(steps, returns, label=label)
        last = rows[-1]
        print(
            f"| {label} | {float(last['mean_return']):.1f} | {100 * float(last['full_length']):.0f} % | "
            f"{max(returns):.1f} | {float(last['minutes']):.1f} |"
        )
    if args.reference is not None:
        ax.axhline(args.reference, color="k", ls="--", lw=1, label="PD guide")
    ax.set_xlabel("environment steps")
    ax.set_ylabel("autonomous return (final weights)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)


if __name__ == "__main__":
    main()
