"""Is sequence TD3 on one-step windows stock TD3 on the drone? (issue 30, deliverable 1)

Trains stock SB3 ``TD3`` and ``seq_mlp_w1_plainq`` (GuidedTD3, MLP actor, windows of one step, TD3's own
actor loss: :mod:`experiments.critic_sanity`) from one seed on the drone set-up of the sanity benchmark and
prints how far their weights are apart after 2 updates and after ``--steps`` env steps; beside it, how far TD3
drifts from itself when every actor and critic weight is moved by ~1e-8 after its first 2 updates. One seed
gives both the same initial weights and the same first transitions; ``tests/test_critics.py`` shows that one
update on one batch is the same to float precision. If the two drift apart no faster than TD3 from its
perturbed self, the return difference of single runs is float rounding amplified by training, not a
difference of the algorithms::

    python -m experiments.td3_equivalence --steps 17000
"""

from __future__ import annotations

import argparse
import copy
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch as th  # noqa: E402

from experiments import critic_sanity  # noqa: E402


def _distance(a: th.nn.Module, b: th.nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


#: env steps after which the first 2 updates are done (updates start after 15 000 steps, one per 10)
EARLY = 15_020


def _nudge(model) -> None:
    with th.no_grad():  # about as far apart as the two algorithms are after their first 2 updates
        generator = th.Generator().manual_seed(1)
        for p in [*model.actor.parameters(), *model.critic.parameters()]:
            p.add_(th.randn(p.shape, generator=generator) * 1e-8)


def _train(method: str, steps: int, nudge: bool = False):
    """The model after ``steps`` env steps, and copies of its actor and critic after the first :data:`EARLY` ones.
    Each run trains alone, from its seed to the end: runs interleaved in one process would share numpy's draws."""
    model, _ = critic_sanity.build(method, critic_sanity.DRONE, 0, 300_000)
    model.learn(EARLY)
    early = copy.deepcopy(model.actor), copy.deepcopy(model.critic)
    if nudge:
        _nudge(model)
    return model.learn(steps - EARLY, reset_num_timesteps=False), early


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=17_000, help=f"env steps (more than {EARLY})")
    args = parser.parse_args(argv)
    if args.steps <= EARLY:
        parser.error(f"--steps must be more than {EARLY}")
    th.set_num_threads(1)
    critic_sanity._register()
    (td3, td3_early), (ours, ours_early) = _train("td3", args.steps), _train("seq_mlp_w1_plainq", args.steps)
    nudged, _ = _train("td3", args.steps, nudge=True)
    print(f"after {EARLY} env steps (2 updates): TD3 vs sequence TD3: actor {_distance(td3_early[0], ours_early[0]):.2e}, "
          f"critic {_distance(td3_early[1], ours_early[1]):.2e}")
    print(f"after {args.steps} env steps ({td3._n_updates} and {ours._n_updates} updates), max |weight difference|:")
    print(f"  TD3 vs sequence TD3 (one-step windows, TD3's actor loss): actor {_distance(td3.actor, ours.actor):.2e}, "
          f"critic {_distance(td3.critic, ours.critic):.2e}")
    print(f"  TD3 vs TD3 with every weight moved by N(0, 1e-8) after 2 updates: actor {_distance(td3.actor, nudged.actor):.2e}, "
          f"critic {_distance(td3.critic, nudged.critic):.2e}")


if __name__ == "__main__":
    main()
