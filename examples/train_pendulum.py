"""Train a spiking actor on Pendulum with velocity hidden from it, guided by a swing-up controller.

The actor sees (cos θ, sin θ) only, so it must infer the angular velocity from its own LIF state;
critics and guide see the full state. Saves the model and TensorBoard logs under ``--out``,
checkpoints under ``--out/checkpoints`` (resume with ``--resume``), and prints the autonomous
evaluation return (random policy ≈ -1200, the guide ≈ -140).

    python examples/train_pendulum.py [--steps 20000] [--seed 0] [--resume]
"""

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.common.monitor import Monitor  # noqa: E402
from stable_baselines3.common.noise import NormalActionNoise  # noqa: E402

from sb3_spiking import GuidedTD3, SlopeScheduleCallback  # noqa: E402
from sb3_spiking.checkpoints import TrainingCheckpointCallback, load_checkpoint  # noqa: E402
from sb3_spiking.envs.wrappers import PrivilegedSplit  # noqa: E402
from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide  # noqa: E402


def make_env() -> gym.Env:
    return Monitor(PrivilegedSplit(gym.make("Pendulum-v1"), actor_indices=[0, 1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/pendulum")
    parser.add_argument("--checkpoint-freq", type=int, default=5_000)
    parser.add_argument("--slope-eval-freq", type=int, default=2_000, help="steps between adaptive-slope evaluations")
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    th.set_num_threads(1)
    ckpt_dir = os.path.join(args.out, "checkpoints")
    slope = SlopeScheduleCallback(
        "adaptive", eval_env=make_env(), eval_freq=args.slope_eval_freq, n_eval_episodes=3, return_range=(-1600, 0)
    )
    if args.resume:
        model, steps, state = load_checkpoint(ckpt_dir, env=make_env(), guide=PendulumSwingUpGuide())
        slope.load_state_dict(state["callbacks"]["slope"])
        print(f"resuming at step {model.num_timesteps} ({steps} to go), slope {model.policy.slope:.2f}", flush=True)
    else:
        model = GuidedTD3(
            "SpikingPolicy", make_env(), guide=PendulumSwingUpGuide(), n_seq=40, n_warmup=10, stride=10,
            guide_horizon_start=200, guide_horizon_end=10, guide_horizon_fraction=0.6, learning_starts=400,
            batch_size=32, train_freq=20, gradient_steps=10, alpha=2.0, policy_delay=2, bc_coef=1.0,
            action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
            policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[64, 64])),
            tensorboard_log=os.path.join(args.out, "tb"), seed=args.seed, verbose=0,
        )
        steps = args.steps
    checkpoints = TrainingCheckpointCallback(ckpt_dir, save_freq=args.checkpoint_freq, stateful_callbacks={"slope": slope})
    model.learn(steps, callback=[slope, checkpoints], progress_bar=not args.no_progress, reset_num_timesteps=not args.resume)
    path = os.path.join(args.out, "guided_td3_pendulum_novel")
    model.save(path)
    mean_return, std_return = evaluate_policy(GuidedTD3.load(path), make_env(), n_eval_episodes=20)
    print(f"saved {path}.zip after {model.num_timesteps} steps; TensorBoard logs in {args.out}/tb")
    print(f"autonomous evaluation, 20 episodes: mean return {mean_return:.1f} ± {std_return:.1f} "
          f"(guide ≈ -140, random ≈ -1200); final slope {model.policy.slope:.1f}")


if __name__ == "__main__":
    main()
