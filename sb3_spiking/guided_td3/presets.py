"""Named sets of :class:`~sb3_spiking.GuidedTD3` arguments: the paper's recipe.

The constructor's defaults are the best recipe measured in this project (pure behaviour cloning of
the guide's action relabelled onto every visited state, guide horizon falling to 0; see
``experiments/results.md`` and ``docs/lunar_lander.md``). The preset puts the paper's one argument
away::

    GuidedTD3("SpikingPolicy", env, guide=guide, **PAPER_RECIPE)

It is a read-only dict: copy and update them to vary one entry (``{**PAPER_RECIPE, "bc_target": "guide"}``).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

#: The paper's TD3BC+JSRL settings as written (arXiv 2510.24461, §3.1, supplement S5 and its
#: hyper-parameter table): Q term ``α = 2`` with TD3+BC's
#: normalisation, ``λ_BC = 0.2 × 0.99`` per epoch towards the *executed* buffer action, the guide
#: flying the first ``H = 500 − 100 = 400`` steps, shrinking to the 50-step warm-up, windows of 100
#: steps with a 50-step warm-up, every window step in the critic loss, lr 1e-3, τ 0.01, γ 0.99,
#: target noise 0.2 clipped at 0.5. ``policy_delay`` is TD3's 2 (the paper leaves it open). The
#: paper's initial slope 2.0 is :class:`SpikingPolicy`'s default (``policy_kwargs["slope"]``); its
#: adaptive slope schedule needs a return range: pass
#: ``SlopeScheduleCallback("adaptive", return_range=...)`` for the task to ``learn``. On the drone
#: this recipe stayed below 50 after 400 k steps (experiments/results.md).
PAPER_RECIPE: MappingProxyType[str, Any] = MappingProxyType(
    dict(
        learning_rate=1e-3,
        tau=0.01,
        gamma=0.99,
        target_policy_noise=0.2,
        target_noise_clip=0.5,
        policy_delay=2,
        n_seq=100,
        n_warmup=50,
        alpha=2.0,
        bc_coef=0.2,
        bc_decay=0.99,
        bc_target="executed",
        guide_horizon_start=400,
        guide_horizon_end=50,
        guide_horizon_fraction=0.8,
        critic_fraction=1.0,
        actor_q_input="policy",
    )
)

__all__ = ["PAPER_RECIPE"]
