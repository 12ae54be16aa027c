"""C generator for actors with memory layers (``recurrent``, ``synaptic``, ``adaptive``) and / or the
action feedback (:mod:`sb3_spiking.memory_neurons`); used by :func:`sb3_spiking.export.c_export.export_c`.

Per step, for hidden layer ``i`` (the maths of the torch layers, the same order of additions)::

    I = W·x + b  [+ W_fb·e  (layer 0 with feedback)]  [+ b_V + V·s[t-1]  (recurrent)]

then the layer's neuron update (``lif_update_*``, ``syn_update``, ``alif_update``). The input currents
come from the kernel's usual loops: the first layer's input is real-valued (dense multiply-accumulate),
spike-fed inputs loop over spike indices with transposed weights (``"event"``) or test every
(output, input) pair (``"dense"``). The recurrent input ``V·s[t-1]`` is spike-fed too: the event
kernel keeps the previous step's spike *indices* of a recurrent layer in the state struct and adds
one column of ``Vᵀ`` per spike; the dense kernel keeps ``s[t-1]`` as a 0/1 vector. The feedback
current is real-valued: dense in both kernels. Both kernels add the same values in the same order,
so their outputs are bit-identical.

Feedback (deployment): ``e = α·e + (1 − α)·c[t-1]`` per trace (trace-major, ``K·A`` values), added to
layer 0 as ``W_fb·e``; after the readout, ``c`` = this step's network output ``tanh(·)`` — before the
action-space unscaling, as :meth:`SpikingMLP.step` stores it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th

from sb3_spiking.export.c_export import (
    _ADD_COLUMNS,
    _LIF_DOC,
    _ROW_SUMS,
    _UPDATE_FN,
    BLOCK,
    LEAKY_FN,
    _array,
    _lif_params,
    _reset_mode,
)
from sb3_spiking.export.resolve import unit_bounds

_SYN_FN = """/* Synaptic (CubaLIF) with subtractive reset: r = (U_prev > theta); J = alpha*J_prev + I;
 * U = beta*U_prev + J - r*theta; spike = (U - theta > 0). */
static int syn_update(float current, float alpha, float beta, float theta, float *syn, float *mem)
{
    float u = *mem;
    float reset = (u > theta) ? theta : 0.0f;
    float j = alpha * *syn + current;
    u = beta * u + j - reset;
    *syn = j;
    *mem = u;
    return u - theta > 0.0f;
}

"""

_ALIF_FN = """/* Adaptive threshold (ALIF): A_prev = theta + b*a_prev; p = (U_prev > A_prev); a = rho*a_prev + p;
 * U = beta*U_prev + I - p*A_prev; spike = (U - (theta + b*a) > 0). */
static int alif_update(float current, float rho, float strength, float beta, float theta, float *mem, float *adapt)
{
    float u = *mem;
    float a = *adapt;
    float prev_threshold = theta + strength * a;
    int prev = u > prev_threshold;
    a = rho * a + (prev ? 1.0f : 0.0f);
    u = beta * u + current - (prev ? prev_threshold : 0.0f);
    *mem = u;
    *adapt = a;
    return u - (theta + strength * a) > 0.0f;
}

"""

_ROW_STORE = "\n".join(f"        acc[j + {b}] = a{b};" for b in range(BLOCK))
_DENSE_CURRENTS = f"""/* acc[j] = sum_i w[j*n_in + i]*x[i] for a real-valued input ({BLOCK} rows at a time, each loaded input
 * serves all of them; each sum in ascending input order). */
static void dense_currents(const float *w, int n_in, int n_out, const float *x, float *acc)
{{
    const float *row = w; /* advanced row by row: no index product to overflow */
    const int n_block = n_out - n_out % {BLOCK};
    int j, i;
    for (j = 0; j < n_block; j += {BLOCK}, row += {BLOCK} * n_in) {{
{_ROW_SUMS}{_ROW_STORE}
    }}
    for (j = n_block; j < n_out; ++j, row += n_in) {{
        float a = 0.0f;
        for (i = 0; i < n_in; ++i) {{
            a += row[i] * x[i];
        }}
        acc[j] = a;
    }}
}}

