"""The drone task's analysis commands of ``sb3-spiking-analysis`` (:mod:`sb3_spiking.analysis.cli`).

* ``efficiency``: NeuroBench-style table, SNN vs MLP actors on real drone rollouts -> Markdown + CSV;
* ``flight``: flight plots (SNN vs PD guide) and the spike raster -> PNGs;
* ``export``: C export (checked against PyTorch in closed loop when a compiler exists) and NIR export.

The drone task registers :func:`add_commands` with the core when it loads (with the ``drone`` extra);
``python -m sb3_spiking.tasks.drone.analysis_cli`` still runs the whole command line.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _efficiency(args: argparse.Namespace) -> None:
    from sb3_spiking.analysis.efficiency import format_table
    from sb3_spiking.tasks.drone.efficiency import drone_efficiency_table

    reports = drone_efficiency_table(
        args.model, n_episodes=args.episodes, seed=args.seed, mlp=args.mlp, mlp_history=args.mlp_history
    )
    table = format_table(reports)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "efficiency.md").write_text(table + "\n")
    rows = [r.as_dict() for r in reports]
    with (out / "efficiency.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(table)
    print(f"wrote {out / 'efficiency.md'}\nwrote {out / 'efficiency.csv'}")


def _flight(args: argparse.Namespace) -> None:
    from sb3_spiking.tasks.drone.flight_plots import flight_pictures

    for path in flight_pictures(args.model, args.out, seed=args.seed, max_episode_steps=args.max_steps):
        print(f"wrote {path}")


def _export(args: argparse.Namespace) -> None:
    import importlib.util

    import numpy as np

    from sb3_spiking.export.c_export import export_c, find_c_compiler, run_c_actor, torch_actions
    from sb3_spiking.tasks.drone.rollouts import fly, load_actor

    model = load_actor(args.model)
    exp = export_c(model, args.out, args.name)
    print(f"wrote {exp.header}\nwrote {exp.source} ({exp.weight_bytes / 1000:.1f} kB const data, {exp.state_bytes} B state)")
    if importlib.util.find_spec("nir") is not None:
        from sb3_spiking.export.nir_export import export_nir

        for consumer in [None, *args.nir_consumer]:  # the direct graph, then one per consumer asked for
            path = Path(args.out) / (f"{args.name}.nir" if consumer is None else f"{args.name}.{consumer}.nir")
            try:
                export_nir(model, path, consumer=consumer)
            except ValueError as exc:  # NIRExportError / NIRConsumerError: a layer NIR or the consumer cannot state
                print(f"NIR export{'' if consumer is None else f' for {consumer}'} skipped: {exc}")
                continue
            print(f"wrote {path}")
    else:
        print("NIR export skipped: pip install 'sb3_spiking[nir]'")
    if find_c_compiler() is not None and importlib.util.find_spec("l2f") is not None and args.check_episodes > 0:
        episodes = fly(model, pilot="actor", n_episodes=args.check_episodes, seed=args.seed)
        obs = np.concatenate([e.actor_obs for e in episodes])
        starts = np.concatenate([np.arange(e.length) == 0 for e in episodes])
        # an actor with action feedback starts each episode from the command in force (<name>_start in C)
        commands = None if episodes[0].commands is None else np.concatenate([e.commands for e in episodes])
        c_act, _ = run_c_actor(model, obs, starts, start_commands=commands)
        t_act, _ = torch_actions(model, obs, starts, start_commands=commands)
        flown = np.concatenate([e.actor_actions for e in episodes])  # what predict flew in the loop
        print(f"C vs PyTorch over {len(obs)} closed-loop steps: max |action error| {np.abs(c_act - t_act).max():.3g} "
              f"(vs the actions flown: {np.abs(c_act - flown).max():.3g})")
    elif args.check_episodes > 0:
        print("C check skipped: needs a C compiler and the drone extra (l2f)")


def add_commands(sub: Any) -> None:
    """Add ``efficiency``, ``flight`` and ``export`` to the analysis command line's sub-parsers."""
    p = sub.add_parser("efficiency", help="NeuroBench-style efficiency table on drone rollouts")
    p.add_argument("--model", help="trained GuidedTD3 zip (default: untrained SNN fed PD-guide flights)")
    p.add_argument("--mlp", help="trained MLP actor zip (MlpSequencePolicy), no action history (default: untrained)")
    p.add_argument("--mlp-history", help="trained MLP actor zip with a 32-step action history (default: untrained)")
    p.add_argument("--episodes", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/analysis")
    p.set_defaults(func=_efficiency)

    p = sub.add_parser("flight", help="flight plots (SNN vs PD guide) and spike raster")
    p.add_argument("--model", help="trained GuidedTD3 zip (default: the guide alone, untrained SNN riding along)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-steps", type=int, default=500)
    p.add_argument("--out", default="runs/pictures")
    p.set_defaults(func=_flight)

    p = sub.add_parser("export", help="C (+ NIR) export of a trained actor")
    p.add_argument("model", help="trained GuidedTD3 zip")
    p.add_argument("--out", default="runs/export")
    p.add_argument("--name", default="snn_actor", help="C symbol / file prefix")
    p.add_argument("--check-episodes", type=int, default=2, help="closed-loop episodes to compare C with PyTorch on")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nir-consumer", nargs="*", default=[], choices=["snntorch", "norse"],
                   help="also write NAME.<consumer>.nir, the graph shaped for that reader (needs lif_reset='zero')")
    p.set_defaults(func=_export)


def main(argv: Sequence[str] | None = None) -> None:
    """The analysis command line with the drone's commands (the core's :func:`sb3_spiking.analysis.cli.main`)."""
    from sb3_spiking.analysis.cli import main as analysis_main

    analysis_main(argv)


if __name__ == "__main__":
    main()


__all__ = ["add_commands", "main"]
