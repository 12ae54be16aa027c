"""Does a learnt dynamics model see what one action changes? Vine gradients on model copies vs simulator copies.

The vine phase's copies can fly a dynamics model learnt from the agent's transitions (``vine_kwargs`` ``copies:
model``, :mod:`sb3_spiking.guided_td3.dynamics`) where the simulator's state cannot be copied. This script measures
how well the model's gradients agree with the simulator's: a saved drone student flies ``--collect`` noisy steps
(N(0, ``--noise``), 16 envs: the model's data, as the replay buffer would hold), the model learns from them
(``--fit`` updates), then at ``--points`` branch points of the real leaders the gradient is measured twice, once on
simulator copies and once on model copies. Printed: their correlation per action axis and over all, the cosine
of the gradient vectors, and their sizes. (On simulator copies the gradient is the true one: the central
difference of the returns of exact copies.)

    python -m experiments.model_vine STUDENT.zip --points 512

Fine-tuning a student with model copies: ``python -m experiments.vine_finetune STUDENT.zip --copies model``
(it uses :class:`NoisyFlights` below for the model's data).
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from gymnasium import spaces  # noqa: E402
from stable_baselines3.common.buffers import ReplayBuffer  # noqa: E402

from sb3_spiking import GuidedTD3  # noqa: E402
from sb3_spiking.guided_td3.dynamics import replay_transitions  # noqa: E402
from sb3_spiking.guided_td3.vine import VineGradient, VineSettings  # noqa: E402
from sb3_spiking.tasks.drone.evaluation import actor_history_of  # noqa: E402
from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv  # noqa: E402


class NoisyFlights:
    """The model's data, as GuidedTD3's collection gathers it: 16 drone envs flown by the current actor with
    N(0, ``noise``) exploration; each step's physical transition goes into an SB3 ``ReplayBuffer`` of ``size``
    transitions (physical states as its observations), which :func:`~sb3_spiking.guided_td3.dynamics.replay_transitions`
    samples as training's replay buffer (:attr:`sample`)."""

    def __init__(self, student: GuidedTD3, size: int, noise: float, seed: int) -> None:
        self.student, self.noise = student, float(noise)
        self.env = DroneHoverVecEnv(16, actor_history=actor_history_of(student))
        space = spaces.Box(-np.inf, np.inf, (self.env.physical_state_dim,), np.float32)
        self.buffer = ReplayBuffer(max(int(size), 16), space, self.env.action_space, device="cpu", n_envs=16)
        self.sample = replay_transitions(self.buffer, lambda states: states, seed)
        self.env.seed(seed)
        self.obs = self.env.reset()
        self.rng = np.random.default_rng(seed)
        self.state: Any = None
        self.start = np.ones(16, bool)

    def __len__(self) -> int:
        return self.buffer.size() * self.buffer.n_envs

    def fly(self, steps: int) -> None:
        for _ in range(max(1, steps // 16)):
            action, self.state = self.student.predict(self.obs, state=self.state, episode_start=self.start, deterministic=True)
            action = np.clip(action + self.rng.normal(0.0, self.noise, action.shape), -1.0, 1.0).astype(np.float32)
            s = self.env.physical_state(self.obs)
            self.obs, rewards, self.start, infos = self.env.step(action)
            s_next = self.env.physical_state(self.obs)
            for i in np.flatnonzero(self.start):  # an episode ended: its last state is the terminal observation
                s_next[i] = self.env.physical_state(infos[i]["terminal_observation"]["privileged"][None])[0]
            self.buffer.add(s, s_next, action, rewards, self.start, infos)


def agreement(sim: VineGradient, model: VineGradient, actor: Any, n_points: int) -> dict[str, Any]:
    """Gradients of ``sim`` (simulator copies) and ``model`` (model copies) at the same branch points: ``model``'s
    copies start from ``sim``'s leaders, so both measure the same states."""
    real, modelled = [], []
    device = next(actor.parameters()).device
    n = sim.settings.n_leaders
    while len(real) * n < n_points:
        sim.collect(actor, n_steps=int(sim._rng.integers(20, 80)))  # the leaders move on (branching on schedule)
        for vine, out in ((sim, real), (model, modelled)):
            first = vine._pos
            saved, vine.leaders = vine.leaders, sim.leaders
            vine._state = sim._state
            vine._t, vine._ring = sim._t, sim._ring
            vine._branch(actor, device)
            vine.leaders = saved
            out.append(vine._grads[(first + np.arange(n)) % vine.settings.buffer_size].copy())
    r, m = np.concatenate(real), np.concatenate(modelled)
    cos = (r * m).sum(1) / (np.linalg.norm(r, axis=1) * np.linalg.norm(m, axis=1) + 1e-12)
    return dict(n=len(r), corr_axes=[float(np.corrcoef(r[:, j], m[:, j])[0, 1]) for j in range(r.shape[1])],
                corr_all=float(np.corrcoef(r.ravel(), m.ravel())[0, 1]), cosine_median=float(np.median(cos)),
                cosine_mean=float(cos.mean()), rms_real=float(np.sqrt((r**2).mean())), rms_model=float(np.sqrt((m**2).mean())))


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", help="a saved GuidedTD3 drone student (.zip; an actor without action feedback)")
    parser.add_argument("--collect", type=int, default=100_000, help="noisy student steps the model learns from")
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--fit", type=int, default=5_000, help="model updates before the comparison")
    parser.add_argument("--points", type=int, default=512, help="branch points compared")
    parser.add_argument("--horizon", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    t0 = time.time()
    student = GuidedTD3.load(args.model, device="cpu")
    env = DroneHoverVecEnv(1, actor_history=actor_history_of(student))
    flights = NoisyFlights(student, args.collect, args.noise, seed=50_000 + args.seed)
    flights.fly(args.collect)
    vines = {}
    for copies, updates in (("simulator", 50), ("model", max(1, args.fit // 100))):
        settings = VineSettings(horizon=args.horizon, copies=copies, model_updates=updates)
        vines[copies] = VineGradient(env, student.actor, settings, student.n_seq, student.n_warmup,
                                     seed=20_000 + 1_000 * args.seed, transitions=flights.sample if copies == "model" else None)
    model_vine = vines["model"]
    model_vine.model_loss = model_vine.dynamics.fit(flights.sample, 100 * model_vine.settings.model_updates)  # type: ignore[union-attr]
    print(f"[{(time.time() - t0) / 60:5.1f} min] model: {len(flights):,} transitions, "
          f"{100 * max(1, args.fit // 100)} updates, loss {model_vine.model_loss:.4f} (standardised change)", flush=True)
    student.actor.set_training_mode(False)
    res = agreement(vines["simulator"], model_vine, student.actor, args.points)
    print(f"[{(time.time() - t0) / 60:5.1f} min] simulator vs model gradients at {res['n']} branch points: correlation "
          f"per axis {', '.join(f'{c:.2f}' for c in res['corr_axes'])}, over all {res['corr_all']:.3f}; cosine median "
          f"{res['cosine_median']:.3f}, mean {res['cosine_mean']:.3f}; rms simulator {res['rms_real']:.3f}, "
          f"model {res['rms_model']:.3f}", flush=True)
    return res


if __name__ == "__main__":
    main()
