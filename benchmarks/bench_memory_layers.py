"""Per-update time of each hidden-layer type, beside today's LIF and beside snnTorch on the same work.

The work: the drone actor's shape, 18 → layer(256) → layer(128) → 4 (leaky readout), windows of
100 steps (the first 50 without a graph, as GuidedTD3's burn-in), loss on the last 50, backward and
an Adam step; batch 64 (the drone config) and 256. Every configuration is timed interleaved with
the others, ``--repeats`` times; medians and ratios are printed. snnTorch's ``RLeaky`` / ``Synaptic``
networks share the weights and parameters of ours (and their gradients are checked against ours
before timing); snnTorch steps the whole network one time step at a time.

    python -m benchmarks.bench_memory_layers [--batches 64 256] [--repeats 7] [--threads 1] [--no-snntorch]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from torch import nn  # noqa: E402

from sb3_spiking.neurons import SpikingMLP  # noqa: E402

T, WARMUP, IN, OUT, HIDDEN = 100, 50, 18, 4, (256, 128)
CASES = (("lif", False), ("lif", True), ("synaptic", False), ("adaptive", False), ("recurrent", False))


class SnnTorchNet(nn.Module):
    """Our network's weights in snnTorch layers (``RLeaky`` or ``Synaptic``), stepped in time."""

    def __init__(self, ours: SpikingMLP, kind: str):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.kind = kind
        self.fcs = nn.ModuleList(nn.Linear(f.in_features, f.out_features) for f in ours.fcs)
        self.fcs.load_state_dict(ours.fcs.state_dict())
        self.readout = nn.Linear(ours.readout.in_features, ours.readout.out_features)
        self.readout.load_state_dict(ours.readout.state_dict())
        self.readout_beta = nn.Parameter(ours.readout_beta.detach().clone())
        grad = surrogate.fast_sigmoid(slope=float(ours.lifs[0].slope))
        layers = []
        for lif in ours.lifs:
            common = dict(beta=lif.beta.detach().clone(), threshold=lif.threshold.detach().clone(), learn_beta=True,
                          learn_threshold=True, reset_mechanism="subtract", spike_grad=grad)
            if kind == "recurrent":
                layer = snn.RLeaky(**common, all_to_all=True, linear_features=lif.size, learn_recurrent=True)
                layer.recurrent.load_state_dict(lif.recurrent.state_dict())
            else:
                layer = snn.Synaptic(**common, alpha=lif.alpha.detach().clone(), learn_alpha=True)
            layers.append(layer)
        self.lifs = nn.ModuleList(layers)

    def forward(self, x: th.Tensor) -> th.Tensor:
        B = x.shape[1]
        states = [(th.zeros(B, f.out_features), th.zeros(B, f.out_features)) for f in self.fcs]
        m = th.zeros(B, OUT)
        beta = self.readout_beta.clamp(0.0, 1.0)
        outs = []
        for t in range(x.shape[0]):
            if t == WARMUP:  # burn-in: the warm-up steps without a graph
                states = [tuple(v.detach() for v in s) for s in states]
                m = m.detach()
            with th.set_grad_enabled(t >= WARMUP):
                h = x[t]
                for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                    a, b = states[i]
                    if self.kind == "recurrent":
                        spk, mem = lif(fc(h), a, b)
                        states[i] = (spk, mem)
                    else:
                        spk, syn, mem = lif(fc(h), a, b)
                        states[i] = (syn, mem)
                    h = spk
                m = th.addcmul(self.readout(h) * (1.0 - beta), beta, m)
                outs.append(th.tanh(m))
        return th.stack(outs[WARMUP:])


def ours_forward(net: SpikingMLP, x: th.Tensor, cmd: th.Tensor | None) -> th.Tensor:
    with th.no_grad():
        _, state = net(x[:WARMUP], net.initial_state(x.shape[1]), commands=None if cmd is None else cmd[:WARMUP])
    y, _ = net(x[WARMUP:], state, commands=None if cmd is None else cmd[WARMUP:])
    return y


