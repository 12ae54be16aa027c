"""Quick start: a spiking actor learns Pendulum-v1 from a privileged swing-up guide (under a minute on one core)."""

import gymnasium as gym
import numpy as np
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.noise import NormalActionNoise

from sb3_spiking import GuidedTD3
from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide

model = GuidedTD3("SpikingPolicy", gym.make("Pendulum-v1"), guide=PendulumSwingUpGuide(), seed=0,
                  n_seq=20, n_warmup=5, stride=5, batch_size=32, learning_starts=400, train_freq=20, gradient_steps=10,
                  guide_horizon_start=200, guide_horizon_end=0, guide_horizon_fraction=0.5, bc_coef=1.0,
                  action_noise=NormalActionNoise(np.zeros(1), 0.1 * np.ones(1)),
                  policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[64, 64])))
model.learn(4_000)  # the guide flies each episode's first H steps, H falling from 200 (all of it) to 0 at half-time
mean, std = evaluate_policy(model, gym.make("Pendulum-v1"), n_eval_episodes=10)  # the actor alone
print(f"spiking actor: mean return {mean:.1f} ± {std:.1f} (the guide: about -140; untrained: about -1200)")
