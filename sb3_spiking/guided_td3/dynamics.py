"""A learnt one-step dynamics model, so that the vine phase can fly copies of a state the simulator cannot copy.

The vine phase (:mod:`sb3_spiking.guided_td3.vine`) measures the action gradient of the policy's value by flying
copies of a visited state with perturbed actions. Without a copyable simulator the copies fly this model instead:
``s' = s + μ_Δ + σ_Δ · f((s, a) normalised)``, an MLP fitted by mean squared error to the change of the task's
physical state over one step, on transitions the agent flew (its replay buffer). The task says what its physical
state is and builds the copies (:class:`~sb3_spiking.branching.ModelCopyableVecEnv`); reward and crash limits
stay the task's own functions of that state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch as th
from torch import nn

#: draws ``n`` transitions ``(s, a, s')`` as float32 arrays ``(n, state), (n, action), (n, state)``
TransitionSampler = Callable[[int], tuple[np.ndarray, np.ndarray, np.ndarray]]


class DynamicsModel(nn.Module):
    """One-step model of a physical state: predicts the state's change from the state and the action.

    Inputs and changes are standardised with statistics fixed at the first :meth:`fit` (the scale of a 10 ms
    change is ~1e-3 of the state's: unscaled, the loss would be the identity's).

    :param state_dim: size of the physical state.
    :param action_dim: size of the action.
    :param hidden: width of the two hidden layers.
    :param learning_rate: Adam's learning rate.
    """

    def __init__(self, state_dim: int, action_dim: int, hidden: int = 256, learning_rate: float = 1e-3) -> None:
        super().__init__()
        self.state_dim, self.action_dim = int(state_dim), int(action_dim)
        self.net = nn.Sequential(nn.Linear(state_dim + action_dim, hidden), nn.SiLU(), nn.Linear(hidden, hidden), nn.SiLU(),
                                 nn.Linear(hidden, state_dim))
        self.register_buffer("in_mean", th.zeros(state_dim + action_dim))
        self.register_buffer("in_std", th.ones(state_dim + action_dim))
        self.register_buffer("out_mean", th.zeros(state_dim))
        self.register_buffer("out_std", th.ones(state_dim))
        self.scaled = False
        self.optimizer = th.optim.Adam(self.parameters(), lr=learning_rate)

    def _inputs(self, s: th.Tensor, a: th.Tensor) -> th.Tensor:
        return (th.cat([s, a], 1) - self.in_mean) / self.in_std

    def forward(self, s: th.Tensor, a: th.Tensor) -> th.Tensor:
        """The next state ``(N, state)`` from states ``(N, state)`` and actions ``(N, action)``."""
        return s + self.out_mean + self.out_std * self.net(self._inputs(s, a))

    def _set_scale(self, s: np.ndarray, a: np.ndarray, s_next: np.ndarray) -> None:
        x, change = np.concatenate([s, a], 1), s_next - s
        self.in_mean.copy_(th.as_tensor(x.mean(0)))
        self.in_std.copy_(th.as_tensor(x.std(0) + 1e-6))
        self.out_mean.copy_(th.as_tensor(change.mean(0)))
        self.out_std.copy_(th.as_tensor(change.std(0) + 1e-8))  # a constant part (e.g. a fixed flag) stays constant
        self.scaled = True

    def fit(self, sample: TransitionSampler, updates: int, batch_size: int = 512) -> float:
        """``updates`` Adam steps on batches from ``sample``; the first call also fixes the scales (from 20
        batches). Returns the mean loss (mean squared error of the standardised change; 1 = predicting the mean
        change)."""
        if not self.scaled:
            self._set_scale(*(np.concatenate(parts) for parts in zip(*(sample(batch_size) for _ in range(20)))))
        device = self.in_mean.device
        losses = []
        for _ in range(int(updates)):
            s, a, s_next = (th.as_tensor(x, device=device) for x in sample(batch_size))
            target = (s_next - s - self.out_mean) / self.out_std
            loss = (self.net(self._inputs(s, a)) - target).pow(2).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            losses.append(loss.item())
        return float(np.mean(losses)) if losses else float("nan")


def replay_transitions(buffer: Any, physical_state: Callable[[Any], np.ndarray], seed: int = 0) -> TransitionSampler:
    """A sampler of ``(s, a, s')`` from an SB3-layout replay buffer (arrays ``(steps, n_envs, ...)``: SB3's
    ``ReplayBuffer`` or :class:`~sb3_spiking.guided_td3.buffers.SequenceReplayBuffer`), steps drawn uniformly.

    Transitions that end in a termination are left out (a crash's last state may be one the simulator zeroed).
    Actions are as stored (scaled to [-1, 1], SB3's convention), the units the vine's copies receive.
    ``physical_state`` maps a batch of observations (dict or array, as stored) to the physical state.
    """
    rng = np.random.default_rng(seed)

    def rows(obs: Any, idx: tuple[np.ndarray, np.ndarray]) -> Any:
        return {k: v[idx] for k, v in obs.items()} if isinstance(obs, dict) else obs[idx]

    def sample(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        size = buffer.buffer_size if buffer.full else buffer.pos
        if size == 0:
            raise RuntimeError("the replay buffer is empty: the dynamics model has nothing to learn from")
        out: list[tuple[np.ndarray, ...]] = []
        have = 0
        for _ in range(100):  # terminations are rare: one or two draws
            idx = (rng.integers(0, size, 2 * n), rng.integers(0, buffer.n_envs, 2 * n))
            keep = ~_terminated(buffer, idx)
            idx = (idx[0][keep], idx[1][keep])
            out.append((physical_state(rows(buffer.observations, idx)), buffer.actions[idx].reshape(len(idx[0]), -1),
                        physical_state(rows(buffer.next_observations, idx))))
            have += len(idx[0])
            if have >= n:
                break
        s, a, s_next = (np.concatenate(parts)[:n].astype(np.float32) for parts in zip(*out))
        return s, a, s_next

    return sample


def _terminated(buffer: Any, idx: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    if hasattr(buffer, "terminated"):  # SequenceReplayBuffer keeps terminations apart from truncations
        return np.asarray(buffer.terminated[idx], bool)
    return np.asarray(buffer.dones[idx] * (1 - buffer.timeouts[idx]), bool)  # SB3's ReplayBuffer


__all__ = ["DynamicsModel", "TransitionSampler", "replay_transitions"]
