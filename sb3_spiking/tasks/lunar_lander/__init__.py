"""LunarLanderContinuous with the velocities hidden from the actor, guided by gymnasium's heuristic.

* :func:`make_lunar_lander_novel_privileged` / env id ``LunarLanderContinuousNoVelPrivileged-v3``:
  ``Dict(actor=[x, y, θ, leg1, leg2], privileged=<the full 8-value observation>)``; the actor has to
  infer the three velocities from its own state.
* :class:`LunarLanderHeuristicGuide`: gymnasium's own ``heuristic`` controller, batched, reading the
  privileged observation.
* :func:`evaluate_landing`: return and landed fraction of any controller on fixed start seeds;
  *landed* is defined in :func:`episode_landed`.

Needs the ``box2d`` extra (``pip install sb3_spiking[box2d]``).
"""

from sb3_spiking.tasks.lunar_lander.env import (
    ACTOR_INDICES,
    BOX_ENV_ID,
    ENV_ID,
    HIDDEN_INDICES,
    ActorHistory,
    episode_landed,
    make_lunar_lander_novel,
    make_lunar_lander_novel_privileged,
    register_envs,
)
from sb3_spiking.tasks.lunar_lander.evaluation import LandingResult, evaluate_landing
from sb3_spiking.tasks.lunar_lander.guide import LunarLanderHeuristicGuide

__all__ = [
    "ACTOR_INDICES",
    "ActorHistory",
    "BOX_ENV_ID",
    "ENV_ID",
    "HIDDEN_INDICES",
    "LandingResult",
    "LunarLanderHeuristicGuide",
    "episode_landed",
    "evaluate_landing",
    "make_lunar_lander_novel",
    "make_lunar_lander_novel_privileged",
    "register_envs",
]
