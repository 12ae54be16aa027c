"""How a full GuidedTD3 update (critic + actor) scales with batch size and window length n_seq.

Same drone-sized problem as ``bench_burn_in`` (Dict 18/150 observation, actor 256-128, critics
256-256, burn-in on, n_warmup = n_seq / 2). Prints milliseconds per update and per window step
(update time / (batch × n_seq)): a flat last column means cost linear in batch × n_seq.

    python -m benchmarks.bench_update_scaling [--repeats 3] [--device cpu|cuda] [--fill 20000]
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402
from stable_baselines3.common.logger import configure  # noqa: E402

from benchmarks.bench_burn_in import fill, make_model, time_updates  # noqa: E402

CONFIGS = [(32, 100), (64, 100), (128, 100), (64, 25), (64, 50), (64, 200)]


def measure(
    batch: int, n_seq: int, repeats: int, device: str | th.device = "cpu", fill_steps: int = 20_000, updates: int = 2
) -> float:
    model = make_model(True, batch, n_seq=n_seq, n_warmup=n_seq // 2, device=device)
    fill(model.replay_buffer, fill_steps)
    model.set_logger(configure(None, []))
    model._current_progress_remaining = 1.0
    times = []
    for _ in range(repeats):
        np.random.seed(0)
        times.append(time_updates(model, updates))
    return float(np.median(times))


def run(
    repeats: int = 3,
    device: str | th.device = "cpu",
    fill_steps: int = 20_000,
    configs=CONFIGS,
    updates: int = 2,
    echo: bool = False,
) -> list[dict]:
    rows = []
    for batch, n_seq in configs:
        t = measure(batch, n_seq, repeats, device, fill_steps, updates)
        rows.append({"benchmark": "update_scaling", "device": str(device), "batch": batch, "n_seq": n_seq,
                     "ms_per_update": t * 1e3, "us_per_window_step": t * 1e6 / (batch * n_seq)})
        if echo:
            print_row(rows[-1])
    return rows


def print_header() -> None:
    print(f"{'batch':>6} {'n_seq':>6} {'ms/update':>10} {'µs per window step':>19}")


def print_row(r: dict) -> None:
    print(f"{r['batch']:>6} {r['n_seq']:>6} {r['ms_per_update']:>10.1f} {r['us_per_window_step']:>19.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda")
    parser.add_argument("--fill", type=int, default=20_000, help="transitions put in the replay buffer")
    args = parser.parse_args()
    th.set_num_threads(1)
    from benchmarks.bench_actor_update import resolve_device

    device = resolve_device(args.device)
    print(f"device {device}")
    print_header()
    run(args.repeats, device, args.fill, echo=True)


if __name__ == "__main__":
    main()
