"""The robustness suite (docs/robustness.md): protocol (b), the PD guide and further guides under varied conditions.

Every controller flies the same seeded initial states under nominal dynamics, domain randomisation 0.1 / 0.2,
observation noise (l2f 1.x and half of it), noise + DR 0.1 and a 1.5x initial-state box; the result is one row per
condition (:func:`robustness_suite`), a markdown table (:func:`format_robustness_table`) and a CSV
(:func:`write_rows_csv`). The command line is ``python -m sb3_spiking.tasks.drone.evaluation MODEL.zip --suite
robustness``.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from typing import Any

from sb3_spiking.guides import GUIDE_ALGOS, resolve_guide
from sb3_spiking.rollout import EpisodeStats
from sb3_spiking.tasks.drone.config import L2F_V1_OBS_NOISE
from sb3_spiking.tasks.drone.protocols import EVAL_SEED, fly
from sb3_spiking.tasks.drone.reward import FINAL_STAGE


@dataclass(frozen=True)
class Condition:
    """One condition of a robustness suite: ``name`` (CSV key), ``label`` (table) and the drone env
    options every controller flies under."""

    name: str
    label: str
    options: dict[str, Any]


#: The reference guide of the robustness suite (its return is the 100 % of the "% of PD" column).
PD_GUIDE = "sb3_spiking.tasks.drone.pd_guide:PDHoverGuide"
#: Half the l2f 1.x observation noise.
HALF_L2F_V1_OBS_NOISE = {k: v / 2 for k, v in L2F_V1_OBS_NOISE.items()}
#: The suite's wider initial-state box: 1.5x l2f's position, linear- and angular-velocity ranges
#: (0.5 m, 1 m/s, 1 rad/s); attitude (tilt <= 1 rad), motor speeds and the 10 % rest starts unchanged.
WIDE_INIT = {"max_position": 0.75, "max_linear_velocity": 1.5, "max_angular_velocity": 1.5}
#: Conditions of ``--suite robustness`` (all at the final reward weights, simulator crash limits).
ROBUSTNESS_CONDITIONS = (
    Condition("nominal", "nominal", {}),
    Condition("dr0.1", "DR 0.1", {"domain_randomization": 0.1}),
    Condition("dr0.2", "DR 0.2", {"domain_randomization": 0.2}),
    Condition("noise", "noise l2f 1.x", {"obs_noise": L2F_V1_OBS_NOISE}),
    Condition("noise_half", "noise ½ l2f 1.x", {"obs_noise": HALF_L2F_V1_OBS_NOISE}),
    Condition("noise_dr0.1", "noise l2f 1.x + DR 0.1", {"obs_noise": L2F_V1_OBS_NOISE, "domain_randomization": 0.1}),
    Condition("wide_init", "init box 1.5×", {"init": WIDE_INIT}),
)
#: Suites by name (``--suite``).
SUITES: dict[str, tuple[Condition, ...]] = {"robustness": ROBUSTNESS_CONDITIONS}


def suite_conditions(suite: str) -> tuple[Condition, ...]:
    """The conditions of the suite named ``suite``; ``ValueError`` naming the valid ones otherwise."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; valid: {', '.join(SUITES)}")
    return SUITES[suite]


def guide_name(spec: Any) -> str:
    """A short column name for a guide: the attribute of an import path, a model file's stem, a class name."""
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec)
        algo, sep, rest = text.partition(":")
        if sep and algo.lower() in GUIDE_ALGOS:  # "td3:path/model.zip"
            text = rest
        if text.endswith(".zip") or os.path.exists(text):
            return os.path.splitext(os.path.basename(text))[0]
        return text.rpartition(":")[2].rpartition(".")[2]
    return spec.__name__ if isinstance(spec, type) else type(spec).__name__


