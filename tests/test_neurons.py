"""Neuron maths: parity with snnTorch (forward and surrogate gradients) and the slope buffer.

Every test runs twice: with the C sequence kernel (the CPU default) and with the torch loop (the
path of CUDA and of machines without a C compiler).
"""

import pytest
import torch as th

from sb3_spiking import neurons
from sb3_spiking.neurons import LIF, FastSigmoidSpike, SpikingMLP


@pytest.fixture(autouse=True, params=["c_kernel", "torch"])
def lif_path(request, monkeypatch):
    if request.param == "torch":
        monkeypatch.setattr(neurons, "_kernel_for", lambda x: None)
    elif neurons._load_kernel() is None:
        pytest.skip("no C compiler here: the kernel path is not available")
    return request.param

snn = pytest.importorskip("snntorch")
from snntorch import surrogate  # noqa: E402


def _snntorch_unroll(currents, beta, theta, slope):
    leaky = snn.Leaky(
        beta=beta.clone(), threshold=theta.clone(), learn_beta=True, learn_threshold=True,
        reset_mechanism="subtract", spike_grad=surrogate.fast_sigmoid(slope=slope),
    )
    mem = th.zeros_like(currents[0])
    spikes, mems = [], []
    for current in currents:
        spk, mem = leaky(current, mem)
        spikes.append(spk)
        mems.append(mem)
    return th.stack(spikes), th.stack(mems), leaky


@pytest.mark.parametrize("slope", [1.0, 2.0, 25.0, 100.0])
def test_lif_matches_snntorch_forward_and_gradients(slope):
    th.manual_seed(0)
    T, B, N = 30, 8, 16
    x = th.randn(T, B, N) * 0.8 + 0.3
    beta, theta = th.rand(N), th.rand(N) * 0.9 + 0.1

    lif = LIF(N, slope=slope)
    with th.no_grad():
        lif.beta.copy_(beta)
        lif.threshold.copy_(theta)
    x_ours = x.clone().requires_grad_(True)
    spikes, _ = lif(x_ours, th.zeros(B, N))

    x_ref = x.clone().requires_grad_(True)
    ref_spikes, ref_mems, leaky = _snntorch_unroll(x_ref, beta, theta, slope)
    assert ref_spikes.sum() > 0.05 * ref_spikes.numel(), "test inputs must make the neurons spike"
    assert th.equal(spikes, ref_spikes)

    # a loss that weights every time step differently, so BPTT through the membrane matters
    w = th.linspace(0.5, 1.5, T)[:, None, None]
    (spikes * w).sum().backward()
    (ref_spikes * w).sum().backward()
    assert th.allclose(x_ours.grad, x_ref.grad, atol=1e-5, rtol=1e-4)
    assert th.allclose(lif.beta.grad, leaky.beta.grad, atol=1e-4, rtol=1e-4)
    assert th.allclose(lif.threshold.grad, leaky.threshold.grad, atol=1e-4, rtol=1e-4)
    assert x_ours.grad.abs().sum() > 0


def test_membrane_matches_snntorch_step_by_step():
    th.manual_seed(1)
    T, B, N = 20, 4, 10
    x = th.randn(T, B, N)
    beta, theta = th.rand(N), th.rand(N) + 0.2
    lif = LIF(N)
    with th.no_grad():
        lif.beta.copy_(beta)
        lif.threshold.copy_(theta)
    _, ref_mems, _ = _snntorch_unroll(x, beta, theta, 2.0)
    mem = th.zeros(B, N)
    for t in range(T):
        _, mem = lif.step(x[t], mem)
        assert th.allclose(mem, ref_mems[t], atol=1e-6)


def test_surrogate_derivative_formula():
    x = th.tensor([-1.0, -0.1, 0.0, 0.2, 2.0], requires_grad=True)
    k = th.tensor(10.0)
    out = FastSigmoidSpike.apply(x, k)
    assert out.tolist() == [0.0, 0.0, 0.0, 1.0, 1.0]
    out.sum().backward()
    assert th.allclose(x.grad, 1.0 / (1.0 + 10.0 * x.detach().abs()) ** 2)


def test_beta_clamped_to_unit_interval():
    lif = LIF(3)
    with th.no_grad():
        lif.beta.copy_(th.tensor([-0.5, 0.5, 1.7]))
        lif.threshold.fill_(100.0)  # no spikes, pure leak
    _, mem = lif(th.zeros(1, 1, 3), th.ones(1, 3))
    assert th.allclose(mem, th.tensor([[0.0, 0.5, 1.0]]))


