"""Actor sequence update: sb3_spiking's spiking network vs the same network built from snnTorch.

Batch of 256 windows × 100 steps, 18 → LIF(256) → LIF(128) → 4 (tanh readout), loss on steps
50–99 (MSE to fixed targets), Adam step. Both networks share weights, β, θ and slope; the script
first checks that their gradients agree, then times both, interleaved, and prints medians and the
ratio. "ours + burn-in" runs the 50 warm-up steps without a graph (what GuidedTD3 does by default),
which changes the gradient (truncated at the warm-up), so it is timed but not gradient-checked.

    python -m benchmarks.bench_actor_update [--batch 256] [--repeats 7] [--threads 1]
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


class SnnTorchActor(nn.Module):
    """The same actor from snnTorch ``Leaky`` layers (the authors' building block)."""

    def __init__(self, ours: SpikingMLP):
        super().__init__()
        import snntorch as snn
        from snntorch import surrogate

        self.fcs = nn.ModuleList(nn.Linear(f.in_features, f.out_features) for f in ours.fcs)
        self.readout = nn.Linear(ours.readout.in_features, ours.readout.out_features)
        self.lifs = nn.ModuleList(
            snn.Leaky(beta=l.beta.detach().clone(), threshold=l.threshold.detach().clone(), learn_beta=True,
                      learn_threshold=True, reset_mechanism="subtract", spike_grad=surrogate.fast_sigmoid(slope=float(l.slope)))
            for l in ours.lifs
        )
        self.fcs.load_state_dict(ours.fcs.state_dict())
        self.readout.load_state_dict(ours.readout.state_dict())

    def forward(self, x: th.Tensor) -> th.Tensor:  # x: (T, B, D)
        mems = [th.zeros(x.shape[1], f.out_features) for f in self.fcs]
        outs = []
        for xt in x.unbind(0):
            h = xt
            for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                h, mems[i] = lif(fc(h), mems[i])
            outs.append(th.tanh(self.readout(h)))
        return th.stack(outs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    th.manual_seed(0)
    ours = SpikingMLP(18, 4, (256, 128), slope=2.0)
    peer = SnnTorchActor(ours)
    x = th.randn(args.seq, args.batch, 18) * 2
    target = th.rand(args.seq - args.warmup, args.batch, 4) * 2 - 1
    W = args.warmup

    def loss_ours(burn: bool) -> th.Tensor:
        state = ours.initial_state(args.batch)
        if burn:
            with th.no_grad():
                _, state = ours(x[:W], state)
            out, _ = ours(x[W:], state)
        else:
            out = ours(x, state)[0][W:]
        return ((out - target) ** 2).mean()

    def loss_peer() -> th.Tensor:
        return ((peer(x)[W:] - target) ** 2).mean()

    # same gradients (full graph on both sides)
    ours.zero_grad(), peer.zero_grad()
    loss_ours(False).backward()
    loss_peer().backward()
    pairs = [(ours.fcs[0].weight, peer.fcs[0].weight), (ours.fcs[1].weight, peer.fcs[1].weight),
             (ours.readout.weight, peer.readout.weight), (ours.lifs[0].beta, peer.lifs[0].beta),
             (ours.lifs[1].threshold, peer.lifs[1].threshold)]
    max_rel = max(((a.grad - b.grad).abs().max() / b.grad.abs().max().clamp_min(1e-12)).item() for a, b in pairs)
    print(f"gradient check vs snnTorch: max relative difference {max_rel:.2e} over fc1, fc2, readout, beta1, theta2")
    assert max_rel < 1e-3, "gradients differ from snnTorch"

    opt_o = th.optim.Adam(ours.parameters(), lr=1e-3)
    opt_p = th.optim.Adam(peer.parameters(), lr=1e-3)

    def step(opt, fn):
        opt.zero_grad()
        fn().backward()
        opt.step()

    runs = {"snnTorch Leaky": lambda: step(opt_p, loss_peer), "ours (full graph)": lambda: step(opt_o, lambda: loss_ours(False)),
            "ours + burn-in": lambda: step(opt_o, lambda: loss_ours(True))}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for fn in runs.values():
        fn()
    for _ in range(args.repeats):
        for name, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    base = np.median(times["snnTorch Leaky"])
    print(f"batch {args.batch} x {args.seq} steps, warm-up {W}, torch threads {args.threads}")
    print(f"{'actor update':20s} {'median ms':>10s} {'updates/s':>10s} {'vs snnTorch':>12s}")
    for name, ts in times.items():
        m = np.median(ts)
        print(f"{name:20s} {m * 1e3:10.1f} {1 / m:10.2f} {base / m:11.2f}x")


if __name__ == "__main__":
    main()
