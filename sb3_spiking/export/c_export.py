"""Dependency-free C99 export of a spiking actor (header + source) for microcontrollers.

The generated code needs only ``<math.h>`` (``tanhf``) and ``<string.h>`` (``memset``), allocates
nothing, and keeps all weights in ``static const float`` arrays (flash on a microcontroller). The
state is one ``float`` membrane vector per LIF layer, in a struct the caller owns.

Per step, for every LIF layer (exactly the maths of :class:`sb3_spiking.neurons.LIF`)::

    I     = W·x + b                      (x: observation, or the previous layer's spikes)
    reset = (U_prev > θ)
    U     = clamp(β, 0, 1)·U_prev + I − reset·θ
    s     = (U − θ > 0)

then ``action = tanh(W_out·s_last + b_out)``, mapped to the action space's bounds when they are not
[-1, 1] (SB3's ``unscale_action``). Layers fed by spikes only *add* the weight columns of the
neurons that spiked (accumulates instead of multiply-accumulates) — the same sum, fewer operations.

Use :func:`export_c` to write the files and :func:`run_c_actor` to compile them with the system C
compiler and run them on an observation sequence (what the tests and ``examples/export_actor.py``
use to check the C actions against PyTorch step by step).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch as th

from sb3_spiking.export._resolve import resolve_actor, unit_bounds

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass
class CExport:
    """Paths and sizes of a C export.

    :param header: path of ``<name>.h``.
    :param source: path of ``<name>.c``.
    :param name: C prefix of every symbol.
    :param n_inputs: observation size.
    :param n_outputs: action size.
    :param hidden: LIF layer sizes.
    :param weight_bytes: bytes of ``const`` data (weights, biases, β, θ, bounds).
    :param state_bytes: bytes of the state struct (membranes, including the leaky readout's).
    """

    header: Path
    source: Path
    name: str
    n_inputs: int
    n_outputs: int
    hidden: tuple[int, ...]
    weight_bytes: int
    state_bytes: int


def _fmt(values: np.ndarray, per_line: int = 8) -> str:
    """C float literals that read back to exactly the same float32 values (9 significant digits)."""
    flat = np.asarray(values, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(flat)):
        raise ValueError("cannot export non-finite weights")
    items = [f"{float(v):.9g}f" for v in flat]
    # "1f" is not a valid C float literal: make every literal contain '.' or 'e'
    items = [s if any(c in s for c in ".en") else s[:-1] + ".0f" for s in items]
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return "    " + ",\n    ".join(lines)


def _array(name: str, values: np.ndarray) -> str:
    return f"static const float {name}[{values.size}] = {{\n{_fmt(values)}\n}};\n"


def export_c(actor: Any, out_dir: str | os.PathLike[str], name: str = "snn_actor") -> CExport:
    """Write ``<name>.h`` and ``<name>.c`` implementing the actor's step function.

    :param actor: a :class:`~sb3_spiking.neurons.SpikingMLP`, ``SpikingActor``, ``SpikingPolicy``
        or ``GuidedTD3`` model (bounds of its action space are applied to the output).
    :param out_dir: directory to write to (created if needed).
    :param name: prefix of the C symbols and file names (a C identifier).
    :return: what was written.

    API of the generated code (``NAME`` = upper-case ``name``)::

        #define NAME_N_INPUTS ..  / NAME_N_OUTPUTS / NAME_N_LAYERS
        typedef struct { float mem0[H0]; float mem1[H1]; ... } name_state_t;
        void name_reset(name_state_t *state);              /* zero membranes: start of an episode */
        void name_step(name_state_t *state, const float *obs, float *action);
        int  name_last_spike_count(const name_state_t *state); /* spikes of the last step */
    """
    if not _IDENT.match(name):
        raise ValueError(f"name must be a C identifier, got {name!r}")
    net, low, high = resolve_actor(actor)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    upper = name.upper()
    hidden = tuple(net.hidden)
    n_in, n_out = net.fcs[0].in_features, net.readout.out_features
    n_layers = len(hidden)

    def arr(t: th.Tensor) -> np.ndarray:
        return t.detach().cpu().float().numpy()

    # ---- header
    leaky = net.readout_kind == "leaky"
    members = "\n".join(f"    float mem{i}[{h}];  /* membrane of LIF layer {i} */" for i, h in enumerate(hidden))
    if leaky:
        members += f"\n    float mem_out[{n_out}];  /* membrane of the leaky-integrator readout */"
    readout_doc = (
        f"linear({n_out}) -> LI -> tanh\n * LI readout per step: M = beta_out*M_prev + (1 - beta_out)*(W*s + b); action = tanh(M)"
        if leaky
        else f"linear({n_out}) -> tanh"
    )
    header = f"""/* {name}.h - spiking actor exported by sb3_spiking (do not edit; regenerate instead).
 *
 * {n_in} inputs -> {' -> '.join(f'LIF({h})' for h in hidden)} -> {readout_doc}
 * LIF per step: reset = (U_prev > theta); U = clamp(beta,0,1)*U_prev + W*x + b - reset*theta;
 *               s = (U - theta > 0).  Call {name}_reset() at the start of every episode.
 */
#ifndef {upper}_H
#define {upper}_H

#ifdef __cplusplus
extern "C" {{
#endif

#define {upper}_N_INPUTS {n_in}
#define {upper}_N_OUTPUTS {n_out}
#define {upper}_N_LAYERS {n_layers}

typedef struct {{
{members}
    int spike_count;  /* spikes emitted by all LIF layers during the last step */
}} {name}_state_t;

/* Zero the membranes (the trained actor's initial state). */
void {name}_reset({name}_state_t *state);

/* One control step: obs[{upper}_N_INPUTS] -> action[{upper}_N_OUTPUTS]; updates state. */
void {name}_step({name}_state_t *state, const float *obs, float *action);

/* Number of spikes of the last step (for activity / energy estimates). */
int {name}_last_spike_count(const {name}_state_t *state);

#ifdef __cplusplus
}}
#endif

#endif /* {upper}_H */
"""
    # ---- source
    data: list[str] = []
    weight_floats = 0
    for i, (fc, lif) in enumerate(zip(net.fcs, net.lifs)):
        parts = {
            f"W{i}": arr(fc.weight),  # row-major (out, in), as torch stores it
            f"B{i}": arr(fc.bias),
            f"BETA{i}": arr(lif.beta.clamp(0.0, 1.0)),  # the clamp is part of the model: apply it once here
            f"THETA{i}": arr(lif.threshold),
        }
        for key, values in parts.items():
            data.append(_array(key, values))
            weight_floats += values.size
    data.append(_array("W_OUT", arr(net.readout.weight)))
    data.append(_array("B_OUT", arr(net.readout.bias)))
    weight_floats += net.readout.weight.numel() + net.readout.bias.numel()
    if leaky:
        data.append(_array("BETA_OUT", arr(net.readout_beta.clamp(0.0, 1.0))))
        weight_floats += n_out
    unscale = ""
    if not unit_bounds(low, high):
        data.append(_array("ACTION_LOW", low))  # type: ignore[arg-type]
        data.append(_array("ACTION_HIGH", high))  # type: ignore[arg-type]
        weight_floats += 2 * n_out
        # SB3 unscale_action: low + 0.5 * (a + 1) * (high - low)
        unscale = "        a = ACTION_LOW[j] + (0.5f * (a + 1.0f)) * (ACTION_HIGH[j] - ACTION_LOW[j]);\n"

    layer_calls = []
    prev, prev_size = "obs", n_in
    for i, h in enumerate(hidden):
        kind = "dense" if i == 0 else "spiking"
        layer_calls.append(
            f"    lif_layer_{kind}(W{i}, B{i}, BETA{i}, THETA{i}, {prev_size}, {h}, {prev}, state->mem{i}, spk{i}, &count);"
        )
        prev, prev_size = f"spk{i}", h
    spike_bufs = "\n".join(f"    float spk{i}[{h}];" for i, h in enumerate(hidden))
    last = n_layers - 1

    source = f"""/* {name}.c - generated by sb3_spiking.export.c_export (do not edit; regenerate instead). */
#include "{name}.h"

#include <math.h>
#include <string.h>

{''.join(data)}
/* U = beta*U_prev + I - reset*theta, s = (U - theta > 0); returns nothing, counts spikes. */
static void lif_update(float current, float beta, float theta, float *mem, float *spk, int *count)
{{
    float u = *mem;
    float reset = (u > theta) ? theta : 0.0f;
    u = beta * u + current - reset;
    *mem = u;
    if (u - theta > 0.0f) {{
        *spk = 1.0f;
        *count += 1;
    }} else {{
        *spk = 0.0f;
    }}
}}

{LEAKY_FN if leaky else ""}/* First layer: real-valued input, multiply-accumulate. */
static void lif_layer_dense(const float *w, const float *b, const float *beta, const float *theta,
                            int n_in, int n_out, const float *x, float *mem, float *spk, int *count)
{{
    int j, i;
    for (j = 0; j < n_out; ++j) {{
        const float *row = w + (long)j * n_in;
        float acc = 0.0f;
        for (i = 0; i < n_in; ++i) {{
            acc += row[i] * x[i];
        }}
        lif_update(acc + b[j], beta[j], theta[j], &mem[j], &spk[j], count);
    }}
}}

/* Layers fed by spikes (0/1): accumulate the weights of the inputs that spiked. */
static void lif_layer_spiking(const float *w, const float *b, const float *beta, const float *theta,
                              int n_in, int n_out, const float *x, float *mem, float *spk, int *count)
{{
    int j, i;
    for (j = 0; j < n_out; ++j) {{
        const float *row = w + (long)j * n_in;
        float acc = 0.0f;
        for (i = 0; i < n_in; ++i) {{
            if (x[i] != 0.0f) {{
                acc += row[i];
            }}
        }}
        lif_update(acc + b[j], beta[j], theta[j], &mem[j], &spk[j], count);
    }}
}}

void {name}_reset({name}_state_t *state)
{{
    memset(state, 0, sizeof(*state));
}}

int {name}_last_spike_count(const {name}_state_t *state)
{{
    return state->spike_count;
}}

void {name}_step({name}_state_t *state, const float *obs, float *action)
{{
{spike_bufs}
    int count = 0;
    int j, i;
{chr(10).join(layer_calls)}
    for (j = 0; j < {n_out}; ++j) {{
        const float *row = W_OUT + (long)j * {hidden[-1]};
        float acc = 0.0f;
        float a;
        for (i = 0; i < {hidden[-1]}; ++i) {{
            if (spk{last}[i] != 0.0f) {{
                acc += row[i];
            }}
        }}
        a = {"tanhf(leaky_readout(acc + B_OUT[j], BETA_OUT[j], &state->mem_out[j]))" if leaky else "tanhf(acc + B_OUT[j])"};
{unscale}        action[j] = a;
    }}
    state->spike_count = count;
}}
"""
    header_path, source_path = out / f"{name}.h", out / f"{name}.c"
    header_path.write_text(header)
    source_path.write_text(source)
    return CExport(
        header=header_path,
        source=source_path,
        name=name,
        n_inputs=n_in,
        n_outputs=n_out,
        hidden=hidden,
        weight_bytes=4 * weight_floats,
        state_bytes=4 * (sum(hidden) + (n_out if leaky else 0)),
    )


LEAKY_FN = """/* Leaky-integrator readout: M = (1 - beta)*y + beta*M_prev (unit DC gain); returns M. */
static float leaky_readout(float y, float beta, float *mem)
{
    float m = y * (1.0f - beta) + beta * *mem;
    *mem = m;
    return m;
}

"""

_HARNESS = """/* test harness: float32 records [reset flag, obs...] on stdin -> [action..., spike count] on stdout */
#include <stdio.h>
#include "{name}.h"

int main(void)
{{
    {name}_state_t state;
    float rec[1 + {upper}_N_INPUTS];
    float out[{upper}_N_OUTPUTS + 1];
    {name}_reset(&state);
    while (fread(rec, sizeof(float), 1 + {upper}_N_INPUTS, stdin) == 1 + {upper}_N_INPUTS) {{
        if (rec[0] != 0.0f) {{
            {name}_reset(&state);
        }}
        {name}_step(&state, rec + 1, out);
        out[{upper}_N_OUTPUTS] = (float){name}_last_spike_count(&state);
        fwrite(out, sizeof(float), {upper}_N_OUTPUTS + 1, stdout);
    }}
    return 0;
}}
"""

#: flags of the compile check: strict C99, warnings are errors, no FMA contraction (bit-faithful sums)
CFLAGS: tuple[str, ...] = ("-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-ffp-contract=off")


def find_c_compiler() -> str | None:
    """The system C compiler (``$CC``, ``cc``, ``gcc`` or ``clang``), or ``None``."""
    for cand in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if cand and shutil.which(cand):
            return cand
    return None


def run_c_actor(
    actor: Any,
    observations: np.ndarray,
    episode_starts: np.ndarray | None = None,
    workdir: str | os.PathLike[str] | None = None,
    cc: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Export ``actor`` to C, compile it with a small harness and run it over an observation stream.

    :param actor: anything :func:`export_c` accepts.
    :param observations: ``(T, n_inputs)`` observations, one per control step.
    :param episode_starts: ``(T,)`` flags; the C state is reset before steps where set (the first
        step always starts from the zero state).
    :param workdir: where to build (a temporary directory if ``None``).
    :param cc: C compiler (default :func:`find_c_compiler`).
    :return: actions ``(T, n_outputs)`` and spike counts ``(T,)`` computed by the C code.
    :raises RuntimeError: without a C compiler, or if compiling fails.
    """
    cc = cc or find_c_compiler()
    if cc is None:
        raise RuntimeError("no C compiler found (set $CC)")
    obs = np.ascontiguousarray(observations, dtype=np.float32)
    if obs.ndim != 2:
        raise ValueError(f"observations must be (T, n_inputs), got shape {obs.shape}")
    starts = np.zeros(len(obs), np.float32) if episode_starts is None else np.asarray(episode_starts, np.float32).reshape(-1)
    if len(starts) != len(obs):
        raise ValueError("episode_starts must have one flag per observation")
    with tempfile.TemporaryDirectory() as tmp:
        build = Path(workdir) if workdir is not None else Path(tmp)
        name = "snn_actor"
        exp = export_c(actor, build, name)
        if obs.shape[1] != exp.n_inputs:
            raise ValueError(f"observations have {obs.shape[1]} features, the actor expects {exp.n_inputs}")
        (build / "harness.c").write_text(_HARNESS.format(name=name, upper=name.upper()))
        binary = build / "harness"
        proc = subprocess.run(
            [cc, *CFLAGS, "-o", str(binary), "harness.c", exp.source.name, "-lm"],
            cwd=build, capture_output=True, text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"compiling the C export failed:\n{proc.stderr}")
        records = np.concatenate([starts[:, None], obs], axis=1).astype(np.float32)
        run = subprocess.run([str(binary)], input=records.tobytes(), capture_output=True, check=True)
    out = np.frombuffer(run.stdout, dtype=np.float32).reshape(len(obs), exp.n_outputs + 1)
    return out[:, :-1].copy(), out[:, -1].astype(np.int64)


def torch_actions(
    actor: Any, observations: np.ndarray, episode_starts: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The PyTorch reference for :func:`run_c_actor`: step the network one observation at a time.

    :return: actions ``(T, n_outputs)`` (in the action space's bounds, like the C code) and spike
        counts ``(T,)``.
    """
    net, low, high = resolve_actor(actor)
    obs = th.as_tensor(np.asarray(observations, dtype=np.float32))
    starts = np.zeros(len(obs), bool) if episode_starts is None else np.asarray(episode_starts, bool).reshape(-1)
    state = net.initial_state(1)
    actions, counts = [], []
    with th.no_grad():
        for t in range(len(obs)):
            if starts[t]:
                state = net.initial_state(1)
            out, state, spikes = net(obs[t].view(1, 1, -1), state, return_spikes=True)
            actions.append(out.view(-1).numpy())
            counts.append(int(sum(s.sum() for s in spikes)))
    a = np.stack(actions).astype(np.float32)
    if not unit_bounds(low, high):
        a = low + 0.5 * (a + 1.0) * (high - low)
    return a, np.asarray(counts)


__all__ = ["CFLAGS", "CExport", "export_c", "find_c_compiler", "run_c_actor", "torch_actions"]
