"""Training callbacks of the drone task: the learning curve (with the best autonomous checkpoint) and the final
evaluation (protocols (a) and (b), optionally the robustness suite). Name them in a zoo config's ``callback`` list."""

from __future__ import annotations

import csv
import json
import os
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sb3_spiking.envs.action_repeat import action_repeat_of
from sb3_spiking.tasks.drone.protocols import EVAL_SEED, critic_diagnostic, evaluate_drone_controller, fly, format_report
from sb3_spiking.tasks.drone.reward import FINAL_STAGE
from sb3_spiking.tasks.drone.robustness import format_robustness_table, robustness_suite, write_rows_csv


def actor_input_options(env: Any) -> dict[str, Any]:
    """The drone env options that shape the actor's input beyond what the model records (``actor_history`` is read
    from the model): evaluations fly them as the model was trained. Found on the drone env inside ``env``'s
    wrappers, with the ``action_repeat`` of a :class:`~sb3_spiking.envs.action_repeat.VecActionRepeat` among them;
    ``{}`` where there is none."""
    repeat = action_repeat_of(env)
    while env is not None and not hasattr(env, "config"):
        env = getattr(env, "venv", None)
    config = getattr(env, "config", None)
    fill = getattr(config, "history_fill", None)
    options: dict[str, Any] = {} if fill is None else dict(history_fill=fill)
    if repeat > 1:
        options["action_repeat"] = repeat
    return options


#: File name of the best autonomous controller kept by :class:`LearningCurveCallback` (next to ``curve.csv``).
BEST_MODEL_NAME = "best_autonomous_model.zip"


