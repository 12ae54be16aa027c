"""Where a drone controller loses return against the PD guide: per phase of the episode.

Flies each model autonomously (protocol (b): from step 0, zero state, final reward weights) and the
privileged PD guide on the same 100 initial states as the final evaluation, and prints per phase
(steps 0–49, 50–149, 150–499) the mean reward per step of the drones still flying and the squared
distance ``|π(s) − guide(s)|²`` (summed over the 4 motors) between the model's command and what the
guide would command in the same state, plus the number of crashed episodes.

    python -m benchmarks.diagnose_imitation LABEL=MODEL.zip [LABEL=MODEL.zip ...] [--episodes 100]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

PHASES = ((0, 50), (50, 150), (150, 500))


def diagnose(model, n_episodes: int = 100, seed: int | None = None) -> dict:
    """Per-phase reward per step and imitation error of ``model`` (``None``: the guide itself)."""
    from sb3_spiking.envs.drone_vec_env import DroneHoverVecEnv
    from sb3_spiking.envs.reward import FINAL_STAGE
    from sb3_spiking.evaluation import EVAL_SEED, actor_history_of
    from sb3_spiking.guides import resolve_guide
    from sb3_spiking.obs_keys import privileged_part

    guide = resolve_guide("sb3_spiking.envs.pd_guide:PDHoverGuide")
    history = 0 if model is None else actor_history_of(model)
    env = DroneHoverVecEnv(n_episodes, curriculum_stage=FINAL_STAGE, actor_history=history)
    env.seed(EVAL_SEED if seed is None else seed)
    obs = env.reset()
    steps = env.config.max_episode_steps
    reward, error, alive = np.zeros((steps, n_episodes)), np.zeros((steps, n_episodes)), np.zeros((steps, n_episodes), bool)
    running, state, start = np.ones(n_episodes, bool), None, np.ones(n_episodes, bool)
    for t in range(steps):
        target = guide(privileged_part(obs))
        if model is None:
            action = target
        else:
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            start[:] = False
        error[t] = ((np.clip(action, -1, 1) - target) ** 2).sum(axis=1)
        alive[t] = running
        obs, r, done, _ = env.step(action)
        reward[t] = r
        running &= ~done
        if not running.any():
            break
    env.close()
    out = {"return": float((reward * alive).sum(0).mean()), "crashed": int((~alive[-1]).sum())}
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
    phases = [f"{lo}-{hi - 1}" for lo, hi in PHASES]
    print("| controller | return | crashed | " + " | ".join(f"reward/step {p}" for p in phases) + " | "
          + " | ".join(f"|π − guide|² {p}" for p in phases) + " |")
    print("|---" * (3 + 2 * len(phases)) + "|")
    for label, r in rows.items():
        print(f"| {label} | {r['return']:.1f} | {r['crashed']} | " + " | ".join(f"{r['reward ' + p]:.3f}" for p in phases) + " | "
              + " | ".join("–" if label == "PD guide" else f"{r['error ' + p]:.3f}" for p in phases) + " |")


if __name__ == "__main__":
    main()
