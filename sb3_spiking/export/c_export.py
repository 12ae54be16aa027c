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
[-1, 1] (SB3's ``unscale_action``).

Kernels (``kernel=``): the first layer's input is real-valued, so it is a dense multiply-accumulate
either way. With ``"event"`` (default), every layer that is fed by spikes — hidden layers after the
first and the readout — loops over the *indices* of the spikes that occurred: its weights are stored
transposed (one contiguous column of ``n_out`` floats per input neuron) and each spike adds one column
to the currents. Cost per step ∝ spikes × fan-out instead of fan-in × fan-out. ``"dense"`` is the
previous kernel (tests every (output, input) pair, adds the weight when the input spiked), kept as the
baseline of ``benchmarks/mcu_check.py``. Both add the same weights in the same order (ascending input
index, then the bias), so their outputs are bit-identical.

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
    :param kernel: ``"event"`` or ``"dense"`` (see the module docstring).
    """

    header: Path
    source: Path
    name: str
    n_inputs: int
    n_outputs: int
    hidden: tuple[int, ...]
    weight_bytes: int
    state_bytes: int
    kernel: str = "event"


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


KERNELS = ("event", "dense")


def export_c(actor: Any, out_dir: str | os.PathLike[str], name: str = "snn_actor", kernel: str = "event") -> CExport:
    """Write ``<name>.h`` and ``<name>.c`` implementing the actor's step function.

    :param actor: a :class:`~sb3_spiking.neurons.SpikingMLP`, ``SpikingActor``, ``SpikingPolicy``
        or ``GuidedTD3`` model (bounds of its action space are applied to the output).
    :param out_dir: directory to write to (created if needed).
    :param name: prefix of the C symbols and file names (a C identifier).
    :param kernel: ``"event"`` (spike-fed layers loop over the spikes that occurred; default) or
        ``"dense"`` (the previous kernel, a baseline for measurements); same outputs bit for bit.
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
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    net, low, high = resolve_actor(actor)
    if max(net.hidden) > 65535:
        raise ValueError("the C export indexes spikes with unsigned short: at most 65535 neurons per layer")
    kinds = layer_kinds(net)  # raises, naming the layer, for anything this exporter cannot state
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if net.feedback is not None or any(k != "lif" for k in kinds):
        # memory layers / feedback: the general generator (plain LIF actors keep the tuned code below,
        # whose instruction counts the MCU check measures)
        from sb3_spiking.export._c_memory import generate

        header, source, weight_floats, state_bytes = generate(net, kinds, low, high, name, kernel)
        header_path, source_path = out / f"{name}.h", out / f"{name}.c"
        header_path.write_text(header)
        source_path.write_text(source)
        return CExport(header=header_path, source=source_path, name=name, n_inputs=net.fcs[0].in_features,
                       n_outputs=net.readout.out_features, hidden=tuple(net.hidden), weight_bytes=4 * weight_floats,
                       state_bytes=state_bytes, kernel=kernel)
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
    lif_doc = "".join(_LIF_DOC[mode] for mode in sorted({_reset_mode(lif) for lif in net.lifs}))
    header = f"""/* {name}.h - spiking actor exported by sb3_spiking (do not edit; regenerate instead).
 *
 * {n_in} inputs -> {' -> '.join(f'LIF({h})' for h in hidden)} -> {readout_doc}
{lif_doc} *   Call {name}_reset() at the start of every episode.
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
    event = kernel == "event"
    resets = [_reset_mode(lif) for lif in net.lifs]
    data: list[str] = []
    weight_floats = 0
    for i, (fc, lif) in enumerate(zip(net.fcs, net.lifs)):
        w = arr(fc.weight)  # (out, in), as torch stores it
        if event and i > 0:
            w = np.ascontiguousarray(w.T)  # (in, out): the column a spike adds is contiguous
        beta, theta = _lif_params(lif)
        parts = {f"W{i}": w, f"B{i}": arr(fc.bias), f"BETA{i}": arr(beta), f"THETA{i}": arr(theta)}
        for key, values in parts.items():
            data.append(_array(key, values))
            weight_floats += values.size
    w_out = arr(net.readout.weight)
    data.append(_array("W_OUT", np.ascontiguousarray(w_out.T) if event else w_out))
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
    squash = "tanhf(leaky_readout(y, BETA_OUT[j], &state->mem_out[j]))" if leaky else "tanhf(y)"
    updates = "".join(_UPDATE_FN[mode] for mode in sorted(set(resets)))
    last = n_layers - 1

    if event:
        layer_calls = [
            f"    n0 = lif_layer_dense_{resets[0]}(W0, B0, BETA0, THETA0, {n_in}, {hidden[0]}, obs, state->mem0, idx0);"
        ]
        for i in range(1, n_layers):
            layer_calls.append(
                f"    n{i} = lif_layer_event_{resets[i]}(W{i}, B{i}, BETA{i}, THETA{i}, {hidden[i]}, idx{i - 1}, n{i - 1}, "
                f"acc, state->mem{i}, idx{i});"
            )
        layers = "".join(_EVENT_LAYERS[mode] for mode in sorted(set(resets)))
        index_bufs = "\n".join(f"    unsigned short idx{i}[{h}];  /* indices of the neurons of layer {i} that spiked */"
                               for i, h in enumerate(hidden))
        step_body = f"""    float acc[{max(max(hidden), n_out)}];  /* input currents of one layer */
{index_bufs}
    int {', '.join(f'n{i}' for i in range(n_layers))};
    int j;
{chr(10).join(layer_calls)}
    add_columns(W_OUT, {n_out}, idx{last}, n{last}, acc);
    for (j = 0; j < {n_out}; ++j) {{
        float y = acc[j] + B_OUT[j];
        float a = {squash};
{unscale}        action[j] = a;
    }}
    state->spike_count = {' + '.join(f'n{i}' for i in range(n_layers))};"""
        helpers = _ADD_COLUMNS + layers
    else:
        layer_calls = []
        prev, prev_size = "obs", n_in
        for i, h in enumerate(hidden):
            kind = "dense" if i == 0 else "spiking"
            layer_calls.append(
                f"    lif_layer_{kind}_{resets[i]}(W{i}, B{i}, BETA{i}, THETA{i}, {prev_size}, {h}, {prev}, state->mem{i}, "
                f"spk{i}, &count);"
            )
            prev, prev_size = f"spk{i}", h
        layers = "".join(_DENSE_LAYERS[mode] for mode in sorted(set(resets)))
        step_body = f"""{chr(10).join(f"    float spk{i}[{h}];" for i, h in enumerate(hidden))}
    int count = 0;
    int j, i;
{chr(10).join(layer_calls)}
    for (j = 0; j < {n_out}; ++j) {{
        const float *row = W_OUT + (long)j * {hidden[-1]};
        float acc = 0.0f;
        float y, a;
        for (i = 0; i < {hidden[-1]}; ++i) {{
            if (spk{last}[i] != 0.0f) {{
                acc += row[i];
            }}
        }}
        y = acc + B_OUT[j];
        a = {squash};
{unscale}        action[j] = a;
    }}
    state->spike_count = count;"""
        helpers = layers

    source = f"""/* {name}.c - generated by sb3_spiking.export.c_export (do not edit; regenerate instead). */
#include "{name}.h"

#include <math.h>
#include <string.h>

{''.join(data)}
{updates}{LEAKY_FN if leaky else ""}{helpers}void {name}_reset({name}_state_t *state)
{{
    memset(state, 0, sizeof(*state));
}}

int {name}_last_spike_count(const {name}_state_t *state)
{{
    return state->spike_count;
}}

void {name}_step({name}_state_t *state, const float *obs, float *action)
{{
{step_body}
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
        kernel=kernel,
    )


#: hidden-layer classes the C export knows, by neuron type (``SpikingMLP.neuron_types``)
def _known_layers() -> dict[type, str]:
    from sb3_spiking.memory_neurons import AdaptiveLIF, RecurrentLIF, SynapticLIF
    from sb3_spiking.neurons import LIF

    return {LIF: "lif", RecurrentLIF: "recurrent", SynapticLIF: "synaptic", AdaptiveLIF: "adaptive"}


def layer_kinds(net: Any) -> tuple[str, ...]:
    """The neuron type of every hidden layer, checked against what the C export can generate.

    :raises ValueError: naming the layer (``lifs[i]``) and its type when it is not one of the known
        layer classes (exactly: a subclass may change the maths), or for an unknown feedback / readout.
    """
    known = _known_layers()
    kinds = []
    for i, layer in enumerate(net.lifs):
        kind = known.get(type(layer))
        if kind is None:
            raise ValueError(f"the C export does not support hidden layer {i} (lifs[{i}]) of type {type(layer).__name__}; "
                             f"supported: {', '.join(c.__name__ for c in known)}")
        if kind == "lif":
            _reset_mode(layer)
        kinds.append(kind)
    if net.feedback is not None:
        from sb3_spiking.memory_neurons import ActionFeedback

        if type(net.feedback) is not ActionFeedback:
            raise ValueError(f"the C export does not support the feedback of type {type(net.feedback).__name__}")
    if net.readout_kind not in ("linear", "leaky"):
        raise ValueError(f"the C export does not support the readout {net.readout_kind!r}")
    return tuple(kinds)


def _reset_mode(lif: Any) -> str:
    """The layer's reset (``"subtract"`` for layers saved before the option existed)."""
    mode = getattr(lif, "reset", "subtract")
    if mode not in _UPDATE_FN:
        raise ValueError(f"the C export has no LIF reset {mode!r}")
    return mode


def _lif_params(lif: Any) -> tuple[th.Tensor, th.Tensor]:
    """β and θ as the layer uses them (its clamps are part of the model: applied once here)."""
    if hasattr(lif, "effective_beta"):
        return lif.effective_beta(), lif.effective_threshold()
    return lif.beta.clamp(0.0, 1.0), lif.threshold


_LIF_DOC = {
    "subtract": " * LIF (subtract reset) per step: reset = (U_prev > theta); U = beta*U_prev + W*x + b - reset*theta;\n"
                " *   s = (U - theta > 0)  (beta clamped to [0, 1] at export).\n",
    "zero": " * LIF (reset to zero) per step: U = beta*(U_prev > theta ? 0 : U_prev) + W*x + b; s = (U - theta > 0).\n",
}

# One neuron update per reset mode, the arithmetic (and its order) of sb3_spiking.neurons.LIF;
# returns 1 for a spike.
_UPDATE_FN = {
    "subtract": """/* Delayed subtractive reset: U = beta*U_prev + I - (U_prev > theta)*theta; spike = (U - theta > 0). */
static int lif_update_subtract(float current, float beta, float theta, float *mem)
{
    float u = *mem;
    float reset = (u > theta) ? theta : 0.0f;
    u = beta * u + current - reset;
    *mem = u;
    return u - theta > 0.0f;
}

""",
    "zero": """/* Reset to zero: U = beta*(U_prev > theta ? 0 : U_prev) + I; spike = (U - theta > 0). */
static int lif_update_zero(float current, float beta, float theta, float *mem)
{
    float u = *mem;
    u = beta * ((u > theta) ? 0.0f : u) + current;
    *mem = u;
    return u - theta > 0.0f;
}

""",
}

#: outputs whose sums are kept in registers at once (the M4F has 32 single-precision registers):
#: each loaded input or index then serves this many outputs instead of one
BLOCK = 8


def _blocked(init: str, loop_head: str, term: str, indent: str) -> str:
    """C for BLOCK running sums ``a0..a7`` over one loop, each added to in the same order as a plain
    loop would (bit-identical sums)."""
    decl = ", ".join(f"a{b} = 0.0f" for b in range(BLOCK))
    adds = "\n".join(f"{indent}    a{b} += {term.format(b=b)};" for b in range(BLOCK))
    return f"""{indent}float {decl};
{indent}{loop_head} {{
{init}{adds}
{indent}}}
"""


_COLUMN_SUMS = _blocked("            const float *col = wt + (long)idx[k] * n + j;\n", "for (k = 0; k < n_idx; ++k)",
                        "col[{b}]", "        ")
_COLUMN_STORE = "\n".join(f"        acc[j + {b}] = a{b};" for b in range(BLOCK))
_ROW_SUMS = _blocked("            const float xi = x[i];\n", "for (i = 0; i < n_in; ++i)", "row[{b} * n_in + i] * xi", "        ")
_ROW_STORE = "\n".join(f"        sums[{b}] = a{b};" for b in range(BLOCK))

_ADD_COLUMNS = f"""/* acc[j] = sum over the spikes k of wt[idx[k]*n + j]: one contiguous column per spike, added in
 * ascending input order (the order of the dense sum, so both kernels give bit-identical currents).
 * Blocks of {BLOCK} outputs stay in registers while the spikes are walked. */
static void add_columns(const float *wt, int n, const unsigned short *idx, int n_idx, float *acc)
{{
    const int n_block = n - n % {BLOCK};
    int j, k;
    for (j = 0; j < n_block; j += {BLOCK}) {{
{_COLUMN_SUMS}{_COLUMN_STORE}
    }}
    for (j = n_block; j < n; ++j) {{
        float a = 0.0f;
        for (k = 0; k < n_idx; ++k) {{
            a += wt[(long)idx[k] * n + j];
        }}
        acc[j] = a;
    }}
}}

"""

_EVENT_LAYERS = {
    mode: f"""/* First layer ({mode} reset): real-valued input, multiply-accumulate ({BLOCK} rows at a time, each
 * loaded input serves all of them); writes the indices of the neurons that spiked to idx and
 * returns their number. */
static int lif_layer_dense_{mode}(const float *w, const float *b, const float *beta, const float *theta,
                                  int n_in, int n_out, const float *x, float *mem, unsigned short *idx)
{{
    const float *row = w; /* advanced row by row: no index product to overflow */
    const int n_block = n_out - n_out % {BLOCK};
    int j, i, n = 0;
    for (j = 0; j < n_block; j += {BLOCK}, row += {BLOCK} * n_in) {{
        int q;
        float sums[{BLOCK}];
{_ROW_SUMS}{_ROW_STORE}
        for (q = 0; q < {BLOCK}; ++q) {{
            if (lif_update_{mode}(sums[q] + b[j + q], beta[j + q], theta[j + q], &mem[j + q])) {{
                idx[n++] = (unsigned short)(j + q);
            }}
        }}
    }}
    for (j = n_block; j < n_out; ++j, row += n_in) {{
        float acc = 0.0f;
        for (i = 0; i < n_in; ++i) {{
            acc += row[i] * x[i];
        }}
        if (lif_update_{mode}(acc + b[j], beta[j], theta[j], &mem[j])) {{
            idx[n++] = (unsigned short)j;
        }}
    }}
    return n;
}}

/* Layer fed by spikes ({mode} reset), event-driven: wt is (n_in, n_out); only the columns of the
 * n_in_idx inputs that spiked are read. Returns the number of spikes written to idx. */
static int lif_layer_event_{mode}(const float *wt, const float *b, const float *beta, const float *theta, int n_out,
                                  const unsigned short *in_idx, int n_in_idx, float *acc, float *mem,
                                  unsigned short *idx)
{{
    int j, n = 0;
    add_columns(wt, n_out, in_idx, n_in_idx, acc);
    for (j = 0; j < n_out; ++j) {{
        if (lif_update_{mode}(acc[j] + b[j], beta[j], theta[j], &mem[j])) {{
            idx[n++] = (unsigned short)j;
        }}
    }}
    return n;
}}

"""
    for mode in _UPDATE_FN
}


_DENSE_LAYERS = {
    mode: f"""/* First layer ({mode} reset): real-valued input, multiply-accumulate. */
static void lif_layer_dense_{mode}(const float *w, const float *b, const float *beta, const float *theta,
                                  int n_in, int n_out, const float *x, float *mem, float *spk, int *count)
{{
    int j, i;
    for (j = 0; j < n_out; ++j) {{
        const float *row = w + (long)j * n_in;
        float acc = 0.0f;
        for (i = 0; i < n_in; ++i) {{
            acc += row[i] * x[i];
        }}
        spk[j] = (float)lif_update_{mode}(acc + b[j], beta[j], theta[j], &mem[j]);
        *count += (int)spk[j];
    }}
}}

/* Layer fed by spikes ({mode} reset), dense baseline: tests every (output, input) pair. */
static void lif_layer_spiking_{mode}(const float *w, const float *b, const float *beta, const float *theta,
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
        spk[j] = (float)lif_update_{mode}(acc + b[j], beta[j], theta[j], &mem[j]);
        *count += (int)spk[j];
    }}
}}

"""
    for mode in _UPDATE_FN
}


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
    kernel: str = "event",
) -> tuple[np.ndarray, np.ndarray]:
    """Export ``actor`` to C, compile it with a small harness and run it over an observation stream.

    :param actor: anything :func:`export_c` accepts.
    :param observations: ``(T, n_inputs)`` observations, one per control step.
    :param episode_starts: ``(T,)`` flags; the C state is reset before steps where set (the first
        step always starts from the zero state).
    :param workdir: where to build (a temporary directory if ``None``).
    :param cc: C compiler (default :func:`find_c_compiler`).
    :param kernel: the C export's kernel (:func:`export_c`).
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
        build.mkdir(parents=True, exist_ok=True)
        exp = export_c(actor, build, name, kernel=kernel)
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


__all__ = ["CFLAGS", "KERNELS", "CExport", "export_c", "find_c_compiler", "layer_kinds", "run_c_actor", "torch_actions"]
