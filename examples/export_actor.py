"""Export a spiking actor to C (and NIR when the ``nir`` extra is installed) and check the C code.

The C files are compiled with the system compiler and fed the observations of drone rollouts
(a trained actor flies itself; an untrained one is fed the PD guide's flights; without ``l2f``:
random observations);
the C actions are compared with PyTorch's step by step.

    python examples/export_actor.py [--model runs/drone/model.zip] [--out runs/export] [--steps 1000]

Without ``--model`` a freshly initialised 18-256-128-4 actor is exported.
"""

import argparse
import importlib.util
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch as th  # noqa: E402

from sb3_spiking.export.c_export import export_c, run_c_actor, torch_actions  # noqa: E402
from sb3_spiking.neurons import SpikingMLP  # noqa: E402


def observations(actor, steps: int, seed: int, pilot: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Actor observations of drone flights (``pilot`` flies), with episode-start flags (random without l2f) and the
    command in force at each step (where the actor's env hands it over: an actor with action feedback starts there)."""
    if importlib.util.find_spec("l2f") is None:
        rng = np.random.default_rng(seed)
        starts = np.zeros(steps, bool)
        starts[0] = True
        return rng.normal(0, 0.5, (steps, 18)).astype(np.float32), starts, None
    from sb3_spiking.tasks.drone.rollouts import fly

    obs, starts, commands, ep = [], [], [], 0
    while sum(len(o) for o in obs) < steps:
        (episode,) = fly(actor, pilot=pilot, n_episodes=1, seed=seed + ep, max_episode_steps=min(500, steps))
        obs.append(episode.actor_obs)
        starts.append(np.arange(episode.length) == 0)
        commands.append(episode.commands)
        ep += 1
    command = None if commands[0] is None else np.concatenate(commands)[:steps]
    return np.concatenate(obs)[:steps], np.concatenate(starts)[:steps], command


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="saved GuidedTD3 zip (default: untrained 18-256-128-4 actor)")
    parser.add_argument("--out", default="runs/export")
    parser.add_argument("--steps", type=int, default=1000, help="control steps to compare")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--pilot", choices=["actor", "guide"], help="who flies (default: the actor if --model, else the PD guide)"
    )
    args = parser.parse_args()
    th.set_num_threads(1)

    if args.model:
        from sb3_spiking.tasks.drone.rollouts import load_actor

        actor = load_actor(args.model)
    else:
        th.manual_seed(args.seed)
        actor = SpikingMLP(18, 4, (256, 128))
    exp = export_c(actor, args.out)
    print(f"C export: {exp.header} {exp.source} ({exp.weight_bytes / 1000:.1f} kB const data, {exp.state_bytes} B state)")
    if importlib.util.find_spec("nir") is not None:
        from sb3_spiking.export.nir_export import export_nir

        try:
            export_nir(actor, os.path.join(args.out, "snn_actor.nir"))
            print(f"NIR export: {os.path.join(args.out, 'snn_actor.nir')}")
        except ValueError as exc:  # a layer NIR cannot state (e.g. the action feedback): C only
            print(f"NIR export skipped: {exc}")

    obs, starts, commands = observations(actor, args.steps, args.seed, args.pilot or ("actor" if args.model else "guide"))
    c_act, c_spikes = run_c_actor(actor, obs, starts, start_commands=commands)
    t_act, t_spikes = torch_actions(actor, obs, starts, start_commands=commands)
    err = np.abs(c_act - t_act)
    print(f"{len(obs)} steps, {int(starts.sum())} episodes, mean spikes/step {t_spikes.mean():.1f}")
    print(f"max |action error| C vs PyTorch: {err.max():.3g} (mean {err.mean():.3g}); "
          f"steps with a different spike count: {int((c_spikes != t_spikes).sum())}")


if __name__ == "__main__":
    main()
