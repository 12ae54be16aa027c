"""The actor loss of GuidedTD3 as a weighted sum of small named terms.

Each term reads an :class:`ActorBatch` (the windows, the actor's actions on them and the masked
observations) and returns a scalar tensor; the algorithm weights and sums them. A new experiment on
the actor's objective is a new term, not a new branch in ``GuidedTD3`` nor a constructor argument::

    class ActionCost:  # any object with a name and a call is a term
        name = "action_cost"

        def __call__(self, batch: ActorBatch) -> th.Tensor:
            return batch.policy_actions.pow(2).mean()

    class MyTD3(GuidedTD3):
        def actor_terms(self):
            return [*super().actor_terms(), (0.1, ActionCost())]
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, runtime_checkable

import torch as th
from stable_baselines3.common.policies import ContinuousCritic

from sb3_spiking.guided_td3.buffers import WindowSamples

#: what the BC term imitates: the guide's action stored for the step (DAgger-style relabelling) or
#: the executed buffer action (the paper)
BC_TARGETS = ("guide", "executed")
#: where the Q term evaluates Q₁: at the actor's own action (TD3+BC) or at the buffer action (the
#: paper authors' public code: no policy gradient, kept to reproduce it)
Q_ACTIONS = ("policy", "buffer")


@dataclass
class ActorBatch:
    """What every actor-loss term sees for one update.

    :param data: the sampled windows.
    :param actions: the actor's actions over the windows ``(B, L, A)`` (with their graph).
    :param mask: ``(B, L)`` steps that enter the actor loss (``data.actor_mask``).
    :param observations: the observations at those steps (tensor or dict of tensors, ``(n, …)``).
    :param logs: scalars the terms report for the logger (``train/<key>``), filled as they run.
    """

    data: WindowSamples
    actions: th.Tensor
    mask: th.Tensor
    observations: th.Tensor | dict[str, th.Tensor]
    logs: dict[str, float] = field(default_factory=dict)

    @property
    def policy_actions(self) -> th.Tensor:
        """The actor's actions at the masked steps, ``(n, A)``."""
        return self.actions[self.mask]


@runtime_checkable
class ActorLossTerm(Protocol):
    """One term of the actor loss: ``name`` for the logs, a call that returns a scalar loss."""

    name: str

    def __call__(self, batch: ActorBatch) -> th.Tensor: ...


class QTerm:
    """TD3+BC's Q term ``−(α / mean|Q₁|) · mean Q₁(s, a)``, the scale detached (Fujimoto & Gu 2021).

    :param critic: the twin critic (``q1_forward``).
    :param alpha: α.
    :param action: ``"policy"`` (``a = π(s)``, the policy gradient) or ``"buffer"`` (``a`` the stored
        action, as the paper authors' public code does: no gradient reaches the actor from this term).
    """

    name = "q"

    def __init__(self, critic: ContinuousCritic, alpha: float, action: str = "policy") -> None:
        if action not in Q_ACTIONS:
            raise ValueError(f"actor_q_input must be one of {Q_ACTIONS}, got {action!r}")
        self.critic, self.alpha, self.action = critic, float(alpha), action

    def __call__(self, batch: ActorBatch) -> th.Tensor:
        action = batch.policy_actions if self.action == "policy" else batch.data.actions[batch.mask]
        q = self.critic.q1_forward(batch.observations, action)
        batch.logs["q_pi"] = q.mean().item()
        return -(self.alpha / q.abs().mean().detach().clamp_min(1e-6)) * q.mean()


class BCTerm:
    """Behaviour cloning ``mean ‖π(s) − a‖²`` over the actor steps.

    :param target: ``"guide"``: ``a`` is the guide's action stored for the step (the executed one where
        the guide was not queried); ``"executed"``: the executed buffer action.
    """

    name = "bc"

    def __init__(self, target: str = "guide") -> None:
        if target not in BC_TARGETS:
            raise ValueError(f"bc_target must be one of {BC_TARGETS}, got {target!r}")
        self.target = target

    def targets(self, batch: ActorBatch) -> th.Tensor:
        """The imitated action at the actor steps, ``(n, A)``."""
        data = batch.data
        target = data.actions
        if self.target == "guide":
            has = data.has_guide_action.unsqueeze(-1)
            target = has * data.guide_actions + (1 - has) * data.actions
        return target[batch.mask]

    def __call__(self, batch: ActorBatch) -> th.Tensor:
        bc = (batch.policy_actions - self.targets(batch)).pow(2).mean(dim=1).mean()
        batch.logs["bc_loss"] = bc.item()
        return bc


def weighted_sum(batch: ActorBatch, terms: list[tuple[float, ActorLossTerm]]) -> th.Tensor:
    """``Σ weight · term(batch)`` in the given order (a weight of 0 still runs its term, so that the logs
    and the optimiser see the same loss graph as before the weight reached 0)."""
    loss = batch.actions.new_zeros(())
    for weight, term in terms:
        value = term(batch)
        loss = loss + value if weight == 1.0 else loss + weight * value
    return loss


