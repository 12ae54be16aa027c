"""Leaky integrate-and-fire neurons with a fast-sigmoid surrogate gradient whose slope is a buffer.

The maths follows snnTorch's ``Leaky(reset_mechanism="subtract")`` with
``surrogate.fast_sigmoid(slope=k)`` exactly (tested against it), written in plain torch so that

* the slope ``k`` is a registered buffer: it is saved in the ``state_dict``, can be changed during
  training without touching the weights, and does not trigger recompilation;
* a layer processes a whole sequence with one matmul for the input currents and an elementwise
  loop over time, which is what makes sequence (BPTT) updates affordable on a CPU.
"""

from __future__ import annotations

import torch as th
from torch import nn


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


class LIF(nn.Module):
    """Layer of leaky integrate-and-fire neurons with soft (subtractive) reset.

    Per step: ``reset = H(U[t-1] - θ)`` (no gradient, as in snnTorch),
    ``U[t] = clamp(β, 0, 1)·U[t-1] + I[t] - reset·θ``, ``s[t] = H(U[t] - θ)`` with the surrogate
    derivative ``1/(1 + k|U[t] - θ|)²``. The hidden state is the membrane potential ``U`` alone: the
    reset term is a function of it, so a deployment only has to carry one vector per layer.

    :param size: number of neurons.
    :param slope: initial surrogate slope ``k`` (> 0); change it with :meth:`set_slope`.
    :param learn_beta: learn the per-neuron leak β (initialised uniform in (0, 1)).
    :param learn_threshold: learn the per-neuron threshold θ (initialised uniform in (0, 1)).
    """

    def __init__(self, size: int, slope: float = 2.0, learn_beta: bool = True, learn_threshold: bool = True):
        super().__init__()
        if size <= 0:
            raise ValueError(f"LIF size must be positive, got {size}")
        self.size = size
        self.beta = nn.Parameter(th.rand(size), requires_grad=learn_beta)
        self.threshold = nn.Parameter(th.rand(size), requires_grad=learn_threshold)
        self.register_buffer("slope", th.tensor(float(check_slope(slope))))

    def set_slope(self, slope: float) -> None:
        """Change the surrogate slope in place (weights and optimiser state untouched)."""
        self.slope.fill_(check_slope(slope))

    def step(self, current: th.Tensor, mem: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """One time step: input current ``(B, size)`` and membrane ``(B, size)`` -> (spikes, membrane)."""
        # same kernels, in the same order, as LIFSequence.forward: step-by-step deployment and
        # sequence training see bitwise-equal membranes (a spike at the threshold cannot flip)
        mem = _lif_update(current, self.beta.clamp(0.0, 1.0), self.threshold, mem, (mem > self.threshold).to(mem.dtype))
        return spike(mem - self.threshold, self.slope), mem

    def forward(self, currents: th.Tensor, mem: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Run a sequence: currents ``(T, B, size)``, initial membrane ``(B, size)``.

        Uses :class:`LIFSequence`, a hand-written BPTT of exactly the maths of :meth:`step`.

        :return: spikes ``(T, B, size)`` and the final membrane ``(B, size)``.
        """
        return LIFSequence.apply(currents, mem, self.beta, self.threshold, self.slope)


def _lif_update(current: th.Tensor, beta_c: th.Tensor, theta: th.Tensor, mem: th.Tensor, prev_spikes: th.Tensor,
                out: th.Tensor | None = None) -> th.Tensor:
    """``U[t] = β·U[t-1] + I[t] − s[t-1]·θ`` as two kernels, no temporaries (written into ``out``).

    ``s[t-1]·θ`` is exactly ``θ`` or ``0``, so subtracting it with ``addcmul_(…, value=-1)`` is
    bitwise the same as subtracting the reset term.
    """
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
    """

    @staticmethod
    def forward(ctx, currents: th.Tensor, mem0: th.Tensor, beta: th.Tensor, theta: th.Tensor, slope: th.Tensor):  # type: ignore[override]
        if currents.shape[0] == 0:
            raise ValueError("LIFSequence needs at least one time step")
        beta_c = beta.clamp(0.0, 1.0)
        mems = th.empty_like(currents, memory_format=th.contiguous_format)
        spikes = th.empty_like(mems)
        prev = spikes0 = (mem0 > theta).to(currents.dtype)
        mem = mem0
        for t in range(currents.shape[0]):
            mem = _lif_update(currents[t], beta_c, theta, mem, prev, out=mems[t])
            prev = th.gt(mem, theta, out=spikes[t])
        ctx.save_for_backward(mem0, spikes0, mems, spikes, beta, theta, slope)
        return spikes, mems[-1].clone()

    @staticmethod
    def backward(ctx, grad_spikes: th.Tensor, grad_mem: th.Tensor | None):  # type: ignore[override]
        mem0, spikes0, mems, spikes, beta, theta, slope = ctx.saved_tensors
        beta_c = beta.clamp(0.0, 1.0)
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
        return grad_u, grad_mem0, grad_beta, grad_theta, None


def check_slope(slope: float) -> float:
    """Validate a surrogate slope: a finite number > 0."""
    slope = float(slope)
    if not (slope > 0 and slope < float("inf")):
        raise ValueError(f"surrogate slope must be a finite number > 0, got {slope}")
    return slope


class SpikingMLP(nn.Module):
    """Stateful spiking network: ``in -> [Linear -> LIF] x n -> Linear readout -> tanh``.

    One network step per environment step. The state is a tuple with the membrane potential of
    every LIF layer, each ``(B, hidden_i)``; zero is the initial state.

    :param in_dim: input size.
    :param out_dim: output size (actions, squashed to [-1, 1] by tanh).
    :param hidden: sizes of the LIF layers, e.g. ``(256, 128)`` as in the paper.
    :param slope: initial surrogate slope of every layer.
    """

    def __init__(self, in_dim: int, out_dim: int, hidden: tuple[int, ...] | list[int] = (256, 128), slope: float = 2.0):
        super().__init__()
        if len(hidden) == 0:
            raise ValueError("a spiking network needs at least one LIF layer")
        sizes = [in_dim, *hidden]
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.lifs = nn.ModuleList(LIF(h, slope) for h in hidden)
        self.readout = nn.Linear(sizes[-1], out_dim)
        self.hidden = tuple(int(h) for h in hidden)

    @property
    def slope(self) -> float:
        return float(self.lifs[0].slope)

    def set_slope(self, slope: float) -> None:
        for lif in self.lifs:
            lif.set_slope(slope)

    def initial_state(self, batch_size: int, device: th.device | str | None = None) -> tuple[th.Tensor, ...]:
        """Zero membranes ``(batch_size, hidden_i)``, on ``device`` (default: the network's device and dtype)."""
        weight = self.readout.weight
        return tuple(th.zeros(batch_size, h, device=weight.device if device is None else device, dtype=weight.dtype) for h in self.hidden)

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
        out = th.tanh(self.readout(x))
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
        return th.tanh(self.readout(x)), tuple(new_state)
