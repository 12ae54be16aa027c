"""Short probes used to choose the LunarLander recipe (docs/lunar_lander.md, "how the recipe was chosen").

One GuidedTD3 run (spiking actor, heuristic guide, seed 0, 8 envs) with a base configuration changed by a
JSON argument; every 10 k steps the autonomous actor flies 20 starts (seeds 1000-1019), and at the end
the 100 evaluation starts (0-99) of experiments/lunar_lander.py. Extra JSON keys: ``steps``, ``n_envs``,
``noise`` (exploration std), ``actor_history`` and ``actor_scale`` (env options), ``policy_kwargs``.

    PYTHONPATH=. python experiments/lunar_lander_probe.py \
        '{"steps": 200000, "gradient_steps": 32, "actor_history": 1, "actor_scale": 10, "guide_horizon_fraction": 0.5}'
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.callbacks import BaseCallback  # noqa: E402
from stable_baselines3.common.env_util import make_vec_env  # noqa: E402
from stable_baselines3.common.noise import NormalActionNoise  # noqa: E402

from sb3_spiking import GuidedTD3  # noqa: E402
from sb3_spiking.tasks.lunar_lander import (  # noqa: E402
    LunarLanderHeuristicGuide,
    evaluate_landing,
    make_lunar_lander_novel_privileged,
)

#: the first probe's settings; each probe changes some of them (``gradient_steps`` 32 from the second on)
BASE = dict(policy="SpikingPolicy", policy_kwargs=dict(net_arch=dict(pi=[128, 128], qf=[64, 64])), learning_rate=1e-3,
            buffer_size=300000, learning_starts=2000, batch_size=32, train_freq=32, gradient_steps=8, policy_delay=1,
            n_seq=64, n_warmup=16, stride=16, alpha=0.0, bc_coef=1.0, bc_decay=0.99, bc_target="guide",
            guide_horizon_start=200, guide_horizon_end=0, guide_horizon_fraction=0.6, tau=0.01, gamma=0.99)  # fmt: skip


class _Progress(BaseCallback):
    """Every ``every`` steps: the autonomous actor on 20 starts, printed."""

    def __init__(self, every: int, env_kwargs: dict, start: float):
        super().__init__()
        self.every, self.next, self.env_kwargs, self.start = every, every, env_kwargs, start

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next:
            self.next += self.every
            r = evaluate_landing(self.model, seeds=range(1000, 1020), observation="dict", env_kwargs=self.env_kwargs)
            print(f"{self.num_timesteps} {time.time() - self.start:.0f}s {r.summary()}", flush=True)
        return True


def main() -> None:
    th.set_num_threads(1)
    cfg = dict(BASE)
    extra = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
    steps, n_envs, noise = int(extra.pop("steps", 60000)), int(extra.pop("n_envs", 8)), float(extra.pop("noise", 0.1))
    env_kwargs = dict(actor_history=int(extra.pop("actor_history", 0)), actor_scale=float(extra.pop("actor_scale", 1.0)))
    cfg.update(extra)
    print(cfg, steps, n_envs, noise, env_kwargs, flush=True)
    env = make_vec_env(make_lunar_lander_novel_privileged, n_envs=n_envs, seed=0, env_kwargs=env_kwargs)
    model = GuidedTD3(env=env, guide=LunarLanderHeuristicGuide(), seed=0,
                      action_noise=NormalActionNoise(np.zeros(2), noise * np.ones(2)), **cfg)  # fmt: skip
    start = time.time()
    model.learn(steps, callback=_Progress(10000, env_kwargs, start))
    r = evaluate_landing(model, seeds=range(100), observation="dict", env_kwargs=env_kwargs)
    print("FINAL", steps, f"{time.time() - start:.0f}s", r.summary(), flush=True)


if __name__ == "__main__":
    main()
