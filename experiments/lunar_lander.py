"""LunarLanderContinuous with the velocities hidden from the actor: GuidedTD3 beside the memory baselines.

Three methods, each trained per seed in one process with one torch thread, then evaluated on the
same 100 start seeds (0–99), deterministic, with the autonomous controller alone (no guide,
recurrent state from zero at every episode start):

* ``guided_td3``: GuidedTD3 with the spiking actor and gymnasium's heuristic as privileged guide,
  the settings of ``zoo_configs/guided_td3.yml``'s ``LunarLanderContinuousNoVelPrivileged-v3``
  entry (what ``python -m sb3_spiking.zoo train`` runs), on that env;
* ``recurrent_ppo``: sb3-contrib's ``RecurrentPPO`` (``MlpLstmPolicy``) with rl-zoo's hyper-parameters
  for ``LunarLanderContinuousNoVel`` (``rl_zoo3/hyperparams/ppo_lstm.yml`` of the installed rl_zoo3,
  ``normalize: True`` = VecNormalize on observations and rewards), on the actor's observation;
* ``td3_mlp``: stable-baselines3's ``TD3`` with rl-zoo's ``LunarLanderContinuous-v3`` hyper-parameters
  (``td3.yml``), an MLP on the same observation (no memory).

**Budget.** Every method gets the same env steps (``--timesteps``, default the zoo config's
``n_timesteps``) *and* at most the same wall time (``--minutes``): a run stops at whichever comes
first. GuidedTD3 runs its env steps (its guide-horizon schedule is laid out over them), and
``--minutes`` is set to its training time, so the baselines get the same wall time as GuidedTD3 or
the same env steps, whichever is less; the table reports both for every run.

The actor's observation is the same for all three (``[x, y, θ, leg1, leg2]`` plus the env options of
the YAML entry, e.g. ``actor_history`` / ``actor_scale``); GuidedTD3's critics and guide also read the
full state. Per run a JSON lands in ``<out>/runs/``; ``results.csv`` and ``results.md`` (mean ± std over
seeds, the guide's row, the commands) are rebuilt from every run there after each run and by ``--report``.

    python -m experiments.lunar_lander --methods guided_td3 recurrent_ppo td3_mlp --seeds 0 1 2
    python -m experiments.lunar_lander --report
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

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
import yaml  # noqa: E402

from sb3_spiking.tasks.lunar_lander import (  # noqa: E402
    ENV_ID,
    LunarLanderHeuristicGuide,
    evaluate_landing,
    make_lunar_lander_novel,
    make_lunar_lander_novel_privileged,
)

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "experiments" / "archive" / "lunar_lander"
EVAL_SEEDS = tuple(range(100))
METHODS = ("guided_td3", "recurrent_ppo", "td3_mlp", "td3_stack4", "seq_td3")
LABELS = {
    "guide": "heuristic guide (privileged: full state)",
    "guided_td3": "GuidedTD3, spiking actor (the zoo config until issue 27: the previous frame in its input)",
    "recurrent_ppo": "RecurrentPPO MlpLstm (sb3-contrib, rl-zoo NoVel hyper-parameters)",
    "td3_mlp": "TD3 MLP (rl-zoo LunarLanderContinuous hyper-parameters)",
    "td3_stack4": "TD3 MLP on the last 4 observations (rl-zoo hyper-parameters, frame_stack 4)",
    "seq_td3": "sequence TD3, spiking actor from scratch (zoo entry, no guide, α 2)",
}


def zoo_entry() -> dict[str, Any]:
    """GuidedTD3's settings for the task: the zoo config entry (a copy)."""
    with open(REPO / "zoo_configs" / "guided_td3.yml") as f:
        return dict(yaml.safe_load(f)[ENV_ID])


#: GuidedTD3's LunarLander actor and budget until issue 27 made a history-free actor the config's: LIF layers, the
#: previous frame beside the current one in the actor's input, 200 k steps. The comparisons archived in
#: docs/lunar_lander.md, the weak-teacher study and the memory table's "history" row were measured on it: they keep it.
HISTORY_RECIPE: dict[str, Any] = dict(n_timesteps=200_000, policy_kwargs=dict(net_arch=dict(pi=[128, 128], qf=[64, 64])),
                                      env_kwargs=dict(actor_history=1, actor_scale=10.0))


