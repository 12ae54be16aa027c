"""Evaluate a drone controller the way the paper's results are reported, on fixed initial states.

Two protocols for a stateful (spiking) actor, both starting from zero actor state:

* **(a) guide warm-up** (the paper's): the privileged guide flies the first ``guide_steps``
  (= the training warm-up) while the actor observes and warms its state up; then the actor flies.
* **(b) autonomous**: the actor flies from step 0 — what a real deployment does.

Every controller flies one episode from each of ``n_episodes`` initial states drawn by the batched
env seeded with ``seed`` (row ``i`` gets ``seed + i``), so numbers of different controllers are
paired. Command line::

    python -m sb3_spiking.tasks.drone.evaluation logs/guided_td3/DroneHover-v0_1/DroneHover-v0.zip --episodes 100

Robustness suite (docs/robustness.md): protocol (b), the PD guide and any ``--guide`` on the same
starts under nominal dynamics, domain randomisation 0.1 / 0.2, observation noise (l2f 1.x and half
of it), noise + DR 0.1 and a 1.5x initial-state box; writes a markdown table and a CSV::

    python -m sb3_spiking.tasks.drone.evaluation MODEL.zip --suite robustness \\
        --guide sb3_spiking.tasks.drone.pd_guide:AdaptivePDHoverGuide
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from sb3_spiking.guides import GUIDE_ALGOS, resolve_guide
from sb3_spiking.obs_keys import PRIVILEGED_KEY
from sb3_spiking.rollout import EpisodeStats, rollout
from sb3_spiking.tasks.drone.config import ACTOR_DIM, DR_KEYS, L2F_V1_OBS_NOISE
from sb3_spiking.tasks.drone.reward import FINAL_STAGE

#: Default initial-state seed of final evaluations: disjoint from training seeds (0..n_envs) and the
#: periodic evaluations' seed.
EVAL_SEED = 10_000
#: File name of the best autonomous controller kept by :class:`LearningCurveCallback` (next to ``curve.csv``).
BEST_MODEL_NAME = "best_autonomous_model.zip"


def actor_history_of(model: Any) -> int:
    """The drone env's ``actor_history`` a model was trained with (from its actor observation size)."""
    space = model.observation_space
    actor = space["actor"] if hasattr(space, "spaces") else space
    return actor_history_for(int(np.prod(actor.shape)))


def privileged_dynamics_of(model: Any, action_history: int = 32) -> bool:
    """Whether a model was trained on the drone env with ``privileged_dynamics=True`` (its privileged
    observation is 4 values longer than ``22 + 4 action_history``)."""
    space = model.observation_space
    if not hasattr(space, "spaces") or PRIVILEGED_KEY not in space.spaces:
        return False
    return int(np.prod(space[PRIVILEGED_KEY].shape)) == ACTOR_DIM + 4 + 4 * int(action_history) + len(DR_KEYS)


def actor_history_for(n_inputs: int) -> int:
    """The drone env's ``actor_history`` ``k`` of an actor with ``n_inputs = 18 + 4 k`` inputs."""
    extra = n_inputs - ACTOR_DIM
    if extra < 0 or extra % 4:
        raise ValueError(f"an actor input of {n_inputs} values is not the drone's 18 + 4 k")
    return extra // 4


def fly(
    model: Any | None = None,
    guide: Any | None = None,
    guide_steps: int = 0,
    n_episodes: int = 100,
    seed: int = EVAL_SEED,
    curriculum_stage: int = FINAL_STAGE,
    record: bool = False,
    **env_options: Any,
) -> EpisodeStats:
    """Fly one drone episode from each initial state; the guide flies steps ``< guide_steps``, the model
    the rest (:func:`sb3_spiking.rollout.rollout` on a :class:`DroneHoverVecEnv` of ``n_episodes`` rows).

    :param model: a trained GuidedTD3 (or any object with a recurrent SB3 ``predict``); ``None``:
        the guide flies the whole episode.
    :param guide: privileged guide (anything :func:`sb3_spiking.guides.resolve_guide` accepts);
        needed when ``model`` is ``None`` or ``guide_steps > 0``.
    :param guide_steps: steps flown by the guide at the start of each episode (protocol (a)).
    :param curriculum_stage: reward weights (default: the final, strictest ones).
    :param record: keep every step's observations, actions, rewards and running flags in the
        returned stats (tens of MB for 64 drone episodes).
    :param env_options: further drone env options (``actor_history`` is taken from the model, and
        ``privileged_dynamics`` when its privileged observation has the dynamics factors).
    """
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    if model is not None:
        env_options.setdefault("actor_history", actor_history_of(model))
        if "privileged_dynamics" not in env_options and privileged_dynamics_of(model, env_options.get("action_history", 32)):
            env_options["privileged_dynamics"] = True
    env = DroneHoverVecEnv(n_episodes, curriculum_stage=curriculum_stage, **env_options)
    env.seed(seed)
    try:
        return rollout(env, env.config.max_episode_steps, model, guide, guide_steps, record)
    finally:
        env.close()