# ---------------------------------------------------------------------- critic targets
class NStepTargets(NamedTuple):
    """Per step ``i`` of ``(B, L)`` windows: ``returns`` = discounted reward sum over up to ``n`` steps,
    and the bootstrap ``γ^k · Q'(s'_j, π'(s'_j))`` it needs: ``boot_index`` ``j`` and ``boot_discount``
    ``γ^k`` (0 when the sum ended in a termination)."""

    returns: th.Tensor
    boot_discount: th.Tensor
    boot_index: th.Tensor


def n_step_targets(rewards: th.Tensor, terminated: th.Tensor, valid: th.Tensor, gamma: float, n: int) -> NStepTargets:
    """n-step TD targets inside windows: the sum stops at a termination (no bootstrap), at the window's
    last valid step or after ``n`` rewards (bootstrap at the step where it stopped). ``n = 1`` is TD3's
    ``r + γ (1 - d) Q'(s', π'(s'))``. Windows give the following steps for free, so value spreads ``n``
    times faster per update than with 1-step targets; the sum is over the actions actually flown (no
    off-policy correction), as in R2D2 and Ape-X.
    """
    B, L = rewards.shape
    valid_b, term_b = valid.bool(), terminated.bool()

    def ahead(x: th.Tensor, k: int) -> th.Tensor:  # x[:, i + k], zero (False) past the window's end
        return th.cat([x[:, k:], x.new_zeros(B, min(k, L))], dim=1)

    positions = th.arange(L, device=rewards.device).expand(B, L)
    returns, discount = th.zeros_like(rewards), th.ones_like(rewards)
    boot_discount, boot_index = th.zeros_like(rewards), positions.clone()
    running = valid_b.clone()
    for k in range(n):
        step = ahead(valid_b, k) & running
        returns = returns + discount * ahead(rewards, k) * step
        ends = ahead(term_b, k) & step
        stop = step & (ends | ~ahead(valid_b, k + 1) | (k == n - 1))
        boot_discount = th.where(stop & ~ends, discount * gamma, boot_discount)
        boot_index = th.where(stop, positions + k, boot_index)
        running = running & ~stop
        discount = discount * gamma
    return NStepTargets(returns, boot_discount, boot_index)


def warm_target_mask(data: WindowSamples, targets: NStepTargets, n_warmup: int) -> th.Tensor:
    """``(B, L)`` steps whose TD target is evaluated at a warm target-actor state (or needs none).

    The target of step ``i`` bootstraps at step ``j`` (``j = i`` for 1-step returns) and reads the
    target actor's output at position ``j + 1`` of its unroll from zero state at the window start.
    That state is the deployed one only in windows that start an episode; elsewhere it is warm from
    position ``n_warmup`` on (as for the actor loss). A sum that ends in a termination reads no target
    actor at all. Cold targets bootstrap on another policy than the deployed one: they are always left
    out (measured: experiments/notes/guided_rl.md §1).
    """
    warm = targets.boot_index + 1 >= n_warmup
    return data.valid.bool() & (warm | (targets.boot_discount == 0) | data.starts_episode.bool()[:, None])


class CriticView(NamedTuple):
    """What the critics read over ``(B, L)`` windows: ``now`` at each step, ``next`` at its successor, and
    ``complete``: the steps whose view is the one the step had (a stack of ``k`` observations needs ``k − 1`` earlier
    steps inside the window, or a window that starts the episode, where the zero padding is right)."""

    now: th.Tensor | dict[str, th.Tensor]
    next: th.Tensor | dict[str, th.Tensor]
    complete: th.Tensor


def critic_view(data: WindowSamples, history: int = 1) -> CriticView:
    """The observations, or with ``history > 1`` the last ``history`` observations stacked (oldest first, as SB3's
    ``VecFrameStack``) from the window itself (``policy_kwargs: critic_history``)."""
    if history == 1:
        return CriticView(data.observations, data.next_observations, complete_stacks(data, 1))
    seq = cat_obs(data.observations[:, :1], data.next_observations)  # type: ignore[index]  (Box: checked by the policy)
    B, L1 = seq.shape[:2]  # type: ignore[union-attr]
    padded = th.cat([seq.new_zeros(B, history - 1, *seq.shape[2:]), seq], dim=1)  # type: ignore[union-attr]
    stacked = th.cat([padded[:, j : j + L1] for j in range(history)], dim=-1)
    return CriticView(stacked[:, :-1], stacked[:, 1:], complete_stacks(data, history))


def complete_stacks(data: WindowSamples, history: int) -> th.Tensor:
    """``(B, L)``: the steps whose stack of ``history`` observations lies inside their window (``k − 1`` earlier steps,
    or a window that starts the episode, where the zero padding is right); every step for ``history`` 1."""
    positions = th.arange(data.valid.shape[1], device=data.valid.device)
    return (positions >= history - 1)[None, :] | data.starts_episode.bool()[:, None]


