"""Prepared device check: the actor-update, update-scaling and predict-latency benchmarks on CUDA.

Small repeat counts so that the whole suite takes a few minutes on one GPU (H200: well under 5
minutes, most of it filling replay buffers on the CPU). Every timing is bracketed by
``torch.cuda.synchronize``. Writes ``results.csv`` (one row per measurement) and ``results.md``
(the tables) to ``--out`` and prints the markdown. Without CUDA it stops at once with exit status 2
and says so; ``--device cpu`` runs the same plumbing on the CPU (to test the script itself).

    python -m benchmarks.gpu_suite --out gpu_results            # on the GPU machine
    python -m benchmarks.gpu_suite --out /tmp/s --device cpu --quick   # plumbing test on a CPU
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import time
import traceback
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch as th  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="folder for results.csv and results.md")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N, or cpu to test the plumbing")
    parser.add_argument("--quick", action="store_true", help="even fewer repeats (plumbing test)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    device = th.device(args.device)
    if device.type == "cuda" and not th.cuda.is_available():
        print(f"gpu_suite: CUDA is not available (torch {th.__version__}, built with CUDA {th.version.cuda}); "
              "nothing was run. Use --device cpu to test the script on a CPU.", file=sys.stderr)
        return 2
    th.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if device.type == "cuda":
        th.backends.cuda.matmul.allow_tf32 = False  # keep fp32 GEMMs comparable with the CPU tables
        name = th.cuda.get_device_name(device)
    else:
        name = platform.processor() or platform.machine()
    q = args.quick
    from benchmarks import bench_actor_update, bench_predict_latency, bench_update_scaling

    header = f"torch {th.__version__}, device {device} ({name}), CPU threads {th.get_num_threads()}"
    print(header, flush=True)
    md = [f"# Device benchmarks\n\n{header}\n"]
    rows: list[dict] = []
    failures = 0
    t_start = time.perf_counter()

    def section(title: str, fn):
        nonlocal failures
        t0 = time.perf_counter()
        print(f"\n== {title}", flush=True)
        try:
            fn()
        except Exception:  # keep going: one broken benchmark must not hide the others' numbers
            failures += 1
            err = traceback.format_exc()
            print(err, file=sys.stderr, flush=True)
            md.append(f"\n## {title}\n\nFAILED:\n\n```\n{err}```\n")
        print(f"({time.perf_counter() - t0:.1f} s)", flush=True)

    def actor_update():
        res = bench_actor_update.run(batch=256, seq=100, warmup=50, repeats=3 if q else 7, device=device)
        bench_actor_update.print_result(res)
        rows.extend(res["rows"])
        md.append(f"\n## Actor update vs snnTorch (256 windows × 100 steps, loss on 50–99, {res['repeats']} repeats)\n\n"
                  f"Gradient check vs snnTorch: max relative difference {res['max_rel_grad_diff']:.2e}\n\n"
                  "| actor update | median ms | updates/s | vs snnTorch |\n|---|---|---|---|\n")
        md.extend(
            f"| {r['row']} | {r['median_ms']:.2f} | {r['updates_per_s']:.1f} | {r['vs_snntorch']:.2f}× |\n" for r in res["rows"]
        )

    def update_scaling():
        configs = [(64, 100), (64, 50)] if q else [(64, 100), (128, 100), (256, 100), (64, 50), (64, 200)]
        bench_update_scaling.print_header()
        res = bench_update_scaling.run(repeats=2 if q else 3, device=device, fill_steps=2_000 if q else 10_000,
                                       configs=configs, updates=1 if q else 2, echo=True)
        rows.extend(res)
        md.append("\n## Full GuidedTD3 update (critic + actor, burn-in) vs batch and n_seq\n\n"
                  "| batch | n_seq | ms / update | µs per window step |\n|---|---|---|---|\n")
        md.extend(f"| {r['batch']} | {r['n_seq']} | {r['ms_per_update']:.1f} | {r['us_per_window_step']:.2f} |\n" for r in res)

    def predict_latency():
        res = bench_predict_latency.run(calls=200 if q else 1000, device=device)
        bench_predict_latency.print_rows(res)
        rows.extend(res)
        md.append("\n## One control step, batch 1 (interleaved calls)\n\n| | median µs | vs snnTorch |\n|---|---|---|\n")
        md.extend(f"| {r['row']} | {r['median_us']:.1f} | {r['vs_snntorch']:.2f}× |\n" for r in res)

    section("actor update vs snnTorch", actor_update)
    section("update scaling", update_scaling)
    section("predict latency", predict_latency)

    md.append(f"\nTotal {time.perf_counter() - t_start:.0f} s; {failures} section(s) failed.\n")
    fields = sorted({k for r in rows for k in r}, key=lambda k: (k not in ("benchmark", "device", "row"), k))
    with open(out / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    (out / "results.md").write_text("".join(md))
    print("\n" + "".join(md))
    print(f"wrote {out / 'results.csv'} and {out / 'results.md'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
