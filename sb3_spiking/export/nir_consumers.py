"""Run an exported NIR graph in third-party consumers, to check that they fly it like PyTorch.

Two readers nobody here wrote: snnTorch's ``import_from_nir`` (needs ``nirtorch``) and Norse's
``from_nir`` (extra ``nir``). :func:`run_consumer` loads a graph with one of them and steps it through
an observation sequence one control step at a time (resetting its state at episode starts), recording
the spikes of every LIF layer and the output; :func:`compare_with_torch` measures spike agreement and
the largest action difference against our own network. Graphs come from
:func:`sb3_spiking.export.nir_export.to_nir` with ``consumer=`` the reader's name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th

from sb3_spiking.export.nir_export import CONSUMERS, DEFAULT_DT, _meta
from sb3_spiking.export.resolve import resolve_actor


@dataclass
class ConsumerRun:
    """What a consumer computed over an observation sequence.

    :param actions: ``(T, n_out)``: ``tanh`` of the graph's output (the graph metadata's
        ``output_activation``), in [-1, 1].
    :param spikes: one ``(T, n_i)`` array of 0/1 per LIF layer.
    """

    actions: np.ndarray
    spikes: list[np.ndarray]


def _load(graph: Any, consumer: str) -> tuple[th.nn.Module, list[th.nn.Module], Any]:
    """The consumer's module, its LIF modules in graph order, and a function that resets its state."""
    graph = copy.deepcopy(graph)  # snnTorch's importer edits the graph it is given
    lif_names = [name for name, node in graph.nodes.items() if type(node).__name__ == "LIF"]
    if consumer == "snntorch":
        import snntorch as snn
        from snntorch.import_nir import import_from_nir

        module = import_from_nir(graph)
        by_name = dict(module.named_modules())
        lifs = [by_name[name] for name in lif_names]
        if not all(isinstance(m, snn.Leaky) for m in lifs):
            raise RuntimeError("snnTorch did not map the LIF nodes to Leaky")

        def reset() -> None:
            for m in lifs:  # init_hidden=True: snnTorch keeps the membranes in the modules
                m.reset_mem()

        return module, lifs, reset
    if consumer == "norse":
        from norse.torch import from_nir

        dt = float(_meta(graph, "dt", DEFAULT_DT))
        module = from_nir(graph, dt=dt)
        by_name = dict(module.named_modules())
        return module, [by_name[name] for name in lif_names], None
    raise ValueError(f"consumer must be one of {CONSUMERS}, got {consumer!r}")


class ConsumerController:
    """A graph loaded by a consumer's own importer, used like an SB3 model (``predict``).

    Closed-loop evaluation helpers (e.g. :func:`sb3_spiking.tasks.lunar_lander.evaluation.evaluate_landing`
    with ``observation="actor"``) can fly it; the consumer's state is reset at ``episode_start``.

    :param graph: a ``nir.NIRGraph`` shaped for ``consumer`` (``to_nir(actor, consumer=...)``).
    :param consumer: ``"snntorch"`` or ``"norse"``.
    :param low: action lower bounds (``None``: the output stays in [-1, 1]), as SB3's ``unscale_action``;
        pass the action space's bounds even when they are [-1, 1] to compare with ``predict`` to the last
        bit (SB3 unscales anyway, which rounds; closed-loop tasks like LunarLander amplify that).
    :param high: action upper bounds.
    :param record_spikes: keep every step's spikes per LIF layer in :attr:`spikes`.
    """

    def __init__(self, graph: Any, consumer: str, low: np.ndarray | None = None, high: np.ndarray | None = None,
                 record_spikes: bool = False):
        self.module, self._lifs, self._reset = _load(graph, consumer)
        self.low, self.high = low, high
        self.spikes: list[list[np.ndarray]] = [[] for _ in self._lifs]
        self._state: Any = None
        self._handles = [m.register_forward_hook(self._hook(i)) for i, m in enumerate(self._lifs)] if record_spikes else []
        self.reset()

    def _hook(self, i: int):
        def fn(_module: Any, _inputs: Any, output: Any) -> None:
            spikes = output[0] if isinstance(output, tuple) else output  # Norse: (z, state)
            self.spikes[i].append(spikes.detach().reshape(-1).numpy().copy())
        return fn

    def reset(self) -> None:
        """Back to the zero state (start of an episode)."""
        self._state = None
        if self._reset is not None:
            self._reset()

    def _forward(self, x: np.ndarray) -> np.ndarray:
        """``(B, n_in)`` observations -> ``(B, n_out)`` actions (one step of every row)."""
        with th.no_grad():
            out = self.module(th.as_tensor(np.asarray(x, np.float32)), self._state)
        out, self._state = out if isinstance(out, tuple) else (out, None)
        a = th.tanh(out).numpy().astype(np.float32)
        if self.low is not None and self.high is not None:
            a = self.low + 0.5 * (a + 1.0) * (self.high - self.low)
        return a

    def step(self, observation: np.ndarray) -> np.ndarray:
        """One control step: ``(n_in,)`` observation -> ``(n_out,)`` action."""
        return self._forward(np.asarray(observation, np.float32).reshape(1, -1))[0]

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = True) -> tuple[np.ndarray, Any]:
        """SB3's recurrent ``predict`` on a batch of environments that start their episodes together
        (the evaluation rollouts): observations ``(B, n_in)`` (or a dict with ``"actor"``) ->
        ``(B, n_out)`` actions. Returns ``(actions, True)``: the consumer keeps its own state, the second
        value only tells the caller that a state exists.

        :raises NotImplementedError: when only some rows start a new episode (the consumers' state
            cannot be reset row by row here).
        """
        obs = observation["actor"] if isinstance(observation, dict) else observation
        obs = np.asarray(obs, np.float32)
        obs = obs.reshape(1, -1) if obs.ndim == 1 else obs
        starts = np.ones(len(obs), bool) if episode_start is None else np.asarray(episode_start, bool).reshape(-1)
        if state is None or starts.all():
            self.reset()
        elif starts.any():
            raise NotImplementedError("the consumer's state cannot be reset for some rows only")
        return self._forward(obs), True

    def close(self) -> None:
        """Remove the spike hooks."""
        for h in self._handles:
            h.remove()
        self._handles = []


