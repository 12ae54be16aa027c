"""Wall time of the README's main job (the default drone config through the zoo CLI) beside the default it replaced.

Issue 27 made the drone default's actor history-free (action feedback starting from the command in force) and asks
that the main job take at most 1.5x the time of the old default (4 past commands in the input, no feedback). Both
train side by side, one process (one torch thread) each, from the same seed, so the machine's load hits both alike;
the ratio is the result, the minutes depend on the machine.

    python -m benchmarks.bench_main_job [--steps 600000] [--seed 0] [--out runs/bench_main_job]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

#: the actor of the default config until issue 27, as zoo ``-params`` overrides
OLD_DEFAULT = ["policy_kwargs:dict(net_arch=dict(pi=[256, 128], qf=[256, 256]), readout='leaky')",
               "env_kwargs:dict(actor_history=4)"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=600_000, help="env steps per run (the config's 600 k)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench_main_job"))
    args = parser.parse_args(argv)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {"default (history-free, feedback)": [], "old default (4 past commands)": ["-params", *OLD_DEFAULT]}
    procs, logs = {}, {}
    start = time.perf_counter()
    for i, (name, extra) in enumerate(runs.items()):
        folder = args.out / f"run{i}"
        folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "sb3_spiking.zoo", "train", "--algo", "guided_td3", "--env", "DroneHover-v0",
               "-f", str(folder), "--seed", str(args.seed), "-n", str(args.steps), *extra]
        logs[name] = open(folder / "train.log", "w")
        procs[name] = subprocess.Popen(cmd, stdout=logs[name], stderr=subprocess.STDOUT, env=env)
        print(f"{name}: {' '.join(cmd)}", flush=True)
    minutes: dict[str, float] = {}
    while len(minutes) < len(procs):
        for name, proc in procs.items():
            if name not in minutes and proc.poll() is not None:
                if proc.returncode != 0:
                    raise SystemExit(f"{name} failed (exit {proc.returncode}); see its train.log under {args.out}")
                minutes[name] = (time.perf_counter() - start) / 60
                print(f"{name}: {minutes[name]:.1f} min", flush=True)
        time.sleep(5)
    for f in logs.values():
        f.close()
    new, old = (minutes[name] for name in runs)
    print("\n| run | wall min |\n|---|---|\n" + "".join(f"| {k} | {v:.1f} |\n" for k, v in minutes.items())
          + f"\nratio default / old default: {new / old:.2f} (issue 27 allows 1.5)")


if __name__ == "__main__":
    main()
