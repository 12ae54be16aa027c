"""NIR round trip through third-party consumers: snnTorch's ``import_from_nir`` and Norse's ``from_nir``.

For a spiking actor trained natively with ``lif_reset="zero"`` (NIR's LIF), the graph shaped for each
consumer (``to_nir(actor, consumer=...)``) is loaded by that consumer's own importer and

* flies the observation sequence the torch actor recorded (open loop): spike agreement over all LIF
  neurons and steps, largest action difference;
* flies the task closed loop from fixed starts, beside the torch actor: mean return (and landed
  fraction on LunarLander).

    python -m experiments.nir_roundtrip --task lunar_lander [--starts 100] [--model runs/nir/lunar_lander_zero.zip]
    python -m experiments.nir_roundtrip --task pendulum
    python -m experiments.nir_roundtrip --task drone --model M.zip   # an actor trained with readout='linear', lif_reset='zero'
    python -m experiments.nir_roundtrip --task probe      # random actors, every reset x graph form x consumer

Without ``--model`` the actor is trained first with the task's recipe plus ``lif_reset="zero"``
(LunarLander: the zoo config, 200 k steps, ~3–6 min; Pendulum: the quick start, 4 k steps) and saved
under ``runs/nir/``. The drone needs ``--model``: a zoo run with ``policy_kwargs`` ``readout='linear'``
(the consumers have no ``LI`` node) and ``lif_reset='zero'``; it flies the final evaluation's initial states.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402

from sb3_spiking.export.nir_consumers import ConsumerController, compare_with_torch, run_consumer  # noqa: E402
from sb3_spiking.export.nir_export import CONSUMERS, to_nir  # noqa: E402

OUT = Path("runs/nir")


def train_lunar_lander(seed: int = 0, timesteps: int | None = None) -> Any:
    """GuidedTD3 with the LunarLander zoo config, the actor's LIF layers resetting to zero."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise

    from experiments.lunar_lander import history_entry
    from sb3_spiking import GuidedTD3
    from sb3_spiking.guides import resolve_guide
    from sb3_spiking.tasks.lunar_lander import make_lunar_lander_novel_privileged

    hp = history_entry()  # the LIF actor (NIR consumers run LIF; its archived record used it)
    steps = int(timesteps or hp.pop("n_timesteps"))
    hp.pop("n_timesteps", None)
    env_kwargs = hp.pop("env_kwargs", {}) or {}
    n_envs = int(hp.pop("n_envs", 1))
    noise_std = float(hp.pop("noise_std"))
    hp.pop("noise_type")
    guide = resolve_guide(hp.pop("guide"))
    if isinstance(hp.get("learning_rate"), str):
        from rl_zoo3.utils import linear_schedule

        hp["learning_rate"] = linear_schedule(hp["learning_rate"].split("_", 1)[1])
    hp["policy_kwargs"] = {**dict(hp.get("policy_kwargs") or {}), "lif_reset": "zero"}
    env = make_vec_env(make_lunar_lander_novel_privileged, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
    model = GuidedTD3(env=env, guide=guide, action_noise=NormalActionNoise(np.zeros(2), noise_std * np.ones(2)),
                      seed=seed, **hp)
    model.learn(steps)
    model.env_kwargs = env_kwargs
    return model


def train_pendulum(seed: int = 0, timesteps: int = 4000) -> Any:
    """The quick start's recipe (examples/quickstart_pendulum.py) with ``lif_reset="zero"``."""
    import gymnasium as gym
    from stable_baselines3.common.noise import NormalActionNoise

    from sb3_spiking import GuidedTD3
    from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide

    model = GuidedTD3("SpikingPolicy", gym.make("Pendulum-v1"), guide=PendulumSwingUpGuide(), seed=seed,
                      n_seq=20, n_warmup=5, stride=5, batch_size=32, learning_starts=400, train_freq=20, gradient_steps=10,
                      guide_horizon_start=200, guide_horizon_end=0, guide_horizon_fraction=0.5, bc_coef=1.0,
                      action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
                      policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[64, 64]), lif_reset="zero"))
    model.learn(timesteps)
    return model