def critic_diagnostic(model: Any, n_episodes: int = 64, seed: int = 1_000, curriculum_stage: int = FINAL_STAGE,
                      horizon: int = 100) -> dict[str, float]:
    """Is the critic any good? Its value of the actor's own actions against the Monte-Carlo return.

    Flies protocol (b) from ``n_episodes`` fixed initial states with the reward weights the critic is
    trained on (``curriculum_stage``), and compares, on every step ``t < horizon`` of every episode
    still running, ``Q(s_t, π(s_t))`` with the discounted return actually collected from ``s_t`` on
    (``γ`` of the model). A drone episode has 500 steps: from ``t < 100`` the unseen tail beyond the
    step limit weighs ``γ^400 < 2 %`` of the return, so the Monte-Carlo return is the true value up to
    that. A crash ends the sum exactly (no bootstrap, as in training).

    :return: ``q1`` and ``q_min`` (mean of the first / of the smaller twin critic), ``mc_return``,
        ``q_bias`` (``q_min - mc_return``), ``q_corr`` (Pearson correlation over the steps: does the
        critic rank states right?) and ``n_steps``.
    """
    import torch as th

    stats = fly(model, None, 0, n_episodes, seed, curriculum_stage, record=True)
    assert stats.rewards is not None and stats.running is not None and stats.observations is not None
    gamma = float(model.gamma)
    mc = np.zeros_like(stats.rewards)
    acc = np.zeros(n_episodes)
    for t in range(stats.rewards.shape[0] - 1, -1, -1):
        acc = stats.rewards[t] + gamma * acc
        mc[t] = acc
    steps = min(horizon, stats.rewards.shape[0])
    qs = []
    with th.no_grad():
        for t in range(steps):
            obs_t, _ = model.policy.obs_to_tensor(stats.observations[t])
            act_t = th.as_tensor(stats.actions[t], dtype=th.float32, device=model.device)  # type: ignore[index]
            qs.append(th.cat(model.critic(obs_t, act_t), dim=1).cpu().numpy())
    keep = stats.running[:steps]
    q = np.stack(qs)[keep]  # (n, n_critics)
    q1, qmin, target = q[:, 0], q.min(axis=1), mc[:steps][keep]
    corr = float(np.corrcoef(qmin, target)[0, 1]) if len(target) > 1 and target.std() > 0 and qmin.std() > 0 else float("nan")
    return {
        "q1": float(q1.mean()),
        "q_min": float(qmin.mean()),
        "mc_return": float(target.mean()),
        "q_bias": float(qmin.mean() - target.mean()),
        "q_corr": corr,
        "n_steps": int(keep.sum()),
    }


def evaluate_drone_controller(
    model: Any,
    guide: Any = "sb3_spiking.tasks.drone.pd_guide:PDHoverGuide",
    n_episodes: int = 100,
    seed: int = EVAL_SEED,
    warmup: int | None = None,
) -> dict[str, dict[str, float]]:
    """Protocols (a) and (b) and the guide alone, at the final and at the start reward weights.

    :param warmup: guide steps of protocol (a) (default: the model's ``n_warmup``, else 50).
    :return: ``{"a_guide_warmup": …, "b_autonomous": …, "guide": …}`` (final weights) and the same
        keys with suffix ``"@start"`` (curriculum stage 0), each a :meth:`EpisodeStats.summary`.
    """
    warmup = int(getattr(model, "n_warmup", 50) if warmup is None else warmup)
    out: dict[str, dict[str, float]] = {}
    for stage, suffix in ((FINAL_STAGE, ""), (0, "@start")):
        runs = {
            "a_guide_warmup": fly(model, guide, warmup, n_episodes, seed, stage),
            "b_autonomous": fly(model, None, 0, n_episodes, seed, stage),
            "guide": fly(None, guide, 0, n_episodes, seed, stage),
        }
        for name, stats in runs.items():
            out[name + suffix] = stats.summary()
    return out


