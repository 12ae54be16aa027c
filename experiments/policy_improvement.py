"""One policy-improvement step from a fixed critic: which actor update makes a teacher's student better?

GuidedTD3's critic-on probes lost return as soon as the Q term acted (docs/guided_rl.md). This script
isolates that step, with everything else held fixed, so that candidate fixes are compared on the same
student, the same replay data and the same initial critic:

1. trains a spiking student by relabelled BC of ``--guide`` (the default recipe, ``--student-steps``);
2. collects ``--collect`` transitions with that student flying (exploration noise ``--noise``, the
   guide flying the first 50 steps of each episode), no updates;
3. for each critic in ``--critics`` (``plain``: SB3's MLP; ``layernorm``: ``critic_layer_norm=True``)
   trains it from the same initialisation for ``--updates`` updates of policy evaluation of the
   fixed student (``n_steps`` targets, cold targets masked), and prints ``critic_diagnostic`` and its
   *action resolution*: on the 64 fixed starts, the student flies deterministically twice, once with
   a one-step action deviation δ ~ N(0, ``--noise``) at step t₀ (each of ``--resolution-t0``); the true
   effect is the discounted return difference from t₀ on (the simulator is deterministic), the
   critic's is Q(s, a + δ) − Q(s, a); printed: their correlation and sizes (``*_resolution.csv``);
4. for each actor rule in ``--rules``, restarts from the student and updates the actor for
   ``--actor-updates`` updates against the frozen critic, printing every ``--actor-every`` updates
   the real autonomous return (64 fixed starts, final reward weights) and the action cost:

   * ``q``: the Q term alone (what the Q filter leaves on most steps);
   * ``anchor:L``: the Q term plus ``L`` × the squared distance to the student's own actions on the
     same windows (a trust region around the current policy instead of the teacher);
   * ``awr:B``: no action gradient through the critic; imitate the buffer's *executed* actions
     weighted by ``exp(A / (B · std A))``, ``A = Q(s, a_executed) − Q(s, π_student(s))`` (advantage-
     weighted regression: the critic only ranks actions it has seen).

Writes ``--csv`` (one row per checkpoint). One torch thread.

    python -m experiments.policy_improvement --guide sb3_spiking.tasks.drone.pd_guide:WeakPDGuide75 \\
        --critics plain layernorm --rules q anchor:1 awr:1 --csv experiments/archive/guided_rl/policy_improvement.csv
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
from stable_baselines3.common.noise import (  # noqa: E402
    ActionNoise,
    NormalActionNoise,
    OrnsteinUhlenbeckActionNoise,
    VectorizedActionNoise,
)
from stable_baselines3.common.utils import polyak_update  # noqa: E402

from experiments.critic_mask_effect import RECIPE  # noqa: E402
from sb3_spiking import (
    GuidedTD3,  # noqa: E402
    allocator,  # noqa: E402
)
from sb3_spiking.guides import import_object  # noqa: E402
from sb3_spiking.tasks.drone.evaluation import critic_diagnostic, fly  # noqa: E402
from sb3_spiking.tasks.drone.simulator import hover_action, nominal_parameters  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402

#: the critics compared (policy_kwargs)
CRITICS = {"plain": {}, "layernorm": dict(critic_layer_norm=True)}


def _rule(spec: str) -> tuple[str, float]:
    name, _, value = spec.partition(":")
    if name not in ("q", "anchor", "awr") or (name != "q" and not value):
        raise argparse.ArgumentTypeError(f"rule must be q, anchor:L or awr:B, got {spec!r}")
    return name, float(value or 0.0)


def main(argv: list[str] | None = None) -> None:
    allocator.keep_freed_memory()  # as the drone config (RECIPE), process-wide
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guide", default="sb3_spiking.tasks.drone.pd_guide:WeakPDGuide75")
    parser.add_argument("--student-steps", type=int, default=60_000)
    parser.add_argument("--collect", type=int, default=100_000)
    parser.add_argument("--noise", type=float, default=0.1, help="exploration std while collecting (stationary std for ou)")
    parser.add_argument("--noise-type", choices=["normal", "ou", "sparse"], default="normal",
                        help="ou: temporally correlated noise (SB3's Ornstein-Uhlenbeck, dt 1), so deviations last long "
                             "enough to move the drone; --ou-rho is the per-step correlation")
    parser.add_argument("--ou-rho", type=float, default=0.95)
    parser.add_argument("--sparse-p", type=float, default=0.05,
                        help="sparse: each step of each env is perturbed with this probability (by N(0, --noise)), the "
                             "others not at all: an action's effect is not buried in the noise of the steps after it")
    parser.add_argument("--updates", type=int, default=3_000)
    parser.add_argument("--n-steps", type=int, default=10)
    parser.add_argument("--critics", nargs="+", default=["plain", "layernorm"], choices=list(CRITICS),
                        help="(the advantage critic of experiments/archive/critic/policy_improvement was removed: "
                             "docs/critic.md)")
    parser.add_argument("--resolution-t0", nargs="*", type=int, default=[60, 120, 240])
    parser.add_argument("--rules", nargs="*", type=_rule, default=[_rule("q"), _rule("anchor:1"), _rule("awr:1")])
    parser.add_argument("--actor-updates", type=int, default=200)
    parser.add_argument("--actor-every", type=int, default=50)
    parser.add_argument("--actor-lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--csv", default="experiments/archive/guided_rl/policy_improvement.csv")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    t0 = time.time()

    def log(msg: str) -> None:
        print(f"[{(time.time() - t0) / 60:5.1f} min] {msg}", flush=True)

    guide = import_object(args.guide)()
    student = GuidedTD3("SpikingPolicy", DroneHoverVecEnv(16, actor_history=4), guide=guide, alpha=0.0, learning_starts=5000,
                        guide_horizon_start=200, guide_horizon_end=0, seed=args.seed,
                        action_noise=NormalActionNoise(np.zeros(4), 0.1 * np.ones(4)), **RECIPE)
    student.learn(args.student_steps)
    teacher = fly(None, guide, 0, 64, 1_000).mean_return
    log(f"student after {args.student_steps:,} steps: return {fly(student, None, 0, 64, 1_000).mean_return:.1f}; "
        f"its teacher {teacher:.1f} (64 starts)")

    buffer = None
    rows, resolution = [], []
    for critic_name in args.critics:
        model = GuidedTD3("SpikingPolicy", DroneHoverVecEnv(16, actor_history=4), guide=guide, alpha=1.0, learning_starts=0,
                          n_steps=args.n_steps, guide_horizon_start=50, guide_horizon_end=50, seed=args.seed,
                          **{**RECIPE, "gradient_steps": 0,
                             "policy_kwargs": {**RECIPE["policy_kwargs"], **CRITICS[critic_name]}})
        _copy_actor(student, model)
        if buffer is None:  # collect once, with the first model (the student flies; nothing is updated)
            model.action_noise = _noise(args)
            model.learn(args.collect)
            buffer = model.replay_buffer
            log(f"collected {buffer.size() * 16:,} transitions ({args.noise_type} noise, std {args.noise})")
        model.replay_buffer = buffer
        model._current_progress_remaining = 1.0
        th.manual_seed(args.seed)
        np.random.seed(args.seed)
        for _ in range(args.updates):
            loss = model._critic_loss(model.replay_buffer.sample(64))
            model.critic.optimizer.zero_grad()
            loss.backward()
            model.critic.optimizer.step()
            polyak_update(model.critic.parameters(), model.critic_target.parameters(), model.tau)
        d = critic_diagnostic(model, 64, 1_000)
        log(f"critic {critic_name}: {args.updates} updates, Q {d['q_min']:.2f} vs return {d['mc_return']:.2f} "
            f"(corr {d['q_corr']:.3f})")
        for p in model.critic.parameters():
            p.requires_grad_(False)
        for step in args.resolution_t0:
            res = action_resolution(model, step, args.noise, args.seed)
            resolution.append(dict(critic=critic_name, **res))
            log(f"critic {critic_name}: one-step deviation at t0={step}: corr(critic ΔQ, true ΔG) {res['corr']:.3f}, "
                f"sign agreement {res['sign_agreement']:.2f}, std true ΔG {res['std_true']:.4f}, "
                f"std critic ΔQ {res['std_critic']:.4f}, std of Q over states {res['std_q_states']:.3f}")
        for rule in args.rules:
            rows += follow(model, student, critic_name, rule, args, log)
    Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
    if rows:
        with open(args.csv, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    if resolution:
        with open(Path(args.csv).with_name(Path(args.csv).stem + "_resolution.csv"), "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(resolution[0]))
            writer.writeheader()
            writer.writerows(resolution)
    log(f"written to {args.csv}")


def action_resolution(model: GuidedTD3, t0: int, noise: float, seed: int, n: int = 64) -> dict[str, float]:
    """Does the critic see what one action changes? True vs critic effect of a one-step deviation at ``t0``."""
    envs = [DroneHoverVecEnv(n, actor_history=4) for _ in range(2)]
    obs = []
    for env in envs:
        env.seed(1_000)
        obs.append(env.reset())
    rng = np.random.default_rng(seed + t0)
    states: list = [None, None]
    start = np.ones(n, bool)
    gain = [np.zeros(n), np.zeros(n)]
    running = [np.ones(n, bool), np.ones(n, bool)]
    for t in range(envs[0].config.max_episode_steps):
        for k, env in enumerate(envs):
            action, states[k] = model.predict(obs[k], state=states[k], episode_start=start, deterministic=True)
            if t == t0:
                if k == 0:
                    base_action, base_obs = action.copy(), {key: v.copy() for key, v in obs[k].items()}
                    alive = running[0].copy()  # the episodes that reached t0 (the same in both flights)
                    delta = rng.normal(0.0, noise, action.shape).astype(np.float32)
                else:
                    action = np.clip(action + delta, -1.0, 1.0)
            obs[k], rewards, dones, _ = env.step(action)
            if t >= t0:
                gain[k] += np.where(running[k], rewards, 0.0) * model.gamma ** (t - t0)
            running[k] &= ~dones
        start = np.zeros(n, bool)
        if t < t0:
            assert np.array_equal(obs[0]["privileged"], obs[1]["privileged"]), "the simulator must be deterministic"
    true = (gain[1] - gain[0])[alive]
    with th.no_grad():
        o = {key: th.as_tensor(v[alive]) for key, v in base_obs.items()}
        a = th.as_tensor(base_action[alive])
        q0 = model.critic.q1_forward(o, a).squeeze(1).numpy()
        q1 = model.critic.q1_forward(o, (a + th.as_tensor(delta[alive])).clamp(-1.0, 1.0)).squeeze(1).numpy()
    critic = q1 - q0
    return dict(t0=t0, n=int(alive.sum()), corr=float(np.corrcoef(true, critic)[0, 1]),
                sign_agreement=float(np.mean(np.sign(true) == np.sign(critic))), std_true=float(true.std()),
                std_critic=float(critic.std()), mean_true=float(true.mean()), mean_critic=float(critic.mean()),
                std_q_states=float(q0.std()))


class SparseActionNoise(ActionNoise):
    """N(0, ``sigma``) on a random ``p`` share of the steps, zero elsewhere (one env)."""

    def __init__(self, sigma: float, p: float, dim: int, seed: int = 0) -> None:
        super().__init__()
        self.sigma, self.p, self.dim = sigma, p, dim
        self.rng = np.random.default_rng(seed)

    def __call__(self) -> np.ndarray:
        hit = self.rng.random() < self.p
        return (hit * self.rng.normal(0.0, self.sigma, self.dim)).astype(np.float32)


def _noise(args: argparse.Namespace) -> ActionNoise:
    if args.noise_type == "sparse":
        vec = VectorizedActionNoise(SparseActionNoise(args.noise, args.sparse_p, 4), 16)
        for i, noise in enumerate(vec.noises):  # the copies would share one random stream
            noise.rng = np.random.default_rng(args.seed + i)
        return vec
    if args.noise_type == "normal":
        return NormalActionNoise(np.zeros(4), args.noise * np.ones(4))
    # x' = rho x + sigma eps (theta = 1 - rho, dt = 1): stationary std sigma / sqrt(1 - rho^2) = --noise
    sigma = args.noise * np.sqrt(1.0 - args.ou_rho**2)
    ou = OrnsteinUhlenbeckActionNoise(np.zeros(4), sigma * np.ones(4), theta=1.0 - args.ou_rho, dt=1.0)
    return VectorizedActionNoise(ou, 16)


def _copy_actor(source: GuidedTD3, target: GuidedTD3) -> None:
    for net in (target.actor, target.actor_target):
        net.load_state_dict(source.actor.state_dict())
        net.set_slope(source.actor.slope)


def follow(model: GuidedTD3, student: GuidedTD3, critic_name: str, rule: tuple[str, float], args: argparse.Namespace,
           log) -> list[dict]:
    """Restart the actor at the student and update it ``args.actor_updates`` times by ``rule``."""
    name, value = rule
    _copy_actor(student, model)
    reference = copy.deepcopy(student.actor)  # the student, frozen: trust-region centre and AWR baseline
    model.actor.optimizer = model.policy.optimizer_class(model.actor.parameters(), lr=args.actor_lr)
    hover = th.as_tensor(hover_action(nominal_parameters()["dynamics"]), dtype=th.float32)
    np.random.seed(args.seed + 1)
    th.manual_seed(args.seed + 1)
    rows = []

    def check(update: int) -> None:
        flight = fly(model, None, 0, 64, 1_000)
        with th.no_grad():
            probe = model.replay_buffer.sample(64)
            mask = probe.actor_mask.bool()
            cost = float((model.actor.unroll(probe.observations)[mask] - hover).pow(2).mean())
        rows.append(dict(critic=critic_name, rule=f"{name}:{value:g}" if name != "q" else "q", actor_updates=update,
                         autonomous_return=round(flight.mean_return, 2), full_length=round(flight.full_length, 3),
                         action_cost=round(cost, 4)))
        log(f"{critic_name:9s} {rows[-1]['rule']:10s} update {update:4d}: return {flight.mean_return:7.1f} "
            f"({100 * flight.full_length:.0f} % full), |a - a_hover|² {cost:.4f}")

    check(0)
    for update in range(1, args.actor_updates + 1):
        data = model.replay_buffer.sample(64)
        mask = data.actor_mask.bool()
        pi = model.actor.unroll(data.observations, burn_in=model.n_warmup)[mask]
        obs = {k: v[mask] for k, v in data.observations.items()}
        with th.no_grad():
            ref = reference.unroll(data.observations)[mask]
        if name == "awr":
            with th.no_grad():
                adv = (model.critic.q1_forward(obs, data.actions[mask]) - model.critic.q1_forward(obs, ref)).squeeze(1)
                weight = th.exp((adv / (value * adv.std().clamp_min(1e-6))).clamp(max=3.0))
                weight = weight / weight.mean()
            loss = (weight * (pi - data.actions[mask]).pow(2).mean(dim=1)).mean()
        else:
            q = model.critic.q1_forward(obs, pi)
            loss = -q.mean() / q.abs().mean().detach().clamp_min(1e-6)
            if name == "anchor":
                loss = loss + value * (pi - ref).pow(2).mean()
        model.actor.optimizer.zero_grad()
        loss.backward()
        model.actor.optimizer.step()
        if update % args.actor_every == 0:
            check(update)
    return rows


if __name__ == "__main__":
    main()
