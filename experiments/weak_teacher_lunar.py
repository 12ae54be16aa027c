"""Can the student beat a weak teacher where the simulator cannot be copied? LunarLander NoVel (issue 30, deliverable 3).

The teacher is :class:`experiments.weak_guides.SluggishLunarGuide` (gymnasium's heuristic with its velocities read
× 0.745: 208.9 = 74.5 % of the full heuristic's 280.3 on starts 0–99). The student is GuidedTD3's spiking actor with
the settings of ``zoo_configs/guided_td3.yml``'s ``LunarLanderContinuousNoVelPrivileged-v3`` entry (the actor sees
x, y, θ and the legs, scaled × 10, plus the previous step's values; critics and teacher the full state); the vine
phase is not available (Box2D cannot be copied). Variants (overrides of that entry):

* ``bc``: the entry as it is: relabelled BC alone (α 0) — the imitation reference;
* ``td3bc``: TD3+BC: α 2.5, policy delay 2, λ_BC × 0.9 every 1000 updates (≈ 0.07 at the end), TD3's twin critic;
* ``td3bc_proxy``: the same with the non-spiking proxy target actor (``proxy_target: true``);
* ``td3bc_qfilter``: TD3+BC whose BC term imitates the teacher only where the critic rates the teacher's action
  above the student's own, ``Q₁(s, a_guide) > Q₁(s, π(s))`` (the Q-filter of Nair et al. 2018, "Overcoming
  exploration in RL with demonstrations"): a weak teacher stops pulling the student back where it is worse;
* ``td3bc_qfilter_hold``: the same with λ_BC held (no decay): the filter, not the schedule, ends the imitation;
* ``td3bc_adv`` (archived record only): with the advantage critic (critic_dt 0.02 s), an option since removed.

Evaluation: the autonomous student (no teacher, zero state at each start) on start seeds 0–99, deterministic
(:func:`sb3_spiking.tasks.lunar_lander.evaluate_landing`). Target: ≥ 95 % of the full heuristic (266.3). One JSON per
run in ``<out>/runs``; ``--report`` rebuilds ``results.md``::

    python -m experiments.weak_teacher_lunar --variants bc td3bc td3bc_adv --seeds 0
    python -m experiments.weak_teacher_lunar --report
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402

from experiments.lunar_lander import history_entry  # noqa: E402
from experiments.weak_guides import SluggishLunarGuide  # noqa: E402
from experiments.zoo_entry import model_from_entry  # noqa: E402
from sb3_spiking.guided_td3.losses import ActorBatch, BCTerm  # noqa: E402
from sb3_spiking.tasks.lunar_lander import evaluate_landing, make_lunar_lander_novel_privileged  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "archive" / "critic" / "weak_teacher_lunar"
EVAL_SEEDS = tuple(range(100))
FULL_HEURISTIC = 280.3  # LunarLanderHeuristicGuide on EVAL_SEEDS (SluggishLunarGuide's docstring)
TD3BC = dict(alpha=2.5, policy_delay=2, bc_decay=0.9)
VARIANTS: dict[str, dict[str, Any]] = {
    "bc": {},
    "td3bc": TD3BC,
    "td3bc_proxy": dict(TD3BC, policy_kwargs=dict(proxy_target=True)),
    "td3bc_qfilter": TD3BC,
    "td3bc_qfilter_hold": dict(TD3BC, bc_decay=1.0),
}
#: variants whose actor loss is QFilteredTD3's
Q_FILTERED = ("td3bc_qfilter", "td3bc_qfilter_hold")
#: records of a removed option (the advantage critic: docs/critic.md), reported, not rerunnable
REMOVED = ("td3bc_adv",)


class QFilteredBC(BCTerm):
    """The BC term on the steps where the critic prefers the teacher's action to the actor's (detached filter); the
    mean runs over all actor steps, so the term shrinks as the filter rejects the teacher."""

    def __init__(self, critic: Any, target: str = "guide") -> None:
        super().__init__(target)
        self.critic = critic

    def __call__(self, batch: ActorBatch) -> th.Tensor:
        target = self.targets(batch)
        with th.no_grad():
            keep = self.critic.q1_forward(batch.observations, target) > self.critic.q1_forward(
                batch.observations, batch.policy_actions.detach())
        bc = ((batch.policy_actions - target).pow(2).mean(dim=1, keepdim=True) * keep).mean()
        batch.logs["bc_loss"] = bc.item()
        return bc


def q_filtered_class():
    """:class:`~sb3_spiking.zoo.algos.ZooGuidedTD3` with the BC term replaced by :class:`QFilteredBC`."""
    from sb3_spiking.zoo.algos import ZooGuidedTD3

    class QFilteredTD3(ZooGuidedTD3):
        def actor_terms(self):
            return [(w, QFilteredBC(self.critic, self.bc_target) if isinstance(t, BCTerm) else t)
                    for w, t in super().actor_terms()]

    return QFilteredTD3


def settings(variant: str) -> dict[str, Any]:
    """The zoo entry (with the actor it was measured with, ``history_entry``) with the variant's overrides
    (``policy_kwargs`` merged)."""
    hp = history_entry()
    over = dict(VARIANTS[variant])
    hp["policy_kwargs"] = dict(hp.get("policy_kwargs") or {}, **over.pop("policy_kwargs", {}))
    hp.update(over)
    return hp


def train(variant: str, seed: int, timesteps: int | None):
    entry = settings(variant)
    model, steps = model_from_entry(entry, make_lunar_lander_novel_privileged, seed, guide=SluggishLunarGuide(),
                                    algo=q_filtered_class() if variant in Q_FILTERED else None)
    model.learn(int(timesteps or steps), log_interval=-1)
    return model, entry.get("env_kwargs") or {}


def run(variant: str, seed: int, timesteps: int | None, out: Path) -> dict[str, Any]:
    th.set_num_threads(1)
    th.manual_seed(seed)
    start = time.perf_counter()
    model, env_kwargs = train(variant, seed, timesteps)
    minutes = (time.perf_counter() - start) / 60
    result = evaluate_landing(model, EVAL_SEEDS, observation="dict", env_kwargs=env_kwargs)
    record = dict(variant=variant, seed=seed, timesteps=int(model.num_timesteps), train_minutes=round(minutes, 2),
                  mean_return=result.mean_return, landed=result.landed_fraction, settings=repr(VARIANTS[variant]),
                  returns=result.returns.round(2).tolist(),
                  command=" ".join(["python", "-m", "experiments.weak_teacher_lunar", *sys.argv[1:]]))
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "runs" / f"{variant}_s{seed}.json").write_text(json.dumps(record, indent=1))
    return record


def teacher_row(out: Path) -> dict[str, float]:
    """The teacher on the same starts (cached in ``<out>/teacher.json``)."""
    path = out / "teacher.json"
    if not path.exists():
        r = evaluate_landing(SluggishLunarGuide(), EVAL_SEEDS, observation="privileged")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dict(mean_return=r.mean_return, landed=r.landed_fraction), indent=1))
    return json.loads(path.read_text())


def report(out: Path) -> str:
    teacher = teacher_row(out)
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    lines = ["# Weak teacher, LunarLander NoVel (no copyable simulator)", "",
             "Made by `python -m experiments.weak_teacher_lunar --report`; runs by the commands in their JSON files.",
             "Autonomous student on starts 0–99, deterministic. "
             f"Target: ≥ 95 % of the full heuristic ({0.95 * FULL_HEURISTIC:.1f}).",
             "", "| variant | seeds | env steps | train minutes | return | % of full heuristic | % of teacher | landed % |",
             "|---|---|---|---|---|---|---|---|",
             f"| teacher (SluggishLunarGuide) | – | – | – | {teacher['mean_return']:.1f} | "
             f"{100 * teacher['mean_return'] / FULL_HEURISTIC:.1f} | 100 | {100 * teacher['landed']:.0f} |"]
    for variant in (*VARIANTS, *REMOVED):
        rs = [r for r in records if r["variant"] == variant]
        if not rs:
            continue
        ret = [r["mean_return"] for r in rs]
        mean = float(np.mean(ret))
        spread = f" ± {np.std(ret):.1f}" if len(rs) > 1 else ""
        lines.append(f"| {variant} | {', '.join(str(r['seed']) for r in rs)} | {rs[0]['timesteps']:,} | "
                     f"{np.mean([r['train_minutes'] for r in rs]):.1f} | {mean:.1f}{spread} | "
                     f"{100 * mean / FULL_HEURISTIC:.1f} | {100 * mean / teacher['mean_return']:.1f} | "
                     f"{100 * np.mean([r['landed'] for r in rs]):.0f} |")
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--timesteps", type=int, default=None, help="default: the zoo entry's n_timesteps (200 k)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="only rebuild results.md from the runs in --out")
    args = parser.parse_args(argv)
    if not args.report:
        for variant in args.variants:
            for seed in args.seeds:
                r = run(variant, seed, args.timesteps, args.out)
                print(f"{variant} seed {seed}: {r['mean_return']:.1f} ({100 * r['landed']:.0f} % landed) "
                      f"in {r['train_minutes']} min", flush=True)
    print(report(args.out))


if __name__ == "__main__":
    main()
