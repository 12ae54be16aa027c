"""The paper's evaluation protocols for a drone controller, on fixed initial states.

Two protocols for a stateful (spiking) actor, both starting from zero actor state:

* **(a) guide warm-up** (the paper's): the privileged guide flies the first ``guide_steps``
  (= the training warm-up) while the actor observes and warms its state up; then the actor flies.
* **(b) autonomous**: the actor flies from step 0 — what a real deployment does.

Every controller flies one episode from each of ``n_episodes`` initial states drawn by the batched
env seeded with ``seed`` (row ``i`` gets ``seed + i``), so numbers of different controllers are
paired. :func:`fly` is the core's one rollout loop (:func:`sb3_spiking.rollout.rollout`) on a
:class:`~sb3_spiking.tasks.drone.vec_env.DroneHoverVecEnv`. The command line is
``python -m sb3_spiking.tasks.drone.evaluation`` (:mod:`sb3_spiking.tasks.drone.evaluation`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sb3_spiking.obs_keys import COMMAND_KEY, PRIVILEGED_KEY
from sb3_spiking.rollout import EpisodeStats, rollout
from sb3_spiking.tasks.drone.config import ACTOR_DIM, DR_KEYS
from sb3_spiking.tasks.drone.reward import FINAL_STAGE

#: Default initial-state seed of final evaluations: disjoint from training seeds (0..n_envs) and the
#: periodic evaluations' seed.
EVAL_SEED = 10_000


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


def command_obs_of(model: Any) -> bool:
    """Whether a model was trained on the drone env with ``command_obs=True`` (its observation has the command in force)."""
    space = getattr(model, "observation_space", None)
    return hasattr(space, "spaces") and COMMAND_KEY in space.spaces  # type: ignore[union-attr]


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
        ``privileged_dynamics`` / ``command_obs`` when its observation has the dynamics factors / the command), and
        ``action_repeat``: fly deciding every ``k`` simulator steps
        (:class:`~sb3_spiking.envs.action_repeat.VecActionRepeat`, as a model trained on held actions was; model,
        guide and ``guide_steps`` then count decisions, the episode lasts ``ceil(max_episode_steps / k)`` of them).
    """
    from sb3_spiking.envs.action_repeat import VecActionRepeat
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    repeat = int(env_options.pop("action_repeat", 1))

    if model is not None:
        env_options.setdefault("actor_history", actor_history_of(model))
        if "privileged_dynamics" not in env_options and privileged_dynamics_of(model, env_options.get("action_history", 32)):
            env_options["privileged_dynamics"] = True
        if command_obs_of(model):
            env_options.setdefault("command_obs", True)
    drone = DroneHoverVecEnv(n_episodes, curriculum_stage=curriculum_stage, **env_options)
    drone.seed(seed)
    env = VecActionRepeat(drone, repeat) if repeat > 1 else drone
    try:
        return rollout(env, -(-drone.config.max_episode_steps // repeat), model, guide, guide_steps, record)
    finally:
        env.close()


def critic_diagnostic(model: Any, n_episodes: int = 64, seed: int = 1_000, curriculum_stage: int = FINAL_STAGE,
                      horizon: int = 100, **env_options: Any) -> dict[str, float]:
    """Is the critic any good? Its value of the actor's own actions against the Monte-Carlo return.

    Flies protocol (b) from ``n_episodes`` fixed initial states with the reward weights the critic is
    trained on (``curriculum_stage``), and compares, on every step ``t < horizon`` of every episode
    still running, ``Q(s_t, π(s_t))`` with the discounted return actually collected from ``s_t`` on
    (``γ`` of the model). A drone episode has 500 steps: from ``t < 100`` the unseen tail beyond the
    step limit weighs ``γ^400 < 2 %`` of the return, so the Monte-Carlo return is the true value up to
    that. A crash ends the sum exactly (no bootstrap, as in training).

    :param env_options: as in :func:`fly` (the options the model was trained with; with ``action_repeat`` the steps
        are decisions).
    :return: ``q1`` and ``q_min`` (mean of the first / of the smaller twin critic), ``mc_return``,
        ``q_bias`` (``q_min - mc_return``), ``q_corr`` (Pearson correlation over the steps: does the
        critic rank states right?) and ``n_steps``.
    """
    import torch as th

    stats = fly(model, None, 0, n_episodes, seed, curriculum_stage, record=True, **env_options)
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
    **env_options: Any,
) -> dict[str, dict[str, float]]:
    """Protocols (a) and (b) and the guide alone, at the final and at the start reward weights.

    :param warmup: guide steps of protocol (a) (default: the model's ``n_warmup``, else 50).
    :param env_options: further drone env options for every flight (e.g. the ``history_fill`` it was trained with).
    :return: ``{"a_guide_warmup": …, "b_autonomous": …, "guide": …}`` (final weights) and the same
        keys with suffix ``"@start"`` (curriculum stage 0), each a :meth:`EpisodeStats.summary`.
    """
    warmup = int(getattr(model, "n_warmup", 50) if warmup is None else warmup)
    out: dict[str, dict[str, float]] = {}
    for stage, suffix in ((FINAL_STAGE, ""), (0, "@start")):
        runs = {
            "a_guide_warmup": fly(model, guide, warmup, n_episodes, seed, stage, **env_options),
            "b_autonomous": fly(model, None, 0, n_episodes, seed, stage, **env_options),
            "guide": fly(None, guide, 0, n_episodes, seed, stage, **env_options),
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



__all__ = [
    "EVAL_SEED", "EpisodeStats", "actor_history_for", "actor_history_of", "critic_diagnostic", "evaluate_drone_controller",
    "fly", "format_report", "privileged_dynamics_of",
]  # fmt: skip
