"""The RL half without any guide: sequence TD3 beside stock TD3 and RecurrentPPO (issue 30, deliverable 1).

Every method learns from scratch (no guide, no BC term) for the same env steps; every ``--eval-every``
steps it is evaluated on the same 10 start seeds, deterministic, with its recurrent state from zero at
every episode start. Methods (hyper-parameters: rl-zoo's where rl-zoo has them):

* ``td3``: stable-baselines3's ``TD3`` with rl-zoo's ``Pendulum-v1`` settings (``td3.yml``: γ 0.98,
  lr 1e-3, MLP [400, 300], N(0, 0.1) noise, one update per step, batch 256);
* ``td3_stack4``: the same on the last 4 observations (``VecFrameStack``: rl-zoo's ``frame_stack: 4``);
* ``seq_mlp``: our sequence TD3 (:class:`GuidedTD3` without a guide) with :class:`MlpSequencePolicy`,
  *the same settings as* ``td3`` (a batch of 32 windows of 8 steps = 256 transitions, one update per
  step, τ 0.005): on a fully observed task it must match ``td3``; a gap is a defect of the sequence
  critic;
* ``seq_spiking``: sequence TD3 with the spiking actor, ``zoo_configs/seq_td3.yml``'s ``PendulumNoVel-v1``
  settings (windows of 40 steps, warm-up 10, MLP critics [64, 64]) with a fixed slope 2;
* ``recurrent_ppo``: sb3-contrib's ``RecurrentPPO`` with rl-zoo's ``PendulumNoVel-v1`` settings
  (``ppo_lstm.yml``, VecNormalize on observations and rewards, 4 envs; on the drone with γ 0.99).

Tasks: ``Pendulum-v1`` (full state) and rl-zoo's ``PendulumNoVel-v1`` (the velocity zeroed for actor and
critic alike: a memoryless critic cannot know the state). ``seq_spiking_priv`` runs the spiking actor on
``PendulumNoVelPrivileged-v1``: the actor sees ``(cos, sin)``, the critic the full state (the project's
asymmetric set-up; its return is measured on the same pendulum). One JSON per run in ``<out>/runs/``;
``--report`` rebuilds ``<out>/results.md`` (and ``results.csv``) from them::

    python -m experiments.critic_sanity --tasks Pendulum-v1 PendulumNoVel-v1 --seeds 0 1 --steps 30000
    python -m experiments.critic_sanity --report
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3 import TD3  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.noise import NormalActionNoise  # noqa: E402
from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize, sync_envs_normalization  # noqa: E402

from sb3_spiking.analysis.action_resolution import measure_action_resolution  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "archive" / "critic" / "sanity"
#: the critic options of issue 30 on the asymmetric spiking set-up (policy_kwargs added to seq_spiking_priv's)
CRITIC_VARIANTS = {"seq_spiking_priv_proxy": dict(proxy_target=True)}
#: archived runs of a removed option (the advantage critic, critic_dt 0.05 s: measured no better anywhere, docs/critic.md);
#: their records stay in the report, they cannot be rerun
REMOVED = ("seq_spiking_priv_adv", "seq_spiking_priv_adv_proxy")
#: the critic reading the last 4 observations from the replay windows (policy_kwargs critic_history), no privilege
STACKED_CRITIC = {"seq_spiking_chist4": dict(critic_history=4)}
METHODS = ("td3", "td3_stack4", "seq_mlp", "seq_mlp_b256", "seq_mlp_w1", "seq_mlp_w1_plainq", "seq_mlp_priv", "seq_spiking",
           *STACKED_CRITIC, "seq_spiking_priv", *CRITIC_VARIANTS, "recurrent_ppo")
REPORTED = (*METHODS[:-1], *REMOVED, METHODS[-1])
DRONE = "DroneHoverBox-v0"
TASKS = ("Pendulum-v1", "PendulumNoVel-v1", DRONE)
#: the drone as l2f's own TD3 flies it (field.md): the actor reads the paper's 18 values + its last 32 commands;
#: batch 256, a critic update every 10 steps and an actor update every 20, 15 k warm-up steps; MLPs [64, 64] / [256, 256].
#: Trained at the reward curriculum's start weights (at the final ones a drone far from hover earns < 0 per step and
#: stock TD3 learns to crash early: docs/drone_env.md), evaluated at the final weights (the return every table reports)
DRONE_KWARGS = dict(actor_history=32, curriculum_stage=0, render_mode=None)  # (make_vec_env asks for "rgb_array")
DRONE_EVAL_KWARGS = dict(DRONE_KWARGS, curriculum_stage=5)
DRONE_TD3 = dict(gamma=0.99, buffer_size=1_000_000, learning_rate=1e-3, train_freq=10, gradient_steps=1, batch_size=256,
                 policy_delay=2)
DRONE_ARCH = dict(pi=[64, 64], qf=[256, 256])
#: the methods that run on the drone (the same Box for actor and critic; seq_mlp_priv: the Dict, critic privileged;
#: seq_mlp_w1: windows of one step, 256 per batch: TD3's own sampling through the sequence machinery; seq_spiking:
#: the paper's LIF 256-128 actor with a leaky readout on the same input, windows of 16 steps after a warm-up of 8)
DRONE_METHODS = ("td3", "td3_stack4", "seq_mlp", "seq_mlp_b256", "seq_mlp_w1", "seq_mlp_w1_plainq", "seq_mlp_priv",
                 "seq_spiking", "recurrent_ppo")
DRONE_SPIKING = dict(n_seq=24, n_warmup=8, stride=8, batch_size=32)
EVAL_SEEDS = tuple(range(1000, 1010))
#: rl-zoo's td3.yml Pendulum-v1 entry (learning_starts scaled to the budget below)
TD3_ZOO = dict(gamma=0.98, buffer_size=200_000, learning_rate=1e-3, train_freq=1, gradient_steps=1, batch_size=256)


def _register() -> None:
    import rl_zoo3.import_envs  # noqa: F401  (registers PendulumNoVel-v1)

    from sb3_spiking import task_registry

    task_registry.load_tasks()  # PendulumNoVelPrivileged-v1


def runs_on(method: str, task: str) -> bool:
    """Which method runs on which task: the drone runs :data:`DRONE_METHODS`; the privileged spiking set-ups are
    PendulumNoVel's (its critic sees the velocity), ``seq_mlp_priv`` the drone's."""
    if task == DRONE:
        return method in DRONE_METHODS
    if method.startswith("seq_spiking_priv"):
        return task == "PendulumNoVel-v1"
    return method not in ("seq_mlp_priv", "seq_mlp_b256", "seq_mlp_w1", "seq_mlp_w1_plainq")


def _env_id(method: str, task: str) -> str:
    if task == DRONE:
        if method not in DRONE_METHODS:
            raise ValueError(f"on the drone the benchmark runs {DRONE_METHODS}, not {method!r}")
        return "DroneHover-v0" if method == "seq_mlp_priv" else DRONE
    if method == "seq_mlp_priv":
        raise ValueError("seq_mlp_priv is the drone's asymmetric set-up")
    if method.startswith("seq_spiking_priv"):
        if task == "Pendulum-v1":
            raise ValueError("seq_spiking_priv is the PendulumNoVel task with a privileged critic")
        return "PendulumNoVelPrivileged-v1"
    return task


def build(method: str, task: str, seed: int, steps: int):
    """``(model, eval_env)`` for one run."""
    from sb3_spiking import GuidedTD3

    env_id = _env_id(method, task)
    learning_starts = min(10_000, steps // 5)
    noise = NormalActionNoise(np.zeros(1), 0.1 * np.ones(1))
    if task == DRONE:
        # RecurrentPPO collects from 4 envs (its rl-zoo setting), the others from one
        env = make_vec_env(env_id, n_envs=4 if method == "recurrent_ppo" else 1, seed=seed, env_kwargs=DRONE_KWARGS)
        eval_env = make_vec_env(env_id, seed=seed + 10_000, env_kwargs=DRONE_EVAL_KWARGS)
        noise = NormalActionNoise(np.zeros(4), 0.1 * np.ones(4))
        starts = min(15_000, steps // 5)
        if method in ("td3", "td3_stack4"):
            if method == "td3_stack4":
                env, eval_env = VecFrameStack(env, 4), VecFrameStack(eval_env, 4)
            return TD3("MlpPolicy", env, action_noise=noise, learning_starts=starts, seed=seed,
                       policy_kwargs=dict(net_arch=DRONE_ARCH), **DRONE_TD3), eval_env
        if method == "recurrent_ppo":  # γ 0.99 as every drone method (rl-zoo's 0.9 is Pendulum's)
            return _recurrent_ppo(VecNormalize(env), seed, gamma=0.99), VecNormalize(eval_env, training=False, norm_reward=False)
        if method == "seq_spiking":  # 32 windows x 16 trained steps = 512 transitions per update, TD3's schedule
            return GuidedTD3("SpikingPolicy", env, action_noise=noise, learning_starts=starts, seed=seed, tau=0.005,
                             policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=DRONE_ARCH["qf"]), readout="leaky",
                                                slope=2.0), **dict(DRONE_TD3, **DRONE_SPIKING)), eval_env
        one = method.startswith("seq_mlp_w1")
        windows = dict(n_seq=1, stride=1, batch_size=256) if one else dict(n_seq=8, stride=4, batch_size=32)
        if method == "seq_mlp_b256":  # 256 distinct windows of 8 steps: as many distinct samples as TD3's batch
            windows = dict(n_seq=8, stride=4, batch_size=256)
        algo = _plain_q_class() if method.endswith("plainq") else GuidedTD3
        return algo("MlpSequencePolicy", env, action_noise=noise, learning_starts=starts, seed=seed, tau=0.005,
                         n_warmup=0, policy_kwargs=dict(net_arch=DRONE_ARCH), **dict(DRONE_TD3, **windows)), eval_env
    if method in ("td3", "td3_stack4"):
        env, eval_env = make_vec_env(env_id, seed=seed), make_vec_env(env_id, seed=seed + 10_000)
        if method == "td3_stack4":
            env, eval_env = VecFrameStack(env, 4), VecFrameStack(eval_env, 4)
        model = TD3("MlpPolicy", env, action_noise=noise, learning_starts=learning_starts, seed=seed,
                    policy_kwargs=dict(net_arch=[400, 300]), **TD3_ZOO)
    elif method == "seq_mlp":
        env, eval_env = make_vec_env(env_id, seed=seed), make_vec_env(env_id, seed=seed + 10_000)
        model = GuidedTD3("MlpSequencePolicy", env, action_noise=noise, learning_starts=learning_starts, seed=seed,
                          tau=0.005, n_seq=8, n_warmup=0, stride=4, policy_delay=2,
                          policy_kwargs=dict(net_arch=[400, 300]), **dict(TD3_ZOO, batch_size=32))
    elif method.startswith("seq_spiking"):
        env, eval_env = make_vec_env(env_id, seed=seed), make_vec_env(env_id, seed=seed + 10_000)
        model = GuidedTD3("SpikingPolicy", env, action_noise=noise, learning_starts=learning_starts, seed=seed,
                          buffer_size=200_000, batch_size=32, train_freq=20, gradient_steps=10, alpha=2.0,
                          policy_delay=2, n_seq=40, n_warmup=10, stride=10,
                          policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[64, 64]), slope=2.0,
                                             **CRITIC_VARIANTS.get(method, {}), **STACKED_CRITIC.get(method, {})))
    elif method == "recurrent_ppo":
        env = VecNormalize(make_vec_env(env_id, n_envs=4, seed=seed))
        eval_env = VecNormalize(make_vec_env(env_id, seed=seed + 10_000), training=False, norm_reward=False)
        model = _recurrent_ppo(env, seed)
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    return model, eval_env


def _recurrent_ppo(env, seed: int, gamma: float = 0.9):
    """sb3-contrib's RecurrentPPO with rl-zoo's ``PendulumNoVel-v1`` settings (``ppo_lstm.yml``)."""
    from sb3_contrib import RecurrentPPO

    return RecurrentPPO("MlpLstmPolicy", env, n_steps=1024, gae_lambda=0.95, gamma=gamma, n_epochs=10, ent_coef=0.0,
                        learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4, seed=seed,
                        policy_kwargs=dict(ortho_init=False, activation_fn=th.nn.ReLU, lstm_hidden_size=64,
                                           enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64])))


class _PlainQ:
    """TD3's own actor loss ``−mean Q₁(s, π(s))`` (no TD3+BC scale ``α / mean|Q|``): a probe of that difference."""

    name = "q"

    def __init__(self, critic) -> None:
        self.critic = critic

    def __call__(self, batch) -> th.Tensor:
        q = self.critic.q1_forward(batch.observations, batch.policy_actions)
        batch.logs["q_pi"] = q.mean().item()
        return -q.mean()


