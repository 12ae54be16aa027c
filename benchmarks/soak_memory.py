"""Soak test: a long GuidedTD3 collection + training run on the batched drone env, RSS over time.

Every ``--report`` environment steps the process's resident memory is recorded. The replay buffer
(sized to hold the whole run) is allocated on its first transition and then only filled, so after
the first report RSS should stay flat apart from the buffer pages being touched; the table prints
RSS minus the bytes the buffer holds so far, which must stay flat for "no leak".

    python -m benchmarks.soak_memory [--steps 1000000] [--n-envs 64] [--out experiments/archive/soak.csv]
"""

from __future__ import annotations

import argparse
import csv
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.noise import NormalActionNoise  # noqa: E402

from benchmarks.bench_buffer_memory import rss_mb  # noqa: E402
from sb3_spiking import GuidedTD3, allocator  # noqa: E402
from sb3_spiking.tasks.drone.curriculum import RewardCurriculumCallback  # noqa: E402
from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402


class RssRecorder(BaseCallback):
    def __init__(self, every: int):
        super().__init__()
        self.every, self.next, self.rows, self.t0 = every, every, [], time.time()

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next:
            self.next += self.every
            buffer_mb = (
                self.model.replay_buffer.nbytes()
                * self.model.replay_buffer.size()
                / max(self.model.replay_buffer.buffer_size, 1)
                / 2**20
            )
            row = {"timesteps": self.num_timesteps, "seconds": round(time.time() - self.t0, 1), "rss_mb": round(rss_mb(), 1),
                   "buffer_filled_mb": round(buffer_mb, 1)}
            row["rss_minus_buffer_mb"] = round(row["rss_mb"] - row["buffer_filled_mb"], 1)
            self.rows.append(row)
            print(f"{row['timesteps']:>9d} steps {row['seconds']:>7.1f} s  RSS {row['rss_mb']:8.1f} MB  "
                  f"buffer {row['buffer_filled_mb']:8.1f} MB  RSS - buffer {row['rss_minus_buffer_mb']:8.1f} MB", flush=True)
        return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--n-envs", type=int, default=64)
    parser.add_argument("--report", type=int, default=100_000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    th.set_num_threads(1)
    env = DroneHoverVecEnv(args.n_envs)
    allocator.keep_freed_memory()  # as the drone config: the RSS measured is that of a real run
    model = GuidedTD3(
        "SpikingPolicy",
        env,
        guide=PDHoverGuide(),
        buffer_size=args.steps,
        learning_starts=10_000,
        batch_size=8,
        n_seq=20,
        n_warmup=10,
        stride=10,
        train_freq=50,
        gradient_steps=1,
        guide_horizon_start=200,
        # the constructor defaults the RSS was measured with (those of sb3_spiking 0.1.0)
        alpha=2.0,
        bc_coef=0.2,
        policy_delay=2,
        guide_horizon_end=None,
        action_noise=NormalActionNoise(np.zeros(4), 0.1 * np.ones(4)),
        policy_kwargs=dict(net_arch=dict(pi=[64, 32], qf=[64, 64])),
        seed=0,
    )
    recorder = RssRecorder(args.report)
    model.learn(args.steps, callback=[RewardCurriculumCallback(), recorder])
    rss = [r["rss_minus_buffer_mb"] for r in recorder.rows[1:]]
    if rss:
        print(
            f"RSS minus buffer after the first report: min {min(rss):.1f} MB, max {max(rss):.1f} MB, "
            f"drift {rss[-1] - rss[0]:+.1f} MB"
        )
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(recorder.rows[0]))
            writer.writeheader()
            writer.writerows(recorder.rows)


if __name__ == "__main__":
    main()