def history_entry() -> dict[str, Any]:
    """The zoo entry with :data:`HISTORY_RECIPE`'s actor and budget (a copy)."""
    return {**zoo_entry(), **{k: (dict(v) if isinstance(v, dict) else v) for k, v in HISTORY_RECIPE.items()}}


def rl_zoo_hyperparams(file: str, env_id: str) -> dict[str, Any]:
    """An entry of the installed rl_zoo3's ``hyperparams/<file>`` (YAML anchors resolved)."""
    import rl_zoo3

    with open(Path(rl_zoo3.__file__).parent / "hyperparams" / file) as f:
        return dict(yaml.safe_load(f)[env_id])


def _policy_kwargs(text: str | dict | None) -> dict[str, Any]:
    """rl-zoo writes policy_kwargs as a Python expression using ``nn``."""
    if text is None or isinstance(text, dict):
        return dict(text or {})
    from torch import nn

    return eval(text, {"nn": nn, "dict": dict})  # noqa: S307 - rl-zoo's own config format, a trusted file


class _WallClock:
    """SB3 callback factory: stop ``learn`` once ``minutes`` of wall time have passed (``None``: never)."""

    @staticmethod
    def make(minutes: float | None):
        from stable_baselines3.common.callbacks import BaseCallback

        class StopAfter(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.deadline = None if minutes is None else time.perf_counter() + 60 * minutes

            def _on_step(self) -> bool:
                return self.deadline is None or time.perf_counter() < self.deadline

        return StopAfter()


def train_guided_td3(seed: int, timesteps: int, minutes: float | None = None) -> tuple[Any, dict[str, Any]]:
    from experiments.zoo_entry import model_from_entry

    entry = history_entry()
    model, _ = model_from_entry(entry, make_lunar_lander_novel_privileged, seed)
    model.learn(timesteps, callback=_WallClock.make(minutes))
    return model, dict(observation="dict", env_kwargs=entry.get("env_kwargs") or {}, transform=None)


def train_seq_td3(seed: int, timesteps: int, minutes: float | None = None) -> tuple[Any, dict[str, Any]]:
    """The spiking actor from scratch (no guide, issue 30): the zoo entry's settings with TD3+BC's Q term alone
    (α 2, policy delay 2)."""
    from experiments.zoo_entry import model_from_entry

    entry = history_entry()
    entry.update(alpha=2.0, policy_delay=2)
    for key in ("bc_coef", "bc_decay", "bc_decay_interval", "bc_target", "guide_horizon_start", "guide_horizon_end",
                "guide_horizon_fraction"):  # the guide's settings: without a guide they would only warn
        entry.pop(key, None)
    model, _ = model_from_entry(entry, make_lunar_lander_novel_privileged, seed, guide=None)
    model.learn(timesteps, callback=_WallClock.make(minutes))
    return model, dict(observation="dict", env_kwargs=entry.get("env_kwargs") or {}, transform=None)


class FrameStacked:
    """A model trained on ``VecFrameStack(n)`` observations as a recurrent-contract controller: the stack (oldest
    first, zeros after a reset, as ``VecFrameStack`` builds it) is the state ``predict`` carries."""

    def __init__(self, model: Any, n: int) -> None:
        self.model, self.n = model, n

    def predict(self, obs: np.ndarray, state: Any = None, episode_start: Any = None, deterministic: bool = True):
        obs = np.asarray(obs, dtype=np.float32)
        stack = np.zeros((obs.shape[0], self.n * obs.shape[1]), np.float32) if state is None else state.copy()
        if episode_start is not None:
            stack[np.asarray(episode_start, bool)] = 0.0
        stack = np.concatenate([stack[:, obs.shape[1]:], obs], axis=1)
        return self.model.predict(stack, deterministic=deterministic)[0], stack


def train_recurrent_ppo(
    seed: int, timesteps: int, env_kwargs: dict[str, Any], minutes: float | None = None
) -> tuple[Any, dict[str, Any]]:
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    hp = rl_zoo_hyperparams("ppo_lstm.yml", "LunarLanderContinuousNoVel-v2")
    hp.pop("n_timesteps")
    normalize = hp.pop("normalize", False)
    n_envs = int(hp.pop("n_envs", 1))
    policy = hp.pop("policy")
    hp["policy_kwargs"] = _policy_kwargs(hp.get("policy_kwargs"))
    env = make_vec_env(make_lunar_lander_novel, n_envs=n_envs, seed=seed, env_kwargs=env_kwargs)
    if normalize:  # rl-zoo's normalize: True = VecNormalize with its defaults (observations and rewards)
        env = VecNormalize(env)
    model = RecurrentPPO(policy, env, seed=seed, **hp)
    model.learn(timesteps, callback=_WallClock.make(minutes))
    transform = None
    if normalize:
        env.training = False
        transform = env.normalize_obs
    return model, dict(observation="actor", env_kwargs=env_kwargs, transform=transform)


def train_td3_mlp(
    seed: int, timesteps: int, env_kwargs: dict[str, Any], minutes: float | None = None, frame_stack: int = 1
) -> tuple[Any, dict[str, Any]]:
    """rl-zoo's TD3 on the actor's observation, or on its last ``frame_stack`` ones (``VecFrameStack``, rl-zoo's
    ``frame_stack``; the model is then wrapped in :class:`FrameStacked` for the evaluation)."""
    from stable_baselines3 import TD3
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.noise import NormalActionNoise
    from stable_baselines3.common.vec_env import VecFrameStack

    hp = rl_zoo_hyperparams("td3.yml", "LunarLanderContinuous-v3")
    hp.pop("n_timesteps")
    policy = hp.pop("policy")
    noise_std = float(hp.pop("noise_std"))
    assert hp.pop("noise_type") == "normal"
    hp["policy_kwargs"] = _policy_kwargs(hp.get("policy_kwargs"))
    env = make_vec_env(make_lunar_lander_novel, n_envs=1, seed=seed, env_kwargs=env_kwargs)
    if frame_stack > 1:
        env = VecFrameStack(env, frame_stack)
    model = TD3(policy, env, seed=seed, action_noise=NormalActionNoise(np.zeros(2), noise_std * np.ones(2)), **hp)
    model.learn(timesteps, callback=_WallClock.make(minutes))
    controller = FrameStacked(model, frame_stack) if frame_stack > 1 else model
    return controller, dict(observation="actor", env_kwargs=env_kwargs, transform=None)


def _inner(model: Any) -> Any:
    return model.model if isinstance(model, FrameStacked) else model


def run(method: str, seed: int, timesteps: int, out: Path, minutes: float | None = None) -> dict[str, Any]:
    """Train one method for one seed, evaluate it on :data:`EVAL_SEEDS` and write ``runs/<method>_s<seed>.json``."""
    th.set_num_threads(1)
    th.manual_seed(seed)
    # the baselines see what GuidedTD3's actor sees (same actor_history / actor_scale options)
    actor_env_kwargs = dict(history_entry().get("env_kwargs") or {})
    start = time.perf_counter()
    if method == "guided_td3":
        model, how = train_guided_td3(seed, timesteps, minutes)
    elif method == "recurrent_ppo":
        model, how = train_recurrent_ppo(seed, timesteps, actor_env_kwargs, minutes)
    elif method == "td3_mlp":
        model, how = train_td3_mlp(seed, timesteps, actor_env_kwargs, minutes)
    elif method == "td3_stack4":
        model, how = train_td3_mlp(seed, timesteps, actor_env_kwargs, minutes, frame_stack=4)
    elif method == "seq_td3":
        model, how = train_seq_td3(seed, timesteps, minutes)
    else:
        raise ValueError(f"unknown method {method!r}; choose from {METHODS}")
    budget_minutes, minutes = minutes, (time.perf_counter() - start) / 60
    result = evaluate_landing(model, EVAL_SEEDS, observation=how["observation"], obs_transform=how["transform"],
                              env_kwargs=how["env_kwargs"])
    record = dict(method=method, seed=seed, timesteps=int(_inner(model).num_timesteps), budget_timesteps=timesteps,
                  budget_minutes=budget_minutes, train_minutes=round(minutes, 2),
                  mean_return=result.mean_return, std_return=result.std_return, landed=result.landed_fraction,
                  returns=result.returns.round(2).tolist(), landed_per_episode=result.landed.astype(int).tolist(),
                  env_kwargs=how["env_kwargs"], command=" ".join(["python", "-m", "experiments.lunar_lander", *sys.argv[1:]]))
    (out / "runs").mkdir(parents=True, exist_ok=True)
    with open(out / "runs" / f"{method}_s{seed}.json", "w") as f:
        json.dump(record, f)
    print(f"{method} seed {seed}: {_inner(model).num_timesteps} steps in {minutes:.1f} min, {result.summary()}", flush=True)
    return record


def guide_record() -> dict[str, Any]:
    result = evaluate_landing(LunarLanderHeuristicGuide(), EVAL_SEEDS, observation="privileged")
    return dict(mean_return=result.mean_return, std_return=result.std_return, landed=result.landed_fraction)


def report(out: Path) -> str:
    """Rebuild ``results.csv`` (one row per run) and ``results.md`` from ``<out>/runs/*.json``."""
    runs = [json.loads(p.read_text()) for p in sorted((out / "runs").glob("*.json"))]
    guide = guide_record()
    fields = ["method", "seed", "timesteps", "train_minutes", "mean_return", "std_return", "landed"]
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerow(dict(method="guide", seed="", timesteps=0, train_minutes=0, mean_return=round(guide["mean_return"], 2),
                             std_return=round(guide["std_return"], 2), landed=guide["landed"]))
        for r in runs:
            writer.writerow({k: (round(r[k], 3) if isinstance(r[k], float) else r[k]) for k in fields})
    g_ret, g_land = guide["mean_return"], guide["landed"]
    lines = [
        "# LunarLanderContinuous, velocities hidden from the actor",
        "",
        "Evaluation: start seeds 0–99, one episode each, deterministic, the trained controller alone from a zero state.",
        "Landed: the episode terminated with the lander at rest (Box2D body asleep), not crashed, not off-screen",
        "(`sb3_spiking.tasks.lunar_lander.episode_landed`). Return and landed: mean ± std over the seeds of each",
        "seed's 100-episode mean. Budget: the same env steps and at most the same wall time for every method (a run",
        "stops at whichever comes first; the baselines' cap is GuidedTD3's training time), one process, one torch thread,",
        "on a 2-core machine shared with other jobs (minutes: training wall time, evaluation excluded).",
        "",
        "| method | seeds | env steps | train minutes | return | % of guide | landed % |",
        "|---|---|---|---|---|---|---|",
        f"| {LABELS['guide']} | – | – | – | {g_ret:.1f} (± {guide['std_return']:.1f} over episodes) | 100 | {100 * g_land:.0f} |",
    ]
    for method in METHODS:
        rows = [r for r in runs if r["method"] == method]
        if not rows:
            continue
        ret = np.array([r["mean_return"] for r in rows])
        land = 100 * np.array([r["landed"] for r in rows])
        mins = np.array([r["train_minutes"] for r in rows])
        steps = sorted({r["timesteps"] for r in rows})
        lines.append(
            f"| {LABELS[method]} | {', '.join(str(r['seed']) for r in rows)} | {' / '.join(f'{s:,}' for s in steps)} | "
            f"{mins.mean():.1f} (max {mins.max():.1f}) | {ret.mean():.1f} ± {ret.std():.1f} | {100 * ret.mean() / g_ret:.1f} | "
            f"{land.mean():.0f} ± {land.std():.0f} |"
        )
    lines += ["", "Per seed:", "", "| method | seed | env steps | return | landed % | minutes |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['seed']} | {r['timesteps']:,} | {r['mean_return']:.1f} | {100 * r['landed']:.0f} | "
              f"{r['train_minutes']:.1f} |"
              for r in runs]
    commands = sorted({r["command"] for r in runs})
    lines += ["", "Commands (from the repository root, `PYTHONPATH=.`):", "", "```", *commands,
              "python -m experiments.lunar_lander --report", "```", ""]
    text = "\n".join(lines)
    (out / "results.md").write_text(text)
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--timesteps", type=int, default=None,
                        help="env steps per run (default: the zoo config's n_timesteps, for every method)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-time cap per run (training only)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--report", action="store_true", help="only rebuild results.csv / results.md from the runs")
    args = parser.parse_args()
    if not args.report:
        timesteps = args.timesteps or int(history_entry()["n_timesteps"])
        for method in args.methods:
            for seed in args.seeds:
                run(method, seed, timesteps, args.out, args.minutes)
                report(args.out)
    print(report(args.out))


if __name__ == "__main__":
    main()
