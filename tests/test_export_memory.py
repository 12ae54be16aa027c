"""Export of the memory layers (``recurrent``, ``synaptic``, ``adaptive``) and of the action feedback:
C (both kernels, compiled with the system compiler, checked against ``SpikingMLP.step`` over whole
episodes) and NIR (round trip through our importer, consumer errors)."""

import importlib.util

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from sb3_spiking.export.c_export import export_c, find_c_compiler, run_c_actor, torch_actions
from sb3_spiking.guided_td3.policies import SpikingPolicy
from sb3_spiking.memory_neurons import SynapticLIF
from sb3_spiking.neurons import SpikingMLP

needs_cc = pytest.mark.skipif(find_c_compiler() is None, reason="no C compiler")
needs_nir = pytest.mark.skipif(importlib.util.find_spec("nir") is None, reason="nir extra not installed")

#: (neuron, feedback, readout): every layer type, the feedback alone and in mixed networks
CASES = {
    "recurrent": ("recurrent", False, "linear"),
    "synaptic": ("synaptic", False, "linear"),
    "adaptive": ("adaptive", False, "linear"),
    "lif+feedback": ("lif", True, "linear"),
    "synaptic-adaptive+feedback+leaky": (["synaptic", "adaptive"], True, "leaky"),
    "recurrent-lif+feedback": (["recurrent", "lif"], True, "linear"),
    "adaptive-recurrent-synaptic+leaky": (["adaptive", "recurrent", "synaptic"], False, "leaky"),
}


def _busy_net(neuron, feedback=False, readout="linear", seed=0, n_in=10, n_out=3, hidden=(40, 24)):
    """A random actor whose layers all spike on unit-scale inputs (spike-fed weights and the
    feedback weights scaled up so that every path carries current)."""
    th.manual_seed(seed)
    if not isinstance(neuron, str):
        hidden = (40, 24, 16)[: len(neuron)]
    net = SpikingMLP(n_in, n_out, hidden, neuron=neuron, feedback=feedback, readout=readout)
    with th.no_grad():
        for fc in net.fcs[1:]:
            fc.weight.mul_(3.0)
        if net.feedback is not None:
            net.feedback.weight.weight.mul_(3.0)
    return net