def critic_steps(
    data: WindowSamples, targets: NStepTargets, n_warmup: int, stateless_target: bool, history: int = 1
) -> th.Tensor:
    """``(B, L)`` steps that enter the critic loss: valid, and wherever the target policy is read, at a warm state.

    A stateless (proxy) target is never cold: every valid step; the target actor is read at the bootstrap step:
    :func:`warm_target_mask`. And the critics' view of the step must be complete (:func:`critic_view` with ``history``
    stacked observations).
    """
    complete = complete_stacks(data, history)  # (the stack itself is not needed for the mask)
    if stateless_target:
        return complete & data.valid.bool()
    return complete & warm_target_mask(data, targets, n_warmup)


def target_inputs(data: WindowSamples) -> tuple[th.Tensor | dict[str, th.Tensor], th.Tensor]:
    """What a target policy reads over a window: the observations ``s_0, s_0', …, s_{L-1}'`` ``(B, L + 1, …)``
    (position ``j + 1`` is the successor of step ``j``, and position ``t`` is ``s_t`` inside an episode) and
    the executed commands for an action feedback (position ``j + 1`` follows ``a_j``)."""
    seq = cat_obs(map_obs(data.observations, lambda x: x[:, :1]), data.next_observations)
    return seq, th.cat([data.actions, data.actions[:, -1:]], dim=1)


def _chosen_steps(kept: th.Tensor, critic_fraction: float) -> th.Tensor:
    """A random ``critic_fraction`` of the ``kept`` ``(B, L)`` steps, at least one per window that has any."""
    if critic_fraction >= 1.0:
        return kept
    chosen = kept & (th.rand(kept.shape, device=kept.device) < critic_fraction)
    first_kept = kept.float().argmax(dim=1)
    rows = th.arange(kept.shape[0], device=kept.device)
    chosen[rows, first_kept] |= kept[rows, first_kept] & ~chosen.any(dim=1)
    return chosen


def critic_loss(
    data: WindowSamples,
    targets: NStepTargets,
    kept: th.Tensor,
    critic: ContinuousCritic,
    critic_target: ContinuousCritic,
    target_actions: th.Tensor,
    critic_fraction: float = 1.0,
    target_policy_noise: float = 0.2,
    target_noise_clip: float = 0.5,
    view: CriticView | None = None,
) -> th.Tensor:
    """The critic loss on the ``kept`` ``(B, L)`` window steps (a random ``critic_fraction`` of them, at least one per
    window that has any), the n-step sums of :func:`n_step_targets` bootstrapped at their last step.

    ``target_actions`` ``(B, L + 1, A)``: the target policy over :func:`target_inputs` (the target actor unrolled from
    zero state at the window start, or a stateless proxy); the bootstrap is TD3's twin minimum of
    ``Q'(s', π'(s') + clipped noise)``. ``view``: what the critics read (default: the observations).
    """
    view = critic_view(data) if view is None else view
    rows, cols = _chosen_steps(kept, critic_fraction).nonzero(as_tuple=True)
    boot = targets.boot_index[rows, cols]
    observations = map_obs(view.now, lambda x: x[rows, cols])
    with th.no_grad():
        next_obs = map_obs(view.next, lambda x: x[rows, boot])
        next_actions = target_actions[:, 1:][rows, boot]
        noise = (th.randn_like(next_actions) * target_policy_noise).clamp(-target_noise_clip, target_noise_clip)
        next_actions = (next_actions + noise).clamp(-1.0, 1.0)
        next_q = th.cat(critic_target(next_obs, next_actions), dim=1).min(dim=1, keepdim=True)[0]
        target_q = targets.returns[rows, cols].unsqueeze(1) + targets.boot_discount[rows, cols].unsqueeze(1) * next_q
    current_q = critic(observations, data.actions[rows, cols])
    return sum(th.nn.functional.mse_loss(q, target_q) for q in current_q)  # type: ignore[return-value]


def map_obs(obs: th.Tensor | dict[str, th.Tensor], fn: Callable[[th.Tensor], th.Tensor]) -> th.Tensor | dict[str, th.Tensor]:
    """``fn`` applied to an observation tensor or to every entry of a dict of them."""
    return {k: fn(v) for k, v in obs.items()} if isinstance(obs, dict) else fn(obs)


def cat_obs(a: th.Tensor | dict[str, th.Tensor], b: th.Tensor | dict[str, th.Tensor]) -> th.Tensor | dict[str, th.Tensor]:
    """Two window batches of observations joined along time."""
    if isinstance(a, dict):
        return {k: th.cat([a[k], b[k]], dim=1) for k in a}  # type: ignore[index]
    return th.cat([a, b], dim=1)  # type: ignore[list-item]


__all__ = [
    "BC_TARGETS",
    "Q_ACTIONS",
    "ActorBatch",
    "ActorLossTerm",
    "BCTerm",
    "NStepTargets",
    "QTerm",
    "cat_obs",
    "CriticView",
    "critic_loss",
    "complete_stacks",
    "critic_view",
    "critic_steps",
    "map_obs",
    "n_step_targets",
    "target_inputs",
    "warm_target_mask",
    "weighted_sum",
]