def test_slope_is_a_buffer_in_state_dict_and_changes_in_place():
    net = SpikingMLP(5, 2, (8, 4), slope=3.0)
    sd = net.state_dict()
    assert sd["lifs.0.slope"].item() == 3.0 and sd["lifs.1.slope"].item() == 3.0
    weights_before = [p.detach().clone() for p in net.parameters()]
    net.set_slope(50.0)
    assert net.slope == 50.0
    assert all(th.equal(a, b) for a, b in zip(weights_before, net.parameters()))
    assert "slope" not in dict(net.named_parameters())
    clone = SpikingMLP(5, 2, (8, 4), slope=1.0)
    clone.load_state_dict(net.state_dict())
    assert clone.slope == 50.0


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_slope_rejected(bad):
    with pytest.raises(ValueError, match="slope"):
        LIF(4, slope=bad)
    with pytest.raises(ValueError, match="slope"):
        LIF(4).set_slope(bad)


def assert_same_to_rounding(a: th.Tensor, b: th.Tensor) -> None:
    """Step-by-step and sequence outputs (and states) share every formula, but a matmul over T·B rows may round
    differently from one over B rows (seen on AVX-512 CPUs: 1 ulp in the readout), so they are
    compared to float32 rounding, not bitwise. A flipped spike would move an output by far more than 1e-6."""
    assert th.allclose(a, b, rtol=0, atol=1e-6), (a - b).abs().max()


def test_sequence_equals_step_by_step_and_slope_changes_gradient_not_output():
    th.manual_seed(2)
    net = SpikingMLP(6, 3, (16, 8))
    x = th.randn(12, 5, 6) * 2
    out_seq, state_seq = net(x, net.initial_state(5))
    state = net.initial_state(5)
    for t in range(12):
        out_t, state = net.step(x[t], state)
        assert_same_to_rounding(out_t, out_seq[t])  # deployment steps = training sequences
    for a, b in zip(state, state_seq):
        assert_same_to_rounding(a, b)

    def grad_at(slope):
        net.zero_grad()
        net.set_slope(slope)
        out, _ = net(x, net.initial_state(5))
        out.sum().backward()
        return out.detach(), net.fcs[0].weight.grad.clone()

    out_a, g_a = grad_at(1.0)
    out_b, g_b = grad_at(100.0)
    assert th.equal(out_a, out_b)  # the slope only shapes gradients
    assert not th.allclose(g_a, g_b)


def test_fused_sequence_matches_autograd_unroll_including_state_gradients():
    th.manual_seed(4)
    T, B, N = 25, 6, 12
    lif = LIF(N, slope=5.0)
    with th.no_grad():
        lif.beta.copy_(th.tensor([-0.2, 1.3] + [0.7] * (N - 2)))  # clamped entries get no gradient
    x = (th.randn(T, B, N) + 0.4).requires_grad_(True)
    m0 = (th.randn(B, N) * 0.5).requires_grad_(True)
    w_s, w_m = th.randn(T, B, N), th.randn(B, N)

    spikes, mem = lif(x, m0)
    ((spikes * w_s).sum() + (mem * w_m).sum()).backward()
    fused = [t.grad.clone() for t in (x, m0, lif.beta, lif.threshold)]
    for t in (x, m0, lif.beta, lif.threshold):
        t.grad = None

    mem, outs = m0, []
    for t in range(T):
        s, mem = lif.step(x[t], mem)
        outs.append(s)
    assert th.equal(th.stack(outs), spikes)
    ((th.stack(outs) * w_s).sum() + (mem * w_m).sum()).backward()
    reference = [t.grad for t in (x, m0, lif.beta, lif.threshold)]
    for a, b in zip(fused, reference):
        assert th.allclose(a, b, atol=1e-5, rtol=1e-4)
    assert fused[2][0] == 0 and fused[2][1] == 0


def test_step_equals_sequence_from_a_spiking_initial_state():
    # the first step's reset comes from the initial membrane: it must match step() bit for bit
    th.manual_seed(5)
    lif = LIF(32, slope=3.0)
    x = th.randn(15, 4, 32)
    m0 = th.rand(4, 32) * 2  # about half above threshold
    assert (m0 > lif.threshold).any()
    spikes, mem_seq = lif(x, m0)
    mem = m0
    for t in range(15):
        s, mem = lif.step(x[t], mem)
        assert th.equal(s, spikes[t])
    assert th.equal(mem, mem_seq)