def _lunar_env_kwargs() -> dict[str, Any]:
    from experiments.lunar_lander import history_entry

    return dict(history_entry().get("env_kwargs") or {})


def _drone_env_options(model: Any) -> dict[str, Any]:
    from sb3_spiking.tasks.drone.evaluation import actor_history_of, privileged_dynamics_of

    return {"actor_history": actor_history_of(model), "privileged_dynamics": privileged_dynamics_of(model)}


def closed_loop(task: str, controller: Any, starts: int, model: Any = None) -> dict[str, float]:
    """Mean return from start seeds 0..starts-1 (and landed fraction on LunarLander); the drone flies
    its final evaluation's ``starts`` initial states (``EVAL_SEED``, final reward weights) and needs
    ``model`` (the trained GuidedTD3) for the env options."""
    if task == "drone":
        from sb3_spiking.tasks.drone.evaluation import EVAL_SEED, fly

        model = controller if model is None else model
        if not hasattr(controller, "observation_space"):  # fly() reads the env options off it
            controller.observation_space = model.observation_space
        stats = fly(controller, None, 0, starts, EVAL_SEED, **_drone_env_options(model))
        return {"return": stats.mean_return, "full_length": float(stats.full_length)}
    if task == "lunar_lander":
        from sb3_spiking.tasks.lunar_lander.evaluation import evaluate_landing

        observation = "dict" if hasattr(controller, "policy") else "actor"
        res = evaluate_landing(controller, seeds=range(starts), observation=observation, env_kwargs=_lunar_env_kwargs())
        return {"return": res.mean_return, "landed": res.landed_fraction}
    import gymnasium as gym

    env = gym.make("Pendulum-v1")
    returns = []
    for seed in range(starts):
        obs, _ = env.reset(seed=seed)
        state, start, total, done = None, np.ones(1, bool), 0.0, False
        while not done:
            action, state = controller.predict(obs[None], state=state, episode_start=start, deterministic=True)
            start = np.zeros(1, bool)
            obs, reward, terminated, truncated, _ = env.step(np.asarray(action, np.float32).reshape(-1))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return {"return": float(np.mean(returns))}


