"""Deployment latency: one control step, batch 1, for the drone-sized spiking actor (18-256-128-4).

Rows: SB3-style ``model.predict(obs, state, episode_start)`` of GuidedTD3 (numpy in/out, state
handling, action unscaling), the raw network step (``SpikingMLP.step`` on tensors, no SB3), and the
same actor built from snnTorch ``Leaky`` layers stepped once. The three take turns call by call;
medians over ``--calls`` calls. On CUDA every call ends with a synchronisation (a control step
must have its action back), and the raw/snnTorch rows keep their inputs and state on the GPU.

    python -m benchmarks.bench_predict_latency [--calls 3000] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402

from benchmarks.bench_actor_update import SnnTorchActor, synchronizer  # noqa: E402
from benchmarks.bench_burn_in import make_model  # noqa: E402
from sb3_spiking import neurons  # noqa: E402


def run(calls: int = 3000, device: str | th.device = "cpu") -> list[dict]:
    device = th.device(device)
    sync = synchronizer(device)
    model = make_model(True, 64, device=device)
    obs = {"actor": np.random.randn(1, 18).astype(np.float32), "privileged": np.random.randn(1, 150).astype(np.float32)}
    state = model.policy.initial_state(1)
    start = np.zeros(1)

    def sb3_predict():
        nonlocal state
        _, state = model.predict(obs, state=state, episode_start=start, deterministic=True)

    net = model.actor.net
    x = th.as_tensor(obs["actor"], device=device)
    net_state = net.initial_state(1)

    def raw_step():
        nonlocal net_state
        with th.no_grad():
            _, net_state = net.step(x, net_state)
        sync()

    peer = SnnTorchActor(net)
    mems = peer.initial_state(1, device)

    def snntorch_step():
        with th.no_grad():
            h = x
            for i, (fc, lif) in enumerate(zip(peer.fcs, peer.lifs)):
                h, mems[i] = lif(fc(h), mems[i])
            th.tanh(peer.readout(h))
        sync()

    def raw_step_torch_loop():  # the same step without the CPU C kernel (the CUDA code path)
        with neurons.use_c_kernel(False):
            raw_step()

    fns = {"GuidedTD3.predict (SB3 API)": sb3_predict, "raw SpikingMLP.step": raw_step}
    if device.type == "cpu":
        fns["raw step, torch loop (no C kernel)"] = raw_step_torch_loop
    fns["snnTorch Leaky actor step"] = snntorch_step
    for fn in fns.values():
        for _ in range(50):
            fn()
    times = {k: np.empty(calls) for k in fns}
    for i in range(calls):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name][i] = time.perf_counter() - t
    base = float(np.median(times["snnTorch Leaky actor step"]))
    return [{"benchmark": "predict_latency", "device": str(device), "row": k, "median_us": float(np.median(v)) * 1e6,
             "vs_snntorch": base / float(np.median(v))} for k, v in times.items()]


def print_rows(rows: list[dict]) -> None:
    print(f"{'one control step, batch 1':30s} {'median µs':>10s} {'vs snnTorch':>12s}")
    for r in rows:
        print(f"{r['row']:30s} {r['median_us']:10.1f} {r['vs_snntorch']:11.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    args = parser.parse_args()
    th.set_num_threads(1)
    from benchmarks.bench_actor_update import resolve_device

    device = resolve_device(args.device)
    print(f"device {device}, {args.calls} calls each, interleaved")
    print_rows(run(args.calls, device))


if __name__ == "__main__":
    main()
