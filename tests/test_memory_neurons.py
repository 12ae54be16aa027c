"""Memory layers (recurrent, synaptic, adaptive LIF) and the action feedback: parity with snnTorch,
with independent step-by-step references, training unroll = deployment steps, errors."""

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from sb3_spiking import GuidedTD3
from sb3_spiking.guided_td3.policies import SpikingActor
from sb3_spiking.memory_neurons import ActionFeedback, AdaptiveLIF, RecurrentLIF, SynapticLIF
from sb3_spiking.neurons import NEURONS, SpikingMLP

T, B, N = 30, 6, 12


def _weighted_loss(spikes):
    # every step weighted differently, so BPTT through the state matters
    w = th.linspace(0.5, 1.5, spikes.shape[0])[:, None, None]
    return (spikes * w).sum()


def _inputs(seed=0):
    g = th.Generator().manual_seed(seed)
    return th.randn(T, B, N, generator=g) * 0.8 + 0.3


# ------------------------------------------------------------------ snnTorch parity
snn = pytest.importorskip("snntorch")
from snntorch import surrogate  # noqa: E402


@pytest.mark.parametrize("slope", [2.0, 25.0])
def test_recurrent_lif_matches_snntorch_rleaky(slope):
    th.manual_seed(0)
    ours = RecurrentLIF(N, slope=slope)
    ref = snn.RLeaky(beta=ours.beta.detach().clone(), threshold=ours.threshold.detach().clone(), learn_beta=True,
                     learn_threshold=True, learn_recurrent=True, all_to_all=True, linear_features=N,
                     reset_mechanism="subtract", spike_grad=surrogate.fast_sigmoid(slope=slope))
    with th.no_grad():
        ref.recurrent.weight.copy_(ours.recurrent.weight)
        ref.recurrent.bias.copy_(ours.recurrent.bias)
    x = _inputs()
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    spikes, _ = ours(xa, (th.zeros(B, N), th.zeros(B, N)))
    spk, mem = th.zeros(B, N), th.zeros(B, N)
    ref_spikes = []
    for t in range(T):
        spk, mem = ref(xb[t], spk, mem)
        ref_spikes.append(spk)
    ref_spikes = th.stack(ref_spikes)
    assert 0.05 < ref_spikes.mean() < 0.95, "inputs must make the neurons spike, not saturate"
    assert th.equal(spikes, ref_spikes)
    _weighted_loss(spikes).backward()
    _weighted_loss(ref_spikes).backward()
    th.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)
    th.testing.assert_close(ours.recurrent.weight.grad, ref.recurrent.weight.grad, rtol=1e-4, atol=1e-5)
    th.testing.assert_close(ours.beta.grad, ref.beta.grad, rtol=1e-4, atol=1e-5)
    th.testing.assert_close(ours.threshold.grad, ref.threshold.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("slope", [2.0, 25.0])
def test_synaptic_lif_matches_snntorch_synaptic(slope):
    th.manual_seed(1)
    ours = SynapticLIF(N, slope=slope)
    ref = snn.Synaptic(alpha=ours.alpha.detach().clone(), beta=ours.beta.detach().clone(),
                       threshold=ours.threshold.detach().clone(), learn_alpha=True, learn_beta=True,
                       learn_threshold=True, reset_mechanism="subtract", spike_grad=surrogate.fast_sigmoid(slope=slope))
    x = _inputs(1)
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    spikes, (syn_end, mem_end) = ours(xa, (th.zeros(B, N), th.zeros(B, N)))
    syn, mem = th.zeros(B, N), th.zeros(B, N)
    ref_spikes = []
    for t in range(T):
        spk, syn, mem = ref(xb[t], syn, mem)
        ref_spikes.append(spk)
    ref_spikes = th.stack(ref_spikes)
    assert 0.05 < ref_spikes.mean() < 0.95
    assert th.equal(spikes, ref_spikes)
    th.testing.assert_close(mem_end, mem)
    th.testing.assert_close(syn_end, syn)
    _weighted_loss(spikes).backward()
    _weighted_loss(ref_spikes).backward()
    th.testing.assert_close(xa.grad, xb.grad, rtol=1e-4, atol=1e-5)
    for name in ("alpha", "beta", "threshold"):
        th.testing.assert_close(getattr(ours, name).grad, getattr(ref, name).grad, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------ independent references
def _alif_reference(x, beta, theta, rho, b, slope):
    """ALIF written out from the equations (LSNN, subtractive reset by the effective threshold)."""
    from sb3_spiking.neurons import spike

    mem, adapt = th.zeros(B, N), th.zeros(B, N)
    out = []
    for t in range(x.shape[0]):
        a_prev = theta + b * adapt
        s_prev = (mem > a_prev).float()
        adapt = rho * adapt + s_prev
        mem = beta * mem + x[t] - s_prev * a_prev
        out.append(spike(mem - (theta + b * adapt), th.tensor(slope)))
    return th.stack(out)


def test_adaptive_lif_matches_the_equations_and_adapts():
    th.manual_seed(2)
    layer = AdaptiveLIF(N, slope=5.0)
    x = _inputs(2) + 0.5  # strong drive: thresholds must rise
    xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    spikes, (_, adapt) = layer(xa, (th.zeros(B, N), th.zeros(B, N)))
    ref = _alif_reference(xb, layer.beta.detach().clamp(0, 1), layer.threshold.detach(), layer.rho.detach().clamp(0, 1),
                          layer.adapt_strength.detach(), 5.0)
    assert th.equal(spikes, ref)
    _weighted_loss(spikes).backward()
    _weighted_loss(ref).backward()
    th.testing.assert_close(xa.grad, xb.grad)
    assert layer.rho.grad is not None and layer.rho.grad.abs().sum() > 0
    assert layer.adapt_strength.grad.abs().sum() > 0
    assert (adapt > 0).float().mean() > 0.5  # the thresholds went up
    # the same drive without adaptation spikes more: adaptation lowers the rate
    with th.no_grad():
        layer.adapt_strength.zero_()
        plain, _ = layer(x, (th.zeros(B, N), th.zeros(B, N)))
    assert plain.mean() > spikes.mean() + 0.02


@pytest.mark.parametrize("neuron", NEURONS)
@pytest.mark.parametrize("feedback", [False, True])
def test_training_unroll_equals_deployment_steps(neuron, feedback):
    th.manual_seed(3)
    net = SpikingMLP(5, 3, (16, 8), slope=3.0, readout="leaky", neuron=neuron, feedback=feedback)
    x = th.randn(40, 4, 5) * 2.0
    state = net.initial_state(4)
    outs, states = [], []
    with th.no_grad():
        for t in range(40):
            y, state = net.step(x[t], state)
            outs.append(y)
            states.append(state)
        steps = th.stack(outs)
        # the sequence path, split as with burn-in: the state carries over exactly
        cmds = steps if feedback else None
        y1, mid = net(x[:15], net.initial_state(4), commands=None if cmds is None else cmds[:15])
        y2, end = net(x[15:], mid, commands=None if cmds is None else cmds[15:])
    assert steps.abs().sum() > 0
    th.testing.assert_close(th.cat([y1, y2]), steps, rtol=1e-5, atol=1e-6)
    for a, b in zip(end, states[-1]):
        th.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    assert len(end) == len(net.state_sizes) and all(s.shape == (4, h) for s, h in zip(end, net.state_sizes))


def test_feedback_replays_the_executed_command_and_learns_its_decays():
    th.manual_seed(4)
    net = SpikingMLP(5, 2, (16,), neuron="lif", feedback=True)
    x = th.randn(20, 3, 5)
    executed = th.rand(20, 3, 2) * 2 - 1  # e.g. a guide's commands, not the network's own
    y_forced, _ = net(x, net.initial_state(3), commands=executed)
    # the same by steps, writing the executed command into the state after each step
    state, outs = net.initial_state(3), []
    for t in range(20):
        y, state = net.step(x[t], state)
        outs.append(y)
        state = net.with_last_command(state, executed[t])
    th.testing.assert_close(y_forced, th.stack(outs))
    free, _ = net(x, net.initial_state(3))
    assert (free - y_forced).abs().max() > 1e-3, "the replayed commands must change the output"
    y_forced.pow(2).sum().backward()
    assert net.feedback.decay.grad.abs().sum() > 0 and net.feedback.weight.weight.grad.abs().sum() > 0


def test_feedback_traces_filter_the_last_commands():
    fb = ActionFeedback(1, 4, decays=(0.0, 0.5))
    traces, last = th.zeros(1, 2), th.ones(1, 1)
    e1 = fb.traces(traces, last)
    th.testing.assert_close(e1, th.tensor([[1.0, 0.5]]))
    e2 = fb.traces(e1, th.zeros(1, 1))
    th.testing.assert_close(e2, th.tensor([[0.0, 0.25]]))


# ------------------------------------------------------------------ errors and the policy
def test_bad_memory_options_are_refused_at_construction():
    with pytest.raises(ValueError, match="neuron.*'lstm'.*allowed"):
        SpikingMLP(3, 1, (8,), neuron="lstm")
    with pytest.raises(ValueError, match="neuron: a list must give one type per hidden layer"):
        SpikingMLP(3, 1, (8, 8), neuron=["lif"])
    with pytest.raises(ValueError, match="feedback_decays"):
        SpikingMLP(3, 1, (8,), feedback=True, feedback_decays=[1.5])
    env = gym.make("Pendulum-v1")
    with pytest.raises(ValueError, match="neuron.*allowed"):
        GuidedTD3("SpikingPolicy", env, policy_kwargs=dict(neuron="alif"))
    with pytest.raises(ValueError, match="feedback must be true or false"):
        GuidedTD3("SpikingPolicy", env, policy_kwargs=dict(feedback="action"))
    with pytest.raises(ValueError, match="feedback_decays is an option of the action feedback"):
        GuidedTD3("SpikingPolicy", env, policy_kwargs=dict(feedback_decays=[0.5]))
    with pytest.raises(TypeError, match="neuron"):  # the MLP baseline has no spiking layers to choose
        GuidedTD3("MlpSequencePolicy", env, policy_kwargs=dict(neuron="synaptic"))


def test_memory_actor_saves_loads_and_predicts_with_its_state(tmp_path):
    env = gym.make("Pendulum-v1")
    model = GuidedTD3("SpikingPolicy", env, learning_starts=40, n_seq=8, n_warmup=2, stride=4, batch_size=4,
                      train_freq=20, gradient_steps=2, seed=0,
                      policy_kwargs=dict(net_arch=dict(pi=[16, 8], qf=[16]), neuron=["adaptive", "synaptic"],
                                         feedback=True, readout="leaky"))
    model.learn(120)
    assert isinstance(model.actor, SpikingActor)
    assert model.actor.state_sizes == [16, 16, 8, 8, 1, 4, 1]  # (mem, adapt), (syn, mem), readout, feedback
    obs = np.stack([env.observation_space.sample() for _ in range(3)])
    a1, s1 = model.predict(obs)
    a2, s2 = model.predict(obs, s1, episode_start=np.zeros(3))
    assert not np.allclose(a1, a2), "the state must carry over between steps"
    model.save(tmp_path / "m")
    loaded = GuidedTD3.load(tmp_path / "m")
    b1, t1 = loaded.predict(obs)
    b2, _ = loaded.predict(obs, t1, episode_start=np.zeros(3))
    np.testing.assert_allclose(a2, b2, rtol=1e-5, atol=1e-6)
    assert loaded.actor.net.neuron_types == ("adaptive", "synaptic") and loaded.actor.net.feedback is not None


def test_collection_feeds_the_executed_command_back():
    """While the guide flies, the actor's feedback state holds the guide's command, not its own."""
    env = gym.make("Pendulum-v1")

    def guide(obs):
        return np.full((obs.shape[0], 1), 1.5, dtype=np.float32)  # 0.75 of the bound, scaled

    model = GuidedTD3("SpikingPolicy", env, guide=guide, learning_starts=100, guide_horizon_start=50,
                      guide_horizon_end=50, n_seq=8, n_warmup=2, stride=4, batch_size=4, train_freq=1,
                      seed=0, policy_kwargs=dict(net_arch=dict(pi=[8], qf=[8]), feedback=True))
    model.learn(5)
    last_command = model.collector.actor_state[-1]
    th.testing.assert_close(last_command, th.full((1, 1), 0.75))


@pytest.mark.parametrize("layer_cls", [SynapticLIF, AdaptiveLIF])
def test_c_kernel_matches_the_torch_loop(layer_cls):
    """Values and every gradient (input, parameters, initial state, through the final state too)."""
    from sb3_spiking.memory_neurons import _load_kernel
    from sb3_spiking.neurons import use_c_kernel

    if _load_kernel() is None:
        pytest.skip("no C compiler here: the kernel path is not available")
    th.manual_seed(5)
    layer = layer_cls(N, slope=4.0)
    with th.no_grad():  # some parameters outside their clamp range: no gradient must reach them
        layer.beta[0] = 1.2
        layer.threshold[1] = -0.1
    x = _inputs(5) + 0.3
    init = tuple(th.rand(B, N) * 0.5 for _ in layer.state_sizes)
    results = []
    for enabled in (True, False):
        layer.zero_grad()
        xi = x.clone().requires_grad_(True)
        s0 = tuple(s.clone().requires_grad_(True) for s in init)
        with use_c_kernel(enabled):
            spikes, final = layer(xi, s0)
        assert 0.05 < spikes.mean() < 0.95
        (_weighted_loss(spikes) + sum((f * (i + 1)).sum() for i, f in enumerate(final))).backward()
        grads = [xi.grad, *(s.grad for s in s0)] + [p.grad.clone() for p in layer.parameters()]
        results.append((spikes, final, grads))
    (s_c, f_c, g_c), (s_t, f_t, g_t) = results
    assert th.equal(s_c, s_t)
    for a, b in zip(f_c, f_t):
        th.testing.assert_close(a, b)
    for a, b in zip(g_c, g_t):
        th.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_trace_sequence_gradients_match_autograd():
    from sb3_spiking.memory_neurons import TraceSequence

    th.manual_seed(6)
    x, e0 = th.randn(25, 3, 8), th.randn(3, 8).requires_grad_(True)
    decay = th.tensor([0.0, 0.3, 0.9, 1.2, -0.1, 0.5, 0.99, 0.7]).requires_grad_(True)
    w = th.randn(25, 3, 8)
    (TraceSequence.apply(x, e0, decay) * w).sum().backward()
    g_fast = (e0.grad.clone(), decay.grad.clone())
    e0.grad, decay.grad = None, None
    a, e, out = decay.clamp(0, 1), e0, []
    for t in range(25):
        e = a * e + (1 - a) * x[t]
        out.append(e)
    (th.stack(out) * w).sum().backward()
    th.testing.assert_close(g_fast[0], e0.grad)
    th.testing.assert_close(g_fast[1], decay.grad)
    assert decay.grad[3] == 0 and decay.grad[4] == 0  # clamped entries get no gradient


def test_efficiency_counts_the_memory_synapses_and_the_state():
    from sb3_spiking.analysis.efficiency import make_mlp, mlp_efficiency, spiking_efficiency

    th.manual_seed(7)
    plain = SpikingMLP(3, 2, (5, 4), readout="leaky")
    memory = SpikingMLP(3, 2, (5, 4), readout="leaky", neuron=["recurrent", "synaptic"], feedback=True)
    seq = [np.random.default_rng(0).normal(size=(30, 3)).astype(np.float32) * 3]
    p, m = spiking_efficiency(plain, seq), spiking_efficiency(memory, seq)
    # dense: 3·5 + 5·4 + 4·2 = 43; + V 5·5 + feedback (4 traces × 2 actions) · 5 = 43 + 25 + 40
    assert p.dense_synops == 43 and m.dense_synops == 43 + 25 + 40
    assert p.state_bytes == 4 * (5 + 4 + 2)
    assert m.state_bytes == 4 * (5 + 5 + 4 + 4 + 2 + 8 + 2)  # (mem, spk), (syn, mem), readout, traces, last command
    assert m.effective_acs > 0 and m.effective_macs > p.effective_macs  # the traces are real-valued inputs
    mlp = mlp_efficiency(make_mlp(3 + 8, (4,), 2), np.ones((5, 11), np.float32), history_values=8)
    assert mlp.state_bytes == 32


def test_memory_layer_benchmark_runs_and_checks_snntorch(capsys):
    from benchmarks import bench_memory_layers

    bench_memory_layers.main(["--batches", "2", "--repeats", "1"])
    out = capsys.readouterr().out
    for name in ("| lif |", "| lif + feedback |", "| synaptic |", "| adaptive |", "| recurrent |"):
        assert name in out
    assert out.count("ms)") == 2  # the snnTorch RLeaky and Synaptic ratios (their gradients were checked first)
    assert "recurrent layers' matrix products alone" in out and "snnTorch RLeaky / (LIF + them)" in out


def test_rollout_tells_a_feedback_actor_the_guides_command():
    from stable_baselines3.common.env_util import make_vec_env

    from sb3_spiking.rollout import rollout

    env = make_vec_env("Pendulum-v1", n_envs=2, seed=0)
    model = GuidedTD3("SpikingPolicy", env, seed=0, policy_kwargs=dict(net_arch=dict(pi=[8], qf=[8]), feedback=True))
    seen = []
    predict = model.predict

    def spy(obs, state=None, episode_start=None, deterministic=False):
        if state is not None:
            seen.append(state[-1].copy())
        return predict(obs, state, episode_start, deterministic)

    model.predict = spy  # type: ignore[method-assign]
    rollout(env, 5, model, guide=lambda obs: np.full((obs.shape[0], 1), -1.0, np.float32), guide_steps=3)
    # the state handed to steps 1-3 holds the guide's command (-1 N·m = -0.5 scaled), step 4 the actor's own
    for last in seen[:3]:
        np.testing.assert_allclose(last, -0.5)
    assert not np.allclose(seen[3], -0.5)
