"""Evaluate a drone controller the way the paper's results are reported: the command line, and the old import path.

The code lives by concern in :mod:`~sb3_spiking.tasks.drone.protocols` (the paper's protocols (a) / (b), the
rollout on fixed initial states, the critic check), :mod:`~sb3_spiking.tasks.drone.robustness` (the robustness
suite) and :mod:`~sb3_spiking.tasks.drone.training_callbacks` (learning curve, final evaluation). Their public names
are re-exported here: archived run configs and zoo configs name e.g.
``sb3_spiking.tasks.drone.evaluation.LearningCurveCallback``. Command line::

    python -m sb3_spiking.tasks.drone.evaluation logs/guided_td3/DroneHover-v0_1/DroneHover-v0.zip --episodes 100

Robustness suite (docs/robustness.md): protocol (b), the PD guide and any ``--guide`` on the same
starts under nominal dynamics, domain randomisation 0.1 / 0.2, observation noise (l2f 1.x and half
of it), noise + DR 0.1 and a 1.5x initial-state box; writes a markdown table and a CSV::

    python -m sb3_spiking.tasks.drone.evaluation MODEL.zip --suite robustness \\
        --guide sb3_spiking.tasks.drone.pd_guide:AdaptivePDHoverGuide
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from sb3_spiking.guided_td3 import GuidedTD3
from sb3_spiking.rollout import EpisodeStats
from sb3_spiking.tasks.drone.protocols import (
    EVAL_SEED,
    actor_history_for,
    actor_history_of,
    critic_diagnostic,
    evaluate_drone_controller,
    fly,
    format_report,
    privileged_dynamics_of,
)
from sb3_spiking.tasks.drone.robustness import (
    HALF_L2F_V1_OBS_NOISE,
    PD_GUIDE,
    ROBUSTNESS_CONDITIONS,
    SUITES,
    WIDE_INIT,
    Condition,
    format_robustness_table,
    guide_name,
    robustness_suite,
    suite_conditions,
    write_rows_csv,
)
from sb3_spiking.tasks.drone.training_callbacks import BEST_MODEL_NAME, FinalEvaluationCallback, LearningCurveCallback


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="saved GuidedTD3 .zip (with --suite it may be left out: guides only)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=EVAL_SEED)
    parser.add_argument("--guide", action="append", default=None,
                        help=f"without --suite: the reference guide (default {PD_GUIDE}); with --suite: a further "
                             "guide flown beside the PD guide (repeatable)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--history-fill", type=float, help="the env's history_fill the model was trained with "
                                                            "(flown with it; default: l2f's initial motor speeds)")
    parser.add_argument("--action-repeat", type=int, default=1,
                        help="simulator steps per decision the model was trained with (VecActionRepeat's k; default 1)")
    parser.add_argument("--suite", help=f"fly a suite of conditions instead: {', '.join(SUITES)}")
    parser.add_argument("--csv", help="suite table as CSV (default: <model>_robustness.csv next to the model, "
                                      "robustness.csv without a model)")
    parser.add_argument("--markdown", help="suite table as markdown (default: like --csv, .md)")
    args = parser.parse_args(argv)
    if args.suite is not None and args.suite not in SUITES:
        parser.error(f"unknown --suite {args.suite!r}; valid: {', '.join(SUITES)}")
    if args.suite is None and args.model is None:
        parser.error("a model is needed (only --suite flies guides alone)")
    if args.suite is None and args.guide is not None and len(args.guide) > 1:
        parser.error("give --guide once without --suite (it names the reference guide)")
    if args.suite is None and (args.csv or args.markdown):
        parser.error("--csv and --markdown write a suite's table: add --suite robustness")
    if args.suite is not None and (args.history_fill is not None or args.action_repeat != 1):
        parser.error("--history-fill and --action-repeat apply to the protocol evaluation, not to --suite")
    if args.action_repeat < 1:
        parser.error(f"--action-repeat must be >= 1, got {args.action_repeat}")
    import torch as th

    th.set_num_threads(1)
    model = GuidedTD3.load(args.model, device="cpu") if args.model else None
    if args.suite is None:
        options: dict[str, Any] = {} if args.history_fill is None else dict(history_fill=args.history_fill)
        if args.action_repeat > 1:
            options["action_repeat"] = args.action_repeat
        results: Any = evaluate_drone_controller(model, (args.guide or [PD_GUIDE])[0], args.episodes, args.seed, **options)
        print(format_report(results))
    else:
        results = robustness_suite(model, args.guide or (), args.episodes, args.seed, args.suite)
        stem = f"{os.path.splitext(args.model)[0]}_{args.suite}" if args.model else args.suite
        title = f"{args.suite} suite: {args.model or 'guides only'}"
        table = format_robustness_table(results, title, args.seed)
        csv_path, md_path = args.csv or stem + ".csv", args.markdown or stem + ".md"
        write_rows_csv(results, csv_path)
        with open(md_path, "w") as f:
            f.write(table + "\n")
        print(table)
        print(f"wrote {csv_path} and {md_path}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()


__all__ = [
    "BEST_MODEL_NAME", "EVAL_SEED", "HALF_L2F_V1_OBS_NOISE", "PD_GUIDE", "ROBUSTNESS_CONDITIONS", "SUITES", "WIDE_INIT",
    "Condition", "EpisodeStats", "FinalEvaluationCallback", "LearningCurveCallback", "actor_history_for",
    "actor_history_of", "critic_diagnostic", "evaluate_drone_controller", "fly", "format_report",
    "format_robustness_table", "guide_name", "main", "privileged_dynamics_of", "robustness_suite", "suite_conditions",
    "write_rows_csv",
]  # fmt: skip
