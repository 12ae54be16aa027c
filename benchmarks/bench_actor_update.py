"""Actor sequence update: sb3_spiking's spiking network vs the same network built from snnTorch.

Batch of 256 windows × 100 steps, 18 → LIF(256) → LIF(128) → 4 (tanh readout), loss on steps
50–99 (MSE to fixed targets), Adam step. Both networks share weights, β, θ and slope; the script
first checks that their gradients agree, then times both, interleaved, and prints medians and the
ratio. "ours + burn-in" runs the 50 warm-up steps without a graph (what GuidedTD3 does by default),
which changes the gradient (truncated at the warm-up), so it is timed but not gradient-checked.
"GEMMs only" times just the matrix products of the full-graph update (forward, weight and input
gradients of the three layers, on all time × batch rows): work that both implementations must do,
so ``snnTorch / GEMMs`` bounds the speed-up any full-graph implementation could reach.

    python -m benchmarks.bench_actor_update [--batch 256] [--repeats 7] [--threads 1] [--device cpu|cuda] [--default-allocator]

By default the process keeps freed memory mapped, as the drone configs' training processes do on CPU
(sb3_spiking.allocator);
``--default-allocator`` measures with glibc's defaults (run both to see that lever).
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from torch import nn  # noqa: E402

from sb3_spiking import neurons  # noqa: E402
from sb3_spiking.allocator import keep_freed_memory  # noqa: E402
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
            snn.Leaky(beta=lif.beta.detach().clone(), threshold=lif.threshold.detach().clone(), learn_beta=True,
                      learn_threshold=True, reset_mechanism="subtract", spike_grad=surrogate.fast_sigmoid(slope=float(lif.slope)))
            for lif in ours.lifs
        )
        self.fcs.load_state_dict(ours.fcs.state_dict())
        self.readout.load_state_dict(ours.readout.state_dict())
        self.to(ours.readout.weight.device)

    def initial_state(self, batch: int, device: th.device | str) -> list[th.Tensor]:
        return [th.zeros(batch, f.out_features, device=device) for f in self.fcs]

    def forward(self, x: th.Tensor) -> th.Tensor:  # x: (T, B, D)
        mems = self.initial_state(x.shape[1], x.device)
        outs = []
        for xt in x.unbind(0):
            h = xt
            for i, (fc, lif) in enumerate(zip(self.fcs, self.lifs)):
                h, mems[i] = lif(fc(h), mems[i])
            outs.append(th.tanh(self.readout(h)))
        return th.stack(outs)


def synchronizer(device: th.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (a no-op on CPU)."""
    if device.type == "cuda":
        return lambda: th.cuda.synchronize(device)
    return lambda: None


def resolve_device(name: str) -> th.device:
    device = th.device(name)
    if device.type == "cuda" and not th.cuda.is_available():
        raise SystemExit(f"--device {name}: CUDA is not available on this machine (torch {th.__version__})")
    return device


def time_interleaved(
    runs: dict[str, Callable[[], object]], repeats: int, device: th.device, warmup: int = 1
) -> dict[str, list[float]]:
    """Seconds per call of each function, the functions taking turns, device work included."""
    sync = synchronizer(device)
    for _ in range(warmup):
        for fn in runs.values():
            fn()
    sync()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            sync()
            t = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - t)
    return times