class LearningCurveCallback(BaseCallback):
    """Every ``eval_freq`` steps: batched autonomous evaluation (protocol (b)) on fixed initial states.

    Writes one CSV row per evaluation (``curve.csv``: steps, wall-clock minutes since training
    started, mean/std return, full-length fraction, and the training knobs that change over time:
    slope, λ_BC, guide horizon, curriculum stage), logs ``eval/*`` to TensorBoard, and feeds the
    mean return to GuidedTD3's adaptive slope schedule when that schedule is externally fed
    (``slope_schedule_kwargs: {eval_freq: null}``) — one evaluation serves both.

    :param eval_freq: environment steps (summed over envs) between evaluations.
    :param n_episodes: initial states per evaluation (one batched env each, so 64 cost little).
    :param seed: initial-state seed, the same at every evaluation so the curve is paired in time.
    :param path: CSV path (default: ``curve.csv`` in the logger's folder, else the working directory).
    :param curriculum_stage: reward weights of the evaluation (default: final).
    :param start_weights: also score the same flights with the start weights (stage 0, the scale
        on which the paper reports ≈ 400): column ``mean_return_start``.
    :param save_best: save the model to ``best_autonomous_model.zip`` next to the CSV whenever an
        evaluation beats the best so far. Every evaluation flies the same initial states, so the
        choice compares like with like (rl-zoo's ``best_model.zip`` compares 5 episodes from new
        states each time). The initial states (``seed``) are disjoint from the final evaluation's,
        so scoring the kept model there is a held-out test.
    :param critic_check: for a model with a critic in use (``alpha > 0``), fly the same states once
        more with the training reward weights and log :func:`critic_diagnostic` (columns ``q_min``,
        ``mc_return``, ``q_corr``; TensorBoard ``eval/critic_*``). NaN without a critic.
    """

    FIELDS = (
        "timesteps", "minutes", "mean_return", "std_return", "full_length", "mean_return_start",
        "slope", "bc_coef", "guide_horizon", "curriculum_stage", "q_min", "mc_return", "q_corr",
    )

    def __init__(self, eval_freq: int = 20_000, n_episodes: int = 64, seed: int = 1_000, path: str | None = None,
                 curriculum_stage: int = FINAL_STAGE, start_weights: bool = True, save_best: bool = True,
                 critic_check: bool = True, verbose: int = 1):
        super().__init__(verbose)
        if int(eval_freq) != eval_freq or eval_freq < 1:
            raise ValueError(f"eval_freq must be a positive integer, got {eval_freq!r}")
        if int(n_episodes) != n_episodes or n_episodes < 1:
            raise ValueError(f"n_episodes must be a positive integer, got {n_episodes!r}")
        self.eval_freq, self.n_episodes, self.seed = int(eval_freq), int(n_episodes), int(seed)
        self.path, self.curriculum_stage, self.start_weights = path, int(curriculum_stage), bool(start_weights)
        self.save_best, self.critic_check = bool(save_best), bool(critic_check)
        self.best_return, self.best_path = -np.inf, ""
        self._next, self._start = 0, 0.0
        self.rows: list[dict[str, float]] = []

    def set_run_folder(self, folder: str) -> None:
        """Write ``curve.csv`` (and the best model) to ``folder`` unless a ``path`` was given (rl-zoo: the run's folder)."""
        if self.path is None:
            self.path = os.path.join(folder, "curve.csv")

    def _init_callback(self) -> None:
        import time

        self._start = time.time()
        steps = self.model.num_timesteps  # the callback's own counter is only set from the first step on
        self._next = steps + self.eval_freq
        if self.path is None:
            self.path = os.path.join(_log_folder(self), "curve.csv")
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        self.best_path = os.path.join(folder, BEST_MODEL_NAME)
        if not os.path.exists(self.path) or steps == 0:
            with open(self.path, "w") as f:
                f.write(",".join(self.FIELDS) + "\n")
            if self.save_best and os.path.exists(self.best_path):  # an earlier run's controller
                os.remove(self.best_path)
        else:  # a resumed run appends, and keeps the best return recorded so far
            with open(self.path) as f:
                returns = [float(r["mean_return"]) for r in csv.DictReader(f)]
            self.best_return = max(returns, default=-np.inf)

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.eval_freq
            self.evaluate()
        return True

    def evaluate(self) -> dict[str, float]:
        """Run one evaluation now, record it, feed the slope schedule; returns the CSV row."""
        import time

        options = actor_input_options(self.training_env)
        stats = fly(self.model, None, 0, self.n_episodes, self.seed, self.curriculum_stage, **options)
        # the actor is deterministic and the initial states seeded: stage 0 replays the same flights
        start = float("nan")
        if self.start_weights:
            start = fly(self.model, None, 0, self.n_episodes, self.seed, 0, **options).mean_return
        model = self.model
        slope_cb = getattr(model, "slope_callback", None)
        if slope_cb is not None and slope_cb.externally_fed:
            slope_cb.feed(stats.mean_return)
        policy_slope = getattr(model.policy, "slope", None)
        stage = _curriculum_stage(model.get_env())
        critic = {"q_min": float("nan"), "mc_return": float("nan"), "q_corr": float("nan")}
        if self.critic_check and getattr(model, "alpha", 0) > 0:  # a trained critic: is it any good?
            train_stage = int(stage) if np.isfinite(stage) else FINAL_STAGE
            critic = critic_diagnostic(model, self.n_episodes, self.seed, train_stage, **options)
            for key in ("q_min", "mc_return", "q_bias", "q_corr"):
                self.logger.record(f"eval/critic_{key}", critic[key])
        row = {
            "timesteps": self.num_timesteps,
            "minutes": round((time.time() - self._start) / 60, 3),
            "mean_return": round(stats.mean_return, 2),
            "std_return": round(float(stats.returns.std()), 2),
            "full_length": stats.full_length,
            "mean_return_start": round(start, 2),
            "slope": float("nan") if policy_slope is None else round(float(policy_slope), 3),
            "bc_coef": round(float(getattr(model, "bc_coef_now", float("nan"))), 5),
            "guide_horizon": getattr(model, "guide_horizon", float("nan")),
            "curriculum_stage": stage,
            **{k: round(critic[k], 3) for k in ("q_min", "mc_return", "q_corr")},
        }
        self.rows.append(row)
        with open(self.path, "a") as f:  # type: ignore[arg-type]
            f.write(",".join(str(row[k]) for k in self.FIELDS) + "\n")
        best = self.save_best and stats.mean_return > self.best_return
        if best:
            self.best_return = stats.mean_return
            self.model.save(self.best_path)
        self.logger.record("eval/autonomous_return", stats.mean_return)
        self.logger.record("eval/full_length", stats.full_length)
        if self.verbose:
            print(
                f"[{row['minutes']:6.1f} min] step {self.num_timesteps:>9d}: autonomous return {stats.mean_return:6.1f}, "
                f"full-length {100 * stats.full_length:3.0f} %, slope {row['slope']}"
                + (f", critic Q {critic['q_min']:.1f} vs return {critic['mc_return']:.1f} (corr {critic['q_corr']:.2f})"
                   if np.isfinite(critic["q_min"]) else "")
                + (" (best so far, saved)" if best else ""),
                flush=True,
            )
        return row