def test_single_step_sequence_gradients_match_step():
    th.manual_seed(6)
    lif = LIF(8, slope=4.0)
    x = (th.randn(1, 3, 8) + 0.5).requires_grad_(True)
    m0 = th.rand(3, 8).requires_grad_(True)
    spikes, mem = lif(x, m0)
    (spikes.sum() + mem.sum()).backward()
    fused = [t.grad.clone() for t in (x, m0, lif.beta, lif.threshold)]
    for t in (x, m0, lif.beta, lif.threshold):
        t.grad = None
    s, mem = lif.step(x[0], m0)
    (s.sum() + mem.sum()).backward()
    for a, b in zip(fused, (x.grad, m0.grad, lif.beta.grad, lif.threshold.grad)):
        assert th.allclose(a, b, atol=1e-6, rtol=1e-5)


def test_initial_state_follows_network_device_and_dtype():
    net = SpikingMLP(3, 2, (5, 4)).double()
    state = net.initial_state(7)
    assert [s.shape for s in state] == [(7, 5), (7, 4)]
    assert all(s.dtype == th.float64 and s.device == net.readout.weight.device for s in state)
    out, _ = net(th.randn(6, 7, 3, dtype=th.float64), state)
    assert out.dtype == th.float64


def test_actor_update_benchmark_runs_and_matches_snntorch_gradients():
    from benchmarks import bench_actor_update

    res = bench_actor_update.run(batch=8, seq=12, warmup=6, repeats=1, device="cpu")
    assert res["max_rel_grad_diff"] < 1e-3
    assert {r["row"] for r in res["rows"]} >= {"snnTorch Leaky", "ours (full graph)", "ours + burn-in"}
    assert all(r["median_ms"] > 0 for r in res["rows"])


@pytest.mark.skipif(not th.cuda.is_available(), reason="needs CUDA")
def test_cuda_sequence_matches_cpu_and_step():
    th.manual_seed(7)
    net = SpikingMLP(6, 3, (16, 8))
    x = th.randn(20, 5, 6) * 2
    out_cpu, _ = net(x, net.initial_state(5))
    out_cpu.sum().backward()
    grads_cpu = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    net_gpu = net.to("cuda")
    xg = x.to("cuda")
    out_gpu, state_gpu = net_gpu(xg, net_gpu.initial_state(5))
    assert out_gpu.device.type == "cuda" and all(s.device.type == "cuda" for s in state_gpu)
    out_gpu.sum().backward()
    assert th.allclose(out_gpu.cpu(), out_cpu, atol=1e-5)
    for g_cpu, p in zip(grads_cpu, net_gpu.parameters()):
        assert th.allclose(p.grad.cpu(), g_cpu, atol=1e-4, rtol=1e-3)
    state = net_gpu.initial_state(5)
    for t in range(20):
        out_t, state = net_gpu.step(xg[t], state)
        assert th.equal(out_t, out_gpu[t])


def test_c_kernel_and_torch_loop_agree(monkeypatch, lif_path):
    # the torch loop's addcmul is a fused multiply-add, the kernel rounds twice: membranes may
    # differ in the last bit, spikes (away from the threshold) and gradients agree
    th.manual_seed(8)
    lif = LIF(64, slope=10.0)
    with th.no_grad():
        lif.beta.uniform_(-0.2, 1.2)
    x = (th.randn(40, 16, 64) + 0.3).requires_grad_(True)
    m0 = th.randn(16, 64).requires_grad_(True)
    w = th.randn(40, 16, 64)

    def run():
        for t in (x, m0, lif.beta, lif.threshold):
            t.grad = None
        spikes, mem = lif(x, m0)
        ((spikes * w).sum() + mem.sum()).backward()
        return spikes.detach(), mem.detach(), [t.grad.clone() for t in (x, m0, lif.beta, lif.threshold)]

    if lif_path != "c_kernel":
        pytest.skip("compares the two paths: runs once")
    s_c, m_c, g_c = run()
    monkeypatch.setattr(neurons, "_kernel_for", lambda x: None)
    s_t, m_t, g_t = run()
    assert th.equal(s_c, s_t)
    assert th.allclose(m_c, m_t, atol=1e-5, rtol=1e-5)
    for a, b in zip(g_c, g_t):
        assert th.allclose(a, b, atol=1e-5, rtol=1e-4)
    assert g_c[2].abs().sum() > 0 and g_c[3].abs().sum() > 0