def recorded_episode(task: str, model: Any, seed: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    """The actor observations of one closed-loop torch episode (the sequence every consumer replays)."""
    if task == "lunar_lander":
        from sb3_spiking.tasks.lunar_lander import make_lunar_lander_novel_privileged

        env = make_lunar_lander_novel_privileged(**_lunar_env_kwargs())
    elif task == "drone":
        from sb3_spiking.tasks.drone.env import DroneHoverEnv

        env = DroneHoverEnv(**_drone_env_options(model))
    else:
        import gymnasium as gym

        env = gym.make("Pendulum-v1")
    obs, _ = env.reset(seed=seed)
    state, start, seq, done = None, np.ones(1, bool), [], False
    while not done:
        actor_obs = obs["actor"] if isinstance(obs, dict) else obs
        seq.append(np.asarray(actor_obs, np.float32))
        x = {k: v[None] for k, v in obs.items()} if isinstance(obs, dict) else obs[None]
        action, state = model.predict(x, state=state, episode_start=start, deterministic=True)
        start = np.zeros(1, bool)
        obs, _, terminated, truncated, _ = env.step(np.asarray(action, np.float32).reshape(-1))
        done = terminated or truncated
    starts = np.zeros(len(seq), bool)
    starts[0] = True
    return np.stack(seq), starts


def probe(steps: int = 500, seed: int = 0) -> list[dict[str, Any]]:
    """Why the consumer forms: a random 3 -> 32 -> 16 -> 1 actor (hidden weights x 3) of each reset,
    each graph form, in each consumer, over ``steps`` N(0.3, 1) observations (one reset half-way)."""
    from sb3_spiking.neurons import SpikingMLP

    obs = np.random.default_rng(seed).normal(0.3, 1.0, (steps, 3)).astype(np.float32)
    starts = np.zeros(steps, bool)
    starts[[0, steps // 2]] = True
    rows = []
    for reset in ("subtract", "zero"):
        th.manual_seed(seed)
        net = SpikingMLP(3, 1, (32, 16), lif_reset=reset)
        with th.no_grad():
            net.fcs[1].weight.mul_(3.0)
        for consumer in CONSUMERS:
            for form in (None, consumer):
                row: dict[str, Any] = {"reset": reset, "consumer": consumer, "form": form or "direct"}
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        graph = to_nir(net, consumer=form)
                        row.update(compare_with_torch(net, run_consumer(graph, consumer, obs, starts), obs, starts))
                except Exception as exc:  # the point: which combinations a consumer refuses, and how
                    row["error"] = f"{type(exc).__name__}: {str(exc)[:90]}"
                rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", choices=["lunar_lander", "pendulum", "drone", "probe"], default="lunar_lander",
                        help="probe: a random actor of each reset, each graph form, in each consumer (no training); "
                             "drone: needs --model")
    parser.add_argument("--model", help="a saved GuidedTD3 zip trained with lif_reset='zero' (default: train one)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*r is expected.*")
    if args.task == "probe":
        print("| actor's reset | consumer | graph form | spike agreement | max action diff |")
        print("|---|---|---|---|---|")
        for r in probe():
            result = r.get("error") or f"{100 * r['spike_agreement']:.1f} % | {r['max_action_diff']:.2g}"
            print(f"| {r['reset']} | {r['consumer']} | {r['form']} | {result} |")
        return 0
    from sb3_spiking import GuidedTD3

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.task == "drone" and not args.model:
        parser.error("--task drone needs --model (train one with the zoo, policy_kwargs readout='linear', lif_reset='zero')")
    if args.model:
        model = GuidedTD3.load(args.model, device="cpu")
        path = Path(args.model)
    else:
        model = (train_lunar_lander if args.task == "lunar_lander" else train_pendulum)(args.seed)
        path = args.out / f"{args.task}_zero_seed{args.seed}.zip"
        model.save(path)
        print(f"trained {path} in {(time.perf_counter() - t0) / 60:.1f} min")
    actor = model.policy.actor
    obs, starts = recorded_episode(args.task, model)
    rows: dict[str, Any] = {"torch": closed_loop(args.task, model, args.starts, model)}
    for consumer in CONSUMERS:
        graph = to_nir(model, consumer=consumer)
        cmp = compare_with_torch(actor, run_consumer(graph, consumer, obs, starts), obs, starts)
        space = model.action_space
        ctrl = ConsumerController(graph, consumer, low=np.asarray(space.low), high=np.asarray(space.high))
        rows[consumer] = {"load": "ok", **cmp, **closed_loop(args.task, ctrl, args.starts, model)}
    result = {"task": args.task, "model": str(path), "starts": args.starts, "recorded_steps": len(obs), "rows": rows}
    base = rows["torch"]["return"]
    print(f"{args.task}: {path}, open loop over one recorded episode ({len(obs)} steps), closed loop over "
          f"{args.starts} starts")
    print("| runs | load | spike agreement | max action diff | closed-loop return | vs torch |"
          + {"lunar_lander": " landed |", "drone": " full length |"}.get(args.task, ""))
    print("|---|---|---|---|---|---|" + ("---|" if args.task in ("lunar_lander", "drone") else ""))
    for name, r in rows.items():
        landed = f" {100 * r['landed']:.0f} % |" if "landed" in r else ""
        landed += f" {100 * r['full_length']:.0f} % |" if "full_length" in r else ""
        agree = f"{100 * r['spike_agreement']:.3f} %" if "spike_agreement" in r else "(reference)"
        diff = f"{r['max_action_diff']:.1e}" if "max_action_diff" in r else "–"
        rel = f"{100 * (r['return'] - base) / abs(base):+.2f} %"
        print(f"| {name} | {r.get('load', '–')} | {agree} | {diff} | {r['return']:.1f} | {rel} |{landed}")
    with open(args.out / f"{args.task}_roundtrip.json", "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
