"""Probe (issue 27): does a history-free drone actor with action feedback close its gap when its efference copy starts
from the command in force, as an actor with a history does?

l2f starts the action history filled with the motors' initial speeds (``2 rpm − 1``), so an actor with past commands
in its input knows the initial motor state from step 0; the feedback actor's traces start at zero and must infer it.
Flown from fixed, equal initial motor speeds the feedback actor loses ≈ 10 points less to the PD guide than from
l2f's random ones, the history actor the same (docs/memory.md). This probe gives the feedback actor exactly that
information: wherever its state is fresh (a zero state: episode start in collection and evaluation, a replay
window's start), the feedback's last command and its traces are set to the last command in force — the first entry
of the privileged action history, which l2f fills with the initial motor speeds at an episode's start and which holds
the executed command afterwards (a window starting mid-episode gets the true previous command). Nothing else of the
privileged part reaches the actor.

Its control, :class:`ConstantStartSpikingPolicy`, starts every fresh state from the constant command -0.5 (the mean
of l2f's initial motor draw, what ``mem_hist4_blind``'s history starts with) instead: no information about the
episode, only an unbiased starting belief (the zero state means command 0, motors at half speed, the top of the draw).

It is a probe, not a product option: it reads the drone's privileged layout (``privileged[22:26]``) and recognises a
fresh state by its zeros. Train it through the reproduction driver (``experiments.reproduce --only
mem_feedback_efference``); a product version would carry the initial command through the env's API.
"""

from __future__ import annotations

from typing import Any

import torch as th

from sb3_spiking.guided_td3.policies import SpikingActor, SpikingPolicy
from sb3_spiking.obs_keys import PRIVILEGED_KEY

#: where the privileged drone observation holds the last command (18 actor values, 4 motor speeds, then the history)
LAST_COMMAND = slice(22, 26)


class EfferenceActor(SpikingActor):
    """A :class:`SpikingActor` with action feedback whose fresh state holds the command in force (see the module)."""

    def start_command(self, obs: Any) -> th.Tensor:
        """The command a fresh state holds: the last one in force (from the privileged history)."""
        return obs[PRIVILEGED_KEY][..., LAST_COMMAND]

    def _held(self, state: tuple[th.Tensor, ...], obs: Any, rows: th.Tensor | None) -> tuple[th.Tensor, ...]:
        # the product's start state (SpikingMLP.initial_state with a command): every trace at its steady state
        command = self.start_command(obs)
        fresh = self.net.initial_state(command.shape[0], state[-1].device, command)
        if rows is None:
            return fresh
        keep = rows.unsqueeze(1)
        return tuple(th.where(keep, f, s) for f, s in zip(fresh, state))

    def step(self, obs: Any, state: tuple[th.Tensor, ...]) -> tuple[th.Tensor, tuple[th.Tensor, ...]]:
        fresh = th.stack([(s == 0).all(dim=1) for s in state]).all(dim=0)
        if fresh.any():
            state = self._held(state, obs, fresh)
        return super().step(obs, state)

    def unroll(self, obs: Any, state: tuple[th.Tensor, ...] | None = None, *args: Any, **kwargs: Any):  # type: ignore[override]
        if state is None:
            first = {k: v[:, 0] for k, v in obs.items()}
            state = self._held(self.net.initial_state(first[PRIVILEGED_KEY].shape[0], first[PRIVILEGED_KEY].device), first, None)
        return super().unroll(obs, state, *args, **kwargs)


class ConstantStartActor(EfferenceActor):
    """The control: a fresh state holds the constant command -0.5 (no information about the episode)."""

    def start_command(self, obs: Any) -> th.Tensor:
        last = obs[PRIVILEGED_KEY][..., LAST_COMMAND]
        return th.full_like(last, -0.5)


class EfferenceSpikingPolicy(SpikingPolicy):
    """:class:`SpikingPolicy` building an :class:`EfferenceActor` (needs ``feedback=True`` and the drone's Dict obs)."""

    actor_class = EfferenceActor

    def make_actor(self, features_extractor: Any = None) -> SpikingActor:  # type: ignore[override]
        if not self._memory.get("feedback"):
            raise ValueError(f"{type(self).__name__} needs policy_kwargs feedback: true")
        return super().make_actor(features_extractor)


class ConstantStartSpikingPolicy(EfferenceSpikingPolicy):
    """:class:`SpikingPolicy` building a :class:`ConstantStartActor`."""

    actor_class = ConstantStartActor
