"""Finished runs of the reproduction driver, read back from their folders, and the numbers' formatting."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from experiments.experiments import EXPERIMENTS, Experiment
from experiments.runner import BEST_EVALUATION, ROBUSTNESS_CSV, ROBUSTNESS_MD


@dataclass
class Runs:
    """All finished seeds of one experiment."""

    exp: Experiment
    finals: list[dict[str, Any]]
    curves: list[dict[str, np.ndarray]]
    meta: list[dict[str, Any]]
    dirs: list[Path]
    bests: list[dict[str, Any] | None] = field(default_factory=list)  #: best-checkpoint evaluations (None: not kept)
    #: per seed, the robustness suite's rows (``robustness.csv``); empty unless every seed has one
    robustness: list[list[dict[str, str]]] = field(default_factory=list)

    def final(self, key: str, metric: str = "mean_return") -> np.ndarray:
        return np.array([f[key][metric] for f in self.finals])

    def best(self, key: str, metric: str = "mean_return") -> np.ndarray:
        """Like :meth:`final` for the learning curve's best checkpoints (empty unless every seed kept one)."""
        if not self.bests or any(b is None for b in self.bests):
            return np.array([])
        return np.array([b[key][metric] for b in self.bests])  # type: ignore[index]

    def curve_stat(self, fn) -> list[float]:
        return [fn(c) for c in self.curves]


def load_runs(outs: Sequence[Path]) -> dict[str, Runs]:
    """Finished runs per experiment; for each experiment the first folder in ``outs`` that has any wins."""
    found: dict[str, Runs] = {}
    for exp in EXPERIMENTS:
        for out in outs:
            runs = _load_experiment(exp, out)
            if runs is not None:
                found[exp.name] = runs
                break
    return found


def _load_experiment(exp: Experiment, out: Path) -> Runs | None:
    """The finished seeds of ``exp`` under ``out``; when they ran with different step budgets, those of the largest."""
    finished = [d for d in sorted((out / exp.name).glob("seed*")) if (d / "final_evaluation.json").exists()]
    records = {d: json.loads((d / "run.json").read_text()) for d in finished}
    largest = max((m["steps"] for m in records.values()), default=0)
    if any(m["steps"] != largest for m in records.values()):
        print(f"{exp.name}: {', '.join(d.name for d in finished if records[d]['steps'] != largest)} ran with fewer steps than "
              f"{largest:,}; left out of the report", file=sys.stderr)
        finished = [d for d in finished if records[d]["steps"] == largest]
    finals, curves, meta, dirs, bests = [], [], [], [], []
    for run_dir in finished:
        dirs.append(run_dir)
        finals.append(json.loads((run_dir / "final_evaluation.json").read_text()))
        best = run_dir / BEST_EVALUATION
        bests.append(json.loads(best.read_text()) if best.exists() else None)
        meta.append(records[run_dir])
        with open(run_dir / "curve.csv") as f:
            rows = list(csv.DictReader(f))
        curves.append({k: np.array([float(r[k]) for r in rows]) for k in (rows[0] if rows else {})})
    robustness = []
    if finished and all((d / ROBUSTNESS_CSV).exists() for d in finished):
        for run_dir in finished:
            with open(run_dir / ROBUSTNESS_CSV) as f:
                robustness.append(list(csv.DictReader(f)))
    return Runs(exp, finals, curves, meta, dirs, bests, robustness) if finals else None


def mean_std(values: Sequence[float], fmt: str = "{:.1f}") -> str:
    """``mean ± std`` of ``values`` (just the value for one, "–" for none)."""
    v = np.asarray(values, float)
    if len(v) == 0:
        return "–"
    return fmt.format(v.mean()) + (f" ± {fmt.format(v.std())}" if len(v) > 1 else "")


def first_reach(curve: dict[str, np.ndarray], threshold: float, column: str = "mean_return", x: str = "timesteps") -> float:
    """``x`` (steps or minutes) of the first evaluation at or above ``threshold``; NaN if never."""
    if not curve or column not in curve:
        return float("nan")
    hit = np.flatnonzero(curve[column] >= threshold)
    return float(curve[x][hit[0]]) if len(hit) else float("nan")


def reach_text(values: Sequence[float], n_total: int, fmt: str = "{:,.0f}") -> str:
    """Mean ± std of the seeds that reached a threshold (``never`` if none), with their count when some did not."""
    v = np.asarray(values, float)
    ok = v[np.isfinite(v)]
    if len(ok) == 0:
        return "never"
    text = mean_std(ok, fmt)
    return text if len(ok) == n_total else f"{text} ({len(ok)}/{n_total} seeds)"



def archive_runs(run_dirs: Sequence[Path], dest: Path) -> None:
    """Copy each run's small records (config, command, curve, final evaluation) next to the report."""
    if run_dirs and dest.resolve() == run_dirs[0].parent.resolve():  # the report was rebuilt from the archive itself
        return
    kept = {run_dir.name for run_dir in run_dirs}
    for stale in dest.glob("seed*"):  # the archive holds exactly the runs in the report (not an older budget's seeds)
        if stale.name not in kept:
            shutil.rmtree(stale)
    for run_dir in run_dirs:
        target = dest / run_dir.name
        target.mkdir(parents=True, exist_ok=True)
        for name in ("config.yml", "command.txt", "curve.csv", "final_evaluation.json", BEST_EVALUATION, "run.json", ROBUSTNESS_CSV, ROBUSTNESS_MD):
            if (run_dir / name).exists():
                shutil.copy2(run_dir / name, target / name)
            else:  # e.g. an older run's best-checkpoint evaluation
                (target / name).unlink(missing_ok=True)


def budget_text(r: Runs) -> str:
    """A row's budget: env steps per run and number of seeds."""
    return f"{r.meta[0]['steps'] / 1e3:,.0f} k steps, {len(r.meta)} seed(s)"

