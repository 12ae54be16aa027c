"""The critics' target policy beyond TD3's Polyak-averaged target actor (issue 30).

:class:`ProxyActor` (``policy_kwargs: {proxy_target: true}``): a non-spiking, stateless MLP on the critics' input,
regressed onto the online actor's actions; it replaces the Polyak-averaged target actor in the critic's targets (Proxy
Target, arXiv 2505.24161: averaging a spiking network's weights does not average its discontinuous behaviour). Being
stateless, its targets need no warm-up, so every valid step of a window trains the critic.

(An advantage-decomposed critic, ``Q = V(s) + dt·(A(s, a) − A(s, ā))``, was built beside it and measured no better
anywhere and worse on two tasks: removed; its numbers are in docs/critic.md.)
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from torch import nn


class ProxyActor(BaseModel):
    """A stateless tanh MLP ``μ(s)`` on the critics' input, regressed onto the online actor's actions; the
    critic's target policy when the policy is built with ``proxy_target=True``.

    :param net_arch: hidden sizes (the critics').
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
    ):
        super().__init__(observation_space, action_space, features_extractor=features_extractor,
                         normalize_images=normalize_images)
        self.mu = nn.Sequential(*create_mlp(features_dim, get_action_dim(action_space), net_arch, activation_fn,
                                            squash_output=True))

    def forward(self, obs: Any) -> th.Tensor:
        return self.mu(self.extract_features(obs, self.features_extractor))

    def over_window(self, seq: th.Tensor | dict[str, th.Tensor]) -> th.Tensor:
        """Its actions over ``(B, T, …)`` observations, ``(B, T, A)`` (stateless: every step on its own)."""
        first = next(iter(seq.values())) if isinstance(seq, dict) else seq
        B, T = first.shape[:2]
        def flat(x: th.Tensor) -> th.Tensor:
            return x.reshape(B * T, *x.shape[2:])

        return self({k: flat(v) for k, v in seq.items()} if isinstance(seq, dict) else flat(seq)).reshape(B, T, -1)

    def follow(self, observations: th.Tensor | dict[str, th.Tensor], actions: th.Tensor) -> float:
        """One regression step (its own optimiser) towards the actor's ``actions`` at ``observations``; the loss."""
        loss = th.nn.functional.mse_loss(self(observations), actions.detach())
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()


__all__ = ["ProxyActor"]
