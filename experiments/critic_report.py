"""The tables of docs/critic.md (issue 30), rebuilt from the records under ``experiments/archive/critic``.

* the fixed-critic probe on the drone (``experiments.policy_improvement``, ``policy_improvement/*.csv``): per critic,
  the correlation of its one-action effect with the true one at t₀ 60 / 120 / 240, and the real return after 200
  actor updates following it alone (``q``) or with a trust region (``anchor:10``);
* the sanity benchmark (``experiments.critic_sanity --report``) and the weak LunarLander teacher
  (``experiments.weak_teacher_lunar --report``), rebuilt by their own scripts.

    python -m experiments.critic_report      # prints the probe's table, rebuilds the two reports
"""

from __future__ import annotations

import csv
from pathlib import Path

ARCHIVE = Path(__file__).resolve().parents[1] / "experiments" / "archive" / "critic"


def probe_table(folder: Path = ARCHIVE / "policy_improvement") -> str:
    """Markdown table of every ``*_resolution.csv`` (and its rules' CSV) in ``folder``."""
    lines = ["| critic | corr(critic, true) at t₀ 60 / 120 / 240 | sign agreement | std critic / true effect (t₀ 60) "
             "| return after 200 updates: Q alone / anchor 10 (start) |", "|---|---|---|---|---|"]
    for res_path in sorted(folder.glob("*_resolution.csv")):
        rows = list(csv.DictReader(res_path.open()))
        rules_path = res_path.with_name(res_path.name.replace("_resolution", ""))
        rules = list(csv.DictReader(rules_path.open())) if rules_path.exists() else []
        for critic in dict.fromkeys(r["critic"] for r in rows):
            mine = [r for r in rows if r["critic"] == critic]
            corr = " / ".join(f"{float(r['corr']):.2f}" for r in mine)
            sign = " / ".join(f"{float(r['sign_agreement']):.2f}" for r in mine)
            first = mine[0]
            spread = f"{float(first['std_critic']):.2f} / {float(first['std_true']):.2f}"

            def last(rule: str, critic: str = critic, rules: list = rules) -> str:
                got = [r for r in rules if r["critic"] == critic and r["rule"] == rule]
                return f"{float(got[-1]['autonomous_return']):.1f}" if got else "–"

            start = [r for r in rules if r["critic"] == critic and r["actor_updates"] == "0"]
            begin = f" ({float(start[0]['autonomous_return']):.1f})" if start else ""
            name = "advantage:0.01" if critic == "advantage" else critic  # (the default critic_dt)
            lines.append(f"| {name} | {corr} | {sign} | {spread} | {last('q')} / {last('anchor:10')}{begin} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    from experiments import critic_sanity, weak_teacher_lunar

    print(probe_table())
    for module, out in ((critic_sanity, ARCHIVE / "sanity"), (weak_teacher_lunar, ARCHIVE / "weak_teacher_lunar")):
        if (out / "runs").exists():
            module.report(out)
            print(f"rebuilt {out / 'results.md'}")


if __name__ == "__main__":
    main()
