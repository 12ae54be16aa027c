"""Leaky integrate-and-fire neurons with a fast-sigmoid surrogate gradient whose slope is a buffer.

The maths follows snnTorch's ``Leaky(reset_mechanism="subtract")`` (or ``"zero"``, :class:`LIF`'s ``reset``) with
``surrogate.fast_sigmoid(slope=k)`` exactly (tested against it), written in plain torch so that

* the slope ``k`` is a registered buffer: it is saved in the ``state_dict``, can be changed during
  training without touching the weights, and does not trigger recompilation;
* a layer processes a whole sequence with one matmul for the input currents and an elementwise
  loop over time, which is what makes sequence (BPTT) updates affordable on a CPU.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
from pathlib import Path

import torch as th
from torch import nn

from sb3_spiking import _cbuild


class FastSigmoidSpike(th.autograd.Function):
    """Heaviside step forward, fast-sigmoid derivative ``1 / (1 + k·|x|)²`` backward.

    ``x`` is the membrane potential minus the threshold. The slope ``k`` gets no gradient.
    """

    @staticmethod
    def forward(ctx, x: th.Tensor, slope: th.Tensor) -> th.Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, slope)
        return (x > 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_output: th.Tensor):  # type: ignore[override]
        x, slope = ctx.saved_tensors
        return grad_output / (slope * x.abs() + 1.0) ** 2, None


def spike(x: th.Tensor, slope: th.Tensor) -> th.Tensor:
    """Spike function with fast-sigmoid surrogate gradient (see :class:`FastSigmoidSpike`)."""
    return FastSigmoidSpike.apply(x, slope)


#: LIF resets: ``"subtract"`` (the paper's, snnTorch's ``Leaky(reset_mechanism="subtract")``) and
#: ``"zero"`` (NIR's LIF: the membrane of a neuron that spiked restarts from zero)
RESETS = ("subtract", "zero")
#: with the ``"zero"`` reset, β ≤ this: a finite time constant ``τ = dt/(1 − β)`` (≤ 1000 steps)
ZERO_RESET_BETA_MAX = 0.999
#: with the ``"zero"`` reset, θ ≥ this: a positive threshold, as NIR consumers assume
ZERO_RESET_THRESHOLD_MIN = 0.01


class LIF(nn.Module):
    """Layer of leaky integrate-and-fire neurons with soft (subtractive) reset, or reset to zero.

    Per step, ``reset = H(U[t-1] - θ)`` (no gradient, as in snnTorch) and ``s[t] = H(U[t] - θ)`` with
    the surrogate derivative ``1/(1 + k|U[t] - θ|)²``; the membrane update depends on ``reset``:

    * ``"subtract"`` (default, the paper's): ``U[t] = clamp(β, 0, 1)·U[t-1] + I[t] - reset·θ``;
    * ``"zero"``: ``U[t] = β'·(1 - reset)·U[t-1] + I[t]`` with ``β' = clamp(β, 0, 0.999)`` and the
      threshold used as ``max(θ, 0.01)``. This is exactly NIR's LIF (reset to ``v_reset = 0``, finite
      time constant, positive threshold) under Euler steps, so the exported graph means what the
      layer computes (:mod:`sb3_spiking.export.nir_export`).

    The hidden state is the membrane potential ``U`` alone: the reset term is a function of it, so a
    deployment only has to carry one vector per layer.

    :param size: number of neurons.
    :param slope: initial surrogate slope ``k`` (> 0); change it with :meth:`set_slope`.
    :param learn_beta: learn the per-neuron leak β (initialised uniform in (0, 1)).
    :param learn_threshold: learn the per-neuron threshold θ (initialised uniform in (0, 1)).
    :param reset: ``"subtract"`` or ``"zero"`` (see above).
    """

    def __init__(self, size: int, slope: float = 2.0, learn_beta: bool = True, learn_threshold: bool = True,
                 reset: str = "subtract"):
        super().__init__()
        if size <= 0:
            raise ValueError(f"LIF size must be positive, got {size}")
        if reset not in RESETS:
            raise ValueError(f"LIF reset must be one of {RESETS}, got {reset!r}")
        self.size = size
        self.reset = reset
        self.beta = nn.Parameter(th.rand(size), requires_grad=learn_beta)
        self.threshold = nn.Parameter(th.rand(size), requires_grad=learn_threshold)
        self.register_buffer("slope", th.tensor(float(check_slope(slope))))

    def extra_repr(self) -> str:
        return f"{self.size}, reset={self.reset!r}"

    def effective_beta(self) -> th.Tensor:
        """The leak the layer computes with (β clamped to its mode's range)."""
        return self.beta.clamp(0.0, 1.0 if self.reset == "subtract" else ZERO_RESET_BETA_MAX)

    def effective_threshold(self) -> th.Tensor:
        """The threshold the layer computes with (θ, kept ≥ 0.01 with the ``"zero"`` reset)."""
        return self.threshold if self.reset == "subtract" else self.threshold.clamp(min=ZERO_RESET_THRESHOLD_MIN)

    def _sequence_args(self) -> tuple[th.Tensor, th.Tensor]:
        # "subtract" passes the raw β: LIFSequence clamps it to [0, 1] itself (bitwise the historic
        # path); "zero" clamps here, so autograd sees its narrower range
        if self.reset == "subtract":
            return self.beta, self.threshold
        return self.effective_beta(), self.effective_threshold()

    def set_slope(self, slope: float) -> None:
        """Change the surrogate slope in place (weights and optimiser state untouched)."""
        self.slope.fill_(check_slope(slope))

    def step(self, current: th.Tensor, mem: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """One time step: input current ``(B, size)`` and membrane ``(B, size)`` -> (spikes, membrane)."""
        # same arithmetic, in the same order, as LIFSequence.forward: given the same input currents,
        # step-by-step deployment and sequence training see bitwise-equal membranes (a spike at the
        # threshold cannot flip). The currents themselves come from a matmul over B rows here and
        # T·B rows there, which some CPU kernels round differently (1 ulp, seen on AVX-512).
        # On CPU both go through the C kernel (one call), elsewhere through the same torch kernels.
        zero = self.reset == "zero"
        kernel = _kernel_for(current)
        if kernel is not None:
            if th.is_grad_enabled() and (current.requires_grad or mem.requires_grad or self.beta.requires_grad
                                         or self.threshold.requires_grad):
                beta, theta = self._sequence_args()
                spikes, mem = LIFSequence.apply(current.unsqueeze(0), mem, beta, theta, self.slope, zero)
                return spikes[0], mem
            # deployment: one C call, no autograd node (the per-step latency of a controller)
            c, m, b, th_ = (_c(v) for v in (current, mem, self.effective_beta(), self.effective_threshold()))
            mem_out, spikes = th.empty_like(c), th.empty_like(c)
            kernel.lif_step(c.shape[0], c.shape[1], _p(c), _p(m), _p(b), _p(th_), _p(mem_out), _p(spikes), int(zero))
            return spikes, mem_out
        theta = self.effective_threshold()
        mem = _lif_update(current, self.effective_beta(), theta, mem, (mem > theta).to(mem.dtype), zero=zero)
        return spike(mem - theta, self.slope), mem

    def forward(self, currents: th.Tensor, mem: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Run a sequence: currents ``(T, B, size)``, initial membrane ``(B, size)``.

        Uses :class:`LIFSequence`, a hand-written BPTT of exactly the maths of :meth:`step`.

        :return: spikes ``(T, B, size)`` and the final membrane ``(B, size)``.
        """
        beta, theta = self._sequence_args()
        return LIFSequence.apply(currents, mem, beta, theta, self.slope, self.reset == "zero")


def _lif_update(current: th.Tensor, beta_c: th.Tensor, theta: th.Tensor, mem: th.Tensor, prev_spikes: th.Tensor,
                out: th.Tensor | None = None, zero: bool = False) -> th.Tensor:
    """``U[t] = β·U[t-1] + I[t] − s[t-1]·θ`` as two kernels, no temporaries (written into ``out``).

    ``s[t-1]·θ`` is exactly ``θ`` or ``0``, so subtracting it with ``addcmul_(…, value=-1)`` is
    bitwise the same as subtracting the reset term. With ``zero``: ``U[t] = β·(1 − s[t-1])·U[t-1] + I[t]``
    (``(1 − s)·U`` is exactly ``U`` or ``0``).
    """
    if zero:
        return th.addcmul(current, beta_c, mem * (1.0 - prev_spikes), out=out)
    return th.addcmul(current, beta_c, mem, out=out).addcmul_(prev_spikes, theta, value=-1.0)


class LIFSequence(th.autograd.Function):
    """A whole LIF sequence as one autograd node (forward loop + hand-written backward loop).

    Same values and gradients as unrolling :meth:`LIF.step` under autograd (tested), but the time
    loops run only a few elementwise kernels per step, allocate nothing and build no graph:

    * forward, per step: ``U[t] = β·U[t-1] + I[t]`` and ``−= s[t-1]·θ`` (two kernels, written
      straight into the saved membrane tensor) and ``s[t] = U[t] > θ`` (written straight into the
      spike output as floats, which the next step's reset reuses);
    * backward: the surrogate derivative for all steps at once (in place, vectorised), then one
      fused kernel per step for ``dU[t] = g_s[t]·σ′(U[t] − θ) + β·dU[t+1]`` (the reset is detached),
      then the β / θ gradients as two reductions over time × batch.

    ``zero=True`` runs the ``"zero"`` reset instead: ``U[t] = β·(1 − s[t-1])·U[t-1] + I[t]``, whose
    backward carries ``β·(1 − s[t])·dU[t+1]`` and gives θ only its spike-path gradient.
    """

    @staticmethod
    def forward(ctx, currents: th.Tensor, mem0: th.Tensor, beta: th.Tensor, theta: th.Tensor, slope: th.Tensor,  # type: ignore[override]
                zero: bool = False):
        if currents.shape[0] == 0:
            raise ValueError("LIFSequence needs at least one time step")
        beta_c = beta.clamp(0.0, 1.0)
        mems = th.empty_like(currents, memory_format=th.contiguous_format)
        spikes = th.empty_like(mems)
        prev = spikes0 = (mem0 > theta).to(currents.dtype)
        kernel = _kernel_for(currents)
        if kernel is not None:
            c, m0, s0, b, th_ = (_c(v) for v in (currents, mem0, spikes0, beta_c, theta))
            T, B, H = currents.shape
            kernel.lif_forward(T, B, H, _p(c), _p(m0), _p(s0), _p(b), _p(th_), _p(mems), _p(spikes), int(zero))
        else:
            mem = mem0
            for t in range(currents.shape[0]):
                mem = _lif_update(currents[t], beta_c, theta, mem, prev, out=mems[t], zero=zero)
                prev = th.gt(mem, theta, out=spikes[t])
        ctx.zero = bool(zero)
        ctx.save_for_backward(mem0, spikes0, mems, spikes, beta, theta, slope)
        return spikes, mems[-1].clone()

    @staticmethod
    def backward(ctx, grad_spikes: th.Tensor, grad_mem: th.Tensor | None):  # type: ignore[override]
        mem0, spikes0, mems, spikes, beta, theta, slope = ctx.saved_tensors
        beta_c = beta.clamp(0.0, 1.0)
        kernel = _kernel_for(mems)
        if kernel is not None:
            return (*_backward_kernel(ctx, kernel, grad_spikes, grad_mem, mem0, spikes0, mems, beta, beta_c, theta, slope),
                    None)
        if ctx.zero:
            return (*_backward_zero(ctx, grad_spikes, grad_mem, mem0, spikes0, mems, spikes, beta, beta_c, theta, slope),
                    None)
        # gradient reaching U[t] through its own spike, g_s[t] / (1 + k|U[t] − θ|)², in one buffer
        grad_u = th.sub(mems, theta)
        grad_u.abs_().mul_(slope).add_(1.0)
        grad_u.mul_(grad_u)
        th.div(grad_spikes, grad_u, out=grad_u)
        grad_theta = grad_u.sum((0, 1)) if ctx.needs_input_grad[3] else None
        # in place, back in time: dU[t] = direct[t] + β·dU[t+1]
        if grad_mem is not None:
            grad_u[-1] += grad_mem
        for t in range(mems.shape[0] - 2, -1, -1):
            grad_u[t].addcmul_(grad_u[t + 1], beta_c)
        grad_mem0 = grad_u[0] * beta_c if ctx.needs_input_grad[1] else None
        grad_beta = None
        prod = None
        if ctx.needs_input_grad[2]:
            in_range = ((beta >= 0) & (beta <= 1)).to(mems.dtype)  # clamp passes gradient inside [0, 1]
            prod = th.mul(grad_u[1:], mems[:-1])
            grad_beta = (prod.sum((0, 1)) + (grad_u[0] * mem0).sum(0)) * in_range
        if grad_theta is not None:  # the reset term −s[t-1]·θ
            prod = th.mul(grad_u[1:], spikes[:-1], out=prod)
            grad_theta = -(grad_theta + prod.sum((0, 1)) + (grad_u[0] * spikes0).sum(0))
        return grad_u, grad_mem0, grad_beta, grad_theta, None, None


def _backward_zero(ctx, grad_spikes, grad_mem, mem0, spikes0, mems, spikes, beta, beta_c, theta, slope):
    """Torch backward of the ``"zero"`` reset: ``U[t+1] = β·(1 − s[t])·U[t] + I``, the reset detached,
    so the carry and β's gradient pass only where the neuron did not spike, and θ gets only the
    spike-path gradient."""
    grad_u = th.sub(mems, theta)
    grad_u.abs_().mul_(slope).add_(1.0)
    grad_u.mul_(grad_u)
    th.div(grad_spikes, grad_u, out=grad_u)
    grad_theta = -grad_u.sum((0, 1)) if ctx.needs_input_grad[3] else None
    if grad_mem is not None:
        grad_u[-1] += grad_mem
    keep = 1.0 - spikes  # (1 − s[t]): the membrane carried into step t + 1
    for t in range(mems.shape[0] - 2, -1, -1):
        grad_u[t].addcmul_(grad_u[t + 1], beta_c * keep[t])
    keep0 = 1.0 - spikes0
    grad_mem0 = grad_u[0] * beta_c * keep0 if ctx.needs_input_grad[1] else None
    grad_beta = None
    if ctx.needs_input_grad[2]:
        in_range = ((beta >= 0) & (beta <= 1)).to(mems.dtype)
        grad_beta = ((grad_u[1:] * mems[:-1] * keep[:-1]).sum((0, 1)) + (grad_u[0] * mem0 * keep0).sum(0)) * in_range
    return grad_u, grad_mem0, grad_beta, grad_theta, None


_KERNEL_SOURCE = Path(__file__).with_name("_lif_kernel.c")


@functools.lru_cache(maxsize=1)
def _load_kernel() -> ctypes.CDLL | None:
    lib = _cbuild.load(_KERNEL_SOURCE, "lif_kernel", "LIF sequence", extra_flags=("-O3",))
    if lib is None:
        return None
    i64, p = ctypes.c_int64, ctypes.c_void_p
    i32 = ctypes.c_int  # the trailing int of each: 1 for the "zero" reset
    lib.lif_forward.argtypes, lib.lif_forward.restype = [i64, i64, i64, *[p] * 7, i32], None
    lib.lif_step.argtypes, lib.lif_step.restype = [i64, i64, *[p] * 6, i32], None
    lib.lif_backward.argtypes, lib.lif_backward.restype = [i64, i64, i64, *[p] * 5, ctypes.c_float, p, p, p, i32], ctypes.c_int
    return lib


_USE_KERNEL = True


@contextlib.contextmanager
def use_c_kernel(enabled: bool) -> Iterator[None]:
    """Within the ``with`` block, use the CPU C kernel or not (e.g. to time both paths side by
    side). ``SB3_SPIKING_NO_CKERNEL=1`` switches it off for the whole process."""
    global _USE_KERNEL
    previous, _USE_KERNEL = _USE_KERNEL, bool(enabled)
    try:
        yield
    finally:
        _USE_KERNEL = previous


def _kernel_for(x: th.Tensor) -> ctypes.CDLL | None:
    """The C kernel for float32 CPU tensors (one call per sequence or step instead of a few torch
    kernels per step); ``None`` elsewhere (CUDA, other dtypes), when switched off, or without a
    compiler: then the torch loop runs."""
    if not _USE_KERNEL or x.device.type != "cpu" or x.dtype != th.float32:
        return None
    return _load_kernel()


def _c(x: th.Tensor) -> th.Tensor:
    return x.detach().contiguous()


def _p(x: th.Tensor | None) -> int | None:
    return None if x is None else x.data_ptr()


def _backward_kernel(ctx, kernel, grad_spikes, grad_mem, mem0, spikes0, mems, beta, beta_c, theta, slope):
    # the reset spikes are recomputed from the membranes in C: the saved spikes are not needed here
    T, B, H = mems.shape
    grad_u = th.empty_like(mems)
    acc = th.zeros(3, H, dtype=th.float64)
    gs, m0, b, th_ = (_c(v) for v in (grad_spikes, mem0, beta_c, theta))
    gm = None if grad_mem is None else _c(grad_mem)
    if kernel.lif_backward(T, B, H, _p(gs), _p(mems), _p(m0), _p(b), _p(th_), float(slope), _p(gm), _p(grad_u), _p(acc),
                           int(ctx.zero)):
        raise MemoryError("LIF backward kernel: could not allocate its scratch memory")
    carry0 = beta_c * (1.0 - spikes0) if ctx.zero else beta_c  # U[0] = β·(1 − s0)·U0 + I with the zero reset
    grad_mem0 = grad_u[0] * carry0 if ctx.needs_input_grad[1] else None
    grad_beta = grad_theta = None
    if ctx.needs_input_grad[2]:
        in_range = ((beta >= 0) & (beta <= 1)).to(mems.dtype)  # clamp passes gradient inside [0, 1]
        grad_beta = acc[1].to(mems.dtype) * in_range
    if ctx.needs_input_grad[3]:
        grad_theta = (-(acc[0] + acc[2])).to(mems.dtype)
    return grad_u, grad_mem0, grad_beta, grad_theta, None


def check_slope(slope: float) -> float:
    """Validate a surrogate slope: a finite number > 0."""
    slope = float(slope)
    if not (slope > 0 and slope < float("inf")):
        raise ValueError(f"surrogate slope must be a finite number > 0, got {slope}")
    return slope


READOUTS = ("linear", "leaky")
#: hidden-layer neuron types (``neuron`` policy kwarg): see :mod:`sb3_spiking.memory_neurons`
NEURONS = ("lif", "recurrent", "synaptic", "adaptive")
#: initial decays of the action feedback's traces: the last command and filters up to a 20-step time constant
DEFAULT_FEEDBACK_DECAYS = (0.0, 0.5, 0.8, 0.95)


def layer_types(neuron: str | list[str] | tuple[str, ...], n_layers: int) -> tuple[str, ...]:
    """One neuron type per hidden layer from a name (all layers) or a list (one per layer).

    :raises ValueError: naming the key ``neuron`` and the allowed values.
    """
    types = (neuron,) * n_layers if isinstance(neuron, str) else tuple(neuron)
    if len(types) != n_layers:
        raise ValueError(f"neuron: a list must give one type per hidden layer ({n_layers}), got {list(types)}")
    for t in types:
        if t not in NEURONS:
            raise ValueError(f"neuron: unknown neuron type {t!r}; allowed: {NEURONS}")
    return types


def make_layer(kind: str, size: int, slope: float, lif_reset: str = "subtract") -> nn.Module:
    """A hidden spiking layer of type ``kind`` (one of :data:`NEURONS`).

    :param lif_reset: the reset of a ``"lif"`` layer; the memory layers reset by subtraction only.
    """
    if kind == "lif":
        return LIF(size, slope, reset=lif_reset)
    if lif_reset != "subtract":
        raise ValueError(f"lif_reset={lif_reset!r} applies to 'lif' layers only; the {kind!r} layer resets by subtraction")
    from sb3_spiking.memory_neurons import MEMORY_LAYERS  # the memory layers build on this module

    return MEMORY_LAYERS[kind](size, slope)


def _layer_state_sizes(layer: nn.Module) -> tuple[int, ...]:
    return (layer.size,) if isinstance(layer, LIF) else tuple(layer.state_sizes)


def _run_layer(layer: nn.Module, currents: th.Tensor, state: tuple[th.Tensor, ...], one_step: bool):
    """``(spikes, state tuple)`` of one hidden layer; LIF keeps its single-tensor interface."""
    if isinstance(layer, LIF):
        spikes, mem = layer.step(currents, state[0]) if one_step else layer(currents, state[0])
        return spikes, (mem,)
    return layer.step(currents, state) if one_step else layer(currents, state)


class SpikingMLP(nn.Module):
    """Stateful spiking network: ``in -> [Linear -> spiking layer] x n -> readout -> tanh``.

    One network step per environment step. The state is a flat tuple of ``(B, n)`` tensors: each
    hidden layer's state variables in order (one membrane for LIF, see
    :mod:`sb3_spiking.memory_neurons` for the others), then the readout membrane ``(B, out_dim)`` for
    the leaky readout, then the action feedback's traces and last command when ``feedback`` is on;
    zero is the initial state (``state_sizes`` lists the sizes).

    Two readouts of the last layer's spikes ``s[t]``:

    * ``"linear"`` (the paper's): ``y[t] = tanh(W s[t] + b)``. The output is a sum of binary
      spikes, so it jumps from step to step.
    * ``"leaky"``: a non-spiking leaky-integrator (LI) output neuron per action,
      ``m[t] = β·m[t-1] + (1 − β)·(W s[t] + b)`` and ``y[t] = tanh(m[t])``, with a learned
      per-output ``β`` in [0, 1] (clamped, as the LIF leak). The unit DC gain keeps ``W`` on the
      scale of the linear readout; it is NIR's ``LI`` node with ``r = 1``, ``v_leak = 0``. The
      filter is part of the network during training, so the actor learns to lead its own lag
      (a filter added only at deployment destabilises a trained actor, docs/drone_recipe.md).

    :param in_dim: input size.
    :param out_dim: output size (actions, squashed to [-1, 1] by tanh).
    :param hidden: sizes of the spiking layers, e.g. ``(256, 128)`` as in the paper.
    :param slope: initial surrogate slope of every layer.
    :param readout: ``"linear"`` or ``"leaky"`` (see above).
    :param readout_beta: initial leak ``β`` of the leaky readout.
    :param lif_reset: reset of every LIF layer, ``"subtract"`` (the paper's) or ``"zero"`` (NIR's LIF,
        what NIR consumers run), see :class:`LIF`.
    :param neuron: hidden neuron type, one of :data:`NEURONS` for all layers or a list with one per
        layer.
    :param feedback: feed the network's own output back into the first layer
        (:class:`~sb3_spiking.memory_neurons.ActionFeedback`).
    :param feedback_decays: initial decays of the feedback traces.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: tuple[int, ...] | list[int] = (256, 128), slope: float = 2.0,
                 readout: str = "linear", readout_beta: float = 0.5, lif_reset: str = "subtract", neuron: str | list[str] = "lif",
                 feedback: bool = False, feedback_decays: tuple[float, ...] | list[float] = DEFAULT_FEEDBACK_DECAYS):
        super().__init__()
        if len(hidden) == 0:
            raise ValueError("a spiking network needs at least one LIF layer")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if not 0.0 <= float(readout_beta) <= 1.0:
            raise ValueError(f"readout_beta must be in [0, 1], got {readout_beta}")
        self.neuron_types = layer_types(neuron, len(hidden))
        sizes = [in_dim, *hidden]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        # named "lifs" for every neuron type: the state_dict keys of LIF actors stay as they were
        self.lifs = nn.ModuleList(make_layer(k, h, slope, lif_reset) for k, h in zip(self.neuron_types, hidden))
        self.readout = nn.Linear(sizes[-1], out_dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.readout_kind = readout
        if readout == "leaky":
            self.readout_beta = nn.Parameter(th.full((out_dim,), float(readout_beta)))
        self.feedback = None
        if feedback:
            from sb3_spiking.memory_neurons import ActionFeedback

            self.feedback = ActionFeedback(out_dim, self.hidden[0], tuple(feedback_decays))
        self._layer_sizes = [_layer_state_sizes(layer) for layer in self.lifs]
        sizes_ = [s for layer in self._layer_sizes for s in layer]
        if readout == "leaky":
            sizes_.append(out_dim)
        if self.feedback is not None:
            sizes_.extend(self.feedback.state_sizes)
        self.state_sizes = tuple(sizes_)

    @property
    def slope(self) -> float:
        return float(self.lifs[0].slope)

    def set_slope(self, slope: float) -> None:
        for lif in self.lifs:
            lif.set_slope(slope)

    def initial_state(self, batch_size: int, device: th.device | str | None = None,
                      command: th.Tensor | None = None) -> tuple[th.Tensor, ...]:
        """Zero state (one ``(batch_size, n)`` tensor per entry of ``state_sizes``) on ``device``
        (default: the network's device and dtype).

        :param command: ``(batch_size, out_dim)`` the command in force, in [-1, 1] (network units): an action
            feedback starts from it, its traces at their steady state (as if it had been held for long) —
            what a deployed controller knows of its actuators at an episode's start. Ignored without feedback.
        """
        weight = self.readout.weight
        state = tuple(th.zeros(batch_size, h, device=weight.device if device is None else device, dtype=weight.dtype)
                      for h in self.state_sizes)
        if command is None or self.feedback is None:
            return state
        c = command.to(state[-1].dtype).reshape(batch_size, -1).clamp(-1.0, 1.0)
        return (*state[:-2], c.repeat(1, self.feedback.n_traces), c)  # traces trace-major (K·A)

    def _split(self, state: tuple[th.Tensor, ...]):
        """(per-layer state tuples, readout membrane or None, feedback state or None)."""
        layers, i = [], 0
        for sizes in self._layer_sizes:
            layers.append(tuple(state[i:i + len(sizes)]))
            i += len(sizes)
        readout = None
        if self.readout_kind == "leaky":
            readout, i = state[i], i + 1
        fb = tuple(state[i:i + 2]) if self.feedback is not None else None
        return layers, readout, fb

    def with_last_command(self, state: tuple[th.Tensor, ...], command: th.Tensor) -> tuple[th.Tensor, ...]:
        """``state`` with the feedback's last command replaced by ``command`` ``(B, out_dim)`` (the
        action actually executed, e.g. the guide's or a noisy one); ``state`` itself without feedback."""
        if self.feedback is None:
            return state
        return (*state[:-1], command.to(state[-1].dtype))

    def _leaky_step(self, y: th.Tensor, m: th.Tensor) -> th.Tensor:
        # one formula for step() and forward(): sequence training and deployment agree up to the
        # readout matmul's rounding
        beta = self.readout_beta.clamp(0.0, 1.0)
        return th.addcmul(y * (1.0 - beta), beta, m)

    def _readout(self, x: th.Tensor, m: th.Tensor | None, new_state: list[th.Tensor]) -> th.Tensor:
        y = self.readout(x)
        if self.readout_kind == "linear":
            return th.tanh(y)
        if y.dim() == 2:  # one step
            m = self._leaky_step(y, m)
            new_state.append(m)
            return th.tanh(m)
        # a sequence: the LI recurrence on (B, out_dim) is tiny next to the LIF layers, a plain loop
        mems = []
        for t in range(y.shape[0]):
            m = self._leaky_step(y[t], m)
            mems.append(m)
        new_state.append(m)
        return th.tanh(th.stack(mems))

    def forward(
        self, inputs: th.Tensor, state: tuple[th.Tensor, ...], return_spikes: bool = False,
        commands: th.Tensor | None = None,
    ) -> tuple[th.Tensor, tuple[th.Tensor, ...]] | tuple[th.Tensor, tuple[th.Tensor, ...], list[th.Tensor]]:
        """Unroll over a sequence ``(T, B, in_dim)`` from ``state``.

        Layer by layer: each layer's input currents for all T steps come from one matmul, only the
        state update loops over time. With ``feedback``, ``commands`` ``(T, B, out_dim)`` are the
        commands executed at each step (teacher forcing: the feedback current is then known for the
        whole window); without them the network feeds back its own outputs, one step at a time.

        :return: outputs ``(T, B, out_dim)``, final state, and (optionally) each layer's spikes.
        """
        if self.feedback is not None and commands is None:
            return self._free_running(inputs, state, return_spikes)
        layers, m, fb = self._split(state)
        x = inputs
        new_state, all_spikes = [], []
        fb_current = fb_final = None
        if self.feedback is not None:
            traces, fb_final = self.feedback.sequence(fb[0], fb[1], commands)
            fb_current = self.feedback.weight(traces)
        for i, (fc, lif, st) in enumerate(zip(self.fcs, self.lifs, layers)):
            current = fc(x) if i > 0 or fb_current is None else fc(x) + fb_current
            x, st = _run_layer(lif, current, st, one_step=False)
            new_state.extend(st)
            all_spikes.append(x)
        out = self._readout(x, m, new_state)
        if self.feedback is not None:
            new_state.extend((fb_final, commands[-1]))
        if return_spikes:
            return out, tuple(new_state), all_spikes
        return out, tuple(new_state)

    def _free_running(self, inputs, state, return_spikes):
        outs, spikes = [], []
        for t in range(inputs.shape[0]):
            y, state, s = self.step(inputs[t], state, return_spikes=True)
            outs.append(y)
            spikes.append(s)
        all_spikes = [th.stack([s[i] for s in spikes]) for i in range(len(self.lifs))]
        if return_spikes:
            return th.stack(outs), state, all_spikes
        return th.stack(outs), state

    def step(self, inputs: th.Tensor, state: tuple[th.Tensor, ...], return_spikes: bool = False):
        """One step: inputs ``(B, in_dim)`` -> (outputs ``(B, out_dim)``, new state[, spikes]).

        Uses :meth:`LIF.step` directly: for a single step the sequence node's set-up costs more
        than the step itself (deployment latency, see ``benchmarks/bench_predict_latency.py``).
        With feedback, the new state's last command is this step's output (deployment); replace it
        with :meth:`with_last_command` when another command was executed.
        """
        layers, m, fb = self._split(state)
        x, new_state, spikes = inputs, [], []
        traces = None
        if self.feedback is not None:
            traces = self.feedback.traces(*fb)
        for i, (fc, lif, st) in enumerate(zip(self.fcs, self.lifs, layers)):
            current = fc(x) if i > 0 or traces is None else fc(x) + self.feedback.weight(traces)
            x, st = _run_layer(lif, current, st, one_step=True)
            new_state.extend(st)
            spikes.append(x)
        out = self._readout(x, m, new_state)
        if self.feedback is not None:
            new_state.extend((traces, out))
        if return_spikes:
            return out, tuple(new_state), spikes
        return out, tuple(new_state)
