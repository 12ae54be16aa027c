"""Spiking layers with memory beyond one leaky membrane, and the action feedback synapse.

Every layer here has the contract of :class:`~sb3_spiking.neurons.LIF` generalised to a tuple state:
``state_sizes`` (one entry per state variable, each ``(B, size)``), ``step(current, state)`` for one
time step and ``forward(currents, state)`` for a ``(T, B, size)`` sequence, both returning
``(spikes, new_state)``; ``set_slope`` changes the surrogate slope kept in the ``slope`` buffer.
The sequence path is the step path in a loop (under autograd), so training and deployment compute
the same arithmetic in the same order.

* :class:`RecurrentLIF` — LIF plus an all-to-all recurrent weight matrix on the layer's own previous
  spikes (snnTorch ``RLeaky(all_to_all=True)``; tested against it).
* :class:`SynapticLIF` — current-based LIF with a synaptic current per neuron (snnTorch ``Synaptic``,
  NIR ``CubaLIF``; tested against snnTorch).
* :class:`AdaptiveLIF` — LIF with a slow adaptive threshold per neuron (Bellec et al. 2018, LSNN).
* :class:`ActionFeedback` — the network's copy of its own motor command (efference copy), filtered by
  a bank of leaky traces with learned decays, as an input current to the first layer.

Time constants are learned per neuron, clamped to ``[0, 1]`` like the LIF leak, and initialised
slow enough to hold information for tens of steps (see each class).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

import torch as th
from torch import nn

from sb3_spiking import _cbuild, neurons
from sb3_spiking.neurons import DEFAULT_FEEDBACK_DECAYS, _c, _p, check_slope, spike


class _SpikingLayer(nn.Module):
    """Shared parts: size, learned leak β and threshold θ, slope buffer."""

    state_names: tuple[str, ...] = ("mem",)

    def __init__(self, size: int, slope: float = 2.0, learn_beta: bool = True, learn_threshold: bool = True):
        super().__init__()
        if size <= 0:
            raise ValueError(f"{type(self).__name__} size must be positive, got {size}")
        self.size = int(size)
        self.beta = nn.Parameter(th.rand(size), requires_grad=learn_beta)
        self.threshold = nn.Parameter(th.rand(size), requires_grad=learn_threshold)
        self.register_buffer("slope", th.tensor(float(check_slope(slope))))

    @property
    def state_sizes(self) -> tuple[int, ...]:
        return (self.size,) * len(self.state_names)

    def set_slope(self, slope: float) -> None:
        """Change the surrogate slope in place (weights and optimiser state untouched)."""
        self.slope.fill_(check_slope(slope))

    def step(self, current: th.Tensor, state: tuple[th.Tensor, ...]) -> tuple[th.Tensor, tuple[th.Tensor, ...]]:
        raise NotImplementedError

    def forward(self, currents: th.Tensor, state: tuple[th.Tensor, ...]) -> tuple[th.Tensor, tuple[th.Tensor, ...]]:
        """Run ``(T, B, size)`` input currents from ``state``: spikes ``(T, B, size)`` and the final state."""
        if currents.shape[0] == 0:
            raise ValueError(f"{type(self).__name__} needs at least one time step")
        spikes = []
        for t in range(currents.shape[0]):
            s, state = self.step(currents[t], state)
            spikes.append(s)
        return th.stack(spikes), state


class RecurrentLIF(_SpikingLayer):
    """LIF with all-to-all recurrence on the layer's own spikes (snnTorch ``RLeaky``, ``all_to_all``).

    ``U[t] = β·U[t-1] + I[t] + V·s[t-1] + b − sg(H(U[t-1] − θ))·θ``, ``s[t] = H(U[t] − θ)`` with the
    surrogate gradient, which also carries the gradient through the recurrence. The state is
    ``(U, s)``: the previous spikes are kept (not recomputed from ``U``) so that the zero state has no
    gradient path, as in snnTorch. ``V`` starts small (uniform ±1/√size, PyTorch's ``Linear``
    default), so the network starts close to a plain LIF stack.
    """

    state_names = ("mem", "spk")

    def __init__(self, size: int, slope: float = 2.0, learn_beta: bool = True, learn_threshold: bool = True):
        super().__init__(size, slope, learn_beta, learn_threshold)
        self.recurrent = nn.Linear(size, size)

    def step(self, current, state):
        spikes, state = self(current.unsqueeze(0), state)  # one formula for deployment and training
        return spikes[0], state

    def forward(self, currents, state):
        if currents.shape[0] == 0:
            raise ValueError("RecurrentLIF needs at least one time step")
        spikes, mem = RecurrentSequence.apply(currents, *state, self.recurrent.weight, self.recurrent.bias, self.beta,
                                              self.threshold, self.slope)
        return spikes, (mem, spikes[-1])


class RecurrentSequence(th.autograd.Function):
    """A recurrent-LIF sequence as one autograd node: per step one in-place ``addmm_`` and the step's elementwise work
    forward, a hand-written backward (no graph of ~10 nodes per step). The elementwise work is one C pass per step on
    CPU (:func:`_kernel_for`), torch ops elsewhere (CUDA): the same spikes, values within float rounding. Same values
    and gradients as the step-by-step autograd unroll (tested against snnTorch ``RLeaky``)."""

    @staticmethod
    def forward(ctx, currents, mem0, spk0, weight, bias, beta, theta, slope):  # type: ignore[override]
        T = currents.shape[0]
        b = beta.clamp(0.0, 1.0)
        spikes = th.empty_like(currents)
        mems = currents + bias  # each step adds its recurrent product to its row in place (no copy per step)
        mem, prev = mem0, spk0
        reset = th.gt(mem0, theta).to(mem0.dtype)  # afterwards the previous step's spikes: the same comparison
        wt = weight.t()
        kernel = _kernel_for(currents)  # CPU: the elementwise part of a step in one C pass, the same operations
        if kernel is not None:
            b_, th_ = _c(b), _c(theta)
        for t in range(T):
            u = mems[t].addmm_(prev, wt)
            if kernel is not None:
                kernel.rec_forward_step(u.shape[0], u.shape[1], _p(u), _p(_c(mem)), _p(b_), _p(th_), _p(spikes[t]))
            else:
                u.addcmul_(b, mem).addcmul_(reset, theta, value=-1.0)
                th.gt(u, theta, out=spikes[t])
            mem, prev = u, spikes[t]
            reset = prev
        ctx.save_for_backward(mem0, spk0, mems, spikes, weight, beta, theta, slope)
        return spikes, mems[-1].clone()

    @staticmethod
    def backward(ctx, g_spikes, g_mem):  # type: ignore[override]
        mem0, spk0, mems, spikes, weight, beta, theta, slope = ctx.saved_tensors
        T = mems.shape[0]
        b = beta.clamp(0.0, 1.0)
        g_s = th.zeros_like(mems) if g_spikes is None else g_spikes.clone()
        g_u = th.empty_like(mems)
        carry = th.zeros_like(mem0) if g_mem is None else g_mem.clone()  # beta*g_u[t+1] (+ final gradient)
        in_range = ((beta >= 0) & (beta <= 1)).to(mems.dtype)
        kernel = _kernel_for(mems)
        if kernel is not None:  # CPU: the elementwise part of each backward step and its sums in one C pass
            B, H = mem0.shape
            b_, th_, carry = _c(b), _c(theta), _c(carry)
            part, acc = th.zeros(3, H, dtype=mems.dtype), th.zeros(3, H, dtype=th.float64)
            for t in range(T - 1, -1, -1):
                part.zero_()
                kernel.rec_backward_step(B, H, _p(g_s[t]), _p(mems[t]), _p(_c(mem0) if t == 0 else mems[t - 1]), _p(b_),
                                         _p(th_), float(slope), _p(carry), _p(g_u[t]), _p(part))
                acc += part  # float over the batch of a step, double over time (as the other kernels)
                if t > 0:
                    g_s[t - 1].addmm_(g_u[t], weight)  # s[t-1] fed the recurrence of step t
            acc = acc.to(mems.dtype)
            g_beta, g_theta = acc[1] * in_range, -(acc[0] + acc[2])
        else:
            sg = th.sub(mems, theta).abs_().mul_(slope).add_(1.0)
            sg = sg.mul_(sg).reciprocal_()  # surrogate derivative at every step
            for t in range(T - 1, -1, -1):
                th.addcmul(carry, g_s[t], sg[t], out=g_u[t])
                if t > 0:
                    g_s[t - 1].addmm_(g_u[t], weight)  # s[t-1] fed the recurrence of step t
                th.mul(g_u[t], b, out=carry)
            # the previous step's values are mem0 at t = 0 and mems[t-1] after: summed in two parts instead of
            # concatenating (T, B, H) copies
            first = g_u[0]
            g_beta = ((first * mem0).sum(0) + (g_u[1:] * mems[:-1]).sum((0, 1))) * in_range
            reset_pull = (first * (mem0 > theta)).sum(0) + (g_u[1:] * (mems[:-1] > theta)).sum((0, 1))
            g_theta = -((g_s * sg).sum((0, 1)) + reset_pull)
        g_weight = th.addmm(g_u[0].t() @ spk0, g_u[1:].flatten(0, 1).t(), spikes[:-1].flatten(0, 1))
        return g_u, carry, g_u[0] @ weight, g_weight, g_u.sum((0, 1)), g_beta, g_theta, None


class SynapticLIF(_SpikingLayer):
    """Current-based LIF: a synaptic current filters the input (snnTorch ``Synaptic``, NIR ``CubaLIF``).

    ``J[t] = α·J[t-1] + I[t]``, ``U[t] = β·U[t-1] + J[t] − sg(H(U[t-1] − θ))·θ``, ``s[t] = H(U[t] − θ)``.
    Two state variables per neuron, ``(J, U)``. α is learned per neuron and starts uniform in
    ``[0.5, 0.95]`` (synaptic time constants of 1.4–20 steps): the current remembers inputs for longer
    than the leaky membrane alone, and two neurons with different α can form a difference of filtered
    inputs (a velocity from positions).
    """

    state_names = ("syn", "mem")

    def __init__(self, size: int, slope: float = 2.0, learn_beta: bool = True, learn_threshold: bool = True):
        super().__init__(size, slope, learn_beta, learn_threshold)
        self.alpha = nn.Parameter(0.5 + 0.45 * th.rand(size))

    def step(self, current, state):
        if _kernel_for(current) is not None:  # the sequence kernel with T = 1: the same arithmetic
            spikes, state = self(current.unsqueeze(0), state)
            return spikes[0], state
        syn, mem = state
        reset = (mem > self.threshold).to(mem.dtype)
        syn = self.alpha.clamp(0.0, 1.0) * syn + current
        mem = self.beta.clamp(0.0, 1.0) * mem + syn - reset * self.threshold
        return spike(mem - self.threshold, self.slope), (syn, mem)

    def forward(self, currents, state):
        if _kernel_for(currents) is None:
            return super().forward(currents, state)
        spikes, syn, mem = SynapticSequence.apply(currents, *state, self.alpha, self.beta, self.threshold, self.slope)
        return spikes, (syn, mem)


class AdaptiveLIF(_SpikingLayer):
    """LIF with an adaptive threshold (ALIF of Bellec et al. 2018, "Long short-term memory and
    learning-to-learn in networks of spiking neurons").

    Every spike raises the neuron's threshold, which then relaxes slowly:
    ``A[t] = θ + b·a[t]``, ``a[t] = ρ·a[t-1] + s[t-1]``,
    ``U[t] = β·U[t-1] + I[t] − sg(s[t-1])·A[t-1]``, ``s[t] = H(U[t] − A[t])``, with
    ``s[t-1] = H(U[t-1] − A[t-1])``. State ``(U, a)``. ρ is learned per neuron and starts uniform in
    ``[0.9, 0.99]`` (10–100 steps); the adaptation strength ``b ≥ 0`` (clamped) starts at 0.2.
    The reset subtracts the effective threshold, as in LSNN.
    """

    state_names = ("mem", "adapt")

    def __init__(self, size: int, slope: float = 2.0, learn_beta: bool = True, learn_threshold: bool = True):
        super().__init__(size, slope, learn_beta, learn_threshold)
        self.rho = nn.Parameter(0.9 + 0.09 * th.rand(size))
        self.adapt_strength = nn.Parameter(th.full((size,), 0.2))

    def effective_threshold(self, adapt: th.Tensor) -> th.Tensor:
        return self.threshold + self.adapt_strength.clamp_min(0.0) * adapt

    def forward(self, currents, state):
        if _kernel_for(currents) is None:
            return super().forward(currents, state)
        spikes, mem, adapt = AdaptiveSequence.apply(currents, *state, self.rho, self.adapt_strength, self.beta,
                                                    self.threshold, self.slope)
        return spikes, (mem, adapt)

    def step(self, current, state):
        if _kernel_for(current) is not None:  # the sequence kernel with T = 1: the same arithmetic
            spikes, state = self(current.unsqueeze(0), state)
            return spikes[0], state
        mem, adapt = state
        prev_threshold = self.effective_threshold(adapt)
        prev = (mem > prev_threshold).to(mem.dtype)
        adapt = self.rho.clamp(0.0, 1.0) * adapt + prev
        mem = self.beta.clamp(0.0, 1.0) * mem + current - prev * prev_threshold
        return spike(mem - self.effective_threshold(adapt), self.slope), (mem, adapt)


# ---------------------------------------------------------------------------------------------- C kernels
_KERNEL_SOURCE = Path(__file__).with_name("_memory_kernel.c")


@functools.lru_cache(maxsize=1)
def _load_kernel() -> ctypes.CDLL | None:
    # no trapping math: the per-row loops vectorise (comparisons as masks; the same arithmetic), as setup.py builds it
    lib = _cbuild.load(_KERNEL_SOURCE, "memory_kernel", "synaptic / adaptive LIF", extra_flags=("-O3", "-fno-trapping-math"))
    if lib is None:
        return None
    i64, p, f = ctypes.c_int64, ctypes.c_void_p, ctypes.c_float
    lib.syn_forward.argtypes, lib.syn_forward.restype = [i64, i64, i64, *[p] * 9], None
    lib.syn_backward.argtypes, lib.syn_backward.restype = [i64, i64, i64, *[p] * 8, f, *[p] * 6], ctypes.c_int
    lib.alif_forward.argtypes, lib.alif_forward.restype = [i64, i64, i64, *[p] * 10], None
    lib.alif_backward.argtypes, lib.alif_backward.restype = [i64, i64, i64, *[p] * 9, f, *[p] * 6], ctypes.c_int
    lib.rec_forward_step.argtypes, lib.rec_forward_step.restype = [i64, i64, *[p] * 5], None
    lib.rec_backward_step.argtypes, lib.rec_backward_step.restype = [i64, i64, *[p] * 5, f, p, p, p], None
    return lib


def _kernel_for(x: th.Tensor) -> ctypes.CDLL | None:
    """The C kernel for float32 CPU tensors when the LIF kernel is in use too
    (:func:`sb3_spiking.neurons.use_c_kernel` switches both); ``None`` elsewhere: the torch loop runs."""
    if neurons._kernel_for(x) is None:
        return None
    return _load_kernel()


def _in_range(x: th.Tensor, low: float, high: float | None = None) -> th.Tensor:
    """Where ``clamp`` passes the gradient (inclusive bounds, as torch's clamp backward)."""
    keep = x >= low if high is None else (x >= low) & (x <= high)
    return keep.to(x.dtype)


class SynapticSequence(th.autograd.Function):
    """A synaptic-LIF sequence as one autograd node (C forward and backward loops)."""

    @staticmethod
    def forward(ctx, currents, syn0, mem0, alpha, beta, theta, slope):  # type: ignore[override]
        kernel = _load_kernel()
        T, B, H = currents.shape
        a, b = alpha.clamp(0.0, 1.0), beta.clamp(0.0, 1.0)
        c, j0, u0, a_, b_, th_ = (_c(v) for v in (currents, syn0, mem0, a, b, theta))
        syns, mems, spikes = (th.empty(T, B, H, dtype=currents.dtype) for _ in range(3))
        kernel.syn_forward(T, B, H, _p(c), _p(j0), _p(u0), _p(a_), _p(b_), _p(th_), _p(syns), _p(mems), _p(spikes))
        ctx.save_for_backward(j0, u0, syns, mems, alpha, beta, theta, slope)
        return spikes, syns[-1].clone(), mems[-1].clone()

    @staticmethod
    def backward(ctx, g_spikes, g_syn, g_mem):  # type: ignore[override]
        j0, u0, syns, mems, alpha, beta, theta, slope = ctx.saved_tensors
        T, B, H = mems.shape
        a, b = _c(alpha.clamp(0.0, 1.0)), _c(beta.clamp(0.0, 1.0))
        gs = _c(g_spikes) if g_spikes is not None else th.zeros_like(mems)
        gj, gu = (None if g is None else _c(g) for g in (g_syn, g_mem))
        gi, g_syn0, g_mem0 = th.empty_like(mems), th.empty_like(j0), th.empty_like(u0)
        acc = th.zeros(4, H, dtype=th.float64)
        if _load_kernel().syn_backward(T, B, H, _p(gs), _p(j0), _p(u0), _p(syns), _p(mems), _p(a), _p(b), _p(_c(theta)),
                                       float(slope), _p(gj), _p(gu), _p(gi), _p(g_syn0), _p(g_mem0), _p(acc)):
            raise MemoryError("synaptic LIF backward kernel: could not allocate its scratch memory")
        acc = acc.to(mems.dtype)
        return (gi, g_syn0, g_mem0, acc[0] * _in_range(alpha, 0.0, 1.0), acc[1] * _in_range(beta, 0.0, 1.0),
                -(acc[2] + acc[3]), None)


class AdaptiveSequence(th.autograd.Function):
    """An adaptive-LIF sequence as one autograd node (C forward and backward loops)."""

    @staticmethod
    def forward(ctx, currents, mem0, ad0, rho, strength, beta, theta, slope):  # type: ignore[override]
        kernel = _load_kernel()
        T, B, H = currents.shape
        r, s_, b = rho.clamp(0.0, 1.0), strength.clamp_min(0.0), beta.clamp(0.0, 1.0)
        c, u0, a0, r_, s2, b_, th_ = (_c(v) for v in (currents, mem0, ad0, r, s_, b, theta))
        mems, ads, spikes = (th.empty(T, B, H, dtype=currents.dtype) for _ in range(3))
        kernel.alif_forward(T, B, H, _p(c), _p(u0), _p(a0), _p(r_), _p(s2), _p(b_), _p(th_), _p(mems), _p(ads), _p(spikes))
        ctx.save_for_backward(u0, a0, mems, ads, rho, strength, beta, theta, slope)
        return spikes, mems[-1].clone(), ads[-1].clone()

    @staticmethod
    def backward(ctx, g_spikes, g_mem, g_ad):  # type: ignore[override]
        u0, a0, mems, ads, rho, strength, beta, theta, slope = ctx.saved_tensors
        T, B, H = mems.shape
        r, s_, b = (_c(v) for v in (rho.clamp(0.0, 1.0), strength.clamp_min(0.0), beta.clamp(0.0, 1.0)))
        gs = _c(g_spikes) if g_spikes is not None else th.zeros_like(mems)
        gu, ga = (None if g is None else _c(g) for g in (g_mem, g_ad))
        gi, g_mem0, g_ad0 = th.empty_like(mems), th.empty_like(u0), th.empty_like(a0)
        acc = th.zeros(4, H, dtype=th.float64)
        if _load_kernel().alif_backward(T, B, H, _p(gs), _p(u0), _p(a0), _p(mems), _p(ads), _p(r), _p(s_), _p(b),
                                        _p(_c(theta)), float(slope), _p(gu), _p(ga), _p(gi), _p(g_mem0), _p(g_ad0), _p(acc)):
            raise MemoryError("adaptive LIF backward kernel: could not allocate its scratch memory")
        acc = acc.to(mems.dtype)
        return (gi, g_mem0, g_ad0, acc[0] * _in_range(rho, 0.0, 1.0), acc[1] * _in_range(strength, 0.0),
                acc[2] * _in_range(beta, 0.0, 1.0), acc[3], None)


#: neuron types of :class:`~sb3_spiking.neurons.SpikingMLP`'s hidden layers, by policy-kwarg name
#: ("lif" is :class:`~sb3_spiking.neurons.LIF`, added there to avoid a circular import)
MEMORY_LAYERS: dict[str, type[_SpikingLayer]] = {
    "recurrent": RecurrentLIF,
    "synaptic": SynapticLIF,
    "adaptive": AdaptiveLIF,
}


class ActionFeedback(nn.Module):
    """The network's own motor command fed back into its first layer (an efference copy).

    Why: a controller whose plant lags its commands (the drone's motors) needs to know what it
    commanded lately; a feed-forward spiking stack has no path from its outputs. This synapse keeps
    ``n_traces`` leaky traces per action of the last commands,
    ``e_k[t] = α_k·e_k[t-1] + (1 − α_k)·c[t-1]``, and adds ``W_fb·e[t]`` to the first layer's input
    current. ``α`` (per trace and action) is learned and starts at ``decays`` (default 0, 0.5, 0.8,
    0.95: the last command and three filters up to a 20-step time constant).

    The state is ``(e[t-1], c[t-1])``: the traces and the last command. Deployed, ``c`` is the
    network's own output. In training, :class:`~sb3_spiking.guided_td3.policies.SpikingActor`
    replays the command that was *executed* (the guide's while it flew, with exploration noise
    otherwise) — the copy of what was sent to the motors, which is what their state follows; in
    deployment the two are the same.

    :param action_dim: number of actions.
    :param out_dim: size of the first layer.
    :param decays: initial trace decays, each in ``[0, 1)``.
    """

    def __init__(self, action_dim: int, out_dim: int, decays: tuple[float, ...] = DEFAULT_FEEDBACK_DECAYS):
        super().__init__()
        decays = tuple(float(d) for d in decays)
        if not decays or any(not 0.0 <= d < 1.0 for d in decays):
            raise ValueError(f"feedback_decays must be a non-empty list of values in [0, 1), got {list(decays)}")
        self.action_dim, self.n_traces = int(action_dim), len(decays)
        self.decay = nn.Parameter(th.tensor(decays).repeat_interleave(action_dim))  # (K·A,), trace-major
        self.weight = nn.Linear(self.n_traces * action_dim, out_dim, bias=False)

    @property
    def state_sizes(self) -> tuple[int, int]:
        return (self.n_traces * self.action_dim, self.action_dim)

    def traces(self, traces: th.Tensor, last: th.Tensor) -> th.Tensor:
        """``e[t]`` from ``e[t-1]`` and the last command ``c[t-1]``."""
        alpha = self.decay.clamp(0.0, 1.0)  # the formula of TraceSequence: steps equal the training sequence
        return th.addcmul(last.repeat(1, self.n_traces) * (1.0 - alpha), alpha, traces)

    def sequence(self, traces: th.Tensor, last: th.Tensor, commands: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        """Traces over a window whose executed commands are known (teacher forcing).

        :param commands: ``(T, B, A)`` command executed at each step; step ``t`` reads ``commands[t-1]``
            (``last`` for ``t = 0``).
        :return: ``e`` for every step ``(T, B, K·A)`` and the final traces.
        """
        prev = th.cat([last.unsqueeze(0), commands[:-1]]).repeat(1, 1, self.n_traces)  # c[t-1], per trace
        out = TraceSequence.apply(prev, traces, self.decay)
        return out, out[-1]


class TraceSequence(th.autograd.Function):
    """``e[t] = α·e[t-1] + (1 − α)·x[t]`` over a sequence as one autograd node (the commands ``x`` are
    data: no gradient); a few in-place kernels per step instead of a graph of three nodes per step."""

    @staticmethod
    def forward(ctx, x, e0, decay):  # type: ignore[override]
        alpha = decay.clamp(0.0, 1.0)
        out = th.empty_like(x)
        e = e0
        for t in range(x.shape[0]):
            e = th.addcmul(x[t] * (1.0 - alpha), alpha, e, out=out[t])
        ctx.save_for_backward(x, e0, out, decay)
        return out

    @staticmethod
    def backward(ctx, g_out):  # type: ignore[override]
        x, e0, out, decay = ctx.saved_tensors
        alpha = decay.clamp(0.0, 1.0)
        g = g_out.clone()
        for t in range(x.shape[0] - 1, 0, -1):
            g[t - 1].addcmul_(g[t], alpha)
        prev = th.cat([e0.unsqueeze(0), out[:-1]])
        in_range = ((decay >= 0) & (decay <= 1)).to(x.dtype)
        g_decay = (g * (prev - x)).sum((0, 1)) * in_range
        g_e0 = g[0] * alpha if ctx.needs_input_grad[1] else None
        return None, g_e0, g_decay


__all__ = ["MEMORY_LAYERS", "ActionFeedback", "AdaptiveLIF", "RecurrentLIF", "SynapticLIF"]
