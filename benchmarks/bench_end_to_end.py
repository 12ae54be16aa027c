"""End-to-end training speed on the drone: GuidedTD3 (spiking actor, sequences) beside stock SB3
TD3 (MLP actor, i.i.d. transitions) on the same batched env and collection settings.

16 drones, ``train_freq=50`` vector steps, ``gradient_steps=10``; GuidedTD3 with 64 windows × 100
steps (6 400 transitions per update) and the PD guide; TD3 with 256 transitions per update (its
usual batch) and with 6 400 (the same number of transitions per update). Timed after
``learning_starts``; prints env-steps/s and gradient-steps/s.

    python -m benchmarks.bench_end_to_end [--steps 24000] [--skip-td3]

A second GuidedTD3 row runs the same training with the LIF layers' torch loop instead of the CPU C
kernel. ``SB3_SPIKING_NO_MALLOPT=1`` in the environment times everything without the allocator
setting the drone configs apply on CPU (sb3_spiking.allocator); compare two runs for that lever.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3 import TD3  # noqa: E402
from stable_baselines3.common.noise import NormalActionNoise  # noqa: E402

from sb3_spiking import GuidedTD3, allocator, neurons  # noqa: E402
from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402

N_ENVS, WARMUP = 16, 5_000


def timed(model, steps: int) -> tuple[float, float]:
    model.learn(WARMUP)  # fills the buffer past learning_starts; not timed
    updates0 = model._n_updates
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    dt = time.perf_counter() - t
    return steps / dt, (model._n_updates - updates0) / dt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=24_000)
    parser.add_argument("--skip-td3", action="store_true", help="GuidedTD3 rows only")
    parser.add_argument("--batch", type=int, default=64, help="GuidedTD3 windows per update")
    args = parser.parse_args()
    th.set_num_threads(1)
    noise = NormalActionNoise(np.zeros(4), 0.1 * np.ones(4))
    common = dict(learning_starts=WARMUP - 1000, train_freq=50, gradient_steps=10, action_noise=noise, seed=0)
    allocator.keep_freed_memory()  # as the drone config, for the whole process (SB3_SPIKING_NO_MALLOPT=1 still vetoes it)
    # the constructor defaults the timings were measured with (sb3_spiking 0.1.0; α 2: critic updates)
    guided_only = dict(alpha=2.0, bc_coef=0.2, policy_delay=2, guide_horizon_start=400, guide_horizon_end=None)
    rows = {}
    def guided() -> GuidedTD3:
        return GuidedTD3("SpikingPolicy", DroneHoverVecEnv(N_ENVS), guide=PDHoverGuide(), batch_size=args.batch,
                         policy_kwargs=dict(net_arch=dict(pi=[256, 128], qf=[256, 256])), buffer_size=200_000, **common,
                         **guided_only)

    rows[f"GuidedTD3, spiking 256-128, {args.batch} x 100 steps"] = timed(guided(), args.steps)
    with neurons.use_c_kernel(False):
        rows["GuidedTD3, same, LIF torch loop (no C kernel)"] = timed(guided(), args.steps)
    for batch in () if args.skip_td3 else (256, 6400):
        td3 = TD3("MlpPolicy", DroneHoverVecEnv(N_ENVS, obs_mode="privileged"), batch_size=batch,
                  policy_kwargs=dict(net_arch=[256, 256]), buffer_size=200_000, **common)
        rows[f"SB3 TD3, MLP 256-256, batch {batch}"] = timed(td3, args.steps)
    mallopt = "off (SB3_SPIKING_NO_MALLOPT)" if os.environ.get("SB3_SPIKING_NO_MALLOPT", "") not in ("", "0") else "on"
    print(
        f"{N_ENVS} drones, train_freq 50 vector steps, 10 gradient steps per round, 1 torch thread, allocator setting {mallopt}"
    )
    print(f"{'algorithm':45s} {'env-steps/s':>12s} {'grad-steps/s':>13s}")
    for name, (env_rate, grad_rate) in rows.items():
        print(f"{name:45s} {env_rate:12.0f} {grad_rate:13.1f}")


if __name__ == "__main__":
    main()
