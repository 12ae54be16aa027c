"""Deployment latency: one control step, batch 1, for the drone-sized spiking actor (18-256-128-4).

Rows: SB3-style ``model.predict(obs, state, episode_start)`` of GuidedTD3 (numpy in/out, state
handling, action unscaling), the raw network step (``SpikingMLP.step`` on tensors, no SB3), and the
same actor built from snnTorch ``Leaky`` layers stepped once. Medians over ``--calls`` calls.

    python -m benchmarks.bench_predict_latency [--calls 3000]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402

from benchmarks.bench_actor_update import SnnTorchActor  # noqa: E402
from benchmarks.bench_burn_in import make_model  # noqa: E402


def median_us(fn, calls: int) -> float:
    for _ in range(50):
        fn()
    times = np.empty(calls)
    for i in range(calls):
        t = time.perf_counter()
        fn()
        times[i] = time.perf_counter() - t
    return float(np.median(times)) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    args = parser.parse_args()
    th.set_num_threads(1)
    model = make_model(True, 64)
    obs = {"actor": np.random.randn(1, 18).astype(np.float32), "privileged": np.random.randn(1, 150).astype(np.float32)}
    state = model.policy.initial_state(1)
    start = np.zeros(1)

    def sb3_predict():
        nonlocal state
        _, state = model.predict(obs, state=state, episode_start=start, deterministic=True)

    net = model.actor.net
    x = th.as_tensor(obs["actor"])
    net_state = net.initial_state(1)

    def raw_step():
        nonlocal net_state
        with th.no_grad():
            _, net_state = net.step(x, net_state)

    peer = SnnTorchActor(net)
    mems = [th.zeros(1, f.out_features) for f in peer.fcs]

    def snntorch_step():
        with th.no_grad():
            h = x
            for i, (fc, lif) in enumerate(zip(peer.fcs, peer.lifs)):
                h, mems[i] = lif(fc(h), mems[i])
            th.tanh(peer.readout(h))

    rows = {"GuidedTD3.predict (SB3 API)": median_us(sb3_predict, args.calls),
            "raw SpikingMLP.step": median_us(raw_step, args.calls),
            "snnTorch Leaky actor step": median_us(snntorch_step, args.calls)}
    base = rows["snnTorch Leaky actor step"]
    print(f"{'one control step, batch 1':30s} {'median µs':>10s} {'vs snnTorch':>12s}")
    for name, us in rows.items():
        print(f"{name:30s} {us:10.1f} {base / us:11.2f}x")


if __name__ == "__main__":
    main()
