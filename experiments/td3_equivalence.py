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
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch as th  # noqa: E402

from experiments import critic_sanity  # noqa: E402


def _distance(a: th.nn.Module, b: th.nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters()))


def _train(method: str, steps: int, nudge_after: int | None = None):
    model, _ = critic_sanity.build(method, critic_sanity.DRONE, 0, 300_000)
    if nudge_after is None:
        return model.learn(steps)
    model.learn(nudge_after)
    with th.no_grad():  # about as far apart as the two algorithms are after their first 2 updates
        generator = th.Generator().manual_seed(1)
        for p in [*model.actor.parameters(), *model.critic.parameters()]:
            p.add_(th.randn(p.shape, generator=generator) * 1e-8)
    return model.learn(steps - nudge_after, reset_num_timesteps=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=17_000, help="env steps (updates start after 15 000)")
    args = parser.parse_args(argv)
    th.set_num_threads(1)
    critic_sanity._register()
    td3, ours = _train("td3", args.steps), _train("seq_mlp_w1_plainq", args.steps)
    nudged = _train("td3", args.steps, nudge_after=15_020)
    early = _train("td3", 15_020), _train("seq_mlp_w1_plainq", 15_020)
    print(f"after 15020 env steps (2 updates): TD3 vs sequence TD3: actor {_distance(early[0].actor, early[1].actor):.2e}, "
          f"critic {_distance(early[0].critic, early[1].critic):.2e}")
    print(f"after {args.steps} env steps ({td3._n_updates} and {ours._n_updates} updates), max |weight difference|:")
    print(f"  TD3 vs sequence TD3 (one-step windows, TD3's actor loss): actor {_distance(td3.actor, ours.actor):.2e}, "
          f"critic {_distance(td3.critic, ours.critic):.2e}")
    print(f"  TD3 vs TD3 with every weight moved by N(0, 1e-8) after 2 updates: actor {_distance(td3.actor, nudged.actor):.2e}, "
          f"critic {_distance(td3.critic, nudged.critic):.2e}")


if __name__ == "__main__":
    main()
