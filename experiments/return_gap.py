"""Where a drone student loses return to the PD guide: by phase of the episode, and by crashing.

Flies each model and the guide autonomously from the same test starts (protocol (b): seed 10 000, final
reward weights) and splits the return gap ``guide − student`` (per start, averaged over starts) into

* the episodes the student does not fly to the end (crashes), whole;
* the others, by step range (``--bins``): where the student flies worse than the guide.

The parts add up to the total gap. Also printed: the crashed starts and their lengths, and the mean
reward per step over the last 200 steps (steady hover; the guide's is ≈ 1).

    python -m experiments.return_gap runs/.../DroneHover-v0.zip [more models] --csv runs/return_gap.csv

``--initial-motor x`` starts every episode with the four motors at normalised speed ``x`` instead of l2f's
uniform draw in [0, 0.5] (the actor with an action history reads the initial speeds from it; a zero-state
actor cannot): the same gap at several fixed speeds tells whether a student's deficit is not knowing them.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402

from sb3_spiking import GuidedTD3  # noqa: E402
from sb3_spiking.rollout import EpisodeStats  # noqa: E402
from sb3_spiking.tasks.drone.evaluation import EVAL_SEED, PD_GUIDE, fly, write_rows_csv  # noqa: E402


def _per_step(stats: EpisodeStats) -> np.ndarray:
    # (max_steps, N) rewards, 0 after an episode ended (recordings stop when the last episode ends)
    rewards = stats.rewards * stats.running
    out = np.zeros((stats.max_steps, rewards.shape[1]))
    out[: len(rewards)] = rewards
    return out


def gap_parts(student: EpisodeStats, guide: EpisodeStats, bins: list[int]) -> dict[str, float]:
    """The return gap ``guide − student`` (mean over starts) and its parts (see the module docstring).

    Both must be recorded (``fly(..., record=True)``) from the same starts.
    """
    rewards_s, rewards_g = _per_step(student), _per_step(guide)
    n = rewards_s.shape[1]
    diff = rewards_g - rewards_s
    full = student.lengths == student.max_steps
    parts = {"return": student.mean_return, "guide_return": guide.mean_return, "gap": float(diff.sum() / n),
             "crashes": int((~full).sum()), "gap_crashed": float(diff[:, ~full].sum() / n)}
    for lo, hi in zip(bins[:-1], bins[1:]):
        parts[f"gap_steps_{lo}_{hi}"] = float(diff[lo:hi][:, full].sum() / n)
    late = slice(max(0, student.max_steps - 200), student.max_steps)
    parts["reward_per_step_last200"] = float(rewards_s[late][:, full].mean()) if full.any() else float("nan")
    parts["guide_reward_per_step_last200"] = float(rewards_g[late][:, full].mean()) if full.any() else float("nan")
    return parts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", help="saved GuidedTD3 drone models (.zip)")
    parser.add_argument("--guide", default=PD_GUIDE, help="the reference controller (import path)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=EVAL_SEED, help="initial-state seed (default: the final evaluation's)")
    parser.add_argument("--bins", type=int, nargs="+", default=[0, 25, 50, 100, 200, 300, 500], help="step-range edges")
    parser.add_argument("--initial-motor", type=float, help="all motors start at this normalised speed (0 … 1)")
    parser.add_argument("--history-fill", type=float, help="the drone env's history_fill the models were trained with")
    parser.add_argument("--csv", help="write one row per model here")
    args = parser.parse_args(argv)
    if sorted(args.bins) != args.bins or len(args.bins) < 2:
        parser.error("--bins must be at least two increasing step numbers")
    th.set_num_threads(1)
    motors = args.initial_motor
    options = {} if motors is None else dict(init=dict(min_motor=motors, max_motor=motors))
    student_options = dict(options) if args.history_fill is None else dict(options, history_fill=args.history_fill)
    guide = fly(None, args.guide, 0, args.episodes, args.seed, record=True, **options)
    if args.bins[-1] < guide.max_steps:
        parser.error(f"--bins must reach the episode length ({guide.max_steps}) for the parts to add up")
    rows = []
    for path in args.models:
        model = GuidedTD3.load(path, device="cpu")
        student = fly(model, None, 0, args.episodes, args.seed, record=True, **student_options)
        parts = gap_parts(student, guide, args.bins)
        crashed = np.flatnonzero(student.lengths < student.max_steps)
        print(f"{path}\n  return {parts['return']:.1f} (guide {parts['guide_return']:.1f}), gap {parts['gap']:.2f}: "
              f"{parts['crashes']} crashed episodes {parts['gap_crashed']:.2f}"
              + "".join(f", steps {k[10:].replace('_', '-')} {v:.2f}" for k, v in parts.items() if k.startswith("gap_steps_"))
              + f"\n  crashed starts {crashed.tolist()} at steps {student.lengths[crashed].tolist()}; reward per step, last 200 "
              f"steps: {parts['reward_per_step_last200']:.4f} (guide {parts['guide_reward_per_step_last200']:.4f})", flush=True)
        motor_text = "uniform 0-0.5" if motors is None else motors
        rows.append({"model": path, "initial_motor": motor_text, **{k: round(v, 4) for k, v in parts.items()}})
    if args.csv:
        write_rows_csv(rows, args.csv)


if __name__ == "__main__":
    main()