def _plain_q_class():
    from sb3_spiking import GuidedTD3

    class PlainQTD3(GuidedTD3):
        def actor_terms(self):
            return [(1.0, _PlainQ(self.critic))]

    return PlainQTD3


class _Curve(BaseCallback):
    """Evaluates every ``every`` env steps (on the fixed start seeds) and records the mean return, and, for a model
    with a Q critic on a single copyable env, the critic's action resolution (the paired-perturbation test)."""

    def __init__(self, eval_env, every: int, env_id: str | None) -> None:
        super().__init__()
        self.eval_env, self.every, self.next_at, self.env_id = eval_env, every, every, env_id
        self.curve: list[tuple[int, float]] = []
        self.resolution: list[tuple[int, dict[str, float]]] = []

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_at:
            self.next_at += self.every
            self.curve.append((self.num_timesteps, evaluate(self.model, self.eval_env)))
            line = f"  {self.num_timesteps:>7} steps: {self.curve[-1][1]:8.1f}"
            if self.env_id is not None:
                r = measure_action_resolution(self.model, lambda: gym.make(self.env_id), n_pairs=32, horizon=100)
                self.resolution.append((self.num_timesteps, r.as_dict()))
                line += f"   critic vs true one-action effect: corr {r.correlation:5.2f}, sign {r.sign_agreement:.2f}"
            print(line, flush=True)
        return True