def recurrent_products(batch: int) -> float:
    """Seconds of the recurrent layers' matrix products alone, dense as both implementations do them: ``V·s[t-1]`` at
    every step of both layers, ``Vᵀ·g[t]`` at every trained step, and the weight gradient — a floor for any
    implementation with dense recurrence (the spikes are 0/1 but not sparse enough for a sparse product to win)."""
    gen = th.Generator().manual_seed(0)
    mats = [th.randn(h, h, generator=gen) for h in HIDDEN]
    spikes = [(th.rand(T, batch, h, generator=gen) < 0.2).float() for h in HIDDEN]
    grads = [th.randn(T - WARMUP, batch, h, generator=gen) for h in HIDDEN]
    out = [th.empty(batch, h) for h in HIDDEN]
    t0 = time.perf_counter()
    for v, s, o in zip(mats, spikes, out):
        for t in range(T):
            th.mm(s[t], v.t(), out=o)
    for v, g, o in zip(mats, grads, out):
        for t in range(T - WARMUP):
            th.mm(g[t], v, out=o)
    for s, g in zip(spikes, grads):
        th.mm(g.flatten(0, 1).t(), s[WARMUP:].flatten(0, 1))
    return time.perf_counter() - t0


def timed_update(forward, params, target: th.Tensor) -> float:
    opt = th.optim.Adam(params, lr=1e-4)
    t0 = time.perf_counter()
    loss = (forward() - target).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--no-snntorch", action="store_true")
    args = parser.parse_args(argv)
    th.set_num_threads(args.threads)
    print(f"torch {th.__version__}, {args.threads} thread(s); {IN}→{HIDDEN}→{OUT}, T {T} (burn-in {WARMUP}); "
          f"median of {args.repeats} interleaved updates, ms")
    for batch in args.batches:
        th.manual_seed(0)
        x, cmd, target = th.randn(T, batch, IN), th.rand(T, batch, OUT) * 2 - 1, th.rand(T - WARMUP, batch, OUT) * 2 - 1
        runs: dict[str, tuple] = {}
        for kind, feedback in CASES:
            net = SpikingMLP(IN, OUT, HIDDEN, slope=5.0, readout="leaky", neuron=kind, feedback=feedback)
            name = kind + (" + feedback" if feedback else "")
            c = cmd if feedback else None
            runs[name] = (lambda net=net, c=c, x=x: ours_forward(net, x, c), list(net.parameters()))
            if not args.no_snntorch and kind in ("recurrent", "synaptic") and not feedback:
                ref = SnnTorchNet(net, kind)
                _check_gradients(net, ref, x)
                runs[f"snnTorch {kind}"] = (lambda ref=ref, x=x: ref(x), list(ref.parameters()))
        times: dict[str, list[float]] = {k: [] for k in runs}
        floor: list[float] = []
        for _ in range(args.repeats):
            for k, (fwd, params) in runs.items():
                times[k].append(timed_update(fwd, params, target))
            floor.append(recurrent_products(batch))
        med = {k: 1000 * float(np.median(v)) for k, v in times.items()}
        print(f"\nbatch {batch}")
        print("| layer | ms / update | × LIF | snnTorch / ours |")
        print("|---|---|---|---|")
        for k, v in med.items():
            if k.startswith("snnTorch"):
                continue
            ref = med.get(f"snnTorch {k}")
            print(f"| {k} | {v:.1f} | {v / med['lif']:.2f} | {'' if ref is None else f'{ref / v:.2f} ({ref:.1f} ms)'} |")
        products = 1000 * float(np.median(floor))
        print(f"recurrent layers' matrix products alone (dense, both layers): {products:.1f} ms; LIF + them: "
              f"{med['lif'] + products:.1f} ms"
              + (f", snnTorch RLeaky / (LIF + them) = {med['snnTorch recurrent'] / (med['lif'] + products):.2f}"
                 if "snnTorch recurrent" in med else ""))


def _check_gradients(ours: SpikingMLP, ref: SnnTorchNet, x: th.Tensor) -> None:
    """Same loss, same gradients of the first layer's weights (a silent mismatch would void the timing)."""
    y_ours = ours_forward(ours, x, None)
    y_ref = ref(x)
    if not th.allclose(y_ours, y_ref, atol=1e-5):
        raise AssertionError(f"snnTorch {ref.kind}: outputs differ by {(y_ours - y_ref).abs().max():.2e}")
    g1 = th.autograd.grad(y_ours.square().mean(), ours.fcs[0].weight)[0]
    g2 = th.autograd.grad(y_ref.square().mean(), ref.fcs[0].weight)[0]
    if not th.allclose(g1, g2, rtol=1e-3, atol=1e-6):
        raise AssertionError(f"snnTorch {ref.kind}: gradients differ by {(g1 - g2).abs().max():.2e}")


if __name__ == "__main__":
    main()
