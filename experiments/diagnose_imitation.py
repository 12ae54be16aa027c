"""Where a drone controller loses return against the PD guide: per phase of the episode.

Flies each model autonomously (protocol (b): from step 0, zero state, final reward weights) and the
privileged PD guide on the same 100 initial states as the final evaluation, and prints per phase
(steps 0–49, 50–149, 150–499) the mean reward per step of the drones still flying and the squared
distance ``|π(s) − guide(s)|²`` (summed over the 4 motors) between the model's command and what the
guide would command in the same state, plus the number of crashed episodes. Paired per initial
state against the guide, on the states where the guide scores at least 300 (its good flights): the
median return difference and on how many of them the model scores higher. Labels that differ only
in trailing digits (``final0``, ``final1``, ...: one model per seed) also get a row with the mean ± std
over those models.

    python -m experiments.diagnose_imitation LABEL=MODEL.zip [LABEL=MODEL.zip ...] [--episodes 100]
"""

from __future__ import annotations

import argparse
import os
import re

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

PHASES = ((0, 50), (50, 150), (150, 500))
#: the paired comparison uses the states where the guide flies well (it scores ≈ 400–460 on most)
GOOD_GUIDE_RETURN = 300.0


def diagnose(model, n_episodes: int = 100, seed: int | None = None) -> dict:
    """Per-phase reward per step and imitation error of ``model`` (``None``: the guide itself)."""
    from sb3_spiking.guides import resolve_guide
    from sb3_spiking.obs_keys import privileged_part
    from sb3_spiking.tasks.drone.evaluation import EVAL_SEED, fly

    guide = resolve_guide("sb3_spiking.tasks.drone.pd_guide:PDHoverGuide")
    # protocol (b) (final reward weights, zero state); the guide is stateless, so what it would
    # command is computed afterwards on the recorded states
    flight = fly(model, guide if model is None else None, n_episodes=n_episodes, seed=EVAL_SEED if seed is None else seed,
                 record=True)  # fmt: skip
    steps, flown = flight.max_steps, len(flight.running)
    # (steps, N), zero after the last step flown (when every episode ended early)
    reward, error, alive = np.zeros((steps, n_episodes)), np.zeros((steps, n_episodes)), np.zeros((steps, n_episodes), bool)
    reward[:flown], alive[:flown] = flight.rewards, flight.running
    for t, (obs, action) in enumerate(zip(flight.observations, flight.actions)):
        error[t] = ((action - guide(privileged_part(obs))) ** 2).sum(axis=1)
    returns = (reward * alive).sum(0)
    out = {"return": float(returns.mean()), "crashed": int((~alive[-1]).sum()), "returns": returns}
    for lo, hi in PHASES:
        a = alive[lo:hi]
        out[f"reward {lo}-{hi - 1}"] = float((reward[lo:hi] * a).sum() / max(a.sum(), 1))
        out[f"error {lo}-{hi - 1}"] = float((error[lo:hi] * a).sum() / max(a.sum(), 1))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", metavar="LABEL=MODEL.zip")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    import torch as th

    from sb3_spiking import GuidedTD3

    th.set_num_threads(1)
    rows = {"PD guide": diagnose(None, args.episodes)}
    for item in args.models:
        label, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"expected LABEL=MODEL.zip, got {item!r}")
        rows[label] = diagnose(GuidedTD3.load(path, device="cpu"), args.episodes)
    guide_returns = rows["PD guide"]["returns"]
    good = guide_returns >= GOOD_GUIDE_RETURN
    for r in rows.values():
        delta = r["returns"][good] - guide_returns[good]
        r["paired median"], r["better"] = float(np.median(delta)), float((delta > 0).sum())
    groups: dict[str, list[dict]] = {}
    for label, r in rows.items():
        groups.setdefault(re.sub(r"\d+$", "", label), []).append(r)
    print(format_table(rows, groups, int(good.sum())))



def format_table(rows: dict[str, dict], groups: dict[str, list[dict]], n_good: int) -> str:
    """Markdown table: one row per model, plus mean ± std rows for labels that differ only in trailing digits."""
    phases = [f"{lo}-{hi - 1}" for lo, hi in PHASES]
    keys = ["return", "crashed"] + [f"reward {p}" for p in phases] + [f"error {p}" for p in phases] + ["paired median", "better"]
    fmts = ["{:.1f}", "{:.1f}"] + ["{:.3f}"] * (2 * len(phases)) + ["{:+.1f}", "{:.1f}"]
    lines = ["| controller | return | crashed | " + " | ".join(f"reward/step {p}" for p in phases) + " | "
             + " | ".join(f"|π − guide|² {p}" for p in phases)
             + f" | median (model − guide), {n_good} states the guide flies well | model better on |",
             "|---" * len(keys + ["label"]) + "|"]

    def cells(values: list[list[float]], guide: bool) -> str:
        out = []
        for key, fmt, v in zip(keys, fmts, values):
            if guide and (key.startswith("error") or key in ("paired median", "better")):
                out.append("–")
            elif len(v) == 1:  # counts of one model are whole numbers
                out.append(f"{v[0]:.0f}" if key in ("crashed", "better") else fmt.format(v[0]))
            else:
                out.append(f"{fmt.format(np.mean(v))} ± {fmt.replace('+', '').format(np.std(v))}")
        return " | ".join(out)

    for label, r in rows.items():
        lines.append(f"| {label} | " + cells([[r[k]] for k in keys], label == "PD guide") + " |")
    for name, members in groups.items():
        if len(members) > 1:
            lines.append(
                f"| **{name}** (mean ± std of {len(members)}) | " + cells([[m[k] for m in members] for k in keys], False) + " |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
