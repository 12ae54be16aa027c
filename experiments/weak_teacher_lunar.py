"""Can the student beat a weak teacher where the simulator cannot be copied? LunarLander NoVel (issue 30, deliverable 3).

The teacher is :class:`experiments.weak_guides.SluggishLunarGuide` (gymnasium's heuristic with its velocities read
× 0.745: 209.0 = 74.5 % of the full heuristic's 280.5 on starts 0–99). The student is GuidedTD3's spiking actor with
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
* ``td3bc_adv`` (archived record only): with the advantage critic (critic_dt 0.02 s), an option since removed;
* ``alif_bc`` / ``alif_td3bc``: ``bc`` / ``td3bc`` on the zoo entry's actor since issue 27 (adaptive-threshold LIF, the current
  frame only; 271.8 ± 3.4 when taught by the full heuristic) instead of the LIF actor with the previous frame;
* ``td3bc_long``: ``td3bc`` with the budget doubled (400 k steps; the learning rate's linear decay and λ_BC's decay
  stretch with it) and critics of 256-256 instead of 64-64 (rl-zoo's TD3 gives LunarLander 400-300);
* ``td3bc_rep2`` / ``td3bc_rep4``: ``td3bc`` deciding every 2 / 4 simulator steps (:mod:`sb3_spiking.envs.action_repeat`:
  the teacher, the student and the critic all act on held actions; evaluated the same way on the plain env). The
  budget stays 200 k *decisions* (the same gradient updates, 2 / 4 × the simulator steps); the teacher's horizon is
  divided by the repeat so that it flies the same simulated time. Held actions do not cap the task: the full heuristic
  scores 279.8 / 278.3 holding its actions 2 / 4 steps, the weak teacher 197.2 / 157.9;
* ``bc_rep4``: ``bc`` deciding every 4 steps (imitation alone on held actions: what the critic adds);
* ``alif_td3bc_rep4``: ``alif_td3bc`` deciding every 4 steps (does the adaptive actor take the Q term then?);
* ``td3bc_rep4_long``: ``td3bc_rep4`` with 400 k decisions (its learning curves still climb at 200 k);
* ``alif_td3bc_rep4_full``: ``alif_td3bc_rep4`` taught by the *full* heuristic (the zoo entry's own teacher): does
  it lift the config's student above imitation (271.8 ± 3.4) — and above its teacher? ("% of teacher": of the full
  heuristic);
* ``td3bc_rep2_sim200k`` / ``td3bc_rep4_sim200k``: the same on ``td3bc``'s simulator budget (200 k simulator steps:
  100 k / 50 k decisions, so 1/2 / 1/4 of its gradient updates): is it the repetition or the extra experience?

``--average-from F`` also scores the mean of the policy's weights over the last ``1 − F`` of training (sampled every
1000 steps; :class:`WeightAverage`), a cure tried for the swings of the final return between seeds.

Evaluation: the autonomous student (no teacher, zero state at each start) on start seeds 0–99, deterministic
(:func:`sb3_spiking.tasks.lunar_lander.evaluate_landing`). Target: ≥ 95 % of the full heuristic (0.95 × 280.45 = 266.4;
both guides are flown on the same starts by ``--report`` and cached in ``<out>/teacher.json``). One JSON per
run in ``<out>/runs``; ``--report`` rebuilds ``results.md``::

    python -m experiments.weak_teacher_lunar --variants bc td3bc td3bc_adv --seeds 0
    python -m experiments.weak_teacher_lunar --report
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402

from experiments.lunar_lander import history_entry, zoo_entry  # noqa: E402
from experiments.weak_guides import SluggishLunarGuide  # noqa: E402
from experiments.zoo_entry import model_from_entry  # noqa: E402
from sb3_spiking.envs.action_repeat import ActionRepeat, HeldActions  # noqa: E402
from sb3_spiking.guided_td3.losses import ActorBatch, BCTerm  # noqa: E402
from sb3_spiking.tasks.lunar_lander import (  # noqa: E402
    LunarLanderHeuristicGuide,
    evaluate_landing,
    make_lunar_lander_novel_privileged,
)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "archive" / "critic" / "weak_teacher_lunar"
EVAL_SEEDS = tuple(range(100))
#: the starts of the learning curve and of the model selection (``--curve-every``), none of them among EVAL_SEEDS
VALIDATION_SEEDS = tuple(range(1000, 1020))
TD3BC = dict(alpha=2.5, policy_delay=2, bc_decay=0.9)
VARIANTS: dict[str, dict[str, Any]] = {
    "bc": {},
    "td3bc": TD3BC,
    "td3bc_proxy": dict(TD3BC, policy_kwargs=dict(proxy_target=True)),
    "td3bc_qfilter": TD3BC,
    "td3bc_qfilter_hold": dict(TD3BC, bc_decay=1.0),
    "alif_bc": {},
    "alif_td3bc": TD3BC,
    "td3bc_long": dict(TD3BC, n_timesteps=400_000, policy_kwargs=dict(net_arch=dict(pi=[128, 128], qf=[256, 256]))),
    "td3bc_rep2": dict(TD3BC, action_repeat=2),
    "td3bc_rep4": dict(TD3BC, action_repeat=4),
    "bc_rep4": dict(action_repeat=4),
    "alif_td3bc_rep4": dict(TD3BC, action_repeat=4),
    "td3bc_rep4_long": dict(TD3BC, action_repeat=4, n_timesteps=400_000),
    "alif_td3bc_rep4_full": dict(TD3BC, action_repeat=4),
    "td3bc_rep2_sim200k": dict(TD3BC, action_repeat=2, n_timesteps=100_000),
    "td3bc_rep4_sim200k": dict(TD3BC, action_repeat=4, n_timesteps=50_000),
}
#: variants on the zoo entry's own actor (adaptive LIF, no history); the others keep the actor they were measured with
ZOO_ACTOR = ("alif_bc", "alif_td3bc", "alif_td3bc_rep4", "alif_td3bc_rep4_full")
#: variants taught by the full heuristic (LunarLanderHeuristicGuide, the zoo entry's guide) instead of the weak teacher:
#: does the recipe lift the config's own student above its imitation (271.8 ± 3.4, docs/memory.md)?
FULL_TEACHER = ("alif_td3bc_rep4_full",)
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
    """The zoo entry (with the actor the variant was measured with: ``history_entry`` unless the variant is in
    :data:`ZOO_ACTOR`) with the variant's overrides (``policy_kwargs`` merged); with ``action_repeat`` k the teacher's
    ``guide_horizon_start`` is divided by k (it counts decisions)."""
    hp = zoo_entry() if variant in ZOO_ACTOR else history_entry()
    over = dict(VARIANTS[variant])
    hp["policy_kwargs"] = dict(hp.get("policy_kwargs") or {}, **over.pop("policy_kwargs", {}))
    hp.update(over)
    if "action_repeat" in hp:  # the teacher flies the same simulated time: its horizon counts decisions
        hp["guide_horizon_start"] = int(hp["guide_horizon_start"]) // hp["action_repeat"]
    return hp


class ValidationCurve(BaseCallback):
    """Every ``every`` env steps: the autonomous student on :data:`VALIDATION_SEEDS` (disjoint from the reported
    starts), printed and recorded; keeps a copy of the policy's weights that scored best there. Evaluating does not
    touch training (deterministic actions, its own env, the recurrent state passed in), so a run with the curve trains
    exactly as one without it; the time it takes is kept apart from the training time."""

    def __init__(self, every: int, env_kwargs: dict[str, Any], seeds: tuple[int, ...] = VALIDATION_SEEDS,
                 repeat: int = 1) -> None:
        super().__init__()
        self.every, self.next_at, self.env_kwargs, self.seeds, self.repeat = every, every, env_kwargs, seeds, repeat
        self.curve: list[tuple[int, float]] = []
        self.best_return, self.best_at, self.best_weights = -np.inf, 0, None
        self.seconds = 0.0

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_at:
            self.next_at += self.every
            start = time.perf_counter()
            r = evaluate_landing(HeldActions(self.model, self.repeat), self.seeds, observation="dict",
                                 env_kwargs=self.env_kwargs)
            self.curve.append((self.num_timesteps, round(r.mean_return, 2)))
            if r.mean_return > self.best_return:
                self.best_return, self.best_at = r.mean_return, self.num_timesteps
                self.best_weights = copy.deepcopy(self.model.policy.state_dict())
            self.seconds += time.perf_counter() - start
            print(f"  {self.num_timesteps:>7} steps: {r.mean_return:7.1f} on the validation starts "
                  f"({100 * r.landed_fraction:.0f} % landed)", flush=True)
        return True


class WeightAverage(BaseCallback):
    """The running mean of the policy's floating-point weights, sampled every ``every`` env steps from ``start`` on
    (the averaged weights are only scored, training goes on with its own)."""

    def __init__(self, start: int, every: int = 1000) -> None:
        super().__init__()
        self.next_at, self.every = start, every
        self.mean: dict[str, th.Tensor] | None = None
        self.count = 0

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_at:
            self.next_at += self.every
            state = {k: v.detach().clone() for k, v in self.model.policy.state_dict().items()}
            self.count += 1
            if self.mean is None:
                self.mean = state
            else:
                for k, v in state.items():
                    if v.is_floating_point():
                        self.mean[k] += (v - self.mean[k]) / self.count
        return True


def train(variant: str, seed: int, timesteps: int | None, curve_every: int | None = None,
          average_from: float | None = None):
    """``(model, env_kwargs, repeat, curve, average)``; ``curve`` is the :class:`ValidationCurve` (``None`` without
    ``curve_every``), ``average`` the :class:`WeightAverage` (``None`` without ``average_from``)."""
    entry = settings(variant)
    repeat = int(entry.pop("action_repeat", 1))

    def make_env(**kwargs):
        env = make_lunar_lander_novel_privileged(**kwargs)
        return ActionRepeat(env, repeat) if repeat > 1 else env

    teacher = LunarLanderHeuristicGuide() if variant in FULL_TEACHER else SluggishLunarGuide()
    model, steps = model_from_entry(entry, make_env, seed, guide=teacher,
                                    algo=q_filtered_class() if variant in Q_FILTERED else None)
    steps = int(timesteps or steps)
    env_kwargs = entry.get("env_kwargs") or {}
    curve = ValidationCurve(curve_every, env_kwargs, repeat=repeat) if curve_every else None
    average = WeightAverage(int(average_from * steps)) if average_from is not None else None
    model.learn(steps, log_interval=-1, callback=[c for c in (curve, average) if c is not None] or None)
    return model, env_kwargs, repeat, curve, average


def run(variant: str, seed: int, timesteps: int | None, out: Path, curve_every: int | None = None,
        average_from: float | None = None) -> dict[str, Any]:
    th.set_num_threads(1)
    th.manual_seed(seed)
    start = time.perf_counter()
    model, env_kwargs, repeat, curve, average = train(variant, seed, timesteps, curve_every, average_from)
    minutes = (time.perf_counter() - start - (curve.seconds if curve else 0.0)) / 60
    student = HeldActions(model, repeat)

    def scored(weights: dict[str, th.Tensor] | None = None):
        """The student on the reported starts, with ``weights`` loaded first (the run ends here: nothing restores)."""
        if weights is not None:
            model.policy.load_state_dict(weights)
        return evaluate_landing(student, EVAL_SEEDS, observation="dict", env_kwargs=env_kwargs)

    result = scored()
    record = dict(variant=variant, seed=seed, timesteps=int(model.num_timesteps), action_repeat=repeat,
                  train_minutes=round(minutes, 2),
                  mean_return=result.mean_return, landed=result.landed_fraction, settings=repr(VARIANTS[variant]),
                  returns=result.returns.round(2).tolist(),
                  command=" ".join(["python", "-m", "experiments.weak_teacher_lunar", *sys.argv[1:]]))
    if curve is not None and curve.best_weights is not None:
        # model selection as rl-zoo's best_model: the weights best on the validation starts, scored on the reported ones
        best = scored(curve.best_weights)
        record.update(curve=curve.curve, best_at=curve.best_at, best_return=best.mean_return,
                      best_landed=best.landed_fraction)
    if average is not None and average.mean is not None:
        avg = scored(average.mean)
        record.update(average_from=average_from, average_count=average.count, average_return=avg.mean_return,
                      average_landed=avg.landed_fraction)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "runs" / f"{variant}_s{seed}.json").write_text(json.dumps(record, indent=1))
    return record


def teacher_row(out: Path) -> dict[str, float]:
    """The teacher and the full heuristic on the same starts (cached in ``<out>/teacher.json``): ``mean_return``,
    ``landed`` (the teacher's), ``full_heuristic`` (the full heuristic's mean return)."""
    path = out / "teacher.json"
    cached = json.loads(path.read_text()) if path.exists() else {}
    row = dict(cached)
    if "mean_return" not in row:
        r = evaluate_landing(SluggishLunarGuide(), EVAL_SEEDS, observation="privileged")
        row.update(mean_return=r.mean_return, landed=r.landed_fraction)
    if "full_heuristic" not in row:
        row["full_heuristic"] = evaluate_landing(LunarLanderHeuristicGuide(), EVAL_SEEDS, observation="privileged").mean_return
    if row != cached:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(row, indent=1))
    return row


def report(out: Path) -> str:
    teacher = teacher_row(out)
    full = teacher["full_heuristic"]
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    lines = ["# Weak teacher, LunarLander NoVel (no copyable simulator)", "",
             "Made by `python -m experiments.weak_teacher_lunar --report`; runs by the commands in their JSON files.",
             "Autonomous student on starts 0–99, deterministic. "
             f"Target: ≥ 95 % of the full heuristic ({full:.2f} on the same starts): {0.95 * full:.2f}.",
             "Final weights; the last column: the weights that scored best on 20 other starts (1000–1019) during "
             "training (`--curve-every`), scored on starts 0–99, per seed with the env step they are from; "
             "the column before it: the mean of the weights over the last quarter of training (`--average-from "
             "0.75`). Env steps are the learner's decisions; with action repetition the simulator ran k × as many.",
             "", "| variant | seeds | env steps | train minutes | return | per seed | % of full heuristic | % of teacher "
             "| landed % | averaged weights | best on the validation starts |",
             "|---|---|---|---|---|---|---|---|---|---|---|",
             f"| full heuristic (LunarLanderHeuristicGuide) | – | – | – | {full:.1f} | – | 100 | – | – | – | – |",
             f"| teacher (SluggishLunarGuide) | – | – | – | {teacher['mean_return']:.1f} | – | "
             f"{100 * teacher['mean_return'] / full:.1f} | 100 | {100 * teacher['landed']:.0f} | – | – |"]
    for variant in (*VARIANTS, *REMOVED):
        rs = [r for r in records if r["variant"] == variant]
        if not rs:
            continue
        ret = [r["mean_return"] for r in rs]
        mean = float(np.mean(ret))
        spread = f" ± {np.std(ret):.1f}" if len(rs) > 1 else ""
        best = "–"
        if all("best_return" in r for r in rs):
            b = [r["best_return"] for r in rs]
            best = (f"{np.mean(b):.1f}" + (f" ± {np.std(b):.1f}" if len(rs) > 1 else "") + " ("
                    + ", ".join(f"{r['best_return']:.1f} at {r['best_at'] // 1000} k" for r in rs) + ")")
        avg = "–"
        if all("average_return" in r for r in rs):
            a = [r["average_return"] for r in rs]
            avg = (f"{np.mean(a):.1f}" + (f" ± {np.std(a):.1f}" if len(rs) > 1 else "") + " ("
                   + ", ".join(f"{x:.1f}" for x in a) + ")")
        k = rs[0].get("action_repeat", 1)
        steps = f"{rs[0]['timesteps']:,}" + (f" (k = {k})" if k > 1 else "")
        lines.append(f"| {variant} | {', '.join(str(r['seed']) for r in rs)} | {steps} | "
                     f"{np.mean([r['train_minutes'] for r in rs]):.1f} | {mean:.1f}{spread} | "
                     f"{', '.join(f'{x:.1f}' for x in ret)} | "
                     f"{100 * mean / full:.1f} | "
                     f"{100 * mean / (full if variant in FULL_TEACHER else teacher['mean_return']):.1f} | "
                     f"{100 * np.mean([r['landed'] for r in rs]):.0f} | {avg} | {best} |")
    text = "\n".join(lines) + "\n"
    (out / "results.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--timesteps", type=int, default=None, help="default: the zoo entry's n_timesteps (200 k)")
    parser.add_argument("--curve-every", type=int, default=None,
                        help="env steps between evaluations on the 20 validation starts (the run also reports the "
                             "weights best there, scored on the 100 reported starts); default: none")
    parser.add_argument("--average-from", type=float, default=None,
                        help="also score the policy's weights averaged from this fraction of training on (e.g. 0.75: "
                             "the last quarter); default: none")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="only rebuild results.md from the runs in --out")
    args = parser.parse_args(argv)
    if not args.report:
        for variant in args.variants:
            for seed in args.seeds:
                r = run(variant, seed, args.timesteps, args.out, args.curve_every, args.average_from)
                print(f"{variant} seed {seed}: {r['mean_return']:.1f} ({100 * r['landed']:.0f} % landed) "
                      f"in {r['train_minutes']} min", flush=True)
    print(report(args.out))


if __name__ == "__main__":
    main()