def _guide_options(guide_fn: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Env options for a guide's flights: a guide that reads the episode's dynamics factors
    (``privileged_dynamics`` attribute) gets an env that appends them to the privileged observation.
    The factors are extra columns only, so initial states and dynamics stay paired with the others."""
    if getattr(guide_fn, "privileged_dynamics", False):
        return {**options, "privileged_dynamics": True}
    return dict(options)


def _columns(key: str, stats: EpisodeStats) -> dict[str, float]:
    return {f"{key}_return": stats.mean_return, f"{key}_std": float(stats.returns.std()), f"{key}_full_length": stats.full_length}


def robustness_suite(
    model: Any | None,
    guides: list[Any] | tuple[Any, ...] = (),
    n_episodes: int = 100,
    seed: int = EVAL_SEED,
    suite: str = "robustness",
    reference_guide: Any = PD_GUIDE,
    curriculum_stage: int = FINAL_STAGE,
    verbose: bool = True,
) -> list[dict[str, Any]]:
    """Fly protocol (b), the PD guide and any further guides under every condition of a suite.

    All controllers of a condition fly from the same ``n_episodes`` seeded initial states with the
    same per-episode dynamics and noise draws, so the numbers are paired. Guides act on the clean
    privileged observation: observation noise only ever reaches the actor's input (a privileged
    guide reads the true state, as it would from a motion-capture system).

    :param model: a trained GuidedTD3; ``None``: only the guides fly (no spiking columns).
    :param guides: further guides (anything :func:`~sb3_spiking.guides.resolve_guide` accepts), a
        column each, named by :func:`guide_name`.
    :param suite: name in :data:`SUITES`.
    :param reference_guide: the guide of the ``pd_*`` columns and of ``spiking_pct_of_pd``.
    :param verbose: print one line per condition as it finishes.
    :return: one dict per condition: ``condition``, ``label``, ``n_episodes``, then ``<who>_return``,
        ``<who>_std``, ``<who>_full_length`` for ``spiking`` (when there is a model), ``pd`` and each
        guide's name, and ``spiking_pct_of_pd`` (NaN when the PD guide's return is not positive).
    """
    import time

    conditions = suite_conditions(suite)
    flyers: list[tuple[str, Any]] = [("pd", resolve_guide(reference_guide))]
    for spec in guides:
        name = guide_name(spec)
        while name in {n for n, _ in flyers} | {"spiking"}:
            name += "_"
        flyers.append((name, resolve_guide(spec)))
    rows = []
    for cond in conditions:
        start = time.time()
        row: dict[str, Any] = {"condition": cond.name, "label": cond.label, "n_episodes": int(n_episodes)}
        if model is not None:
            row.update(_columns("spiking", fly(model, None, 0, n_episodes, seed, curriculum_stage, **cond.options)))
        for name, guide_fn in flyers:
            stats = fly(None, guide_fn, 0, n_episodes, seed, curriculum_stage, **_guide_options(guide_fn, cond.options))
            row.update(_columns(name, stats))
        if model is not None:
            pd = row["pd_return"]
            row["spiking_pct_of_pd"] = 100.0 * row["spiking_return"] / pd if pd > 0 else float("nan")
        rows.append(row)
        if verbose:
            parts = [f"{'PD guide' if who == 'pd' else who} {row[who + '_return']:.1f} "
                     f"({100 * row[who + '_full_length']:.0f} % full)"
                     for who in (["spiking"] if model is not None else []) + [n for n, _ in flyers]]
            print(f"[{cond.label}] " + ", ".join(parts) + f"  ({time.time() - start:.0f} s)", flush=True)
    return rows


def format_robustness_table(rows: list[dict[str, Any]], title: str | None = None, seed: int | None = None) -> str:
    """Markdown table of :func:`robustness_suite`'s rows, with a note on how the guides fly."""
    model = "spiking_return" in rows[0]
    guides = [k[: -len("_return")] for k in rows[0] if k.endswith("_return") and k != "spiking_return"]
    header = ["condition"] + (["spiking (b)", "full"] if model else [])
    for g in guides:
        header += ["PD guide" if g == "pd" else g, "full"]
    if model:
        header.append("spiking % of PD")
    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["label"]]
        for who in (["spiking"] if model else []) + guides:
            cells += [f"{row[who + '_return']:.1f} ± {row[who + '_std']:.1f}", f"{100 * row[who + '_full_length']:.0f} %"]
        if model:
            cells.append(f"{row['spiking_pct_of_pd']:.1f} %")
        lines.append("| " + " | ".join(cells) + " |")
    n = rows[0]["n_episodes"]
    lines += [
        "",
        f"Return at the final reward weights (mean ± std over {n} paired initial states"
        + (f", seed {seed}" if seed is not None else "") + "); full = share of episodes flown to the 500-step limit. "
        "Spiking = protocol (b), the actor flies from step 0 on its (noisy) actor observation. Guides fly on "
        "the clean privileged state (observation noise reaches only the actor's input); a guide that reads "
        "the dynamics factors (AdaptivePDHoverGuide) gets them appended to its privileged observation. "
        "DR x: mass, thrust, inertia, motor time constant each × U[1-x, 1+x] per episode; noise: "
        "l2f 1.x's Gaussian std (position 0.05 m, orientation 0.001, velocity 0.1 m/s, angular velocity "
        "0.2 rad/s); init box 1.5×: position ±0.75 m, velocity ±1.5 m/s, angular velocity ±1.5 rad/s.",
    ]
    return "\n".join(lines)


def write_rows_csv(rows: list[dict[str, Any]], path: str) -> None:
    """Write dict rows (same keys) to ``path`` as CSV."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


__all__ = [
    "HALF_L2F_V1_OBS_NOISE", "PD_GUIDE", "ROBUSTNESS_CONDITIONS", "SUITES", "WIDE_INIT", "Condition",
    "format_robustness_table", "guide_name", "robustness_suite", "suite_conditions", "write_rows_csv",
]  # fmt: skip