"""

_SPIKING_CURRENTS = """/* Dense baseline for a spike input: acc[j] = sum of w[j*n_in + i] over the inputs i that spiked
 * (tests every pair; ascending input order, like the event kernel). */
static void spiking_currents(const float *w, int n_in, int n_out, const float *x, float *acc)
{
    int j, i;
    for (j = 0; j < n_out; ++j) {
        const float *row = w + (long)j * n_in;
        float a = 0.0f;
        for (i = 0; i < n_in; ++i) {
            if (x[i] != 0.0f) {
                a += row[i];
            }
        }
        acc[j] = a;
    }
}

"""

_DOCS = {
    "recurrent": " * recurrent LIF: U = beta*U_prev + (W*x + b) + (b_V + V*s_prev) - (U_prev > theta)*theta;"
                 " s = (U - theta > 0)\n",
    "synaptic": " * synaptic LIF: J = alpha*J_prev + W*x + b; U = beta*U_prev + J - (U_prev > theta)*theta;"
                " s = (U - theta > 0)\n",
    "adaptive": " * adaptive LIF: A_prev = theta + b_a*a_prev; p = (U_prev > A_prev); a = rho*a_prev + p;\n"
                " *   U = beta*U_prev + W*x + b - p*A_prev; s = (U - theta - b_a*a > 0)\n",
}


def _np(t: th.Tensor) -> np.ndarray:
    return t.detach().cpu().float().numpy()


def generate(net: Any, kinds: tuple[str, ...], low: np.ndarray | None, high: np.ndarray | None, name: str,
             kernel: str) -> tuple[str, str, int, int]:
    """``(header, source, number of const floats, state bytes)`` of the actor ``net`` with the hidden
    neuron types ``kinds`` (checked by :func:`~sb3_spiking.export.c_export.layer_kinds`)."""
    event = kernel == "event"
    upper = name.upper()
    hidden = tuple(int(h) for h in net.hidden)
    n_in, n_out, n_layers = net.fcs[0].in_features, net.readout.out_features, len(hidden)
    leaky = net.readout_kind == "leaky"
    fb = net.feedback
    n_tr = fb.n_traces * fb.action_dim if fb is not None else 0

    # ---- constant data (weights as the layers use them: clamps applied once here)
    data: list[str] = []
    floats = 0

    def put(key: str, values: np.ndarray) -> None:
        nonlocal floats
        values = np.asarray(values, np.float32)
        data.append(_array(key, values))
        floats += values.size

    def spike_fed(w: np.ndarray) -> np.ndarray:  # (out, in) -> the event kernel's (in, out) columns
        return np.ascontiguousarray(w.T) if event else w

    for i, (fc, layer, kind) in enumerate(zip(net.fcs, net.lifs, kinds)):
        w = _np(fc.weight)
        put(f"W{i}", spike_fed(w) if i > 0 else w)
        put(f"B{i}", _np(fc.bias))
        if kind == "lif":
            beta, theta = _lif_params(layer)
        else:
            beta, theta = layer.beta.clamp(0.0, 1.0), layer.threshold
        put(f"BETA{i}", _np(beta))
        put(f"THETA{i}", _np(theta))
        if kind == "recurrent":
            put(f"V{i}", spike_fed(_np(layer.recurrent.weight)))
            put(f"VB{i}", _np(layer.recurrent.bias))
        elif kind == "synaptic":
            put(f"ALPHA{i}", _np(layer.alpha.clamp(0.0, 1.0)))
        elif kind == "adaptive":
            put(f"RHO{i}", _np(layer.rho.clamp(0.0, 1.0)))
            put(f"ADAPT{i}", _np(layer.adapt_strength.clamp_min(0.0)))
    put("W_OUT", spike_fed(_np(net.readout.weight)))
    put("B_OUT", _np(net.readout.bias))
    if leaky:
        put("BETA_OUT", _np(net.readout_beta.clamp(0.0, 1.0)))
    if fb is not None:
        put("FB_ALPHA", _np(fb.decay.clamp(0.0, 1.0)))
        put("W_FB", _np(fb.weight.weight))  # (H0, K·A): the traces are real-valued, a dense input
    unscale = ""
    to_unit = "command[j]"  # the command in force in the network's [-1, 1] (as export.resolve.unit_command)
    if not unit_bounds(low, high):
        put("ACTION_LOW", low)  # type: ignore[arg-type]
        put("ACTION_HIGH", high)  # type: ignore[arg-type]
        unscale = "        a = ACTION_LOW[j] + (0.5f * (a + 1.0f)) * (ACTION_HIGH[j] - ACTION_LOW[j]);\n"
        to_unit = "2.0f * (command[j] - ACTION_LOW[j]) / (ACTION_HIGH[j] - ACTION_LOW[j]) - 1.0f"

    # ---- state struct
    members: list[str] = []
    state_bytes = 0

    def member(decl: str, size: int, nbytes: int, doc: str) -> None:
        nonlocal state_bytes
        members.append(f"    {decl}[{size}];  /* {doc} */")
        state_bytes += size * nbytes

    for i, (h, kind) in enumerate(zip(hidden, kinds)):
        if kind == "synaptic":
            member(f"float syn{i}", h, 4, f"synaptic current J of layer {i}")
        member(f"float mem{i}", h, 4, f"membrane U of layer {i} ({kind})")
        if kind == "adaptive":
            member(f"float adapt{i}", h, 4, f"threshold adaptation a of layer {i}")
        if kind == "recurrent":
            if event:
                member(f"unsigned short spk_idx{i}", h, 2, f"indices of the neurons of layer {i} that spiked last step")
                members.append(f"    int spk_n{i};  /* their number */")
                state_bytes += 4
            else:
                member(f"float spk{i}", h, 4, f"spikes of layer {i} of the last step (0/1)")
    if leaky:
        member("float mem_out", n_out, 4, "membrane of the leaky-integrator readout")
    if fb is not None:
        member("float fb_trace", n_tr, 4, f"feedback traces e ({fb.n_traces} per action, trace-major)")
        member("float fb_last", n_out, 4, "the last command c[t-1] (network output, before unscaling)")

    # ---- step body
    helpers = {"dense_currents"}
    if event:
        helpers.add("add_columns")
    elif n_layers > 1 or "recurrent" in kinds:
        helpers.add("spiking_currents")
    rec_sizes = [h for h, k in zip(hidden, kinds) if k == "recurrent"]
    decls = [f"    float acc[{max(max(hidden), n_out)}];  /* input currents of one layer */"]
    if fb is not None:
        decls.append(f"    float fbc[{hidden[0]}];  /* feedback current of layer 0 */")
    if rec_sizes:
        decls.append(f"    float rc[{max(rec_sizes)}];  /* recurrent current V*s[t-1] */")
    body: list[str] = []
    if fb is not None:
        body += [
            f"    for (j = 0; j < {n_tr}; ++j) {{  /* e = alpha*e + (1 - alpha)*c[t-1] */",
            f"        state->fb_trace[j] = state->fb_last[j % {n_out}] * (1.0f - FB_ALPHA[j])"
            " + FB_ALPHA[j] * state->fb_trace[j];",
            "    }",
            f"    dense_currents(W_FB, {n_tr}, {hidden[0]}, state->fb_trace, fbc);",
        ]
    counts = []
    prev_spk = prev_n = ""
    for i, (h, kind) in enumerate(zip(hidden, kinds)):
        body.append(f"    /* layer {i}: {kind} */")
        if i == 0:
            body.append(f"    dense_currents(W0, {n_in}, {h}, obs, acc);")
        elif event:
            body.append(f"    add_columns(W{i}, {h}, {prev_spk}, {prev_n}, acc);")
        else:
            body.append(f"    spiking_currents(W{i}, {hidden[i - 1]}, {h}, {prev_spk}, acc);")
        cur = f"acc[j] + B{i}[j]"
        if i == 0 and fb is not None:
            cur += " + fbc[j]"
        if kind == "recurrent":
            if event:  # the previous step's spikes, read before this step overwrites them
                body.append(f"    add_columns(V{i}, {h}, state->spk_idx{i}, state->spk_n{i}, rc);")
            else:
                body.append(f"    spiking_currents(V{i}, {h}, {h}, state->spk{i}, rc);")
            cur += f" + VB{i}[j] + rc[j]"
        if kind == "lif":
            mode = _reset_mode(net.lifs[i])
            update = f"lif_update_{mode}({cur}, BETA{i}[j], THETA{i}[j], &state->mem{i}[j])"
        elif kind == "recurrent":
            update = f"lif_update_subtract({cur}, BETA{i}[j], THETA{i}[j], &state->mem{i}[j])"
        elif kind == "synaptic":
            update = f"syn_update({cur}, ALPHA{i}[j], BETA{i}[j], THETA{i}[j], &state->syn{i}[j], &state->mem{i}[j])"
        else:
            update = (f"alif_update({cur}, RHO{i}[j], ADAPT{i}[j], BETA{i}[j], THETA{i}[j], &state->mem{i}[j], "
                      f"&state->adapt{i}[j])")
        if event:
            out_idx = f"state->spk_idx{i}" if kind == "recurrent" else f"idx{i}"
            if kind != "recurrent":
                decls.append(f"    unsigned short idx{i}[{h}];  /* indices of the neurons of layer {i} that spiked */")
            body += [
                f"    n{i} = 0;",
                f"    for (j = 0; j < {h}; ++j) {{",
                f"        if ({update}) {{",
                f"            {out_idx}[n{i}++] = (unsigned short)j;",
                "        }",
                "    }",
            ]
            if kind == "recurrent":
                body.append(f"    state->spk_n{i} = n{i};")
            prev_spk, prev_n = out_idx, f"n{i}"
            counts.append(f"n{i}")
        else:
            spk = f"state->spk{i}" if kind == "recurrent" else f"spk{i}"
            if kind != "recurrent":
                decls.append(f"    float spk{i}[{h}];  /* spikes of layer {i} (0/1) */")
            body += [
                f"    for (j = 0; j < {h}; ++j) {{",
                f"        {spk}[j] = (float){update};",
                f"        count += (int){spk}[j];",
                "    }",
            ]
            prev_spk = spk
    squash = "tanhf(leaky_readout(y, BETA_OUT[j], &state->mem_out[j]))" if leaky else "tanhf(y)"
    feed = "        state->fb_last[j] = a;  /* the command fed back: the network output */\n" if fb is not None else ""
    if event:
        decls.append(f"    int {', '.join(f'n{i}' for i in range(n_layers))};")
        body += [
            f"    add_columns(W_OUT, {n_out}, {prev_spk}, {prev_n}, acc);",
            f"    for (j = 0; j < {n_out}; ++j) {{",
            "        float y = acc[j] + B_OUT[j];",
            f"        float a = {squash};",
            f"{feed}{unscale}        action[j] = a;",
            "    }",
            f"    state->spike_count = {' + '.join(counts)};",
        ]
    else:
        decls.append("    int count = 0;")
        body += [
            f"    spiking_currents(W_OUT, {hidden[-1]}, {n_out}, {prev_spk}, acc);",
            f"    for (j = 0; j < {n_out}; ++j) {{",
            "        float y = acc[j] + B_OUT[j];",
            f"        float a = {squash};",
            f"{feed}{unscale}        action[j] = a;",
            "    }",
            "    state->spike_count = count;",
        ]
        helpers.add("spiking_currents")
    decls.append("    int j;")

    # ---- helpers actually used (an unused static function is a warning, and -Werror)
    fns = ""
    modes = sorted({_reset_mode(layer) for layer, k in zip(net.lifs, kinds) if k == "lif"}
                   | ({"subtract"} if "recurrent" in kinds else set()))
    fns += "".join(_UPDATE_FN[m] for m in modes)
    if "synaptic" in kinds:
        fns += _SYN_FN
    if "adaptive" in kinds:
        fns += _ALIF_FN
    if leaky:
        fns += LEAKY_FN
    fns += _DENSE_CURRENTS
    if "add_columns" in helpers:
        fns += _ADD_COLUMNS
    if "spiking_currents" in helpers:
        fns += _SPIKING_CURRENTS

    layer_doc = "".join(_LIF_DOC[m] for m in sorted({_reset_mode(layer) for layer, k in zip(net.lifs, kinds) if k == "lif"}))
    layer_doc += "".join(_DOCS[k] for k in ("recurrent", "synaptic", "adaptive") if k in kinds)
    if fb is not None:
        layer_doc += (" * action feedback: e = alpha*e + (1 - alpha)*c_prev (traces, trace-major); layer 0 adds W_fb*e;\n"
                      " *   c = this step's output tanh(.) (before the action bounds)\n")
    readout_doc = f"linear({n_out}) -> LI -> tanh" if leaky else f"linear({n_out}) -> tanh"
    chain = " -> ".join(f"{k}({h})" for k, h in zip(kinds, hidden))
    start_decl = start_fn = start_doc = ""
    if fb is not None:
        start_doc = f" ({name}_start() where the command in force is known)"
        start_decl = (f"\n/* Start an episode from the command in force command[{upper}_N_OUTPUTS] (action units: what the\n"
                      " * actuators execute now): the zero state, the action feedback holding that command. */\n"
                      f"void {name}_start({name}_state_t *state, const float *command);\n")
        start_fn = f"""