def _episode(n_in=10, steps=400, seed=0):
    obs = np.random.default_rng(seed).normal(0.3, 1.0, (steps, n_in)).astype(np.float32)
    starts = np.zeros(steps, bool)
    starts[[0, steps // 2]] = True  # two episodes: the C state must restart from zero
    return obs, starts


def _step_reference(net, obs, starts):
    """Deployment in torch: ``SpikingMLP.step`` one observation at a time (the feedback gets the
    network's own output). Returns actions, spike counts per step and spike rates per layer."""
    state, actions, counts, rates = net.initial_state(1), [], [], np.zeros(len(net.hidden))
    with th.no_grad():
        for t in range(len(obs)):
            if starts[t]:
                state = net.initial_state(1)
            a, state, spikes = net.step(th.as_tensor(obs[t]).view(1, -1), state, return_spikes=True)
            actions.append(a.view(-1).numpy())
            counts.append(int(sum(s.sum() for s in spikes)))
            rates += [float(s.mean()) for s in spikes]
    return np.stack(actions), np.array(counts), rates / len(obs)


@needs_cc
@pytest.mark.parametrize("case", list(CASES))
def test_c_export_of_memory_layers_matches_step_over_whole_episodes(tmp_path, case):
    neuron, feedback, readout = CASES[case]
    net = _busy_net(neuron, feedback, readout)
    obs, starts = _episode()
    t_act, t_counts, rates = _step_reference(net, obs, starts)
    assert np.all((rates > 0.03) & (rates < 0.8)), f"every layer must spike, not everywhere: {rates}"
    ev_act, ev_counts = run_c_actor(net, obs, starts, workdir=tmp_path / "event")
    de_act, de_counts = run_c_actor(net, obs, starts, workdir=tmp_path / "dense", kernel="dense")
    np.testing.assert_array_equal(ev_act, de_act)  # the kernels add the same values in the same order
    np.testing.assert_array_equal(ev_counts, de_counts)
    np.testing.assert_array_equal(ev_counts, t_counts)
    diff = float(np.abs(ev_act - t_act).max())
    print(f"{case}: max |C - torch step| = {diff:.3g}, spike rates {np.round(rates, 3)}")
    assert diff < 1e-5
    # the sequence reference of the C tests agrees (feedback: free-running, its own commands)
    s_act, s_counts = torch_actions(net, obs, starts)
    np.testing.assert_array_equal(s_counts, t_counts)
    assert np.abs(s_act - t_act).max() < 1e-5
    # the memory matters: without the reset at the second episode the C actions differ there
    c_noreset, _ = run_c_actor(net, obs, workdir=tmp_path / "noreset")
    half = len(obs) // 2
    assert np.abs(c_noreset[half:half + 20] - t_act[half:half + 20]).max() > 1e-4


def test_c_state_struct_holds_every_state_variable(tmp_path):
    net = _busy_net(["synaptic", "adaptive", "recurrent"], feedback=True, readout="leaky")
    exp = export_c(net, tmp_path / "event")
    header = exp.header.read_text()
    for member in ("float syn0[40];", "float mem0[40];", "float mem1[24];", "float adapt1[24];", "float mem2[16];",
                   "unsigned short spk_idx2[16];", "int spk_n2;", "float mem_out[3];", "float fb_trace[12];",
                   "float fb_last[3];"):
        assert member in header, member
    # 4 bytes per float of net.state_sizes, except the recurrent spikes: 2-byte indices and a count
    assert exp.state_bytes == 4 * sum(net.state_sizes) - 2 * 16 + 4
    dense = export_c(net, tmp_path / "dense", kernel="dense")
    assert "float spk2[16];" in dense.header.read_text() and dense.state_bytes == 4 * sum(net.state_sizes)
    source = exp.source.read_text()
    assert "add_columns(V2, 16, state->spk_idx2, state->spk_n2, rc);" in source  # event-driven recurrence
    assert "dense_currents(W_FB, 12, 40, state->fb_trace, fbc);" in source  # dense real-valued feedback


def test_c_export_refuses_an_unknown_layer_naming_it(tmp_path):
    class TunedSynaptic(SynapticLIF):  # a subclass may change the maths: not exported as a SynapticLIF
        pass

    net = _busy_net(["synaptic", "synaptic"])
    net.lifs[1] = TunedSynaptic(24)
    with pytest.raises(ValueError, match=r"hidden layer 1 \(lifs\[1\]\) of type TunedSynaptic"):
        export_c(net, tmp_path)
    assert not list(tmp_path.glob("*.c")), "nothing written for a network it cannot state"


@needs_cc
def test_c_export_of_a_feedback_policy_with_action_bounds_matches_predict():
    # the command fed back is the network output (in [-1, 1]), not the unscaled action
    obs_space = spaces.Box(-np.inf, np.inf, (5,), np.float32)
    act_space = spaces.Box(np.array([0.0, -2.0], np.float32), np.array([1.0, 3.0], np.float32))
    th.manual_seed(1)
    policy = SpikingPolicy(obs_space, act_space, lambda _: 1e-3, net_arch=dict(pi=[16, 8], qf=[8]),
                           neuron=["adaptive", "synaptic"], feedback=True, readout="leaky")
    with th.no_grad():
        policy.actor.net.feedback.weight.weight.mul_(5.0)
    obs = np.random.default_rng(1).normal(0, 2, (250, 5)).astype(np.float32)
    state, expected = None, []
    for o in obs:
        a, state = policy.predict(o[None], state)
        expected.append(a[0])
    c_act, c_counts = run_c_actor(policy, obs)
    assert c_counts.sum() > 0
    assert np.abs(c_act - np.array(expected)).max() < 1e-5


def _mcu_missing() -> str:
    from sb3_spiking.export.mcu import missing_tools

    return ", ".join(missing_tools())


@pytest.mark.skipif(bool(_mcu_missing()), reason=f"needs {_mcu_missing()}")
def test_mcu_run_of_a_memory_actor_matches_step():
    # the cross-compiled export (Cortex-M4F, -Wall -Wextra -Werror -pedantic) in QEMU, both kernels
    from sb3_spiking.export.mcu import run_mcu_actor

    net = _busy_net(["synaptic", "adaptive", "recurrent"], feedback=True, readout="leaky")
    obs, starts = _episode(steps=120)
    t_act, t_counts, _ = _step_reference(net, obs, starts)
    runs = {k: run_mcu_actor(net, obs, starts, kernel=k) for k in ("event", "dense")}
    for res in runs.values():
        assert np.abs(res.actions - t_act).max() < 1e-5
        np.testing.assert_array_equal(res.spikes, t_counts)
    np.testing.assert_array_equal(runs["event"].actions, runs["dense"].actions)
    assert runs["event"].instructions.mean() < runs["dense"].instructions.mean()


# ---------------------------------------------------------------------------------------------- NIR
NIR_CASES = {
    "recurrent": ("recurrent", "linear"),
    "synaptic": ("synaptic", "leaky"),
    "recurrent-synaptic-lif+leaky": (["recurrent", "synaptic", "lif"], "leaky"),
}


@needs_nir
@pytest.mark.parametrize("case", list(NIR_CASES))
def test_nir_round_trip_of_recurrent_and_synaptic_layers(tmp_path, case):
    import nir

    from sb3_spiking.export.nir_export import export_nir, from_nir, load_nir, to_nir

    neuron, readout = NIR_CASES[case]
    net = _busy_net(neuron, readout=readout)
    with pytest.warns(UserWarning, match="subtractive reset"):  # NIR's neurons reset to v_reset
        export_nir(net, tmp_path / "a.nir")
    graph = nir.read(str(tmp_path / "a.nir"))
    for i, kind in enumerate(net.neuron_types):
        node = graph.nodes[f"lif{i}"]
        assert type(node).__name__ == ("CubaLIF" if kind == "synaptic" else "LIF")
        if kind == "recurrent":  # V, b on an Affine edge from the layer's output back to its input
            assert {(f"lif{i}", f"rec{i}"), (f"rec{i}", f"lif{i}")} <= {tuple(e) for e in graph.edges}
            np.testing.assert_array_equal(graph.nodes[f"rec{i}"].weight, net.lifs[i].recurrent.weight.detach().numpy())
        if kind == "synaptic":  # Euler: α = 1 − dt/τ_syn with unit input gain w_in·dt/τ_syn
            alpha = net.lifs[i].alpha.detach().clamp(0, 1).numpy()
            np.testing.assert_allclose(1 - 1e-4 / node.tau_syn, alpha, rtol=1e-5)
            np.testing.assert_allclose(node.w_in * 1e-4 / node.tau_syn, 1.0, rtol=1e-5)
    back = load_nir(tmp_path / "a.nir")
    assert back.neuron_types == net.neuron_types and back.readout_kind == readout
    x = th.randn(250, 3, 10) + 0.3
    with th.no_grad():
        a, _, s_a = net(x, net.initial_state(3), return_spikes=True)
        b, _, s_b = back(x, back.initial_state(3), return_spikes=True)
    assert all(0.03 < float(s.mean()) < 0.8 for s in s_a)
    assert th.equal(a, b) and all(th.equal(p, q) for p, q in zip(s_a, s_b))  # bit-exact
    # without our exact β / α metadata the time constants alone give them back (the Euler mapping)
    with pytest.warns(UserWarning):
        bare = to_nir(net)
    for node in bare.nodes.values():
        node.metadata = {k: v for k, v in (node.metadata or {}).items() if k not in ("beta", "alpha")}
    again = from_nir(bare)
    with th.no_grad():
        c, _ = again(x, again.initial_state(3))
    assert (a - c).abs().max() < 1e-3


@needs_nir
def test_nir_refuses_adaptive_layers_and_the_feedback_naming_them():
    from sb3_spiking.export.nir_export import NIRExportError, to_nir

    with pytest.raises(NIRExportError, match=r"'lif1'.*adaptive.*no adaptive-threshold"):
        to_nir(_busy_net(["synaptic", "adaptive"]))
    with pytest.raises(NIRExportError, match=r"'feedback'.*tanh"):
        to_nir(_busy_net("lif", feedback=True))
    for consumer in ("snntorch", "norse"):  # NIR's own limit comes first, whatever the consumer
        with pytest.raises(NIRExportError, match="'lif0'"):
            to_nir(_busy_net("adaptive"), consumer=consumer)


@needs_nir
@pytest.mark.parametrize("consumer", ["snntorch", "norse"])
@pytest.mark.parametrize("neuron", ["recurrent", "synaptic"])
def test_nir_consumers_refuse_memory_layers_naming_layer_and_consumer(consumer, neuron):
    from sb3_spiking.export.nir_export import NIRConsumerError, to_nir

    name = {"snntorch": "snnTorch", "norse": "Norse"}[consumer]
    with pytest.raises(NIRConsumerError, match=rf"'lif1'.*{name}.*{neuron} layer.*resets by subtraction") as err:
        to_nir(_zero_lif_then(neuron), consumer=consumer)
    assert err.value.layer == "lif1" and err.value.consumer == consumer


def _zero_lif_then(neuron):
    """A LIF layer that consumers can run (reset to zero) followed by a memory layer."""
    th.manual_seed(0)
    net = SpikingMLP(4, 2, (8, 6), neuron=["lif", neuron])
    zero = SpikingMLP(4, 2, (8,), lif_reset="zero")
    net.lifs[0] = zero.lifs[0]
    return net


@needs_nir
def test_nir_import_refuses_memory_layers_that_reset_to_zero():
    from sb3_spiking.export.nir_export import from_nir, to_nir

    with pytest.warns(UserWarning):
        graph = to_nir(_busy_net("synaptic"))
    graph.nodes["lif1"].metadata = {}  # plain NIR: reset to v_reset
    with pytest.raises(ValueError, match=r"'lif1' \(CubaLIF\) resets to zero; the synaptic layer"):
        from_nir(graph)


# ------------------------------------------------------------------ analyses that walk the layers
def test_slope_gradients_of_a_memory_actor_with_feedback():
    # the Fig. 1 analysis unrolls the network's own layers: every neuron type, feedback included
    from sb3_spiking.analysis.surrogate_gradients import gradients_per_slope

    net = _busy_net(["synaptic", "adaptive", "recurrent"], feedback=True, readout="leaky")
    x, y = th.randn(30, 4, 10) + 0.3, th.randn(30, 4, 3)
    grads, rates = gradients_per_slope(net, x, y, [2.0, 30.0])
    assert len(rates) == 3 and all(r > 0 for r in rates)
    for g in grads.values():
        assert [t.numel() for t in g] == [400, 960, 384, 48]
        assert all(bool(th.isfinite(t).all()) and float(t.abs().sum()) > 0 for t in g)
    assert net.slope == 2.0  # restored


@needs_cc
@pytest.mark.skipif(importlib.util.find_spec("l2f") is None, reason="drone extra (l2f) not installed")
def test_drone_export_cli_of_a_memory_actor(tmp_path, capsys):
    # C export and its closed-loop check work; the NIR graphs it cannot write are skipped, naming why
    from sb3_spiking import GuidedTD3
    from sb3_spiking.tasks.drone.analysis_cli import main
    from sb3_spiking.tasks.drone.env import DroneHoverEnv
    from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide

    model = GuidedTD3("SpikingPolicy", DroneHoverEnv(command_obs=True), guide=PDHoverGuide(), buffer_size=1000, seed=0,
                      learning_starts=10**9, policy_kwargs=dict(net_arch=dict(pi=[32, 16], qf=[32]),
                                                                neuron=["synaptic", "recurrent"], feedback=True))
    model.save(tmp_path / "m")
    main(["export", str(tmp_path / "m.zip"), "--out", str(tmp_path / "c"), "--check-episodes", "1",
          "--nir-consumer", "norse"])
    out = capsys.readouterr().out
    assert (tmp_path / "c" / "snn_actor.c").exists()
    if importlib.util.find_spec("nir") is not None:
        assert "NIR export skipped: 'feedback'" in out and "NIR export for norse skipped" in out
    error = float(out.split("max |action error|")[1].split()[0])
    assert error < 1e-5
    # the C actor started each episode from the command in force: it repeats the actions flown in the loop
    assert float(out.split("vs the actions flown:")[1].split(")")[0]) < 1e-5


@needs_cc
def test_c_export_applies_every_clamp_of_the_memory_layers(tmp_path):
    # parameters outside their ranges: the layers clamp them, and so must the exported constants
    net = _busy_net(["synaptic", "adaptive", "recurrent"], feedback=True, readout="leaky")
    with th.no_grad():
        net.lifs[0].alpha[:5] = 1.3
        net.lifs[0].beta[5:10] = -0.2
        net.lifs[1].rho[:4] = 1.5
        net.lifs[1].adapt_strength[4:8] = -0.5
        net.lifs[1].beta[8:12] = 1.2
        net.lifs[2].beta[:3] = 1.4
        net.feedback.decay[:2] = 1.2
        net.feedback.decay[2:4] = -0.3
    obs, starts = _episode(steps=300)
    t_act, t_counts, _ = _step_reference(net, obs, starts)
    for kernel in ("event", "dense"):
        c_act, c_counts = run_c_actor(net, obs, starts, workdir=tmp_path / kernel, kernel=kernel)
        np.testing.assert_array_equal(c_counts, t_counts)
        assert np.abs(c_act - t_act).max() < 1e-5


@needs_cc
@pytest.mark.parametrize("neuron", ["recurrent", "synaptic", "adaptive"])
def test_c_export_of_a_zero_reset_lif_layer_before_a_memory_layer(tmp_path, neuron):
    net = _zero_lif_then(neuron)
    with th.no_grad():
        net.fcs[1].weight.mul_(3.0)
    obs, starts = _episode(n_in=4, steps=250)
    t_act, t_counts, rates = _step_reference(net, obs, starts)
    assert np.all(rates > 0.03)
    c_act, c_counts = run_c_actor(net, obs, starts, workdir=tmp_path)
    np.testing.assert_array_equal(c_counts, t_counts)
    assert np.abs(c_act - t_act).max() < 1e-5
    assert "lif_update_zero" in (tmp_path / "snn_actor.c").read_text()


def _simulate_nir_subtract(graph, observations, dt):
    """The graph's own equations (forward Euler, float64; nothing from our code): ``Affine``; ``LIF``
    ``v += dt/τ·(v_leak − v + R·I)``; ``CubaLIF`` ``i += dt/τ_syn·(−i + w_in·I)``, then
    ``v += dt/τ_mem·(v_leak − v + R·i)``; a recurrent ``Affine`` edge feeds the node's previous
    spikes; with the metadata's ``reset = "subtract"``: ``− v_threshold`` where ``v[t-1] > v_threshold``.
    Returns tanh of the output (LI readouts: ``v += dt/τ·(v_leak − v + R·I)``) and all spikes."""
    succ, names = {}, []
    loops = {}
    for a, b in graph.edges:
        if b.startswith("rec"):
            loops[a] = b
        elif not a.startswith("rec"):
            succ[a] = b
    node = succ["input"]
    while node != "output":
        names.append(node)
        node = succ[node]
    size = {n: np.asarray(graph.nodes[n].weight if type(graph.nodes[n]).__name__ == "Affine" else graph.nodes[n].r).shape[0]
            for n in names}
    state = {n: {k: np.zeros(size[n]) for k in ("v", "i", "s")} for n in names}
    actions, spikes = [], []
    for x in np.asarray(observations, np.float64):
        step_spikes = []
        for n in names:
            nd, st = graph.nodes[n], state[n]
            kind = type(nd).__name__
            if kind == "Affine":
                x = nd.weight.astype(np.float64) @ x + nd.bias
                continue
            if kind == "LI":
                st["v"] = st["v"] + dt / nd.tau * (nd.v_leak - st["v"] + nd.r * x)
                x = st["v"]
                continue
            if n in loops:
                rec = graph.nodes[loops[n]]
                x = x + rec.weight.astype(np.float64) @ st["s"] + rec.bias
            theta = nd.v_threshold.astype(np.float64)
            reset = np.where(st["v"] > theta, theta, 0.0)
            if kind == "CubaLIF":
                st["i"] = st["i"] + dt / nd.tau_syn * (-st["i"] + nd.w_in * x)
                st["v"] = st["v"] + dt / nd.tau_mem * (nd.v_leak - st["v"] + nd.r * st["i"]) - reset
            else:
                st["v"] = st["v"] + dt / nd.tau * (nd.v_leak - st["v"] + nd.r * x) - reset
            st["s"] = (st["v"] > theta).astype(np.float64)
            x = st["s"]
            step_spikes.append(x)
        actions.append(np.tanh(x))
        spikes.append(np.concatenate(step_spikes))
    return np.array(actions), np.array(spikes)


@needs_nir
@pytest.mark.parametrize("case", list(NIR_CASES))
def test_nir_graph_of_memory_layers_means_the_actor(case):
    # the graph read with NIR's own equations (and its reset metadata) computes what the actor does
    from sb3_spiking.export.nir_export import DEFAULT_DT, to_nir

    neuron, readout = NIR_CASES[case]
    net = _busy_net(neuron, readout=readout)
    obs = _episode(steps=200)[0]
    with pytest.warns(UserWarning):
        graph = to_nir(net)
    ref_act, ref_spikes = _simulate_nir_subtract(graph, obs, DEFAULT_DT)
    t_act, _, _ = _step_reference(net, obs, np.zeros(len(obs), bool))
    with th.no_grad():
        _, _, spk = net(th.as_tensor(obs)[:, None], net.initial_state(1), return_spikes=True)
    ours = th.cat([s[:, 0] for s in spk], dim=1).numpy()
    agreement, diff = (ours == ref_spikes).mean(), np.abs(ref_act - t_act).max()
    print(f"{case}: spike agreement {agreement:.5f}, max action diff {diff:.3g}")
    assert agreement >= 0.999 and diff < 1e-4


@needs_cc
def test_c_start_from_the_command_in_force_matches_predict():
    # <name>_start(state, command) is SpikingActor.start_state: the feedback holds the command (action units scaled)
    box = spaces.Box(-np.inf, np.inf, (5,), np.float32)
    act_space = spaces.Box(np.array([0.0, -2.0], np.float32), np.array([1.0, 3.0], np.float32))
    obs_space = spaces.Dict(actor=box, privileged=box, command=spaces.Box(act_space.low, act_space.high))
    th.manual_seed(2)
    policy = SpikingPolicy(obs_space, act_space, lambda _: 1e-3, net_arch=dict(pi=[16, 8], qf=[8]),
                           neuron=["synaptic", "lif"], feedback=True, readout="leaky")
    with th.no_grad():
        policy.actor.net.feedback.weight.weight.mul_(5.0)
    rng = np.random.default_rng(2)
    obs = rng.normal(0, 2, (200, 5)).astype(np.float32)
    commands = rng.uniform(act_space.low, act_space.high, (200, 2)).astype(np.float32)
    starts = np.zeros(200, bool)
    starts[[0, 90]] = True
    state, expected = None, []
    for t in range(200):
        o = {"actor": obs[t][None], "privileged": obs[t][None], "command": commands[t][None]}
        a, state = policy.predict(o, state, episode_start=starts[t:t + 1])
        expected.append(a[0])
    c_act, _ = run_c_actor(policy, obs, starts, start_commands=commands)
    assert np.abs(c_act - np.array(expected)).max() < 1e-5
    t_act, _ = torch_actions(policy, obs, starts, start_commands=commands)
    assert np.abs(t_act - np.array(expected)).max() < 1e-5
    zero_start, _ = run_c_actor(policy, obs, starts)
    assert np.abs(zero_start[90:95] - c_act[90:95]).max() > 1e-3  # the command matters
    with pytest.raises(ValueError, match="start_commands need an actor with action feedback"):
        run_c_actor(_busy_net("lif", n_in=5, n_out=2), obs, starts, start_commands=commands)


@needs_cc
@pytest.mark.skipif(importlib.util.find_spec("l2f") is None, reason="drone extra (l2f) not installed")
def test_export_example_on_a_model_of_the_default_actor(tmp_path):
    # the default drone actor (action feedback from the command in force): C only, started from the command
    import subprocess
    import sys
    from pathlib import Path

    from sb3_spiking import GuidedTD3
    from sb3_spiking.tasks.drone.env import DroneHoverEnv

    model = GuidedTD3("SpikingPolicy", DroneHoverEnv(command_obs=True), buffer_size=1000, seed=0,
                      policy_kwargs=dict(net_arch=dict(pi=[32, 16], qf=[32]), readout="leaky", feedback=True))
    with th.no_grad():
        model.actor.net.feedback.weight.weight.mul_(5.0)  # the start matters to the actions
    model.save(tmp_path / "m")
    example = Path(__file__).resolve().parents[1] / "examples" / "export_actor.py"
    out = subprocess.run([sys.executable, str(example), "--model", str(tmp_path / "m.zip"), "--out", str(tmp_path / "c"),
                          "--steps", "300"], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "_start(" in (tmp_path / "c" / "snn_actor.h").read_text()
    if importlib.util.find_spec("nir") is not None:
        assert "NIR export skipped" in out.stdout
    assert float(out.stdout.split("max |action error| C vs PyTorch:")[1].split()[0]) < 1e-5
