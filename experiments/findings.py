"""The report's "where we differ from the paper" bullets and the comparisons they rest on.

Every number is read from the finished runs, so the text stays true as seeds and experiments are added.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from experiments.experiments import PAPER_BC_SLOPE_SPREAD
from experiments.run_records import Runs, budget_text, first_reach, mean_std, reach_text
from sb3_spiking.guided_td3.vine import VineSettings
from sb3_spiking.tasks.drone.evaluation import EVAL_SEED, PD_GUIDE, fly

SLOPE_RL = ("main", "rl_k2", "rl_k50", "rl_k100", "rl_interval")
SLOPE_BC = ("bc", "bc_k2", "bc_k50", "bc_k100", "bc_interval")


def best_during_training(r: Runs) -> np.ndarray:
    """Per seed, the best autonomous return of the learning curve (the paper's "best reward" of the slope study)."""
    return np.array(r.curve_stat(lambda c: float(c["mean_return"].max()) if len(c) else float("nan")))


def schedule_label(r: Runs) -> str:
    """A slope-study row's schedule: the default GuidedTD3 and BC runs use the adaptive one."""
    return "adaptive" if r.exp.name in ("main", "bc") else r.exp.label


def _paired_text(found: tuple[list[float], float]) -> str:
    diffs = found[0]
    return ", ".join(f"{d:+.1f}" for d in diffs) + (f" (mean {np.mean(diffs):+.1f})" if len(diffs) > 1 else "")


def _slope_bests(runs: dict[str, Runs], names: Sequence[str]) -> dict[str, float]:
    """Schedule label -> mean over seeds of the best return during training, lowest first, for the schedules that ran."""
    found = {schedule_label(runs[n]): float(best_during_training(runs[n]).mean()) for n in names if n in runs}
    return dict(sorted(found.items(), key=lambda item: item[1]))


def _spread_text(method: str, bests: dict[str, float]) -> str:
    (lo, lo_v), (hi, hi_v) = list(bests.items())[0], list(bests.items())[-1]
    text = f"{method} spans {lo_v:.1f} ({lo}) to {hi_v:.1f} ({hi}), a spread of {hi_v - lo_v:.0f}"
    if len(bests) > 2:
        text += f"; {hi_v - list(bests.values())[1]:.0f} without {lo}"
    return text


def findings(runs: dict[str, Runs], guide: float) -> list[str]:
    """The report's "where we differ" bullets. Every number is read from the runs, so the text stays true as seeds are added."""
    if "main" not in runs:
        return []
    main = runs["main"]

    def share(values: np.ndarray) -> str:
        return f"{100 * values.mean() / guide:.1f} % of the guide"

    def full_length(r: Runs) -> str:
        return f"{100 * r.final('b_autonomous', 'full_length').mean():.0f} %"

    def verdict(values: np.ndarray) -> str:
        return "reaching" if values.mean() >= 0.95 * guide else "short of"

    b = main.final("b_autonomous")
    out = [f"* The default spiking controller flies autonomously to {share(b)} with its final weights, {verdict(b)} the 95 % we aimed for."]
    best_b = main.best("b_autonomous")
    if len(best_b):
        out[-1] += (f" With the learning curve's best checkpoint (chosen on other initial states) it flies to {share(best_b)}, "
                    f"{verdict(best_b)} the target.")
    out[-1] += (" It has two changes to the paper's actor described in [drone_recipe.md](../docs/drone_recipe.md): its last 4 commands in its "
                "input and a leaky-integrator readout (and 30 actor updates per 50 steps). What is left is the settling after the "
                f"initial transient (steps 50–149), a slightly worse steady hover and the {100 - 100 * main.final('b_autonomous', 'full_length').mean():.0f} % "
                "of episodes that crash; the actor recovers from the initial state better than the guide (drone_recipe.md, "
                "\"Where the remaining 4 % goes\").")
    out[-1] += " It beats the guide." if b.mean() > guide else " The guide is not beaten."
    if "paper_actor" in runs:
        pa = runs["paper_actor"].final("b_autonomous")
        out.append(f"* The paper's actor (linear readout of the spikes, 18 inputs) trained with the same recipe reaches {mean_std(pa)} "
                   f"({share(pa)}): the guide compensates the motor lag from the privileged motor speeds, which the paper's actor can "
                   "neither see nor infer from its own past outputs (its LIF layers have no path from them).")
    if "paper" in runs:
        p = runs["paper"]
        to300 = {n: reach_text([first_reach(c, 300.0) for c in runs[n].curves], len(runs[n].curves)) for n in ("paper", "main")}
        out.append(f"* The paper's own settings as written (α 2, λ_BC 0.2 × 0.99, BC to the executed action, H 400→50, its actor) "
                   f"reach {mean_std(p.final('b_autonomous'))} "
                   f"({share(p.final('b_autonomous'))}, {full_length(p)} of episodes full-length) after {budget_text(p)}; with the guide "
                   f"flying the warm-up (a) {mean_std(p.final('a_guide_warmup'))}. Env steps until the learning curve first reaches 300: "
                   f"{to300['paper']} (default: {to300['main']}). The paper reports ≈ 400 on reward weights it does not state; at the "
                   f"curriculum's start weights these runs score {mean_std(p.final('b_autonomous@start'))} (b).")
    for name, what in (("paper_relabel", "with BC to the guide's relabelled action instead"),
                       ("paper_code", "as the authors' public code runs them (Q term at the buffer action: no policy gradient)")):
        if name in runs and "paper" in runs:
            v = runs[name].final("b_autonomous")
            out.append(f"* The paper's settings {what}: {mean_std(v)} ({share(v)}, {full_length(runs[name])} full-length, "
                       f"{len(v)} seed{'s' if len(v) > 1 else ''}).")
    for r in runs.values():
        if "guided_rl" in r.exp.groups:  # students of a (detuned) teacher: compare with that teacher
            spec = r.exp.overrides.get("guide", PD_GUIDE)
            teacher = spec.rpartition(":")[2]
            own = fly(None, spec, 0, 100, EVAL_SEED).mean_return  # the same 100 starts
            v = r.final("b_autonomous")
            target = "> 100 % of the PD guide" if teacher == "PDHoverGuide" else "≥ 95 % of the PD guide"
            if r.exp.overrides.get("vine_start_fraction") is not None:
                start = 100 * r.exp.overrides["vine_start_fraction"]
                kw = r.exp.overrides.get("vine_kwargs") or {}
                options = (f"; branch points every ~{kw.get('early_spacing', VineSettings.early_spacing)} steps in the first {kw['early_steps']} of each episode"
                           if kw.get("early_steps") else "")
                # the other vine options that differ from the defaults, as given
                options += "".join(f"; {key} {value}" for key, value in kw.items() if key not in ("early_steps", "early_spacing"))
                met = v.mean() > guide if teacher == "PDHoverGuide" else v.mean() >= 0.95 * guide
                out.append(f"* Guided RL with vine gradients (imitation, then from {start:.0f} % on the vine phase instead{options}): taught "
                           f"by {teacher} ({own:.1f}, {100 * own / guide:.1f} % of the PD guide), the student reaches {mean_std(v)} "
                           f"({share(v)}, {100 * v.mean() / own:.1f} % of its teacher, {full_length(r)} full-length); target "
                           f"{target}: {'met' if met else 'missed'} (docs/guided_rl.md §8–10).")
                continue
            out.append(f"* Weak-guide benchmark: taught by {teacher} ({own:.1f}, {100 * own / guide:.1f} % of the PD guide), the "
                       f"default recipe's student reaches {mean_std(v)} ({share(v)}, {100 * v.mean() / own:.1f} % of its teacher): "
                       "imitation stays below its teacher. No critic-on variant measured did better; the vine rows do "
                       "(docs/guided_rl.md).")
    critic_rows = [n for n in ("td3", "td3bc", "td3bc_small", "no_bc", "paper_relabel") if n in runs]
    if critic_rows:
        out.append(f"* Rows with a critic trained before the cold-target fix of the sequence critic (docs/guided_rl.md §1): "
                   f"{', '.join(critic_rows)}; the paper, paper_code and weak-guide runs were trained after it.")
    if "bc" in runs:
        bc = runs["bc"].final("b_autonomous")
        out.append(f"* Offline BC on guide data (adaptive slope) reaches {mean_std(bc)} ({share(bc)}), above the paper's −150 … −200.")
    rl, bcs = _slope_bests(runs, SLOPE_RL), _slope_bests(runs, SLOPE_BC)
    if len(rl) > 1 and len(bcs) > 1:
        rl_spread, bc_spread = max(rl.values()) - min(rl.values()), max(bcs.values()) - min(bcs.values())
        text = (f"* Slope sensitivity, as the paper measures it (best (b) during training, mean over seeds, across fixed k 2 / 50 / 100, "
                f"interval and adaptive): {_spread_text('GuidedTD3', rl)} (paper's TD3: 163–383, spread 220); "
                f"{_spread_text('BC', bcs)} (paper: 222–259, spread 37).")
        if rl_spread < bc_spread:
            text += (" Here the online method is the less slope-sensitive one, the reverse of the paper's ordering. Our reading: online, the guide's action is relabelled onto the states the actor itself reaches, which "
                     "corrects what a poor slope spoils; offline BC has no such correction, and the paper's slope study is "
                     "non-sequential, ours sequential.")
            worst, *rest = bcs
            if len(rest) > 1 and max(bcs.values()) - bcs[rest[0]] <= PAPER_BC_SLOPE_SPREAD:
                text += (f" BC's spread comes from {worst} alone: without it BC is as slope-insensitive as in the paper "
                         "(the steps it needs to reach 100 still differ, table 3b).")
        else:
            text += " As in the paper, the online method is the more slope-sensitive one."
        out.append(text)
    if "mlp" in runs and "mlp_hist" in runs:
        mh, m = runs["mlp_hist"].final("b_autonomous"), runs["mlp"].final("b_autonomous")
        out.append(f"* The MLP 64-64 trained the same way reaches {mean_std(mh)} ({share(mh)}) with its 32 past actions in the input "
                   f"(paper: 447) and {mean_std(m)} without them: the same missing motor state as the paper's spiking actor.")
    paired = {n: paired_differences(runs, n, "main") for n in ("no_js", *SLOPE_RL[1:], "mlp_hist", "td3bc_small")}
    if "no_js" in runs:
        nj = runs["no_js"].final("b_autonomous")
        out.append(f"* Ablation: without the jump-start our actor still learns: {mean_std(nj)}"
                   + (f", {_paired_text(paired['no_js'])} against the default paired by seed" if paired["no_js"] else "")
                   + " (the paper: 32 ± 1.2). The reason: the guide's action is relabelled onto every state the actor visits "
                   "(DAgger-style), which teaches recovery from its own mistakes; the paper's BC targets the executed actions.")
    if "no_bc" in runs:
        nb = runs["no_bc"].final("b_autonomous")
        out.append(f"* Without the BC term (Q term only, α 2, the guide still flying the start of each episode) the actor reaches "
                   f"{mean_std(nb)} after {budget_text(runs['no_bc'])} ({share(nb)}; paper: 334 ± 25.6); the BC term is what makes the "
                   "default learn fast.")
    slopes = [n for n in SLOPE_RL[1:] if paired[n]]
    if slopes:
        out.append("* Slope, paired by seed with the adaptive default (final (b) of the fixed or interval schedule minus the default's): "
                   + "; ".join(f"{runs[n].exp.label} {_paired_text(paired[n])}" for n in slopes) + ".")
    if paired["mlp_hist"]:
        out.append(f"* The non-spiking MLP with 32 past actions against the spiking default, paired by seed: {_paired_text(paired['mlp_hist'])}.")
    if paired["td3bc_small"]:
        out.append(f"* Adding the Q term (α 0.2, critics trained beside the BC term) to the default: {_paired_text(paired['td3bc_small'])} "
                   f"against it, paired by seed, at {paired['td3bc_small'][1]:.1f}× its training time.")
    return out


def paired_differences(runs: dict[str, Runs], name: str, base: str, key: str = "b_autonomous") -> tuple[list[float], float] | None:
    """Final return of ``name`` minus ``base`` for each seed both ran with the same budget, and their training-time ratio."""
    if name not in runs or base not in runs:
        return None
    def by_seed(r: Runs) -> dict[tuple[int, int], tuple[float, float]]:
        return {(m["seed"], m["steps"]): (f[key]["mean_return"], m["train_minutes"]) for m, f in zip(r.meta, r.finals)}

    ours, theirs = by_seed(runs[name]), by_seed(runs[base])
    common = sorted(set(ours) & set(theirs))
    if not common:
        return None
    ratio = sum(ours[k][1] for k in common) / sum(theirs[k][1] for k in common)
    return [ours[k][0] - theirs[k][0] for k in common], ratio

