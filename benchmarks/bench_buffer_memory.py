"""Replay-buffer memory for the drone task: bytes per transition and process RSS for 2 M transitions.

Dict observation (18-dim actor part, 150-dim privileged part), 4 actions, 64 envs; every slot is
written once so the pages are really touched.

    python -m benchmarks.bench_buffer_memory [--transitions 2000000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from gymnasium import spaces

from sb3_spiking.guided_td3.buffers import SequenceReplayBuffer


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--transitions", type=int, default=2_000_000)
    parser.add_argument("--n-envs", type=int, default=64)
    args = parser.parse_args()
    obs_space = spaces.Dict({
        "actor": spaces.Box(-np.inf, np.inf, (18,), np.float32),
        "privileged": spaces.Box(-np.inf, np.inf, (150,), np.float32),
    })
    n = args.n_envs
    buf = SequenceReplayBuffer(args.transitions, obs_space, spaces.Box(-1, 1, (4,), np.float32), n_envs=n)
    before = rss_mb()
    obs = {"actor": np.ones((n, 18), np.float32), "privileged": np.ones((n, 150), np.float32)}
    act = np.zeros((n, 4), np.float32)
    infos = [{} for _ in range(n)]
    t = time.perf_counter()
    for _ in range(buf.buffer_size):
        buf.add(obs, obs, act, np.zeros(n, np.float32), np.zeros(n, bool), infos,
                guide_actions=act, guide_acted=np.zeros(n, bool))
    add_s = time.perf_counter() - t
    after = rss_mb()
    total = buf.buffer_size * n
    t = time.perf_counter()
    for _ in range(20):
        buf.sample(256)
    sample_ms = (time.perf_counter() - t) / 20 * 1e3
    print(f"transitions stored      : {total:,}")
    print(f"storage bytes           : {buf.nbytes() / 1e9:.3f} GB ({buf.nbytes() / total:.0f} B per transition)")
    print(
        f"RSS growth              : {(after - before) / 1024:.3f} GB "
        f"(peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2:.2f} GB)"
    )
    print(f"add (64 envs per call)  : {total / add_s / 1e6:.2f} M transitions/s")
    print(f"sample 256 x 100 windows: {sample_ms:.1f} ms")


if __name__ == "__main__":
    main()
