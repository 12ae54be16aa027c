"""Does the drone's C task kernel matter end to end? Default drone training with it on and off.

Each run is one process of the default recipe (``zoo_configs/guided_td3.yml``, ``DroneHover-v0``)
trained through the zoo CLI for ``--steps`` env steps, one torch thread, learning-curve evaluations
and the final evaluation included, as a user runs it. The variants alternate (on, off, off, on, ...)
so that load from other processes on the machine hits both alike; medians over ``--repeats`` of the
wall time and of the CPU time (user + system) of the training process, which other processes on a
busy machine disturb less.
"Off" replaces the kernel by the task's numpy path (``DroneHoverTask`` built without the kernel).

    python -m benchmarks.bench_task_kernel_end_to_end [--steps 60000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import sys
import sb3_spiking.tasks.drone.task as task
if sys.argv[1] == "off":
    task.load_kernel = lambda: None  # DroneHoverTask then runs its numpy path
from sb3_spiking.tasks.drone.task import DroneHoverTask
print("task kernel:", sys.argv[1], flush=True)
from sb3_spiking.zoo.cli import main
main(sys.argv[2:])
"""


def run_once(variant: str, steps: int, folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one training process."""
    cmd = [sys.executable, "-c", CHILD, variant, "train", "--algo", "guided_td3", "--env", "DroneHover-v0", "-n", str(steps),
           "-f", str(folder), "--seed", "0", "--num-threads", "1", "--eval-freq", "-1", "--log-interval", "-1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(folder / f"{variant}.log", "w") as log:
        subprocess.run(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, check=True)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = (folder / f"{variant}.log").read_text()
    assert f"task kernel: {variant}" in text, text[-2000:]
    return seconds, cpu


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"on": [], "off": []}
    cpus: dict[str, list[float]] = {"on": [], "off": []}
    for r in range(args.repeats):
        for variant in ("on", "off") if r % 2 == 0 else ("off", "on"):
            with tempfile.TemporaryDirectory() as tmp:
                seconds, cpu = run_once(variant, args.steps, Path(tmp))
            times[variant].append(seconds)
            cpus[variant].append(cpu)
            print(f"repeat {r}: task kernel {variant:3s} {seconds:7.1f} s wall, {cpu:7.1f} s CPU", flush=True)
    on, off = statistics.median(times["on"]), statistics.median(times["off"])
    cpu_on, cpu_off = statistics.median(cpus["on"]), statistics.median(cpus["off"])
    print(f"default drone training, {args.steps:,} env steps, 1 torch thread, {os.cpu_count()} cores, "
          f"{args.repeats} repeats interleaved; load average at the end {os.getloadavg()[0]:.2f}")
    print(f"task kernel on : median {on:7.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times['on'])})")
    print(f"task kernel off: median {off:7.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times['off'])})")
    print(f"off / on = {off / on:.3f}  (the kernel saves {100 * (1 - on / off):.1f} % of the wall time)")
    print(f"CPU time: on median {cpu_on:.1f} s ({', '.join(f'{t:.1f}' for t in cpus['on'])}), "
          f"off median {cpu_off:.1f} s ({', '.join(f'{t:.1f}' for t in cpus['off'])}); off / on = {cpu_off / cpu_on:.3f}")


if __name__ == "__main__":
    main()
