"""Why the advantage critic was tried, in one step: where one action's effect is ~1 % of the value spread between
states and the actions follow the states, does a critic's ∂Q/∂a point the right way? (issue 30, docs/critic.md)

A one-step problem: states ``s ∈ [-2, 2]²``, the policy ``ā = 0.5 tanh(s₁ + s₂)``, data actions ``a = ā + N(0, 0.1)``,
``Q(s, a) = 50 sin(2 s₁) cos(s₂) − (a − 0.2 s₂)²``. Each critic regresses Q for 3000 Adam steps (batch 256, lr 1e-3);
then its ∂Q/∂a at ``ā`` is compared with the true ``−2(ā − 0.2 s₂)`` on 2000 fresh states:

* ``twin``: one MLP ``Q(s, a)`` (TD3's critic);
* ``advantage:<dt>``: ``Q = V(s) + dt·(A(s, a) − A(s, ā))`` (the option built and removed in issue 30; written out
  here, 15 lines, so that this record can be rerun).

    python -m experiments.advantage_toy
"""

from __future__ import annotations

import numpy as np
import torch as th
from torch import nn


def _mlp(n_in: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 1))


class Twin(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q = _mlp(3)

    def fit_q(self, s: th.Tensor, a: th.Tensor, a_bar: th.Tensor) -> th.Tensor:
        return self(s, a)

    def forward(self, s: th.Tensor, a: th.Tensor) -> th.Tensor:
        return self.q(th.cat([s, a], 1))


class Advantage(nn.Module):
    def __init__(self, dt: float) -> None:
        super().__init__()
        self.v, self.a, self.dt = _mlp(2), _mlp(3), dt

    def fit_q(self, s: th.Tensor, a: th.Tensor, a_bar: th.Tensor) -> th.Tensor:
        return self.v(s) + self.dt * (self.a(th.cat([s, a], 1)) - self.a(th.cat([s, a_bar], 1)))

    def forward(self, s: th.Tensor, a: th.Tensor) -> th.Tensor:
        return self.v(s) + self.dt * self.a(th.cat([s, a], 1))


def data(n: int, gen: th.Generator) -> tuple[th.Tensor, th.Tensor, th.Tensor, th.Tensor]:
    s = th.rand(n, 2, generator=gen) * 4 - 2
    a_bar = 0.5 * th.tanh(s[:, :1] + s[:, 1:])
    a = (a_bar + 0.1 * th.randn(n, 1, generator=gen)).clamp(-1, 1)
    return s, a_bar, a, 50 * th.sin(2 * s[:, :1]) * th.cos(s[:, 1:]) - (a - 0.2 * s[:, 1:]) ** 2


def measure(critic: nn.Module, seed: int = 0) -> tuple[float, float, float]:
    """``(corr(∂Q/∂a, true), sign agreement, mean |∂Q/∂a| / mean |true|)``."""
    th.manual_seed(seed)
    gen = th.Generator().manual_seed(seed)
    opt = th.optim.Adam(critic.parameters(), 1e-3)
    for _ in range(3000):
        s, a_bar, a, q = data(256, gen)
        loss = (critic.fit_q(s, a, a_bar) - q).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    s, a_bar, _, _ = data(2000, gen)
    a_bar.requires_grad_(True)
    grad = th.autograd.grad(critic(s, a_bar).sum(), a_bar)[0].flatten().numpy()
    true = (-2 * (a_bar.detach() - 0.2 * s[:, 1:])).flatten().numpy()
    return float(np.corrcoef(grad, true)[0, 1]), float(np.mean(np.sign(grad) == np.sign(true))), float(
        np.abs(grad).mean() / np.abs(true).mean())


def main() -> None:
    th.set_num_threads(1)
    print("| critic | corr(∂Q/∂a, true) | sign agreement | size vs true |\n|---|---|---|---|")
    for name, critic in [("twin", lambda: Twin())] + [(f"advantage:{dt}", lambda dt=dt: Advantage(dt))
                                                     for dt in (1.0, 0.1, 0.01, 0.001)]:
        corr, sign, size = measure(critic())
        print(f"| {name} | {corr:.2f} | {sign:.2f} | {size:.2f} |", flush=True)


if __name__ == "__main__":
    main()