def format_report(results: dict[str, dict[str, float]]) -> str:
    """A small markdown table of :func:`evaluate_drone_controller`'s result."""
    guide = results["guide"]["mean_return"]
    lines = [
        "| controller | return (final weights) | % of guide | full-length | return (start weights) |",
        "|---|---|---|---|---|",
    ]
    for key, label in (("b_autonomous", "(b) autonomous"), ("a_guide_warmup", "(a) guide warm-up"), ("guide", "PD guide")):
        r, s = results[key], results[key + "@start"]
        lines.append(
            f"| {label} | {r['mean_return']:.1f} ± {r['std_return']:.1f} | {100 * r['mean_return'] / guide:.1f} % "
            f"| {100 * r['full_length']:.0f} % | {s['mean_return']:.1f} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Condition:
    """One condition of a robustness suite: ``name`` (CSV key), ``label`` (table) and the drone env
    options every controller flies under."""

    name: str
    label: str
    options: dict[str, Any]


#: The reference guide of the robustness suite (its return is the 100 % of the "% of PD" column).
PD_GUIDE = "sb3_spiking.tasks.drone.pd_guide:PDHoverGuide"
#: Half the l2f 1.x observation noise.
HALF_L2F_V1_OBS_NOISE = {k: v / 2 for k, v in L2F_V1_OBS_NOISE.items()}
#: The suite's wider initial-state box: 1.5x l2f's position, linear- and angular-velocity ranges
#: (0.5 m, 1 m/s, 1 rad/s); attitude (tilt <= 1 rad), motor speeds and the 10 % rest starts unchanged.
WIDE_INIT = {"max_position": 0.75, "max_linear_velocity": 1.5, "max_angular_velocity": 1.5}
#: Conditions of ``--suite robustness`` (all at the final reward weights, simulator crash limits).
ROBUSTNESS_CONDITIONS = (
    Condition("nominal", "nominal", {}),
    Condition("dr0.1", "DR 0.1", {"domain_randomization": 0.1}),
    Condition("dr0.2", "DR 0.2", {"domain_randomization": 0.2}),
    Condition("noise", "noise l2f 1.x", {"obs_noise": L2F_V1_OBS_NOISE}),
    Condition("noise_half", "noise ½ l2f 1.x", {"obs_noise": HALF_L2F_V1_OBS_NOISE}),
    Condition("noise_dr0.1", "noise l2f 1.x + DR 0.1", {"obs_noise": L2F_V1_OBS_NOISE, "domain_randomization": 0.1}),
    Condition("wide_init", "init box 1.5×", {"init": WIDE_INIT}),
)
#: Suites by name (``--suite``).
SUITES: dict[str, tuple[Condition, ...]] = {"robustness": ROBUSTNESS_CONDITIONS}


def suite_conditions(suite: str) -> tuple[Condition, ...]:
    """The conditions of the suite named ``suite``; ``ValueError`` naming the valid ones otherwise."""
    if suite not in SUITES:
        raise ValueError(f"unknown suite {suite!r}; valid: {', '.join(SUITES)}")
    return SUITES[suite]


def guide_name(spec: Any) -> str:
    """A short column name for a guide: the attribute of an import path, a model file's stem, a class name."""
    if isinstance(spec, (str, os.PathLike)):
        text = str(spec)
        algo, sep, rest = text.partition(":")
        if sep and algo.lower() in GUIDE_ALGOS:  # "td3:path/model.zip"
            text = rest
        if text.endswith(".zip") or os.path.exists(text):
            return os.path.splitext(os.path.basename(text))[0]
        return text.rpartition(":")[2].rpartition(".")[2]
    return spec.__name__ if isinstance(spec, type) else type(spec).__name__


def _guide_options(guide_fn: Any, options: dict[str, Any]) -> dict[str, Any]:
    """Env options for a guide's flights: a guide that reads the episode's dynamics factors
    (``privileged_dynamics`` attribute) gets an env that appends them to the privileged observation.
    The factors are extra columns only, so initial states and dynamics stay paired with the others."""
    if getattr(guide_fn, "privileged_dynamics", False):
        return {**options, "privileged_dynamics": True}
    return dict(options)


def _columns(key: str, stats: EpisodeStats) -> dict[str, float]:
    return {f"{key}_return": stats.mean_return, f"{key}_std": float(stats.returns.std()), f"{key}_full_length": stats.full_length}


def robustness_suite(
    model: Any | None,
    guides: list[Any] | tuple[Any, ...] = (),
    n_episodes: int = 100,
    seed: int = EVAL_SEED,
    suite: str = "robustness",
    reference_guide: Any = PD_GUIDE,
    curriculum_stage: int = FINAL_STAGE,
    verbose: bool = True,
) -> list[dict[str, Any]]:
    """Fly protocol (b), the PD guide and any further guides under every condition of a suite.

    All controllers of a condition fly from the same ``n_episodes`` seeded initial states with the
    same per-episode dynamics and noise draws, so the numbers are paired. Guides act on the clean
    privileged observation: observation noise only ever reaches the actor's input (a privileged
    guide reads the true state, as it would from a motion-capture system).

    :param model: a trained GuidedTD3; ``None``: only the guides fly (no spiking columns).
    :param guides: further guides (anything :func:`~sb3_spiking.guides.resolve_guide` accepts), a
        column each, named by :func:`guide_name`.
    :param suite: name in :data:`SUITES`.
    :param reference_guide: the guide of the ``pd_*`` columns and of ``spiking_pct_of_pd``.
    :param verbose: print one line per condition as it finishes.
    :return: one dict per condition: ``condition``, ``label``, ``n_episodes``, then ``<who>_return``,
        ``<who>_std``, ``<who>_full_length`` for ``spiking`` (when there is a model), ``pd`` and each
        guide's name, and ``spiking_pct_of_pd`` (NaN when the PD guide's return is not positive).
    """
    import time

    conditions = suite_conditions(suite)
    flyers: list[tuple[str, Any]] = [("pd", resolve_guide(reference_guide))]
    for spec in guides:
        name = guide_name(spec)
        while name in {n for n, _ in flyers} | {"spiking"}:
            name += "_"
        flyers.append((name, resolve_guide(spec)))
    rows = []
    for cond in conditions:
        start = time.time()
        row: dict[str, Any] = {"condition": cond.name, "label": cond.label, "n_episodes": int(n_episodes)}
        if model is not None:
            row.update(_columns("spiking", fly(model, None, 0, n_episodes, seed, curriculum_stage, **cond.options)))
        for name, guide_fn in flyers:
            stats = fly(None, guide_fn, 0, n_episodes, seed, curriculum_stage, **_guide_options(guide_fn, cond.options))
            row.update(_columns(name, stats))
        if model is not None:
            pd = row["pd_return"]
            row["spiking_pct_of_pd"] = 100.0 * row["spiking_return"] / pd if pd > 0 else float("nan")
        rows.append(row)
        if verbose:
            parts = [f"{'PD guide' if who == 'pd' else who} {row[who + '_return']:.1f} ({100 * row[who + '_full_length']:.0f} % full)"
                     for who in (["spiking"] if model is not None else []) + [n for n, _ in flyers]]
            print(f"[{cond.label}] " + ", ".join(parts) + f"  ({time.time() - start:.0f} s)", flush=True)
    return rows


def format_robustness_table(rows: list[dict[str, Any]], title: str | None = None, seed: int | None = None) -> str:
    """Markdown table of :func:`robustness_suite`'s rows, with a note on how the guides fly."""
    model = "spiking_return" in rows[0]
    guides = [k[: -len("_return")] for k in rows[0] if k.endswith("_return") and k != "spiking_return"]
    header = ["condition"] + (["spiking (b)", "full"] if model else [])
    for g in guides:
        header += ["PD guide" if g == "pd" else g, "full"]
    if model:
        header.append("spiking % of PD")
    lines = [f"**{title}**", ""] if title else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["label"]]
        for who in (["spiking"] if model else []) + guides:
            cells += [f"{row[who + '_return']:.1f} ± {row[who + '_std']:.1f}", f"{100 * row[who + '_full_length']:.0f} %"]
        if model:
            cells.append(f"{row['spiking_pct_of_pd']:.1f} %")
        lines.append("| " + " | ".join(cells) + " |")
    n = rows[0]["n_episodes"]
    lines += [
        "",
        f"Return at the final reward weights (mean ± std over {n} paired initial states"
        + (f", seed {seed}" if seed is not None else "") + "); full = share of episodes flown to the 500-step limit. "
        "Spiking = protocol (b), the actor flies from step 0 on its (noisy) actor observation. Guides fly on "
        "the clean privileged state (observation noise reaches only the actor's input); a guide that reads "
        "the dynamics factors (AdaptivePDHoverGuide) gets them appended to its privileged observation. "
        "DR x: mass, thrust, inertia, motor time constant each × U[1-x, 1+x] per episode; noise: "
        "l2f 1.x's Gaussian std (position 0.05 m, orientation 0.001, velocity 0.1 m/s, angular velocity "
        "0.2 rad/s); init box 1.5×: position ±0.75 m, velocity ±1.5 m/s, angular velocity ±1.5 rad/s.",
    ]
    return "\n".join(lines)


