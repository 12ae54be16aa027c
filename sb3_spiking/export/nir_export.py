"""NIR export / import of a spiking actor (optional extra ``nir``: ``pip install nir``).

`NIR <https://neuroir.org>`_ is the exchange format of neuromorphic toolchains (Lava/Loihi,
SpiNNaker, Xylo, snnTorch, Norse, …). The actor becomes the graph::

    input -> fc0 (Affine) -> lif0 (LIF) -> fc1 (Affine) -> lif1 (LIF) -> ... -> readout (Affine) -> output

Mapping of our discrete LIF ``U[t] = β·U[t-1] + I[t] − H(U[t-1] − θ)·θ`` onto NIR's continuous
``τ·dv/dt = (v_leak − v) + R·I`` with forward-Euler step ``dt`` (snnTorch's convention):
``τ = dt / (1 − β)``, ``R = τ / dt``, ``v_leak = 0``, ``v_threshold = θ``, ``v_reset = 0``.
Two things NIR's LIF cannot say are kept in metadata, so nothing is lost on a round trip:

* the *subtractive* reset (NIR's LIF resets to ``v_reset``): node metadata ``reset = "subtract"``
  and the exact clamped ``beta`` (float32, so ``τ`` needs no float round trip);
* the ``tanh`` on the readout (NIR has no tanh node): graph metadata ``output_activation = "tanh"``.

A toolchain that ignores metadata runs a reset-to-zero LIF without the tanh: close to, but not
exactly, our actor. The surrogate slope is training-only (NIR has no surrogate field); it is kept
in the graph metadata for reference.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch as th

from sb3_spiking.export._resolve import resolve_actor
from sb3_spiking.neurons import SpikingMLP

#: default Euler step of the NIR mapping (snnTorch's ``export_to_nir`` default)
DEFAULT_DT = 1e-4


def _require_nir() -> Any:
    try:
        import nir
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError("NIR export needs the optional extra: pip install 'sb3_spiking[nir]'") from exc
    return nir


def to_nir(actor: Any, dt: float = DEFAULT_DT) -> Any:
    """Build a ``nir.NIRGraph`` of the actor.

    :param actor: a :class:`~sb3_spiking.neurons.SpikingMLP`, ``SpikingActor``, ``SpikingPolicy``
        or ``GuidedTD3`` model. (Action bounds are not part of the graph: the output is in [-1, 1].)
    :param dt: time step of the continuous-time LIF parametrisation.
    """
    nir = _require_nir()
    if not dt > 0:
        raise ValueError(f"dt must be > 0, got {dt}")
    net, _, _ = resolve_actor(actor)

    def arr(t: th.Tensor) -> np.ndarray:
        return t.detach().cpu().float().numpy().copy()

    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array([net.fcs[0].in_features])})}
    order = ["input"]
    for i, (fc, lif) in enumerate(zip(net.fcs, net.lifs)):
        beta = arr(lif.beta.clamp(0.0, 1.0))
        # β = 1 (no leak) is τ = ∞: NIR's float arrays hold inf fine
        with np.errstate(divide="ignore"):
            tau = (dt / (1.0 - beta.astype(np.float64))).astype(np.float32)
        nodes[f"fc{i}"] = nir.Affine(weight=arr(fc.weight), bias=arr(fc.bias))
        nodes[f"lif{i}"] = nir.LIF(
            tau=tau,
            r=(tau / np.float32(dt)).astype(np.float32),
            v_leak=np.zeros_like(beta),
            v_threshold=arr(lif.threshold),
            v_reset=np.zeros_like(beta),
            metadata={"reset": "subtract", "beta": beta, "dt": float(dt)},
        )
        order += [f"fc{i}", f"lif{i}"]
    nodes["readout"] = nir.Affine(weight=arr(net.readout.weight), bias=arr(net.readout.bias))
    order.append("readout")
    if net.readout_kind == "leaky":
        # M[t] = β·M[t-1] + (1 − β)·y[t] is NIR's LI (τ dv/dt = v_leak − v + R·I) under Euler with
        # dt/τ = 1 − β, R = 1 and v_leak = 0
        beta = arr(net.readout_beta.clamp(0.0, 1.0))
        with np.errstate(divide="ignore"):
            tau = (dt / (1.0 - beta.astype(np.float64))).astype(np.float32)
        nodes["readout_li"] = nir.LI(tau=tau, r=np.ones_like(beta), v_leak=np.zeros_like(beta),
                                     metadata={"beta": beta, "dt": float(dt)})
        order.append("readout_li")
    nodes["output"] = nir.Output(output_type={"output": np.array([net.readout.out_features])})
    order.append("output")
    edges = list(zip(order[:-1], order[1:]))
    metadata = {
        "producer": "sb3_spiking",
        "output_activation": "tanh",
        "surrogate_slope": float(net.slope),
        "dt": float(dt),
    }
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=metadata)


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


def from_nir(graph: Any, dt: float | None = None) -> SpikingMLP:
    """Rebuild a :class:`~sb3_spiking.neurons.SpikingMLP` from a graph written by :func:`to_nir`.

    Also accepts graphs from other tools with the same chain structure
    (``Affine -> LIF -> … -> Affine``, optionally followed by an ``LI`` readout): without our metadata,
    ``β = 1 − dt/τ`` (``dt`` from the graph metadata or the argument, default :data:`DEFAULT_DT`) and
    ``R`` must equal ``τ/dt``.

    :raises ValueError: for graphs that are not such a chain or whose LIFs have ``v_leak ≠ 0``.
    """
    nir = _require_nir()
    succ = dict(graph.edges)
    if len(succ) != len(graph.edges):
        raise ValueError("only chain graphs (one successor per node) are supported")
    inputs = [k for k, n in graph.nodes.items() if isinstance(n, nir.Input)]
    if len(inputs) != 1:
        raise ValueError("the graph must have exactly one Input node")
    chain, name = [], succ.get(inputs[0])
    while name is not None and not isinstance(graph.nodes[name], nir.Output):
        chain.append(graph.nodes[name])
        name = succ.get(name)
    li = chain.pop() if chain and type(chain[-1]).__name__ == "LI" else None  # leaky-integrator readout
    kinds = [type(n).__name__ for n in chain]
    if len(chain) < 3 or len(chain) % 2 == 0 or kinds[-1] != "Affine" or any(
        kinds[i] != ("Affine" if i % 2 == 0 else "LIF") for i in range(len(chain))
    ):
        raise ValueError(f"expected Affine -> LIF -> ... -> Affine, got {' -> '.join(kinds)}")
    graph_dt = _meta(graph, "dt")
    dt_default = float(dt if dt is not None else (graph_dt if graph_dt is not None else DEFAULT_DT))
    affines, lifs = chain[0::2], chain[1::2]
    hidden = [a.weight.shape[0] for a in affines[:-1]]
    net = SpikingMLP(affines[0].weight.shape[1], affines[-1].weight.shape[0], hidden, readout="linear" if li is None else "leaky")
    slope = _meta(graph, "surrogate_slope")
    if slope is not None:
        net.set_slope(float(slope))
    with th.no_grad():
        for fc, a in zip([*net.fcs, net.readout], affines):
            fc.weight.copy_(th.as_tensor(np.asarray(a.weight, np.float32)))
            fc.bias.copy_(th.as_tensor(np.asarray(a.bias, np.float32)))
        for lif, node in zip(net.lifs, lifs):
            if np.any(np.asarray(node.v_leak) != 0):
                raise ValueError("LIF nodes with v_leak != 0 have no equivalent here")
            beta = _meta(node, "beta")
            if beta is None:
                node_dt = float(_meta(node, "dt", dt_default))
                tau = np.asarray(node.tau, np.float64)
                if not np.allclose(np.asarray(node.r, np.float64), tau / node_dt, rtol=1e-5):
                    raise ValueError("LIF nodes need r = tau/dt (unit input gain)")
                beta = 1.0 - node_dt / tau
            lif.beta.copy_(th.as_tensor(np.asarray(beta, np.float32)))
            lif.threshold.copy_(th.as_tensor(np.asarray(node.v_threshold, np.float32)))
        if li is not None:
            if np.any(np.asarray(li.v_leak) != 0) or not np.allclose(np.asarray(li.r, np.float64), 1.0):
                raise ValueError("an LI readout needs v_leak = 0 and r = 1 (unit DC gain)")
            beta = _meta(li, "beta")
            if beta is None:
                beta = 1.0 - float(_meta(li, "dt", dt_default)) / np.asarray(li.tau, np.float64)
            net.readout_beta.copy_(th.as_tensor(np.asarray(beta, np.float32)))
    return net


def export_nir(actor: Any, path: str | os.PathLike[str], dt: float = DEFAULT_DT) -> Any:
    """Write the actor's NIR graph to an HDF5 file (``nir.write``) and return the graph."""
    nir = _require_nir()
    graph = to_nir(actor, dt)
    nir.write(str(path), graph)
    return graph


def load_nir(path: str | os.PathLike[str]) -> SpikingMLP:
    """Read a NIR file written by :func:`export_nir` back into a :class:`SpikingMLP`."""
    nir = _require_nir()
    return from_nir(nir.read(str(path)))


__all__ = ["DEFAULT_DT", "export_nir", "from_nir", "load_nir", "to_nir"]
