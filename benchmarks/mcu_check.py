"""Microcontroller check: the C export on an emulated Cortex-M4F (STM32F405), before / after.

Cross-compiles the actor's C export with ``arm-none-eabi-gcc -mcpu=cortex-m4 -mfpu=fpv4-sp-d16
-mfloat-abi=hard``, reports flash and RAM (``arm-none-eabi-size``), runs it in
``qemu-system-arm -M netduinoplus2`` (semihosting) on a recorded observation sequence, compares its
actions and spike counts with PyTorch step by step, and reports instructions per control step
(``-icount shift=0``) for the dense kernel (before) and the event-driven one (after).

    python -m benchmarks.mcu_check                       # paper-size actor 34 -> 256 -> 128 -> 4
    python -m benchmarks.mcu_check --model runs/drone/model.zip --steps 500
    python -m benchmarks.mcu_check --json runs/mcu.json

Without ``--model`` the actor is randomly initialised (PyTorch's ``Linear`` init, β, θ ~ U(0, 1),
spike-fed weights × ``--gain``) and fed the observations of PD-guide drone flights (``l2f``
installed; 34 inputs = the 18-value drone state + 4 past actions) or, without ``l2f``, N(0, 0.5)
noise. The default gain gives an activation sparsity near the paper's 0.79 (printed).
Debian packages: ``gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from typing import Any

import numpy as np
import torch as th

from sb3_spiking.export.c_export import torch_actions
from sb3_spiking.export.mcu import MCUResult, missing_tools, run_mcu_actor
from sb3_spiking.export.resolve import resolve_actor
from sb3_spiking.neurons import SpikingMLP

#: instructions per control step the issue asks for (paper-size actor, event-driven kernel)
TARGET_INSTRUCTIONS = 100_000


def random_actor(n_in: int = 34, hidden: tuple[int, ...] = (256, 128), n_out: int = 4, seed: int = 0,
                 gain: float = 4.0, lif_reset: str = "subtract") -> SpikingMLP:
    """A randomly initialised actor whose spike-fed weights are scaled by ``gain`` (sparsity knob)."""
    th.manual_seed(seed)
    net = SpikingMLP(n_in, n_out, hidden, lif_reset=lif_reset)
    with th.no_grad():
        for fc in net.fcs[1:]:
            fc.weight.mul_(gain)
    return net


def recorded_observations(n_in: int, steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """Observations of PD-guide drone flights (``n_in = 18 + 4·k``: k past actions), else noise."""
    if importlib.util.find_spec("l2f") is not None and n_in >= 18 and (n_in - 18) % 4 == 0:
        from sb3_spiking.tasks.drone.env import DroneHoverEnv
        from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide

        k = (n_in - 18) // 4
        env = DroneHoverEnv(action_history=k, actor_history=k)
        guide = PDHoverGuide()
        obs_list, starts = [], []
        obs, _ = env.reset(seed=seed)
        start = True
        while len(obs_list) < steps:
            obs_list.append(np.asarray(obs["actor"], np.float32))
            starts.append(start)
            obs, _, terminated, truncated, _ = env.step(guide(obs))
            start = bool(terminated or truncated)
            if start:
                obs, _ = env.reset()
        return np.stack(obs_list), np.asarray(starts), f"PD-guide drone flight (seed {seed})"
    rng = np.random.default_rng(seed)
    starts = np.zeros(steps, bool)
    starts[0] = True
    return rng.normal(0.0, 0.5, (steps, n_in)).astype(np.float32), starts, "N(0, 0.5) noise"


def check(actor: Any, obs: np.ndarray, starts: np.ndarray, kernels: tuple[str, ...] = ("dense", "event")) -> dict[str, Any]:
    """Run every kernel on the emulated MCU and compare with PyTorch; returns the table as a dict."""
    t_act, t_spikes = torch_actions(actor, obs, starts)
    n_neurons = sum(resolve_actor(actor)[0].hidden)
    rows: dict[str, Any] = {}
    for kernel in kernels:
        res: MCUResult = run_mcu_actor(actor, obs, starts, kernel=kernel)
        rows[kernel] = {
            "flash_bytes": res.flash_bytes,
            "ram_bytes": res.ram_bytes,
            "state_bytes": res.state_bytes,
            "stack_bytes": res.stack_bytes,
            "actor_size": res.actor_size,
            "firmware_size": res.firmware_size,
            "instructions_per_step_mean": float(res.instructions.mean()),
            "instructions_per_step_max": float(res.instructions.max()),
            "instructions_per_tick": res.instructions_per_tick,
            "max_action_diff_vs_torch": float(np.abs(res.actions - t_act).max()),
            "steps_with_other_spike_count": int((res.spikes != t_spikes).sum()),
        }
    return {
        "steps": len(obs),
        "episodes": int(np.asarray(starts).sum()),
        "spikes_per_step": float(t_spikes.mean()),
        "activation_sparsity": float(1.0 - t_spikes.mean() / n_neurons),
        "kernels": rows,
    }


def _table(result: dict[str, Any]) -> str:
    head = ("| kernel | flash (actor .text+.data) | RAM (state + stack) | instructions / step (mean, max) "
            "| max |Δa| vs torch | steps with other spike count |")
    lines = [head, "|---|---|---|---|---|---|"]
    for kernel, r in result["kernels"].items():
        lines.append(
            f"| {kernel} | {r['flash_bytes'] / 1024:.1f} KiB | {r['ram_bytes']} B ({r['state_bytes']} + {r['stack_bytes']}) "
            f"| {r['instructions_per_step_mean'] / 1e3:.1f} k, {r['instructions_per_step_max'] / 1e3:.1f} k "
            f"| {r['max_action_diff_vs_torch']:.2e} | {r['steps_with_other_spike_count']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="saved GuidedTD3 zip (default: random paper-size actor)")
    parser.add_argument("--inputs", type=int, default=34, help="observation size of the random actor")
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 128])
    parser.add_argument("--gain", type=float, default=4.0, help="scale of the random actor's spike-fed weights")
    parser.add_argument("--lif-reset", default="subtract", choices=["subtract", "zero"])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--task", choices=["drone", "lunar_lander", "pendulum"], default="drone",
                        help="whose observations: PD-guide drone flights, or (with --model) the model flying "
                             "LunarLander / Pendulum itself (experiments.nir_roundtrip.recorded_episode)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kernels", nargs="+", default=["dense", "event"], choices=["dense", "event"])
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args(argv)
    missing = missing_tools()
    if missing:
        print(f"missing tools: {', '.join(missing)} (Debian: apt-get install gcc-arm-none-eabi "
              "libnewlib-arm-none-eabi qemu-system-arm)", file=sys.stderr)
        return 2
    th.set_num_threads(1)
    if args.model:
        from sb3_spiking.tasks.drone.rollouts import load_actor

        actor: Any = load_actor(args.model)
        n_in = resolve_actor(actor)[0].fcs[0].in_features
        what = f"trained actor {args.model}"
    else:
        actor = random_actor(args.inputs, tuple(args.hidden), seed=args.seed, gain=args.gain, lif_reset=args.lif_reset)
        n_in = args.inputs
        what = f"random actor {args.inputs}->{'->'.join(map(str, args.hidden))}->4 (seed {args.seed}, gain {args.gain})"
    if args.task != "drone" and args.model:
        from experiments.nir_roundtrip import recorded_episode

        parts, seed = [], args.seed
        while sum(len(o) for o, _ in parts) < args.steps:
            parts.append(recorded_episode(args.task, actor, seed=seed))
            seed += 1
        obs = np.concatenate([o for o, _ in parts])[: args.steps]
        starts = np.concatenate([st for _, st in parts])[: args.steps]
        source = f"{args.task} episodes flown by the model (seeds {args.seed}..{seed - 1})"
    else:
        obs, starts, source = recorded_observations(n_in, args.steps, args.seed)
    result = check(actor, obs, starts, tuple(args.kernels))
    result.update(actor=what, observations=source)
    print(f"{what}; {result['steps']} steps of {source}; {result['spikes_per_step']:.1f} spikes/step, "
          f"activation sparsity {result['activation_sparsity']:.3f}")
    print(_table(result))
    event = result["kernels"].get("event")
    if event is not None:
        ok = event["instructions_per_step_mean"] <= TARGET_INSTRUCTIONS
        print(f"event-driven kernel: {event['instructions_per_step_mean'] / 1e3:.1f} k instructions/step "
              f"({'within' if ok else 'ABOVE'} the {TARGET_INSTRUCTIONS / 1e3:.0f} k target)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
