"""How a full GuidedTD3 update (critic + actor) scales with batch size and window length n_seq.

Same drone-sized problem as ``bench_burn_in`` (Dict 18/150 observation, actor 256-128, critics
256-256, burn-in on, n_warmup = n_seq / 2). Prints milliseconds per update and per window step
(update time / (batch × n_seq)): a flat last column means cost linear in batch × n_seq.

    python -m benchmarks.bench_update_scaling [--repeats 3]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402

from benchmarks.bench_burn_in import fill, make_model, time_updates  # noqa: E402


def measure(batch: int, n_seq: int, repeats: int) -> float:
    model = make_model(True, batch, n_seq=n_seq, n_warmup=n_seq // 2)
    fill(model.replay_buffer, 20_000)
    model.set_logger(configure(None, []))
    model._current_progress_remaining = 1.0
    times = []
    for _ in range(repeats):
        np.random.seed(0)
        times.append(time_updates(model, 2))
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    th.set_num_threads(1)
    print(f"{'batch':>6} {'n_seq':>6} {'ms/update':>10} {'µs per window step':>19}")
    for batch, n_seq in [(32, 100), (64, 100), (128, 100), (64, 25), (64, 50), (64, 200)]:
        t = measure(batch, n_seq, args.repeats)
        print(f"{batch:>6} {n_seq:>6} {t * 1e3:>10.1f} {t * 1e6 / (batch * n_seq):>19.2f}", flush=True)


if __name__ == "__main__":
    main()