def run(
    batch: int = 256, seq: int = 100, warmup: int = 50, repeats: int = 7, device: str | th.device = "cpu", seed: int = 0
) -> dict:
    """Gradient check, then interleaved timings. Returns ``{"max_rel_grad_diff": …, "rows": [...]}``."""
    device = th.device(device)
    th.manual_seed(seed)
    ours = SpikingMLP(18, 4, (256, 128), slope=2.0).to(device)
    peer = SnnTorchActor(ours)
    x = th.randn(seq, batch, 18, device=device) * 2
    target = th.rand(seq - warmup, batch, 4, device=device) * 2 - 1
    W = warmup

    def loss_ours(burn: bool) -> th.Tensor:
        state = ours.initial_state(batch)
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
    if max_rel >= 1e-3:
        raise AssertionError(f"gradients differ from snnTorch (max relative difference {max_rel:.2e})")

    opt_o = th.optim.Adam(ours.parameters(), lr=1e-3)
    opt_p = th.optim.Adam(peer.parameters(), lr=1e-3)

    def step(opt, fn):
        opt.zero_grad()
        fn().backward()
        opt.step()

    # the matrix products of the full-graph update, alone (same shapes as autograd's)
    rows_ = seq * batch
    a0, w1 = th.randn(rows_, 18, device=device), ours.fcs[0].weight.detach()
    s1, w2 = (th.rand(rows_, 256, device=device) < 0.3).float(), ours.fcs[1].weight.detach()
    s2, wr = (th.rand(rows_, 128, device=device) < 0.3).float(), ours.readout.weight.detach()
    g1, g2, gr = th.randn(rows_, 256, device=device), th.randn(rows_, 128, device=device), th.randn(rows_, 4, device=device)
    b1, b2, br = ours.fcs[0].bias.detach(), ours.fcs[1].bias.detach(), ours.readout.bias.detach()

    def gemms():
        th.addmm(b1, a0, w1.t()), th.addmm(b2, s1, w2.t()), th.addmm(br, s2, wr.t())  # forward
        gr.t().mm(s2), g2.t().mm(s1), g1.t().mm(a0)  # weight gradients
        gr.mm(wr), g2.mm(w2)  # input gradients (readout -> layer 2 spikes, fc2 -> layer 1 spikes)

    def torch_loop(fn: Callable[[], None]) -> Callable[[], None]:
        def wrapped() -> None:  # the same update without the CPU C kernel (the CUDA code path)
            with neurons.use_c_kernel(False):
                fn()
        return wrapped

    runs = {"snnTorch Leaky": lambda: step(opt_p, loss_peer), "ours (full graph)": lambda: step(opt_o, lambda: loss_ours(False)),
            "ours + burn-in": lambda: step(opt_o, lambda: loss_ours(True)), "GEMMs only (full graph)": gemms}
    if device.type == "cpu":
        runs["ours, torch loop (full graph)"] = torch_loop(lambda: step(opt_o, lambda: loss_ours(False)))
        runs["ours, torch loop + burn-in"] = torch_loop(lambda: step(opt_o, lambda: loss_ours(True)))
    times = time_interleaved(runs, repeats, device)
    base = float(np.median(times["snnTorch Leaky"]))
    rows = []
    for name, ts in times.items():
        m = float(np.median(ts))
        rows.append({"benchmark": "actor_update", "device": str(device), "row": name, "median_ms": m * 1e3,
                     "updates_per_s": 1 / m, "vs_snntorch": base / m})
    return {"max_rel_grad_diff": max_rel, "batch": batch, "seq": seq, "warmup": warmup, "repeats": repeats, "rows": rows}


def print_result(result: dict) -> None:
    print(f"gradient check vs snnTorch: max relative difference {result['max_rel_grad_diff']:.2e} "
          "over fc1, fc2, readout, beta1, theta2")
    print(f"batch {result['batch']} x {result['seq']} steps, warm-up {result['warmup']}, torch threads {th.get_num_threads()}, "
          f"device {result['rows'][0]['device']}, {result['repeats']} repeats")
    print(f"{'actor update':24s} {'median ms':>10s} {'updates/s':>10s} {'vs snnTorch':>12s}")
    for r in result["rows"]:
        print(f"{r['row']:24s} {r['median_ms']:10.1f} {r['updates_per_s']:10.2f} {r['vs_snntorch']:11.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--seq", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--default-allocator", action="store_true",
                        help="skip the glibc setting of the drone configs (sb3_spiking.allocator)")
    args = parser.parse_args()
    th.set_num_threads(args.threads)
    device = resolve_device(args.device)
    kept = False if args.default_allocator else keep_freed_memory()
    print(f"allocator: {'freed memory kept (as the drone configs on CPU)' if kept else 'glibc default'}")
    print_result(run(args.batch, args.seq, args.warmup, args.repeats, device))


if __name__ == "__main__":
    main()