def evaluate(model, eval_env) -> float:
    """Mean return over :data:`EVAL_SEEDS`, deterministic, one episode per seed."""
    if isinstance(eval_env, VecNormalize):
        sync_envs_normalization(model.get_env(), eval_env)
    returns = []
    for s in EVAL_SEEDS:
        eval_env.seed(s)
        r, _ = evaluate_policy(model, eval_env, n_eval_episodes=1, deterministic=True)
        returns.append(r)
    return float(np.mean(returns))


def run(method: str, task: str, seed: int, steps: int, every: int, out: Path) -> dict[str, Any]:
    th.set_num_threads(1)
    model, eval_env = build(method, task, seed, steps)
    # the paired-perturbation test needs a single env copied by deepcopy and a critic of (s, a) (the drone's l2f
    # state is copied by its own protocol, not deepcopy: experiments/policy_improvement.py measures it there)
    copyable = task != DRONE and method not in ("td3_stack4", "recurrent_ppo", *STACKED_CRITIC)
    curve = _Curve(eval_env, every, _env_id(method, task) if copyable else None)
    print(f"{method} on {task}, seed {seed}, {steps:,} steps", flush=True)
    start = time.perf_counter()
    model.learn(steps, callback=curve)
    minutes = (time.perf_counter() - start) / 60
    record = dict(method=method, task=task, env_id=_env_id(method, task), seed=seed, steps=steps,
                  final=curve.curve[-1][1] if curve.curve else evaluate(model, eval_env), curve=curve.curve,
                  action_resolution=curve.resolution,
                  minutes=round(minutes, 2), command=" ".join(["python -m experiments.critic_sanity", *sys.argv[1:]]))
    (out / "runs").mkdir(parents=True, exist_ok=True)
    (out / "runs" / f"{task}_{method}_seed{seed}.json").write_text(json.dumps(record, indent=1))
    return record


