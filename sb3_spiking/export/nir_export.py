"""NIR export / import of a spiking actor (optional extra ``nir``: ``pip install 'sb3_spiking[nir]'``).

`NIR <https://neuroir.org>`_ is the exchange format of neuromorphic toolchains (Lava/Loihi,
SpiNNaker, Xylo, snnTorch, Norse, …). The actor becomes the chain::

    input -> fc0 (Affine) -> lif0 (LIF) -> fc1 (Affine) -> lif1 (LIF) -> ... -> readout (Affine) -> output

NIR's LIF is continuous: ``τ·dv/dt = (v_leak − v) + R·I``, spike when ``v > v_threshold``, then
``v = v_reset``. Its forward-Euler step with ``dt`` is ``v ← (1 − dt/τ)·v + (dt/τ)·R·I``. With
``β = 1 − dt/τ``, ``R = τ/dt`` (unit input gain), ``v_leak = v_reset = 0`` and ``v_threshold = θ`` it
is exactly our LIF with ``reset="zero"`` (:class:`~sb3_spiking.neurons.LIF`): an actor trained with
``policy_kwargs=dict(lif_reset="zero")`` exports to a graph that *means*, in plain NIR, what the actor
computes. That mode also keeps ``β ≤ 0.999`` (finite ``τ ≤ 1000·dt``) and ``θ ≥ 0.01`` (positive).

NIR has no node for the ``tanh`` of the output: the graph's output is the readout's pre-activation,
and the graph metadata says ``output_activation = "tanh"`` (apply it, then the action bounds).
``dt`` (default 1e-4, snnTorch's importer hard-codes it) is in the graph and node metadata; a
consumer has to step with that ``dt`` (Norse: ``from_nir(graph, dt=1e-4)``).

Consumers implement subsets of NIR, so :func:`to_nir` takes ``consumer=`` and writes an *equivalent*
graph (the same network in exact arithmetic; float32 rounding differs) that the named reader runs:

================  ========================================================================
``None``          the direct mapping above (per-neuron θ, ``R = τ/dt``); our own import is
                  bit-exact
``"snntorch"``    snnTorch 1.0 ``import_from_nir``: needs one ``v_threshold`` per layer and
                  ``R·dt/τ = 1`` with ``dt = 1e-4``: each neuron's membrane is scaled by
                  ``1/θ`` (its Affine row divided by θ, threshold 1) — exact for reset to zero
``"norse"``       Norse 1.1 ``from_nir``: ignores ``R`` (takes 1): the unit gain moves into
                  the Affine row (divided by ``1 − β``), ``R = 1``
================  ========================================================================

Where a consumer cannot express a layer, :func:`to_nir` raises :class:`NIRConsumerError` naming the
layer and the consumer: the subtractive reset (``lif_reset="subtract"``, the paper's) exists in no
consumer's LIF, and neither importer has an ``LI`` node (the leaky readout).

Memory layers (:mod:`sb3_spiking.memory_neurons`): ``"synaptic"`` is a ``CubaLIF`` node (``α = 1 − dt/τ_syn``,
``w_in = τ_syn/dt``, ``β = 1 − dt/τ_mem``, ``R = τ_mem/dt``), ``"recurrent"`` a ``LIF`` node with an ``Affine``
node ``rec<i>`` (``V``, ``b``) on a cycle from its output back to its input; both reset by subtraction,
so consumers refuse them (:class:`NIRConsumerError`). NIR has no adaptive threshold and no ``tanh``
(the command the action feedback feeds back): ``"adaptive"`` layers and ``feedback=True`` raise
:class:`NIRExportError` naming ``lif<i>`` / ``feedback``.

Actors with the subtractive reset still export with ``consumer=None``: NIR's LIF cannot state that
reset, so the node metadata says ``reset = "subtract"`` with the exact clamped ``beta``; our own
:func:`from_nir` reads it back bit-exactly, a plain NIR reader runs a different network (a
:class:`UserWarning` says so). The surrogate slope is training-only (graph metadata, for reference).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np
import torch as th

from sb3_spiking.export.resolve import resolve_actor
from sb3_spiking.neurons import SpikingMLP

#: default Euler step of the NIR mapping (snnTorch's ``export_to_nir`` default, hard-coded in its importer)
DEFAULT_DT = 1e-4
#: readers :func:`to_nir` can shape a graph for
CONSUMERS = ("snntorch", "norse")
_CONSUMER_NAMES = {"snntorch": "snnTorch's import_from_nir", "norse": "Norse's from_nir"}


class NIRConsumerError(ValueError):
    """A layer of the actor that the named NIR consumer cannot express.

    :param layer: the graph node (``lif0``, ``readout_li``, …).
    :param consumer: the consumer (one of :data:`CONSUMERS`).
    :param reason: what it cannot express, and what to do instead.
    """

    def __init__(self, layer: str, consumer: str, reason: str):
        self.layer, self.consumer = layer, consumer
        super().__init__(f"layer {layer!r}: {_CONSUMER_NAMES.get(consumer, consumer)} cannot run it: {reason}")


class NIRExportError(ValueError):
    """A part of the actor that NIR itself has no primitive for (whatever the consumer).

    :param part: the layer's graph node name (``lif1``) or ``feedback``.
    :param reason: what NIR lacks, and what to do instead.
    """

    def __init__(self, part: str, reason: str):
        self.part = part
        super().__init__(f"{part!r}: NIR cannot express it: {reason}")


def _layer_kinds(net: SpikingMLP) -> list[str]:
    """Neuron type per hidden layer, refusing what NIR cannot state (:class:`NIRExportError`)."""
    from sb3_spiking.memory_neurons import AdaptiveLIF, RecurrentLIF, SynapticLIF
    from sb3_spiking.neurons import LIF

    known = {LIF: "lif", RecurrentLIF: "recurrent", SynapticLIF: "synaptic"}
    kinds = []
    for i, layer in enumerate(net.lifs):
        if type(layer) is AdaptiveLIF:
            raise NIRExportError(
                f"lif{i}", f"layer lif{i} is an adaptive LIF (neuron='adaptive'): NIR has no adaptive-threshold neuron "
                "(its LIF and CubaLIF have a fixed v_threshold); export it to C instead (export_c)")
        if type(layer) not in known:
            raise NIRExportError(f"lif{i}", f"layer lif{i} of type {type(layer).__name__} has no NIR mapping here")
        kinds.append(known[type(layer)])
    if net.feedback is not None:
        raise NIRExportError(
            "feedback", "the action feedback (feedback=True) feeds back the command tanh(readout), and NIR has no "
            "tanh node (its traces alone would be LI nodes); export it to C instead (export_c)")
    return kinds


def _require_nir() -> Any:
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("NIR export needs the optional extra: pip install 'sb3_spiking[nir]'") from exc
    return nir


def _tau(beta: np.ndarray, dt: float) -> np.ndarray:
    # β = 1 (no leak, subtract mode only) is τ = ∞: NIR's float arrays hold inf
    with np.errstate(divide="ignore"):
        return (dt / (1.0 - beta.astype(np.float64))).astype(np.float32)


def to_nir(actor: Any, dt: float = DEFAULT_DT, consumer: str | None = None) -> Any:
    """Build a ``nir.NIRGraph`` of the actor.

    :param actor: a :class:`~sb3_spiking.neurons.SpikingMLP`, ``SpikingActor``, ``SpikingPolicy``
        or ``GuidedTD3`` model. (Action bounds are not part of the graph: ``tanh`` of the output is
        in [-1, 1].)
    :param dt: time step of the continuous-time parametrisation.
    :param consumer: ``None`` (the direct mapping), ``"snntorch"`` or ``"norse"``: an equivalent
        graph shaped for that reader (module docstring).
    :raises NIRConsumerError: when ``consumer`` cannot express a layer of the actor.
    """
    nir = _require_nir()
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    if consumer is not None and consumer not in CONSUMERS:
        raise ValueError(f"consumer must be None or one of {CONSUMERS}, got {consumer!r}")
    net, _, _ = resolve_actor(actor)
    kinds = _layer_kinds(net)
    _check_consumer(net, consumer, dt)

    def arr(t: th.Tensor) -> np.ndarray:
        return t.detach().cpu().float().numpy().copy()

    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([net.fcs[0].in_features])})}
    order = ["input"]
    recurrent_edges: list[tuple[str, str]] = []
    subtract = []
    for i, (fc, lif, kind) in enumerate(zip(net.fcs, net.lifs, kinds)):
        mode = getattr(lif, "reset", "subtract")  # the memory layers reset by subtraction only
        if mode == "subtract":
            beta, theta = arr(lif.beta.clamp(0.0, 1.0)), arr(lif.threshold)
            subtract.append(f"lif{i}" if kind == "lif" else f"lif{i} ({kind})")
        else:
            beta, theta = arr(lif.effective_beta()), arr(lif.effective_threshold())
        w, b = arr(fc.weight), arr(fc.bias)
        tau = _tau(beta, dt)
        r = (tau / np.float32(dt)).astype(np.float32)  # unit input gain
        if consumer == "snntorch":  # v' = v/θ: threshold 1, the same spikes (reset to zero, v_leak = 0)
            scale = 1.0 / theta.astype(np.float64)
            theta = np.ones_like(theta)
        elif consumer == "norse":  # R = 1: the gain 1/(1 − β) = τ/dt moves into the Affine row
            scale = tau.astype(np.float64) / dt
            r = np.ones_like(beta)
        else:
            scale = None
        if scale is not None:
            w = (w.astype(np.float64) * scale[:, None]).astype(np.float32)
            b = (b.astype(np.float64) * scale).astype(np.float32)
        nodes[f"fc{i}"] = nir.Affine(weight=w, bias=b)
        meta = {"reset": mode, "beta": beta, "dt": float(dt), "form": consumer or "direct", "neuron": kind}
        if kind == "synaptic":
            # J ← α·J + I and U ← β·U + J are CubaLIF's Euler steps, τ_syn·dI/dt = −I + w_in·S and
            # τ_mem·dv/dt = −v + R·I, with α = 1 − dt/τ_syn, w_in = τ_syn/dt, β = 1 − dt/τ_mem, R = τ_mem/dt
            # (unit gains; the membrane reads the updated current, as the layer and snnTorch's Synaptic do)
            alpha = arr(lif.alpha.clamp(0.0, 1.0))
            tau_syn = _tau(alpha, dt)
            nodes[f"lif{i}"] = nir.CubaLIF(
                tau_syn=tau_syn, tau_mem=tau, r=r, v_leak=np.zeros_like(beta), v_threshold=theta,
                v_reset=np.zeros_like(beta), w_in=(tau_syn / np.float32(dt)).astype(np.float32),
                metadata={**meta, "alpha": alpha},
            )
        else:
            nodes[f"lif{i}"] = nir.LIF(
                tau=tau, r=r, v_leak=np.zeros_like(beta), v_threshold=theta, v_reset=np.zeros_like(beta),
                metadata=meta,
            )
        if kind == "recurrent":
            # V·s[t-1] + b: an Affine edge from the layer's spikes back to its own input (a cycle: the
            # simulator feeds it the previous step's spikes), summed with fc{i}'s current
            nodes[f"rec{i}"] = nir.Affine(weight=arr(lif.recurrent.weight), bias=arr(lif.recurrent.bias))
            recurrent_edges += [(f"lif{i}", f"rec{i}"), (f"rec{i}", f"lif{i}")]
        order += [f"fc{i}", f"lif{i}"]
    nodes["readout"] = nir.Affine(weight=arr(net.readout.weight), bias=arr(net.readout.bias))
    order.append("readout")
    if net.readout_kind == "leaky":
        # M[t] = β·M[t-1] + (1 − β)·y[t] is NIR's LI (τ dv/dt = v_leak − v + R·I) under Euler with
        # dt/τ = 1 − β, R = 1 and v_leak = 0
        beta = arr(net.readout_beta.clamp(0.0, 1.0))
        nodes["readout_li"] = nir.LI(tau=_tau(beta, dt), r=np.ones_like(beta), v_leak=np.zeros_like(beta),
                                     metadata={"beta": beta, "dt": float(dt)})
        order.append("readout_li")
    nodes["output"] = nir.Output(output_type={"output": np.array([net.readout.out_features])})
    order.append("output")
    edges = list(zip(order[:-1], order[1:])) + recurrent_edges
    metadata = {
        "producer": "sb3_spiking",
        "output_activation": "tanh",
        "surrogate_slope": float(net.slope),
        "dt": float(dt),
        "form": consumer or "direct",
    }
    if subtract:
        warnings.warn(
            f"{', '.join(subtract)} use the subtractive reset, which NIR's LIF / CubaLIF cannot state: the graph keeps "
            "it in metadata (reset='subtract'), so only sb3_spiking's own from_nir runs it as trained; for a graph that "
            "NIR consumers run identically, train LIF layers with lif_reset='zero' (the memory layers have no such mode)",
            stacklevel=2,
        )
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


def _check_consumer(net: SpikingMLP, consumer: str | None, dt: float) -> None:
    """Raise :class:`NIRConsumerError` for the first layer ``consumer`` cannot run."""
    if consumer is None:
        return
    kinds = getattr(net, "neuron_types", None) or ("lif",) * len(net.lifs)  # actors saved before the option
    for i, (lif, kind) in enumerate(zip(net.lifs, kinds)):
        if kind != "lif":
            node = "CubaLIF" if kind == "synaptic" else "LIF"
            raise NIRConsumerError(
                f"lif{i}", consumer,
                f"the {kind} layer (neuron={kind!r}) resets by subtraction, which NIR's {node} (reset to v_reset) "
                "cannot state, and memory layers have no reset-to-zero mode; only sb3_spiking's own from_nir runs "
                "its graph (consumer=None), or export it to C (export_c)",
            )
        if getattr(lif, "reset", "subtract") != "zero":
            raise NIRConsumerError(
                f"lif{i}", consumer,
                "the layer uses the delayed subtractive reset, which NIR's LIF (reset to v_reset) cannot state; "
                "train the actor with policy_kwargs=dict(lif_reset='zero') (or SpikingMLP(..., lif_reset='zero'))",
            )
    if net.readout_kind == "leaky":
        raise NIRConsumerError(
            "readout_li", consumer,
            "the leaky-integrator readout is NIR's LI node, which this importer does not map; use readout='linear'",
        )
    if consumer == "snntorch" and not np.isclose(dt, 1e-4, rtol=0, atol=1e-12):
        raise NIRConsumerError("lif0", consumer, f"the importer hard-codes dt = 1e-4 (got dt = {dt})")


def _meta(node: Any, key: str, default: Any = None) -> Any:
    value = (getattr(node, "metadata", None) or {}).get(key, default)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.dtype.kind in "SO" and value.ndim == 0:
        return _meta_scalar(value)
    return value


def _meta_scalar(value: np.ndarray) -> Any:
    item = value.item()
    return item.decode() if isinstance(item, bytes) else item


def _recurrent_edges(graph: Any, nir: Any) -> dict[str, str]:
    """``{neuron node: Affine node}`` for the recurrent edges ``lif → rec → lif`` (an Affine whose only
    input and only output is the same LIF node)."""
    found = {}
    for name, node in graph.nodes.items():
        if not isinstance(node, nir.Affine):
            continue
        sources = [a for a, b in graph.edges if b == name]
        targets = [b for a, b in graph.edges if a == name]
        if len(sources) == 1 and targets == sources and isinstance(graph.nodes[sources[0]], nir.LIF):
            found[sources[0]] = name
    return found


def from_nir(graph: Any, dt: float | None = None) -> SpikingMLP:
    """Rebuild a :class:`~sb3_spiking.neurons.SpikingMLP` from a graph written by :func:`to_nir`.

    Also accepts graphs from other tools with the same chain structure
    (``Affine -> LIF|CubaLIF -> … -> Affine``, optionally followed by an ``LI`` readout; a LIF may have a
    recurrent ``Affine`` edge back to itself), read with plain NIR semantics: reset to zero
    (``lif_reset="zero"``), ``β = 1 − dt/τ`` (``dt`` from the graph metadata or the argument, default
    :data:`DEFAULT_DT`) and the input gain ``R·dt/τ`` folded into the Affine rows. Graphs of ours with
    ``reset = "subtract"`` metadata come back with the subtractive reset. A LIF with a recurrent edge
    becomes a ``"recurrent"`` layer, a ``CubaLIF`` a ``"synaptic"`` one; both reset by subtraction
    only, so they need our ``reset = "subtract"`` metadata.

    :raises ValueError: for graphs that are not such a chain, whose neurons have ``v_leak ≠ 0`` or
        ``v_reset ≠ 0``, that mix LIF resets, or whose memory layers reset to zero.
    """
    nir = _require_nir()
    recurrent = _recurrent_edges(graph, nir)
    loops = {(a, b) for a, r in recurrent.items() for (a, b) in ((a, r), (r, a))}
    chain_edges = [e for e in graph.edges if tuple(e) not in loops]
    succ = dict(chain_edges)
    if len(succ) != len(chain_edges):
        raise ValueError("only chain graphs (one successor per node, besides recurrent Affine edges) are supported")
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError("the graph must have exactly one Input node")
    chain, names, name = [], [], succ.get(inputs[0])
    while name is not None and not isinstance(graph.nodes[name], nir.Output):
        chain.append(graph.nodes[name])
        names.append(name)
        name = succ.get(name)
    if chain and type(chain[-1]).__name__ == "LI":  # leaky-integrator readout
        li = chain.pop()
        names.pop()
    else:
        li = None
    kinds = [type(n).__name__ for n in chain]
    if len(chain) < 3 or len(chain) % 2 == 0 or kinds[-1] != "Affine" or any(
        kinds[i] != "Affine" if i % 2 == 0 else kinds[i] not in ("LIF", "CubaLIF") for i in range(len(chain))
    ):
        raise ValueError(f"expected Affine -> LIF|CubaLIF -> ... -> Affine, got {' -> '.join(kinds)}")
    graph_dt = _meta(graph, "dt")
    dt_default = float(dt if dt is not None else (graph_dt if graph_dt is not None else DEFAULT_DT))
    affines, lifs, lif_names = chain[0::2], chain[1::2], names[1::2]
    neurons = ["synaptic" if isinstance(n, nir.CubaLIF) else "recurrent" if k in recurrent else "lif"
               for n, k in zip(lifs, lif_names)]
    lif_resets = {str(_meta(node, "reset", "zero")) for node, kind in zip(lifs, neurons) if kind == "lif"}
    if len(lif_resets) > 1:
        raise ValueError(f"LIF layers with different resets ({sorted(lif_resets)}) have no equivalent here")
    for node_name, node, kind in zip(lif_names, lifs, neurons):
        if kind != "lif" and str(_meta(node, "reset", "zero")) != "subtract":
            what = type(node).__name__ + (" with a recurrent edge" if kind == "recurrent" else "")
            raise ValueError(f"node {node_name!r} ({what}) resets to zero; the {kind} layer resets by subtraction only")
    hidden = [a.weight.shape[0] for a in affines[:-1]]
    net = SpikingMLP(affines[0].weight.shape[1], affines[-1].weight.shape[0], hidden,
                     readout="linear" if li is None else "leaky", lif_reset=lif_resets.pop() if lif_resets else "subtract",
                     neuron=neurons)
    slope = _meta(graph, "surrogate_slope")
    if slope is not None:
        net.set_slope(float(slope))
    with th.no_grad():
        for i, (fc, a) in enumerate(zip([*net.fcs, net.readout], affines)):
            w, b = np.asarray(a.weight, np.float32), np.asarray(a.bias, np.float32)
            if i < len(lifs):
                w, b = _fold_gain(lifs[i], w, b, dt_default)
            fc.weight.copy_(th.as_tensor(w))
            fc.bias.copy_(th.as_tensor(b))
        for lif, node, node_name in zip(net.lifs, lifs, lif_names):
            if np.any(np.asarray(node.v_leak) != 0):
                raise ValueError(f"{type(node).__name__} nodes with v_leak != 0 have no equivalent here")
            if np.any(np.asarray(getattr(node, "v_reset", 0.0)) != 0):
                raise ValueError(f"{type(node).__name__} nodes with v_reset != 0 have no equivalent here")
            tau = node.tau_mem if isinstance(node, nir.CubaLIF) else node.tau
            beta = _meta(node, "beta")
            if beta is None:
                beta = 1.0 - float(_meta(node, "dt", dt_default)) / np.asarray(tau, np.float64)
            lif.beta.copy_(th.as_tensor(np.asarray(beta, np.float32)))
            lif.threshold.copy_(th.as_tensor(np.asarray(node.v_threshold, np.float32)))
            if isinstance(node, nir.CubaLIF):
                alpha = _meta(node, "alpha")
                if alpha is None:
                    alpha = 1.0 - float(_meta(node, "dt", dt_default)) / np.asarray(node.tau_syn, np.float64)
                lif.alpha.copy_(th.as_tensor(np.asarray(alpha, np.float32)))
            if node_name in recurrent:
                rec = graph.nodes[recurrent[node_name]]
                w, b = _fold_gain(node, np.asarray(rec.weight, np.float32), np.asarray(rec.bias, np.float32), dt_default)
                lif.recurrent.weight.copy_(th.as_tensor(w))
                lif.recurrent.bias.copy_(th.as_tensor(b))
        if li is not None:
            if np.any(np.asarray(li.v_leak) != 0) or not np.allclose(np.asarray(li.r, np.float64), 1.0):
                raise ValueError("an LI readout needs v_leak = 0 and r = 1 (unit DC gain)")
            beta = _meta(li, "beta")
            if beta is None:
                beta = 1.0 - float(_meta(li, "dt", dt_default)) / np.asarray(li.tau, np.float64)
            net.readout_beta.copy_(th.as_tensor(np.asarray(beta, np.float32)))
    return net


def _fold_gain(node: Any, w: np.ndarray, b: np.ndarray, dt_default: float) -> tuple[np.ndarray, np.ndarray]:
    """Fold the LIF's input gain ``R·dt/τ`` into the preceding Affine (ours has unit gain); left
    untouched when the gain is 1, so that our own graphs round-trip bit-exactly."""
    node_dt = float(_meta(node, "dt", dt_default))
    cuba = type(node).__name__ == "CubaLIF"
    tau, r = np.asarray(node.tau_mem if cuba else node.tau, np.float64), np.asarray(node.r, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = r * node_dt / tau
    gain = np.where(np.isinf(tau) & np.isinf(r), 1.0, gain)  # τ = R = ∞ (β = 1): R = τ/dt, unit gain
    if cuba:  # and the synapse's w_in·dt/τ_syn
        tau_syn, w_in = np.asarray(node.tau_syn, np.float64), np.asarray(node.w_in, np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            syn_gain = w_in * node_dt / tau_syn
        gain = gain * np.where(np.isinf(tau_syn) & np.isinf(w_in), 1.0, syn_gain)
    if np.allclose(gain, 1.0, rtol=1e-5, atol=0):
        return w, b
    return (w * gain[:, None]).astype(np.float32), (b * gain).astype(np.float32)


def export_nir(actor: Any, path: str | os.PathLike[str], dt: float = DEFAULT_DT, consumer: str | None = None) -> Any:
    """Write the actor's NIR graph (:func:`to_nir`) to an HDF5 file (``nir.write``) and return it."""
    nir = _require_nir()
    graph = to_nir(actor, dt, consumer)
    nir.write(str(path), graph)
    return graph


def load_nir(path: str | os.PathLike[str]) -> SpikingMLP:
    """Read a NIR file written by :func:`export_nir` back into a :class:`SpikingMLP`."""
    nir = _require_nir()
    return from_nir(nir.read(str(path)))


__all__ = ["CONSUMERS", "DEFAULT_DT", "NIRConsumerError", "NIRExportError", "export_nir", "from_nir", "load_nir", "to_nir"]