def _log_folder(callback: BaseCallback) -> str:
    """Where a callback writes by default: the logger's folder, else the working directory (the
    zoo passes the run folder explicitly)."""
    return (callback.logger.get_dir() if callback.logger is not None else None) or "."


def _curriculum_stage(env: Any) -> float:
    """The training env's reward-curriculum stage (NaN for envs without one)."""
    try:
        return float(env.env_method("get_curriculum_stage")[0])
    except (AttributeError, TypeError, ValueError):
        return float("nan")


class FinalEvaluationCallback(BaseCallback):
    """At the end of training, evaluate protocols (a) and (b) beside the guide and report them.

    Prints the table and writes ``final_evaluation.json`` next to the model (rl-zoo: the run's
    log folder). For the README's main job; name it in a zoo config's ``callback`` list. When a
    :class:`LearningCurveCallback` of this run (or of the run it resumes, ``reset_num_timesteps=False``)
    saved ``best_autonomous_model.zip`` in the same folder, that controller is evaluated too (key
    ``"best_checkpoint"``, same layout).

    :param n_episodes: initial states (one episode each).
    :param guide: the reference guide (import path or object).
    :param path: output folder (default: the logger's folder, else the current directory).
    :param robustness: also fly the final model through :func:`robustness_suite` (key
        ``"robustness"``; ``robustness.csv`` and ``robustness.md`` in the folder).
    :param robustness_guides: further guides flown in the suite beside the PD guide.
    """

    def __init__(self, n_episodes: int = 100, guide: Any = "sb3_spiking.tasks.drone.pd_guide:PDHoverGuide",
                 path: str | None = None, seed: int = EVAL_SEED, robustness: bool = False,
                 robustness_guides: list[Any] | tuple[Any, ...] = ()):
        super().__init__()
        self.n_episodes, self.guide, self.path, self.seed = int(n_episodes), guide, path, int(seed)
        self.robustness, self.robustness_guides = bool(robustness), list(robustness_guides)
        self.results: dict[str, Any] | None = None
        self._started, self._resumed = 0.0, False

    def set_run_folder(self, folder: str) -> None:
        """Write to ``folder`` unless a ``path`` was given (rl-zoo: the run's folder)."""
        if self.path is None:
            self.path = folder

    def _init_callback(self) -> None:
        import time

        self._started = time.time()
        self._resumed = self.model.num_timesteps > 0

    def _on_step(self) -> bool:
        return True

    def _on_training_end(self) -> None:
        folder = self.path or _log_folder(self)
        options = actor_input_options(self.training_env)
        self.results = evaluate_drone_controller(self.model, self.guide, self.n_episodes, self.seed, **options)
        best = os.path.join(folder, BEST_MODEL_NAME)
        report = (f"Final evaluation over {self.n_episodes} initial states (seed {self.seed}), final weights:\n"
                  f"{format_report(self.results)}")
        # this run's best checkpoint: saved since it started, or before an interruption it resumes from
        # (LearningCurveCallback removes an earlier run's file when a run starts from step 0, and keeps it on resume)
        if os.path.exists(best) and (self._resumed or os.path.getmtime(best) >= self._started):
            best_model = type(self.model).load(best, device=self.model.device)
            self.results["best_checkpoint"] = evaluate_drone_controller(best_model, self.guide, self.n_episodes, self.seed,
                                                                        **options)
            self.results["best_checkpoint"]["timesteps"] = int(best_model.num_timesteps)
            report += (f"\n\nBest autonomous checkpoint of the learning curve (step {best_model.num_timesteps}, "
                       f"{BEST_MODEL_NAME}):\n{format_report(self.results['best_checkpoint'])}")
        os.makedirs(folder, exist_ok=True)
        if self.robustness:
            rows = robustness_suite(self.model, self.robustness_guides, self.n_episodes, self.seed)
            self.results["robustness"] = rows
            table = format_robustness_table(rows, "robustness suite, final model", self.seed)
            write_rows_csv(rows, os.path.join(folder, "robustness.csv"))
            with open(os.path.join(folder, "robustness.md"), "w") as f:
                f.write(table + "\n")
            report += "\n\n" + table
        with open(os.path.join(folder, "final_evaluation.json"), "w") as f:
            json.dump(self.results, f, indent=2)
        print(report, flush=True)


__all__ = ["BEST_MODEL_NAME", "FinalEvaluationCallback", "LearningCurveCallback"]
