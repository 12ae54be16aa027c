"""Find the :class:`~sb3_spiking.neurons.SpikingMLP` (and action bounds) inside whatever is exported."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from sb3_spiking.neurons import SpikingMLP


def resolve_actor(obj: Any) -> tuple[SpikingMLP, np.ndarray | None, np.ndarray | None]:
    """Return ``(net, action_low, action_high)`` for a model, policy, actor or bare network.

    Accepts a :class:`SpikingMLP`, a ``SpikingActor`` (``.net``), a ``SpikingPolicy`` (``.actor``)
    or an SB3 algorithm (``.policy``). The bounds come from the action space of a policy / actor
    (``None`` for a bare network: the output stays in [-1, 1]).

    :raises TypeError: if no spiking network is found.
    """
    low = high = None
    for _ in range(4):  # model -> policy -> actor -> net
        space = getattr(obj, "action_space", None)
        if space is not None and low is None and hasattr(space, "low"):
            low = np.asarray(space.low, dtype=np.float32).reshape(-1)
            high = np.asarray(space.high, dtype=np.float32).reshape(-1)
        if isinstance(obj, SpikingMLP):
            return obj, low, high
        for attr in ("net", "actor", "policy"):
            if hasattr(obj, attr) and not callable(getattr(type(obj), attr, None)):
                obj = getattr(obj, attr)
                break
        else:
            break
    raise TypeError(f"no SpikingMLP found in {type(obj).__name__}: pass a SpikingMLP, SpikingActor, SpikingPolicy or GuidedTD3")


def unit_bounds(low: np.ndarray | None, high: np.ndarray | None) -> bool:
    """True when there is nothing to unscale (no bounds, or exactly [-1, 1])."""
    return low is None or (bool(np.all(low == -1.0)) and bool(np.all(high == 1.0)))


def unit_command(command: Any, low: np.ndarray | None, high: np.ndarray | None) -> th.Tensor | None:
    """A command in the action space's units ``(N, …)`` as the network's ``(N, A)`` in [-1, 1] (the inverse of the
    actor's unscaling; exact for bounds of exactly [-1, 1]); ``None`` stays ``None``."""
    if command is None:
        return None
    c = th.as_tensor(command, dtype=th.float32)
    c = c.reshape(c.shape[0], -1)
    if unit_bounds(low, high):
        return c
    lo, hi = (th.as_tensor(np.asarray(b, np.float32).reshape(-1), device=c.device) for b in (low, high))
    return (2.0 * (c - lo) / (hi - lo) - 1.0).clamp(-1.0, 1.0)