def run_consumer(graph: Any, consumer: str, observations: np.ndarray,
                 episode_starts: np.ndarray | None = None) -> ConsumerRun:
    """Load ``graph`` with ``consumer``'s own importer and step it through ``observations``.

    :param graph: a ``nir.NIRGraph`` (e.g. ``to_nir(actor, consumer=consumer)``).
    :param consumer: ``"snntorch"`` or ``"norse"``.
    :param observations: ``(T, n_in)``, one per control step.
    :param episode_starts: ``(T,)`` flags; the consumer's state is reset before steps where set.
    """
    ctrl = ConsumerController(graph, consumer, record_spikes=True)
    starts = np.zeros(len(observations), bool) if episode_starts is None else np.asarray(episode_starts, bool).reshape(-1)
    try:
        actions = []
        for t, obs in enumerate(np.asarray(observations, np.float32)):
            if starts[t] and t > 0:
                ctrl.reset()
            actions.append(ctrl.step(obs))
    finally:
        ctrl.close()
    return ConsumerRun(actions=np.stack(actions), spikes=[np.stack(r) for r in ctrl.spikes])


def compare_with_torch(actor: Any, run: ConsumerRun, observations: np.ndarray,
                       episode_starts: np.ndarray | None = None) -> dict[str, float]:
    """Spike agreement (fraction of equal (step, neuron) pairs over all LIF layers) and the largest
    action difference (in [-1, 1], before any action bounds) between ``run`` and our network."""
    net, _, _ = resolve_actor(actor)
    obs = th.as_tensor(np.asarray(observations, np.float32))
    starts = np.zeros(len(obs), bool) if episode_starts is None else np.asarray(episode_starts, bool).reshape(-1)
    state = net.initial_state(1)
    actions, spikes = [], [[] for _ in net.lifs]
    with th.no_grad():
        for t in range(len(obs)):
            if starts[t]:
                state = net.initial_state(1)
            out, state, spk = net(obs[t].view(1, 1, -1), state, return_spikes=True)
            actions.append(out.reshape(-1).numpy())
            for i, s in enumerate(spk):
                spikes[i].append(s.reshape(-1).numpy())
    ours = [np.stack(s) for s in spikes]
    equal = sum(int((a == b).sum()) for a, b in zip(ours, run.spikes))
    total = sum(a.size for a in ours)
    return {
        "spike_agreement": equal / total,
        "max_action_diff": float(np.abs(np.stack(actions) - run.actions).max()),
        "spike_rate": float(sum(a.sum() for a in ours) / total),
    }


__all__ = ["ConsumerController", "ConsumerRun", "compare_with_torch", "run_consumer"]