def test_kernels_can_be_switched_off(monkeypatch):
    from sb3_spiking import _cbuild

    monkeypatch.setenv("SB3_SPIKING_NO_CKERNEL", "1")
    assert _cbuild.kernels_disabled()
    assert _cbuild.load(neurons._KERNEL_SOURCE, "lif_kernel", "test") is None
    monkeypatch.setenv("SB3_SPIKING_NO_CKERNEL", "0")
    assert not _cbuild.kernels_disabled()


def test_leaky_readout_sequence_equals_steps_and_learns_its_leak():
    th.manual_seed(9)
    net = SpikingMLP(6, 3, (16, 8), readout="leaky", readout_beta=0.7)
    state0 = net.initial_state(5)
    assert [s.shape for s in state0] == [(5, 16), (5, 8), (5, 3)]
    x = th.randn(20, 5, 6) * 2
    out_seq, state_seq = net(x, state0)
    state, m = state0, th.zeros(5, 3)
    y = net.readout(net(x, state0, return_spikes=True)[2][-1]).detach()
    for t in range(20):
        out_t, state = net.step(x[t], state)
        assert th.equal(out_t, out_seq[t])  # bitwise: deployment steps = training sequences
        m = 0.7 * m + 0.3 * y[t]  # the documented LI recurrence, unit DC gain
        assert th.allclose(out_t, th.tanh(m), atol=1e-6)
    assert all(th.equal(a, b) for a, b in zip(state, state_seq))
    out_seq.sum().backward()
    assert net.readout_beta.grad is not None and net.readout_beta.grad.abs().sum() > 0


def test_linear_readout_state_is_unchanged_and_bad_readouts_rejected():
    assert [s.shape for s in SpikingMLP(6, 3, (16, 8)).initial_state(2)] == [(2, 16), (2, 8)]
    with pytest.raises(ValueError, match="readout must be one of"):
        SpikingMLP(6, 3, (16, 8), readout="membrane")
    with pytest.raises(ValueError, match="readout_beta"):
        SpikingMLP(6, 3, (16, 8), readout="leaky", readout_beta=1.5)


def test_deployment_steps_without_grad_equal_the_training_sequence():
    # predict() steps under no_grad (the C kernel's lif_step on CPU); training unrolls sequences
    th.manual_seed(10)
    net = SpikingMLP(6, 3, (16, 8))
    x = th.randn(30, 4, 6) * 2
    state0 = tuple(th.rand(4, h) * 2 for h in (16, 8))  # a spiking initial state
    out_seq, state_seq = net(x, state0)
    state = state0
    with th.no_grad():
        for t in range(30):
            out_t, state = net.step(x[t], state)
            assert_same_to_rounding(out_t, out_seq[t])
    for a, b in zip(state, state_seq):
        assert_same_to_rounding(a, b)


def test_allocator_setting_applies_once_and_can_be_skipped(monkeypatch):
    import platform

    from sb3_spiking import allocator

    monkeypatch.setattr(allocator, "_applied", False)
    monkeypatch.setenv("SB3_SPIKING_NO_MALLOPT", "1")
    assert allocator.keep_freed_memory() is False and allocator._applied is False
    monkeypatch.delenv("SB3_SPIKING_NO_MALLOPT")
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    assert allocator.keep_freed_memory() is True  # glibc accepts both thresholds
    assert allocator.keep_freed_memory() is True  # idempotent


# ------------------------------------------------------------------------- reset to zero (NIR's LIF)
@pytest.mark.parametrize("slope", [2.0, 25.0])
def test_zero_reset_matches_snntorch_leaky_reset_zero(slope):
    th.manual_seed(10)
    T, B, N = 30, 8, 16
    x = th.randn(T, B, N) * 0.8 + 0.3
    beta, theta = th.rand(N) * 0.9, th.rand(N) * 0.9 + 0.1  # inside the mode's clamps
    lif = LIF(N, slope=slope, reset="zero")
    with th.no_grad():
        lif.beta.copy_(beta)
        lif.threshold.copy_(theta)
    x_ours = x.clone().requires_grad_(True)
    spikes, _ = lif(x_ours, th.zeros(B, N))

    leaky = snn.Leaky(beta=beta.clone(), threshold=theta.clone(), learn_beta=True, learn_threshold=True,
                      reset_mechanism="zero", spike_grad=surrogate.fast_sigmoid(slope=slope))
    x_ref = x.clone().requires_grad_(True)
    mem, ref = th.zeros(B, N), []
    for t in range(T):
        spk, mem = leaky(x_ref[t], mem)
        ref.append(spk)
    ref_spikes = th.stack(ref)
    assert ref_spikes.sum() > 0.05 * ref_spikes.numel()
    assert th.equal(spikes, ref_spikes)
    w = th.linspace(0.5, 1.5, T)[:, None, None]
    (spikes * w).sum().backward()
    (ref_spikes * w).sum().backward()
    assert th.allclose(x_ours.grad, x_ref.grad, atol=1e-5, rtol=1e-4)
    assert th.allclose(lif.beta.grad, leaky.beta.grad, atol=1e-4, rtol=1e-4)
    assert th.allclose(lif.threshold.grad, leaky.threshold.grad, atol=1e-4, rtol=1e-4)


