"""Critic and target-policy options of GuidedTD3 beyond TD3's twin Q (issue 30).

* :class:`AdvantageCritic` (``policy_kwargs: {critic: advantage, critic_dt: …}``): ``Q(s, a) = V(s) +
  dt · (Ã(s, a) − Ã(s, ā))`` with separate state-value and advantage networks, ``ā`` the target policy's
  action at ``s`` (advantage updating, Baird 1993; its time-discretisation-robust form with the ``dt``
  scale, Tallec, Blier & Ollivier 2019). Why: at 100 Hz one action changes the return by ~1 % of how much
  values differ between states; a single Q network fits the states and can explain their value through
  the action input too (the actions follow the states), so its action gradient is noise. Here any
  function of the state alone cancels out of the advantage, which only sees the deviation ``a − ā``, and
  its output is scaled by ``dt`` so that one Adam step moves Q by a ``dt``-sized amount in the action
  direction. Targets bootstrap on ``V'(s')`` (no target action is needed for them).
* :class:`ProxyActor` (``policy_kwargs: {proxy_target: true}``): a non-spiking, stateless MLP on the
  critics' input, regressed onto the online actor's actions; it replaces the Polyak-averaged target actor
  in the critic's targets (Proxy Target, arXiv 2505.24161: averaging a spiking network's weights does not
  average its discontinuous behaviour). Being stateless, its targets need no warm-up, so every valid step
  of a window trains the critic.
"""

from __future__ import annotations

from typing import Any

import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BaseModel
from stable_baselines3.common.preprocessing import get_action_dim
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from torch import nn

#: the critic forms: TD3's twin Q networks, or the advantage decomposition
CRITICS = ("twin", "advantage")


def _mlp(in_dim: int, net_arch: list[int], activation_fn: type[nn.Module], layer_norm: bool) -> nn.Sequential:
    post = [nn.LayerNorm] if layer_norm else None
    return nn.Sequential(*create_mlp(in_dim, 1, net_arch, activation_fn, post_linear_modules=post))


class AdvantageCritic(BaseModel):
    """``Q(s, a) = V(s) + dt · (Ã(s, a) − Ã(s, ā))``: a state-value network and an advantage network.

    :meth:`forward` and :meth:`q1_forward` return ``V(s) + dt · Ã(s, a)`` (the actor's gradient
    ``dt · ∂Ã/∂a`` does not depend on the centring term); the critic loss centres with :meth:`q_centred`.

    :param net_arch: hidden sizes of each of the two networks.
    :param dt: the advantage's scale: the control period in seconds (Tallec et al.), e.g. 0.01 at 100 Hz.
    :param layer_norm: ``LayerNorm`` after every hidden layer (as ``critic_layer_norm``).
    Other parameters: as :class:`stable_baselines3.common.policies.ContinuousCritic`.
    """

    features_extractor: BaseFeaturesExtractor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        features_extractor: BaseFeaturesExtractor,
        features_dim: int,
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = True,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        dt: float = 0.01,
        layer_norm: bool = False,
    ):
        super().__init__(observation_space, action_space, features_extractor=features_extractor,
                         normalize_images=normalize_images)
        check_critic_dt(dt)
        self.share_features_extractor, self.dt = share_features_extractor, float(dt)
        self.v_net = _mlp(features_dim, net_arch, activation_fn, layer_norm)
        self.a_net = _mlp(features_dim + get_action_dim(action_space), net_arch, activation_fn, layer_norm)

    def _features(self, obs: Any) -> th.Tensor:
        with th.set_grad_enabled(not self.share_features_extractor):
            return self.extract_features(obs, self.features_extractor)

    def value(self, obs: Any) -> th.Tensor:
        """``V(s)``, ``(n, 1)``."""
        return self.v_net(self._features(obs))

    def q_centred(self, obs: Any, actions: th.Tensor, reference: th.Tensor) -> th.Tensor:
        """``V(s) + dt · (Ã(s, a) − Ã(s, ā))`` with ``ā`` = ``reference``, ``(n, 1)``."""
        features = self._features(obs)
        both = self.a_net(th.cat([th.cat([features, actions], dim=1), th.cat([features, reference], dim=1)], dim=0))
        advantage = both[: len(actions)] - both[len(actions):]
        return self.v_net(features) + self.dt * advantage

    def forward(self, obs: Any, actions: th.Tensor) -> tuple[th.Tensor, ...]:
        features = self._features(obs)
        return (self.v_net(features) + self.dt * self.a_net(th.cat([features, actions], dim=1)),)

    def q1_forward(self, obs: Any, actions: th.Tensor) -> th.Tensor:
        return self.forward(obs, actions)[0]


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


def check_critic_dt(dt: float) -> float:
    """``dt`` as a float, or ``ValueError`` unless ``0 < dt ≤ 1``."""
    try:
        value = float(dt)
    except (TypeError, ValueError):
        raise ValueError(f"critic_dt must be a number in (0, 1], got {dt!r}") from None
    if not 0.0 < value <= 1.0:
        raise ValueError(f"critic_dt must be in (0, 1] (the control period in seconds), got {dt!r}")
    return value


__all__ = ["CRITICS", "AdvantageCritic", "ProxyActor", "check_critic_dt"]
