"""The vine phase alone: improve a trained drone student with vine gradients, evaluating as it goes.

Loads a GuidedTD3 drone model (e.g. a student that imitated a weak guide), then repeats: the
leaders fly ``--leader-steps`` steps (measuring ``∇_a Q^π`` at the branch points, see
:mod:`sb3_spiking.guided_td3.vine`) and the actor takes ``--updates`` updates. Every
``--eval-every`` rounds the autonomous return on the learning curve's 64 fixed starts (seed 1000,
final reward weights) is printed and written to ``--csv``. One torch thread.

With ``--copies model`` the copies fly a dynamics model learnt from the student's noisy flights instead of the
simulator: ``--collect`` steps before the first round and ``--collect-per-round`` before each round (as GuidedTD3's
collection fills the replay buffer between its ``train()`` calls: 50 steps of 16 envs), exploration N(0, ``--noise``).

    python -m experiments.vine_finetune runs/i17/weak75_bc/seed0/logs/guided_td3/DroneHover-v0_1/DroneHover-v0.zip \\
        --rounds 200 --csv runs/vine_finetune.csv
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch as th  # noqa: E402

from experiments.model_vine import NoisyFlights  # noqa: E402
from sb3_spiking import GuidedTD3  # noqa: E402
from sb3_spiking.guided_td3.vine import VineGradient, VineSettings  # noqa: E402
from sb3_spiking.tasks.drone.evaluation import actor_history_of, fly, write_rows_csv  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a saved GuidedTD3 drone model (.zip)")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", help="learning curve (round, leader steps, simulated steps, return)")
    parser.add_argument("--save", help="save the improved model here at the end")
    parser.add_argument("--collect", type=int, default=100_000, help="--copies model: noisy steps before the first round")
    parser.add_argument("--collect-per-round", type=int, default=800, help="--copies model: noisy steps before each round")
    parser.add_argument("--noise", type=float, default=0.1, help="--copies model: exploration std of the noisy flights")
    for field, default in VineSettings().__dict__.items():  # every vine option, same names
        if isinstance(default, str):
            parser.add_argument(f"--{field.replace('_', '-')}", default=default)
            continue
        if isinstance(default, bool):
            parser.add_argument(f"--{field.replace('_', '-')}", type=lambda v: v.lower() in ("1", "true", "yes"), default=default)
            continue
        kind = float if isinstance(default, float) else int
        parser.add_argument(f"--{field.replace('_', '-')}", type=kind, default=default)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    th.manual_seed(args.seed)
    settings = VineSettings(**{f: getattr(args, f) for f in VineSettings().__dict__})
    model = GuidedTD3.load(args.model, device="cpu")
    env = DroneHoverVecEnv(1, actor_history=actor_history_of(model))
    flights = None
    if settings.copies == "model":
        flights = NoisyFlights(model, args.collect + args.rounds * args.collect_per_round, args.noise, seed=50_000 + args.seed)
        flights.fly(args.collect)
    vine = VineGradient(env, model.actor, settings, model.n_seq, model.n_warmup, seed=20_000 + 1_000 * args.seed,
                        transitions=None if flights is None else flights.sample)
    start = time.time()
    rows = []

    def evaluate(round_: int) -> None:
        stats = fly(model, None, 0, 64, 1_000)
        ret, full = stats.mean_return, stats.full_length
        rows.append(dict(round=round_, leader_steps=round_ * settings.leader_steps, sim_steps=vine.sim_steps,
                         samples=vine.samples, minutes=round((time.time() - start) / 60, 2), mean_return=round(ret, 2),
                         full_length=full))
        print(f"[{rows[-1]['minutes']:5.1f} min] round {round_}: return {ret:.1f} (64 starts, {full:.0%} full length), "
              f"{vine.samples} gradients, "
              f"{vine.sim_steps:,} simulated steps, {vine.stats()}", flush=True)

    evaluate(0)
    for r in range(1, args.rounds + 1):
        model.actor.set_training_mode(False)
        if flights is not None:
            flights.fly(args.collect_per_round)
        vine.collect(model.actor)
        model.actor.set_training_mode(True)
        if len(vine):
            for _ in range(settings.updates):
                vine.update(model.actor, 1.0 - (r - 1) / args.rounds if settings.anneal else 1.0)
        if r % args.eval_every == 0:
            evaluate(r)
    if args.csv:
        write_rows_csv(rows, args.csv)
    if args.save:
        model.save(args.save)


if __name__ == "__main__":
    main()
