"""Train the spiking Crazyflie hover controller with GuidedTD3 (the README's main job).

Spiking actor (the 18 observations, no history) → LIF(256) → LIF(128) → leaky-integrator readout → 4 motor
commands, its own commands fed back into the first layer (starting from the command in force the env hands
over at an episode's start), privileged PD guide flying the start of each episode,
reward curriculum, adaptive surrogate slope fed by autonomous evaluations (the actor flies from
step 0, final reward weights). Writes under ``--out`` (default ``runs/drone``):
the model zip, TensorBoard logs, ``eval.csv`` (return curve) and checkpoints.

    python examples/train_drone.py [--steps 600000] [--n-envs 16] [--seed 0]

The defaults are those of ``zoo_configs/guided_td3.yml`` (the README's main job); the other options
are the knobs of the recipe probes in ``experiments/notes/drone_recipe.md``.
"""

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.noise import NormalActionNoise  # noqa: E402

from sb3_spiking import GuidedTD3, SlopeScheduleCallback, allocator  # noqa: E402
from sb3_spiking.checkpoints import TrainingCheckpointCallback  # noqa: E402
from sb3_spiking.tasks.drone.curriculum import RewardCurriculumCallback  # noqa: E402
from sb3_spiking.tasks.drone.evaluation import FinalEvaluationCallback, LearningCurveCallback  # noqa: E402
from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402

# adaptive: fed by LearningCurveCallback's autonomous evaluations (eval_freq=None: no own evaluations)
SLOPE_KWARGS = {
    "adaptive": dict(k_start=2.0, return_range=(0, 500), eval_freq=None),
    "fixed": dict(k=2.0),
    "interval": dict(k_start=1.0, k_end=100.0, interval=0.1),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600_000)
    parser.add_argument("--n-envs", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-freq", type=int, default=20_000)
    parser.add_argument("--out", default="runs/drone")
    parser.add_argument("--bc-coef", type=float, default=1.0, help="initial lambda_BC (paper: 0.2)")
    parser.add_argument("--alpha", type=float, default=0.0, help="TD3+BC scale of the Q term (paper: 2; 0 = relabelled BC only)")
    parser.add_argument("--slope-schedule", default="adaptive", choices=["adaptive", "fixed", "interval"])
    parser.add_argument("--guide-horizon-start", type=int, default=200, help="paper: 500 - n_seq")
    parser.add_argument("--guide-horizon-end", type=int, default=0, help="paper: n_warmup (50); 0 ends fully autonomous")
    parser.add_argument("--gradient-steps", type=int, default=30, help="actor updates per 50 vector steps")
    parser.add_argument("--lr-decay", action="store_true", help="learning rate falls linearly from 1e-3 to 0")
    parser.add_argument(
        "--input-gain",
        type=float,
        nargs=2,
        default=None,
        metavar=("POS", "VEL"),
        help="EXPERIMENT: scale fc1 columns of position / velocity",
    )
    parser.add_argument("--batch-size", type=int, default=64, help="windows per gradient step")
    parser.add_argument("--policy-delay", type=int, default=1, help="gradient steps per actor update (TD3: 2)")
    parser.add_argument("--guide-gains", type=float, nargs=3, default=None, metavar=("KATT", "KRATE", "TAU"),
                        help="PD guide attitude gain, rate gain, motor-lag target (default: the guide's defaults)")
    parser.add_argument("--critic-fraction", type=float, default=0.25, help="share of window steps in the critic loss")
    parser.add_argument("--final-episodes", type=int, default=100, help="initial states of the final evaluation")
    parser.add_argument("--actor-history", type=int, default=0, help="past actions in the actor's input (paper: 0; "
                        "the default until issue 27: 4, with --no-feedback)")
    parser.add_argument("--feedback", action=argparse.BooleanOptionalAction, default=True,
                        help="feed the actor's commands back into its first layer, from the command in force (paper: no)")
    parser.add_argument("--readout", default="leaky", choices=["linear", "leaky"], help="output layer (paper: linear)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args()
    th.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    env = DroneHoverVecEnv(args.n_envs, actor_history=args.actor_history, command_obs=args.feedback)
    env.seed(args.seed)
    gains = {} if args.guide_gains is None else dict(zip(("katt", "krate", "tau_target"), args.guide_gains))
    guide = PDHoverGuide(**gains)
    allocator.keep_freed_memory()  # as the zoo config: faster sequence updates (a process-wide glibc setting)
    model = GuidedTD3(
        "SpikingPolicy",
        env,
        guide=guide,
        policy_delay=args.policy_delay,
        learning_rate=(lambda progress: 1e-3 * progress) if args.lr_decay else 1e-3,
        buffer_size=2_000_000,
        learning_starts=5_000,
        batch_size=args.batch_size,
        tau=0.01,
        gamma=0.99,
        train_freq=50,
        gradient_steps=args.gradient_steps,
        action_noise=NormalActionNoise(np.zeros(4), 0.1 * np.ones(4)),
        n_seq=100,
        n_warmup=50,
        stride=25,
        alpha=args.alpha,
        bc_coef=args.bc_coef,
        bc_decay=0.99,
        bc_target="guide",
        critic_fraction=args.critic_fraction,
        guide_horizon_start=args.guide_horizon_start,
        guide_horizon_end=args.guide_horizon_end,
        guide_horizon_fraction=0.8,
        policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=[256, 256]), readout=args.readout, slope=2.0,
                           feedback=args.feedback),
        tensorboard_log=os.path.join(args.out, "tb"),
        seed=args.seed,
        verbose=0,
    )
    if args.input_gain is not None:
        with th.no_grad():
            for actor in (model.actor, model.actor_target):
                actor.net.fcs[0].weight[:, 0:3] *= args.input_gain[0]
                actor.net.fcs[0].weight[:, 12:15] *= args.input_gain[1]
    callbacks = [
        SlopeScheduleCallback(args.slope_schedule, **SLOPE_KWARGS[args.slope_schedule]),
        RewardCurriculumCallback(),
        LearningCurveCallback(args.eval_freq, n_episodes=64, path=os.path.join(args.out, "eval.csv")),
        TrainingCheckpointCallback(os.path.join(args.out, "checkpoints"), save_freq=100_000),
        FinalEvaluationCallback(n_episodes=args.final_episodes, path=args.out),
    ]
    start = time.time()
    model.learn(args.steps, callback=callbacks, progress_bar=not args.no_progress)
    path = os.path.join(args.out, "guided_td3_drone")
    model.save(path)
    print(f"trained {args.steps} steps in {(time.time() - start) / 60:.1f} min; saved {path}.zip, logs in {args.out}")


if __name__ == "__main__":
    main()
