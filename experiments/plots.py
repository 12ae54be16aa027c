"""The report's figures: learning curves per section and the final returns of every experiment."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np

from experiments.run_records import Runs


def plot_curves(runs: dict[str, Runs], path: Path, guide: float, title: str) -> None:
    """Learning curves (mean over seeds, band = min..max): return, and the share of episodes flown to the step limit."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = {n: [c for c in r.curves if len(c.get("timesteps", []))] for n, r in runs.items()}
    entries = {n: c for n, c in entries.items() if c}
    # the legend goes below the panels (the labels are long): the figure grows with it
    fig, (ax, ax_len) = plt.subplots(2, 1, sharex=True, figsize=(7.5, 5.5 + 0.3 * len(entries)),
                                     gridspec_kw=dict(height_ratios=(2, 1)), layout="constrained")
    for n, curves in entries.items():
        length = min(len(c["timesteps"]) for c in curves)
        x = curves[0]["timesteps"][:length]
        label = textwrap.shorten(f"{n}: {runs[n].exp.label}", 110) + f" ({len(curves)} seed{'s' if len(curves) > 1 else ''})"
        color = None
        for axis, column, scale in ((ax, "mean_return", 1.0), (ax_len, "full_length", 100.0)):
            y = scale * np.stack([c[column][:length] for c in curves])
            line = axis.plot(x, y.mean(0), color=color, label=label if axis is ax else None)[0]
            color = line.get_color()
            if len(curves) > 1:
                axis.fill_between(x, y.min(0), y.max(0), color=color, alpha=0.2)
    ax.axhline(guide, color="k", ls="--", lw=1, label="PD guide")
    ax.set_ylabel("autonomous return\n(final weights)")
    ax.set_title(title, fontsize=9)
    ax_len.set_ylabel("episodes flown to\nthe 500-step limit (%)")
    ax_len.set_ylim(-5, 105)
    ax_len.set_xlabel("environment steps (learning curve: 64 fixed initial states, protocol (b))")
    fig.legend(loc="outside lower center", fontsize=7, ncol=1, frameon=False)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_bars(runs: dict[str, Runs], path: Path, guide: float) -> None:
    """Final returns of every experiment, (b) autonomous beside (a) guide warm-up (bar: mean, whisker: std over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(runs)
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(names)), 4))
    for i, n in enumerate(names):
        for j, (key, color) in enumerate((("b_autonomous", "C0"), ("a_guide_warmup", "C1"))):
            v = runs[n].final(key)
            ax.bar(i + 0.4 * j - 0.2, v.mean(), 0.38, yerr=v.std() if len(v) > 1 else None, color=color,
                   label=("(b) autonomous" if j == 0 else "(a) guide warm-up") if i == 0 else None)
    ax.axhline(guide, color="k", ls="--", lw=1, label="PD guide")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("return (final weights), 100 initial states")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
