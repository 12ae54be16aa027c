"""The README main job on a busy machine: rl-zoo's default torch threads vs the drone CLI's default of 1.

Starts one CPU-bound process (a busy loop, standing in for any other load), then runs the main job's
command for ``--steps`` env steps twice, interleaved ``--repeats`` times: with ``--num-threads -1``
(rl-zoo's default: torch takes every core) and as the README runs it (the CLI now passes
``--num-threads 1`` for the drone env). Prints the wall times, their medians and the ratio.

    python -m benchmarks.bench_threads_busy [--steps 15000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

BUSY = "import time\nt = time.time()\nwhile time.time() - t < 3600: pass\n"


def run(steps: int, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as logs:
        cmd = [sys.executable, "-m", "sb3_spiking.zoo", "train", "--algo", "guided_td3", "--env", "DroneHover-v0", "-f", logs,
               "-n", str(steps), "--eval-freq", "-1", "--log-interval", "-1", *extra]
        # as from a user's shell: no thread variables (with OMP_NUM_THREADS=1 both arms would be the same)
        env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=15_000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    busy = subprocess.Popen([sys.executable, "-c", BUSY])
    times: dict[str, list[float]] = {"rl-zoo default (--num-threads -1)": [], "README command (1 torch thread)": []}
    try:
        for _ in range(args.repeats):
            times["rl-zoo default (--num-threads -1)"].append(run(args.steps, ["--num-threads", "-1"]))
            times["README command (1 torch thread)"].append(run(args.steps, []))
    finally:
        busy.kill()
    print(f"main job, {args.steps:,} env steps, one busy process beside it; wall seconds per run")
    for name, values in times.items():
        print(f"{name:36s} {' '.join(f'{v:6.1f}' for v in values)}   median {np.median(values):6.1f}")
    a, b = (float(np.median(v)) for v in times.values())
    print(f"ratio (default / 1 thread): {a / b:.2f}")


if __name__ == "__main__":
    main()
