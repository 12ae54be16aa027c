"""Before / after the cold-target fix: how well the sequence critic learns a fixed policy's value.

The TD target of step ``i`` reads the target actor's output at position ``i + 1`` of its unroll from
zero state at the window start; in a window that starts mid-episode the first ``n_warmup`` outputs
are not the deployed policy's. GuidedTD3 leaves those steps out of the
critic loss. This script measures what that does to the critic, with everything else held fixed:

1. trains a spiking student by relabelled BC on the drone (the default recipe, ``--student-steps``);
2. collects ``--collect`` env steps with that student flying (exploration noise, the PD guide flying
   the first 50 steps of each episode) into one replay buffer, no updates;
3. from the same initial critic, runs ``--updates`` critic-only updates (policy evaluation of the
   fixed student: actor and target actor stay the student) with the mask on and off, sampling the
   same windows in both arms, and every ``--every`` updates compares ``min Q(s, π(s))`` with the
   Monte-Carlo return of the student's own autonomous flights (``critic_diagnostic``: 64 fixed
   initial states, first 100 steps of each episode).

4. with the critic of the last arm frozen, lets the student follow the Q term alone (no BC) for
   ``--actor-updates`` updates and prints the critic's value of the new actor beside the actor's real
   autonomous return: whether the critic's action gradient points to better flight (``*_follow.csv``).

Prints one row per checkpoint and writes ``--csv``. One torch thread.

    python -m experiments.critic_mask_effect [--updates 3000] [--n-steps 1] \\
        [--csv experiments/archive/critic_mask/critic_mask.csv]
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.noise import NormalActionNoise  # noqa: E402
from stable_baselines3.common.utils import polyak_update  # noqa: E402

from sb3_spiking import GuidedTD3, allocator  # noqa: E402
from sb3_spiking.tasks.drone.evaluation import critic_diagnostic, fly  # noqa: E402
from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide  # noqa: E402
from sb3_spiking.tasks.drone.simulator import hover_action, nominal_parameters  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402

#: the default drone recipe's settings (zoo_configs/guided_td3.yml), shortened
RECIPE = dict(learning_rate=1e-3, buffer_size=400_000, batch_size=64, tau=0.01, gamma=0.99, train_freq=50, gradient_steps=30,
              policy_delay=1, n_seq=100, n_warmup=50, stride=25, bc_coef=1.0, bc_target="guide",
              policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=[256, 256]), readout="leaky"))


def main(argv: list[str] | None = None) -> None:
    allocator.keep_freed_memory()  # as the drone config (zoo_configs/guided_td3.yml: keep_freed_memory), process-wide
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student-steps", type=int, default=60_000)
    parser.add_argument("--collect", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=3_000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-steps", type=int, default=1, help="TD target length of the evaluated critic (GuidedTD3 n_steps)")
    parser.add_argument("--csv", default="experiments/archive/critic_mask/critic_mask.csv")
    parser.add_argument("--actor-updates", type=int, default=200, help="then: actor updates on the Q term alone (0: skip)")
    parser.add_argument("--actor-every", type=int, default=25)
    parser.add_argument("--actor-lr", type=float, default=1e-4)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    t0 = time.time()
    env = DroneHoverVecEnv(16, actor_history=4)
    student = GuidedTD3(
        "SpikingPolicy",
        env,
        guide=PDHoverGuide(),
        alpha=0.0,
        learning_starts=5000,
        guide_horizon_start=200,
        guide_horizon_end=0,
        seed=args.seed,
        action_noise=NormalActionNoise(np.zeros(4), 0.1 * np.ones(4)),
        **RECIPE,
    )
    student.learn(args.student_steps)
    own = fly(student, None, 0, 64, 1_000).mean_return
    print(
        f"[{(time.time() - t0) / 60:5.1f} min] student after {args.student_steps:,} steps: "
        f"autonomous return {own:.1f} (64 starts)",
        flush=True,
    )

    # the evaluated policy: critic trained, actor fixed (gradient_steps 0: the student flies, nothing is updated)
    model = GuidedTD3(
        "SpikingPolicy",
        DroneHoverVecEnv(16, actor_history=4),
        guide=PDHoverGuide(),
        alpha=2.0,
        learning_starts=0,
        n_steps=args.n_steps,
        guide_horizon_start=50,
        guide_horizon_end=50,
        seed=args.seed,
        **{**RECIPE, "gradient_steps": 0},
    )
    model.actor.load_state_dict(student.actor.state_dict())
    model.actor_target.load_state_dict(student.actor.state_dict())
    model.actor.set_slope(student.actor.slope)
    model.actor_target.set_slope(student.actor.slope)
    model.action_noise = NormalActionNoise(np.zeros(4), 0.1 * np.ones(4))  # σ 0.1 as in training
    model.learn(args.collect)
    model._current_progress_remaining = 1.0  # (no schedule depends on it below)
    print(f"[{(time.time() - t0) / 60:5.1f} min] collected {model.replay_buffer.size() * 16:,} transitions", flush=True)
    critic0 = copy.deepcopy(model.critic.state_dict())

    rows = []
    masked = model.critic_mask
    for mask in (False, True):  # the masked (fixed) critic last: follow_the_critic uses it
        # the unmasked arm (GuidedTD3 before the fix; the option is gone) bootstraps on every valid step
        model.critic_mask = masked if mask else (lambda data, targets=None: data.valid.bool())  # type: ignore[method-assign]
        model.critic.load_state_dict(critic0)
        model.critic_target.load_state_dict(critic0)
        model.critic.optimizer = model.policy.optimizer_class(model.critic.parameters(), lr=1e-3)
        np.random.seed(args.seed)  # the same windows in both arms
        th.manual_seed(args.seed)
        for update in range(1, args.updates + 1):
            data = model.replay_buffer.sample(64)
            loss = model._critic_loss(data)
            model.critic.optimizer.zero_grad()
            loss.backward()
            model.critic.optimizer.step()
            polyak_update(model.critic.parameters(), model.critic_target.parameters(), model.tau)
            if update % args.every == 0:
                d = critic_diagnostic(model, 64, 1_000)
                row = dict(td_steps=args.n_steps, mask_cold_targets=mask, updates=update, critic_loss=round(loss.item(), 4),
                           **{k: round(v, 3) if isinstance(v, float) else v for k, v in d.items()})
                rows.append(row)
                print(f"[{(time.time() - t0) / 60:5.1f} min] mask {str(mask):5s} update {update:5d}: Q {d['q_min']:7.2f} vs "
                      f"return {d['mc_return']:7.2f} (bias {d['q_bias']:+6.2f}, corr {d['q_corr']:.3f}), loss {loss.item():.4f}",
                      flush=True)
    if args.actor_updates:
        follow_the_critic(model, student, args, t0)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    last = {r["mask_cold_targets"]: r for r in rows if r["updates"] == args.updates}
    print(
        f"after {args.updates} updates: |bias| {abs(last[True]['q_bias']):.2f} (mask on) "
        f"vs {abs(last[False]['q_bias']):.2f} (off), "
        f"corr {last[True]['q_corr']:.3f} vs {last[False]['q_corr']:.3f}; written to {args.csv}"
    )


def follow_the_critic(model: GuidedTD3, student: GuidedTD3, args: argparse.Namespace, t0: float) -> None:
    """Is the critic's action gradient a guide to better flight? With the critic of the last arm frozen
    (it has just learnt the student's value), the student follows the Q term alone (no BC) for
    ``--actor-updates`` updates at learning rate ``--actor-lr``; every ``--actor-every`` updates the critic's
    own value of the new actor on the buffer's states is printed beside the actor's real autonomous return."""
    for p in model.critic.parameters():
        p.requires_grad_(False)
    model.bc_coef, model.alpha = 0.0, 1.0
    model.actor.optimizer = model.policy.optimizer_class(model.actor.parameters(), lr=args.actor_lr)
    np.random.seed(args.seed + 1)
    probe = model.replay_buffer.sample(64)  # fixed states for the critic's view
    mask = probe.actor_mask.bool()

    hover = hover_action(nominal_parameters()["dynamics"])

    def check(update: int) -> tuple[int, float, float, float, float]:
        """Critic's mean Q(s, π(s)) on the probe states, the actor's mean |a - a_hover|² there (the reward's
        action cost, per motor), and the real autonomous return (64 starts)."""
        with th.no_grad():
            pi = model.actor.unroll(probe.observations)
            obs = {k: v[mask] for k, v in probe.observations.items()}
            q = float(model.critic.q1_forward(obs, pi[mask]).mean())
            cost = float((pi[mask] - hover).pow(2).mean())
        flight = fly(model, None, 0, 64, 1_000)
        row = (update, q, cost, flight.mean_return, flight.full_length)
        print(
            f"[{(time.time() - t0) / 60:5.1f} min] follow the critic: update {update:5d}: critic's Q(s, π(s)) {q:7.2f}, "
            f"|a - a_hover|² {cost:.4f}, autonomous return {flight.mean_return:7.1f} "
            f"({100 * flight.full_length:.0f} % full-length)",
            flush=True,
        )
        return row

    rows = [check(0)]
    for update in range(1, args.actor_updates + 1):
        data = model.replay_buffer.sample(64)
        loss, *_ = model._actor_loss(data)
        model.actor.optimizer.zero_grad()
        loss.backward()
        model.actor.optimizer.step()
        if update % args.actor_every == 0:
            rows.append(check(update))
    path = Path(args.csv).with_name(Path(args.csv).stem + "_follow.csv")
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["actor_updates", "critic_q_pi", "action_cost", "autonomous_return", "full_length"])
        writer.writerows(rows)


if __name__ == "__main__":
    main()