void {name}_start({name}_state_t *state, const float *command)
{{
    int j;
    memset(state, 0, sizeof(*state));
    for (j = 0; j < {n_out}; ++j) {{
        float c = {to_unit};
        state->fb_last[j] = c < -1.0f ? -1.0f : (c > 1.0f ? 1.0f : c);
    }}
    for (j = 0; j < {n_tr}; ++j) {{  /* every trace at its steady state */
        state->fb_trace[j] = state->fb_last[j % {n_out}];
    }}
}}
"""
    header = f"""/* {name}.h - spiking actor exported by sb3_spiking (do not edit; regenerate instead).
 *
 * {n_in} inputs -> {chain} -> {readout_doc}{' (action fed back)' if fb is not None else ''}
{layer_doc} *   Call {name}_reset() at the start of every episode{start_doc}.
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
{chr(10).join(members)}
    int spike_count;  /* spikes emitted by all hidden layers during the last step */
}} {name}_state_t;

/* Zero the state (the trained actor's initial state). */
void {name}_reset({name}_state_t *state);
{start_decl}
/* One control step: obs[{upper}_N_INPUTS] -> action[{upper}_N_OUTPUTS]; updates state. */
void {name}_step({name}_state_t *state, const float *obs, float *action);

/* Number of spikes of the last step (for activity / energy estimates). */
int {name}_last_spike_count(const {name}_state_t *state);

#ifdef __cplusplus
}}
#endif

#endif /* {upper}_H */
"""
    source = f"""/* {name}.c - generated by sb3_spiking.export.c_export (do not edit; regenerate instead). */
#include "{name}.h"

#include <math.h>
#include <string.h>

{''.join(data)}
{fns}void {name}_reset({name}_state_t *state)
{{
    memset(state, 0, sizeof(*state));
}}
{start_fn}
int {name}_last_spike_count(const {name}_state_t *state)
{{
    return state->spike_count;
}}

void {name}_step({name}_state_t *state, const float *obs, float *action)
{{
{chr(10).join(decls)}
{chr(10).join(body)}
}}
"""
    return header, source, floats, state_bytes
