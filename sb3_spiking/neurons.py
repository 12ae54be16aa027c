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


class SpikingMLP(nn.Module):
    """Stateful spiking network: ``in -> [Linear -> LIF] x n -> readout -> tanh``.

    One network step per environment step. The state is a tuple with the membrane potential of
    every LIF layer, each ``(B, hidden_i)``, plus the readout membrane ``(B, out_dim)`` for the
    leaky readout; zero is the initial state.

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
    :param hidden: sizes of the LIF layers, e.g. ``(256, 128)`` as in the paper.
    :param slope: initial surrogate slope of every layer.
    :param readout: ``"linear"`` or ``"leaky"`` (see above).
    :param readout_beta: initial leak ``β`` of the leaky readout.
    :param lif_reset: reset of every LIF layer, ``"subtract"`` (the paper's) or ``"zero"`` (NIR's LIF,
        what NIR consumers run), see :class:`LIF`.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: tuple[int, ...] | list[int] = (256, 128), slope: float = 2.0,
                 readout: str = "linear", readout_beta: float = 0.5, lif_reset: str = "subtract"):
        super().__init__()
        if len(hidden) == 0:
            raise ValueError("a spiking network needs at least one LIF layer")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
        if not 0.0 <= float(readout_beta) <= 1.0:
            raise ValueError(f"readout_beta must be in [0, 1], got {readout_beta}")
        sizes = [in_dim, *hidden]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lifs = nn.ModuleList(LIF(h, slope, reset=lif_reset) for h in hidden)
        self.readout = nn.Linear(sizes[-1], out_dim)
        self.hidden = tuple(int(h) for h in hidden)
        self.readout_kind = readout
        if readout == "leaky":
            self.readout_beta = nn.Parameter(th.full((out_dim,), float(readout_beta)))
        self.state_sizes = (*self.hidden, out_dim) if readout == "leaky" else self.hidden

    @property
    def slope(self) -> float:
        return float(self.lifs[0].slope)

    def set_slope(self, slope: float) -> None:
        for lif in self.lifs:
            lif.set_slope(slope)

    def initial_state(self, batch_size: int, device: th.device | str | None = None) -> tuple[th.Tensor, ...]:
        """Zero state (one ``(batch_size, n)`` tensor per entry of ``state_sizes``) on ``device``
        (default: the network's device and dtype)."""
        weight = self.readout.weight
        return tuple(th.zeros(batch_size, h, device=weight.device if device is None else device, dtype=weight.dtype)
                     for h in self.state_sizes)

    def _leaky_step(self, y: th.Tensor, m: th.Tensor) -> th.Tensor:
        # one formula for step() and forward(): sequence training and deployment agree up to the
        # readout matmul's rounding
        beta = self.readout_beta.clamp(0.0, 1.0)
        return th.addcmul(y * (1.0 - beta), beta, m)

    def _readout(self, x: th.Tensor, state: tuple[th.Tensor, ...], new_state: list[th.Tensor]) -> th.Tensor:
        y = self.readout(x)
        if self.readout_kind == "linear":
            return th.tanh(y)
        m = state[len(self.hidden)]
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
        self, inputs: th.Tensor, state: tuple[th.Tensor, ...], return_spikes: bool = False
    ) -> tuple[th.Tensor, tuple[th.Tensor, ...]] | tuple[th.Tensor, tuple[th.Tensor, ...], list[th.Tensor]]:
        """Unroll over a sequence ``(T, B, in_dim)`` from ``state``.

        Layer by layer: each layer's input currents for all T steps come from one matmul, only the
        membrane update loops over time.

        :return: outputs ``(T, B, out_dim)``, final state, and (optionally) each layer's spikes.
        """
        x = inputs
        new_state, all_spikes = [], []
        for fc, lif, mem in zip(self.fcs, self.lifs, state):
            x, mem = lif(fc(x), mem)
            new_state.append(mem)
            all_spikes.append(x)
        out = self._readout(x, state, new_state)
        if return_spikes:
            return out, tuple(new_state), all_spikes
        return out, tuple(new_state)

    def step(self, inputs: th.Tensor, state: tuple[th.Tensor, ...]) -> tuple[th.Tensor, tuple[th.Tensor, ...]]:
        """One step: inputs ``(B, in_dim)`` -> (outputs ``(B, out_dim)``, new state).

        Uses :meth:`LIF.step` directly: for a single step the sequence node's set-up costs more
        than the step itself (deployment latency, see ``benchmarks/bench_predict_latency.py``).
        """
        x, new_state = inputs, []
        for fc, lif, mem in zip(self.fcs, self.lifs, state):
            x, mem = lif.step(fc(x), mem)
            new_state.append(mem)
        return self._readout(x, state, new_state), tuple(new_state)