def report(out: Path) -> str:
    """``results.md`` / ``results.csv``: per task and method, mean ± std over seeds of the return at the end and at
    every evaluation point shared by all its seeds, and the mean wall time."""
    records = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["task"], r["method"]), []).append(r)
    lines = ["# The RL half without a guide: sequence TD3 beside stock TD3 and RecurrentPPO", "",
             "Made by `python -m experiments.critic_sanity --report` from the runs in `runs/` (commands in each JSON).",
             "Return: mean over 10 fixed start seeds, deterministic; mean ± std over the training seeds. "
             "Last third: each seed's mean over its evaluations in the last third of training (single evaluations "
             "swing), then mean ± std over seeds; per seed in brackets.", ""]
    rows = []
    for task in sorted({t for t, _ in groups}):
        methods = [m for m in REPORTED if (task, m) in groups]
        points = sorted(set.intersection(*(set(s for s, _ in r["curve"]) for m in methods for r in groups[task, m])))
        show = [points[i] for i in sorted({round(x) for x in np.linspace(0, len(points) - 1, min(4, len(points)))})]
        lines += [f"## {task}", "", "| method | seeds | " + " | ".join(f"{p // 1000} k" for p in show)
                  + " | last third | minutes | critic vs true one-action effect at the end: corr / sign agreement |",
                  "|---|---|" + "---|" * len(show) + "---|---|---|"]
        for m in methods:
            rs = groups[task, m]
            cells = []
            for p in show:
                vals = [dict(map(tuple, r["curve"]))[p] for r in rs]
                cells.append(f"{np.mean(vals):.1f} ± {np.std(vals):.1f}")
                rows.append(dict(task=task, method=m, step=p, mean=np.mean(vals), std=np.std(vals), n=len(vals)))
            late = [np.mean([v for step, v in r["curve"] if step > 2 * r["steps"] / 3]) for r in rs]
            cells.append(f"{np.mean(late):.1f} ± {np.std(late):.1f} ({', '.join(f'{v:.0f}' for v in late)})")
            last = [r["action_resolution"][-1][1] for r in rs if r.get("action_resolution")]
            res = f"{np.mean([x['corr'] for x in last]):.2f} / {np.mean([x['sign'] for x in last]):.2f}" if last else "–"
            lines.append(f"| {m} | {len(rs)} | " + " | ".join(cells) + f" | {np.mean([r['minutes'] for r in rs]):.1f} | {res} |")
        lines.append("")
    text = "\n".join(lines)
    (out / "results.md").write_text(text)
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["task", "method", "step", "mean", "std", "n"])
        w.writeheader()
        w.writerows(rows)
    return text


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0])
    parser.add_argument("--steps", type=int, default=30_000)
    parser.add_argument("--eval-every", type=int, default=5_000)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="only rebuild results.md from the runs in --out")
    args = parser.parse_args(argv)
    _register()
    if not args.report:
        for task in args.tasks:
            for method in args.methods:
                if not runs_on(method, task):
                    continue
                for seed in args.seeds:
                    r = run(method, task, seed, args.steps, args.eval_every, args.out)
                    print(f"-> {method} {task} seed {seed}: {r['final']:.1f} in {r['minutes']} min", flush=True)
    print(report(args.out))


if __name__ == "__main__":
    main()