def write_rows_csv(rows: list[dict[str, Any]], path: str) -> None:
    """Write dict rows (same keys) to ``path`` as CSV."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


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

        stats = fly(self.model, None, 0, self.n_episodes, self.seed, self.curriculum_stage)
        # the actor is deterministic and the initial states seeded: stage 0 replays the same flights
        start = fly(self.model, None, 0, self.n_episodes, self.seed, 0).mean_return if self.start_weights else float("nan")
        model = self.model
        slope_cb = getattr(model, "slope_callback", None)
        if slope_cb is not None and slope_cb.externally_fed:
            slope_cb.feed(stats.mean_return)
        policy_slope = getattr(model.policy, "slope", None)
        stage = _curriculum_stage(model.get_env())
        critic = {"q_min": float("nan"), "mc_return": float("nan"), "q_corr": float("nan")}
        if self.critic_check and getattr(model, "alpha", 0) > 0:  # a trained critic: is it any good?
            train_stage = int(stage) if np.isfinite(stage) else FINAL_STAGE
            critic = critic_diagnostic(model, self.n_episodes, self.seed, train_stage)
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

    def __init__(self, n_episodes: int = 100, guide: Any = "sb3_spiking.tasks.drone.pd_guide:PDHoverGuide", path: str | None = None,
                 seed: int = EVAL_SEED, robustness: bool = False, robustness_guides: list[Any] | tuple[Any, ...] = ()):
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
        self.results = evaluate_drone_controller(self.model, self.guide, self.n_episodes, self.seed)
        best = os.path.join(folder, BEST_MODEL_NAME)
        report = f"Final evaluation over {self.n_episodes} initial states (seed {self.seed}), final weights:\n{format_report(self.results)}"
        # this run's best checkpoint: saved since it started, or before an interruption it resumes from
        # (LearningCurveCallback removes an earlier run's file when a run starts from step 0, and keeps it on resume)
        if os.path.exists(best) and (self._resumed or os.path.getmtime(best) >= self._started):
            best_model = type(self.model).load(best, device=self.model.device)
            self.results["best_checkpoint"] = evaluate_drone_controller(best_model, self.guide, self.n_episodes, self.seed)
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", nargs="?", help="saved GuidedTD3 .zip (with --suite it may be left out: guides only)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--seed", type=int, default=EVAL_SEED)
    parser.add_argument("--guide", action="append", default=None,
                        help=f"without --suite: the reference guide (default {PD_GUIDE}); with --suite: a further "
                             "guide flown beside the PD guide (repeatable)")
    parser.add_argument("--json", help="also write the results here")
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
    import torch as th

    from sb3_spiking import GuidedTD3

    th.set_num_threads(1)
    model = GuidedTD3.load(args.model, device="cpu") if args.model else None
    if args.suite is None:
        results: Any = evaluate_drone_controller(model, (args.guide or [PD_GUIDE])[0], args.episodes, args.seed)
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
    "BEST_MODEL_NAME", "EVAL_SEED", "PD_GUIDE", "ROBUSTNESS_CONDITIONS", "SUITES", "WIDE_INIT", "Condition", "EpisodeStats",
    "critic_diagnostic", "FinalEvaluationCallback", "LearningCurveCallback", "evaluate_drone_controller", "fly",
    "format_report", "format_robustness_table", "guide_name", "privileged_dynamics_of", "robustness_suite",
    "suite_conditions", "write_rows_csv",
]  # fmt: skip