def _zero_reset_reference(lif, x, m0):
    """Plain autograd unroll of the "zero" reset: U = β'(1 − s_prev)U + I, the reset detached."""
    beta = lif.beta.clamp(0.0, neurons.ZERO_RESET_BETA_MAX)
    theta = lif.threshold.clamp(min=neurons.ZERO_RESET_THRESHOLD_MIN)
    mem, outs = m0, []
    for t in range(x.shape[0]):
        keep = 1.0 - (mem > theta).to(mem.dtype).detach()
        mem = beta * keep * mem + x[t]
        outs.append(neurons.spike(mem - theta, lif.slope))
    return th.stack(outs), mem


def test_zero_reset_sequence_and_step_gradients_match_an_autograd_unroll():
    th.manual_seed(11)
    T, B, N = 25, 6, 12
    lif = LIF(N, slope=5.0, reset="zero")
    with th.no_grad():
        # clamped entries get no gradient: β below 0, β above 0.999, θ below 0.01
        lif.beta.copy_(th.tensor([-0.2, 1.3] + [0.7] * (N - 2)))
        lif.threshold[2] = -0.5
    x = (th.randn(T, B, N) + 0.4).requires_grad_(True)
    m0 = (th.randn(B, N) * 0.5).requires_grad_(True)
    w_s, w_m = th.randn(T, B, N), th.randn(B, N)
    params = (x, m0, lif.beta, lif.threshold)

    def grads(spikes, mem):
        for t in params:
            t.grad = None
        ((spikes * w_s).sum() + (mem * w_m).sum()).backward()
        return [t.grad.clone() for t in params]

    spikes, mem = lif(x, m0)
    fused = grads(spikes, mem)
    ref_spikes, ref_mem = _zero_reset_reference(lif, x, m0)
    assert th.equal(ref_spikes, spikes) and spikes.mean() > 0.1
    reference = grads(ref_spikes, ref_mem)
    mem_s, outs = m0, []
    for t in range(T):
        s, mem_s = lif.step(x[t], mem_s)
        outs.append(s)
    assert th.equal(th.stack(outs), spikes)
    stepped = grads(th.stack(outs), mem_s)
    for a, b, c in zip(fused, reference, stepped):
        assert th.allclose(a, b, atol=1e-5, rtol=1e-4)
        assert th.allclose(c, b, atol=1e-5, rtol=1e-4)
    assert fused[2][0] == 0 and fused[2][1] == 0 and fused[3][2] == 0
    assert fused[2][3:].abs().sum() > 0 and fused[3].abs().sum() > 0


def test_zero_reset_keeps_time_constants_finite_and_thresholds_positive():
    lif = LIF(4, reset="zero")
    with th.no_grad():
        lif.beta.copy_(th.tensor([1.5, 1.0, 0.5, -1.0]))
        lif.threshold.copy_(th.tensor([-1.0, 0.0, 0.5, 2.0]))
    assert lif.effective_beta().tolist() == pytest.approx([0.999, 0.999, 0.5, 0.0])
    assert lif.effective_threshold().tolist() == pytest.approx([0.01, 0.01, 0.5, 2.0])
    # a neuron that spiked restarts from zero: with no input its membrane stays 0
    _, mem = lif.step(th.zeros(1, 4), th.tensor([[5.0, 5.0, 5.0, 5.0]]))
    assert mem.tolist() == [[0.0, 0.0, 0.0, 0.0]]
    with pytest.raises(ValueError, match="reset"):
        LIF(4, reset="one")
    net = SpikingMLP(3, 2, (5, 4), lif_reset="zero")
    assert all(lif.reset == "zero" for lif in net.lifs)
    assert "reset='zero'" in repr(net)
