"""Export of the spiking actor: C (compiled with the system compiler, checked step by step against
PyTorch over rollouts) and NIR (round trip through a file)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch as th
from gymnasium import spaces

from _legacy_defaults import LEGACY_DEFAULTS
from sb3_spiking.export.c_export import export_c, find_c_compiler, run_c_actor, torch_actions
from sb3_spiking.guided_td3.policies import SpikingPolicy
from sb3_spiking.neurons import SpikingMLP

needs_cc = pytest.mark.skipif(find_c_compiler() is None, reason="no C compiler")
needs_drone = pytest.mark.skipif(importlib.util.find_spec("l2f") is None, reason="drone extra (l2f) not installed")
ROOT = Path(__file__).resolve().parents[1]


def _busy_net(seed=0, hidden=(256, 128), readout="linear"):
    """A random actor whose layers all spike on drone-scale inputs."""
    th.manual_seed(seed)
    net = SpikingMLP(18, 4, hidden, readout=readout)
    with th.no_grad():
        for fc in net.fcs[1:]:
            fc.weight.mul_(3.0)
        if readout == "leaky":
            net.readout_beta.copy_(th.tensor([0.2, 0.5, 0.8, 1.3]))  # 1.3 is clamped to 1 by the model
    return net


@needs_cc
@pytest.mark.parametrize("readout", ["linear", "leaky"])
def test_c_export_matches_torch_step_by_step_with_resets(readout):
    net = _busy_net(readout=readout)
    rng = np.random.default_rng(0)
    obs = rng.normal(0.0, 1.0, (900, 18)).astype(np.float32)
    starts = np.zeros(900, bool)
    starts[[0, 300, 650]] = True
    c_act, c_spikes = run_c_actor(net, obs, starts)
    t_act, t_spikes = torch_actions(net, obs, starts)
    assert t_spikes.mean() > 20, "the test network must actually spike"
    np.testing.assert_array_equal(c_spikes, t_spikes)
    assert np.abs(c_act - t_act).max() < 1e-5
    # the reset matters: without it the C actions after step 300 differ
    c_noreset, _ = run_c_actor(net, obs)
    assert np.abs(c_noreset[300:310] - t_act[300:310]).max() > 1e-3


@needs_cc
@pytest.mark.parametrize("lif_reset", ["subtract", "zero"])
def test_event_driven_kernel_is_bit_identical_to_the_dense_one(tmp_path, lif_reset):
    # the event kernel adds the same weight columns in the same (ascending) order as the dense one
    th.manual_seed(4)
    net = SpikingMLP(34, 4, (64, 48, 32), lif_reset=lif_reset)
    with th.no_grad():
        for fc in net.fcs[1:]:
            fc.weight.mul_(3.0)
    obs = np.random.default_rng(4).normal(0.3, 1.0, (400, 34)).astype(np.float32)
    starts = np.zeros(400, bool)
    starts[[0, 200]] = True
    ev_act, ev_spikes = run_c_actor(net, obs, starts, workdir=tmp_path / "event")
    de_act, de_spikes = run_c_actor(net, obs, starts, workdir=tmp_path / "dense", kernel="dense")
    t_act, t_spikes = torch_actions(net, obs, starts)
    assert 0.05 < t_spikes.mean() / sum(net.hidden) < 0.6, "the test network must spike, but not everywhere"
    np.testing.assert_array_equal(ev_act, de_act)
    np.testing.assert_array_equal(ev_spikes, de_spikes)
    np.testing.assert_array_equal(ev_spikes, t_spikes)
    assert np.abs(ev_act - t_act).max() < 1e-5
    source = (tmp_path / "event" / "snn_actor.c").read_text()
    assert "lif_layer_event_" + lif_reset in source and "lif_layer_spiking" not in source


def test_event_kernel_stores_spike_fed_weights_transposed(tmp_path):
    net = SpikingMLP(2, 1, (3, 2))
    with th.no_grad():
        net.fcs[1].weight.copy_(th.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    source = export_c(net, tmp_path).source.read_text()
    # W1 is (out 2, in 3) in torch; the event kernel keeps one contiguous column per input neuron
    assert "W1[6] = {\n    1.0f, 4.0f, 2.0f, 5.0f, 3.0f, 6.0f\n}" in source
    dense = export_c(net, tmp_path / "d", kernel="dense").source.read_text()
    assert "W1[6] = {\n    1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f\n}" in dense
    with pytest.raises(ValueError, match="kernel"):
        export_c(net, tmp_path, kernel="sparse")


@needs_cc
def test_c_export_applies_action_bounds_like_predict():
    obs_space = spaces.Box(-np.inf, np.inf, (5,), np.float32)
    act_space = spaces.Box(np.array([0.0, -2.0], np.float32), np.array([1.0, 3.0], np.float32))
    th.manual_seed(1)
    policy = SpikingPolicy(obs_space, act_space, lambda _: 1e-3, net_arch=dict(pi=[16, 8], qf=[8]))
    obs = np.random.default_rng(1).normal(0, 2, (60, 5)).astype(np.float32)
    state, expected = None, []
    for o in obs:
        a, state = policy.predict(o[None], state)
        expected.append(a[0])
    c_act, _ = run_c_actor(policy, obs)
    assert np.abs(c_act - np.array(expected)).max() < 1e-5
    assert (c_act[:, 0] >= 0).all() and (c_act[:, 1] >= -2).all()


def test_export_c_files_and_validation(tmp_path):
    net = SpikingMLP(3, 2, (4,))
    with th.no_grad():
        net.readout.bias[0] = 1.0  # the literal "1" must become a valid C float literal
    exp = export_c(net, tmp_path, "ctrl")
    header, source = exp.header.read_text(), exp.source.read_text()
    assert "void ctrl_step(ctrl_state_t *state, const float *obs, float *action);" in header
    assert "#define CTRL_N_INPUTS 3" in header and "float mem0[4];" in header
    assert "1.0f" in source and "#include <stdlib.h>" not in source  # no allocation, no libc beyond math/string
    assert exp.weight_bytes == 4 * (3 * 4 + 4 + 4 + 4 + 4 * 2 + 2) and exp.state_bytes == 16
    with pytest.raises(ValueError, match="C identifier"):
        export_c(net, tmp_path, "bad-name")
    with th.no_grad():
        net.fcs[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        export_c(net, tmp_path)
    with pytest.raises(TypeError, match="SpikingMLP"):
        export_c(th.nn.Linear(2, 2), tmp_path)


@needs_cc
@needs_drone
def test_c_export_of_a_guided_td3_model_matches_predict_over_a_drone_rollout(tmp_path):
    from sb3_spiking import GuidedTD3
    from sb3_spiking.tasks.drone.env import DroneHoverEnv
    from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide

    env = DroneHoverEnv()
    model = GuidedTD3("SpikingPolicy", env, guide=PDHoverGuide(), buffer_size=1000, seed=0, learning_starts=10**9,
        **LEGACY_DEFAULTS)
    model.save(tmp_path / "model")
    model = GuidedTD3.load(tmp_path / "model")  # the deployment path: a saved model
    # the policy flies closed loop (short episodes: it is untrained); the C code sees the same observations
    obs, _ = env.reset(seed=3)
    state, start, rec_obs, rec_start, rec_act = None, True, [], [], []
    for _ in range(400):
        action, state = model.predict(obs, state=state, episode_start=np.array([start]), deterministic=True)
        rec_obs.append(obs["actor"])
        rec_start.append(start)
        rec_act.append(action)
        obs, _, terminated, truncated, _ = env.step(action)
        start = terminated or truncated
        if start:
            obs, _ = env.reset()
    c_act, c_spikes = run_c_actor(model, np.array(rec_obs), np.array(rec_start))
    assert sum(rec_start) >= 2, "the rollout should span several episodes"
    assert c_spikes.sum() > 0
    assert np.abs(c_act - np.array(rec_act)).max() < 1e-5


@needs_cc
def test_example_export_actor_runs(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "export_actor.py"), "--out", str(tmp_path), "--steps", "200"],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "max |action error|" in out.stdout
    assert (tmp_path / "snn_actor.c").exists() and (tmp_path / "snn_actor.h").exists()


# ---------------------------------------------------------------------------------------------- NIR
needs_nir = pytest.mark.skipif(importlib.util.find_spec("nir") is None, reason="nir extra not installed")


@needs_nir
def test_nir_round_trip_of_the_leaky_readout(tmp_path):
    import nir

    from sb3_spiking.export.nir_export import export_nir, from_nir, load_nir, to_nir

    net = _busy_net(2, hidden=(32, 16), readout="leaky")
    path = tmp_path / "actor.nir"
    export_nir(net, path)
    graph = nir.read(str(path))
    assert type(graph.nodes["readout_li"]).__name__ == "LI"
    np.testing.assert_allclose(1 - 1e-4 / graph.nodes["readout_li"].tau[:3], [0.2, 0.5, 0.8], rtol=1e-5)
    back = load_nir(path)
    assert back.readout_kind == "leaky"
    x = th.randn(80, 3, 18) + 0.3
    with th.no_grad():
        a, _ = net(x, net.initial_state(3))
        b, _ = back(x, back.initial_state(3))
    assert th.equal(a, b)
    bare = to_nir(net)  # without our metadata: beta from tau
    for node in bare.nodes.values():
        node.metadata = {}
    np.testing.assert_allclose(from_nir(bare).readout_beta.detach(), [0.2, 0.5, 0.8, 1.0], atol=1e-6)


@needs_nir
def test_nir_round_trip_through_a_file_is_exact(tmp_path):
    import nir

    from sb3_spiking.export.nir_export import export_nir, load_nir

    net = _busy_net(2, hidden=(32, 16))
    net.set_slope(7.0)
    with th.no_grad():
        net.lifs[0].beta[0] = 1.5  # clamped to 1 by the model: exported as β = 1 (τ = ∞)
    path = tmp_path / "actor.nir"
    export_nir(net, path)
    graph = nir.read(str(path))
    assert [type(graph.nodes[n]).__name__ for n in ("input", "fc0", "lif0", "fc1", "lif1", "readout", "output")] == [
        "Input", "Affine", "LIF", "Affine", "LIF", "Affine", "Output"]
    assert graph.metadata["output_activation"] == "tanh"
    lif0 = graph.nodes["lif0"]
    beta = net.lifs[0].beta.detach().clamp(0, 1).numpy()
    np.testing.assert_allclose(1 - 1e-4 / lif0.tau[1:], beta[1:], rtol=1e-5)  # the Euler mapping
    assert np.isinf(lif0.tau[0])
    back = load_nir(path)
    assert back.slope == 7.0 and back.hidden == (32, 16)
    x = th.randn(150, 4, 18) + 0.3
    with th.no_grad():
        a, _, s_a = net(x, net.initial_state(4), return_spikes=True)
        b, _, s_b = back(x, back.initial_state(4), return_spikes=True)
    assert s_a[1].mean() > 0.01
    assert th.equal(a, b) and all(th.equal(p, q) for p, q in zip(s_a, s_b))


@needs_nir
def test_nir_import_without_metadata_uses_tau_and_rejects_other_graphs():
    import nir

    from sb3_spiking.export.nir_export import from_nir, to_nir

    net = _busy_net(3, hidden=(16,))
    graph = to_nir(net)
    for node in graph.nodes.values():
        node.metadata = {}
    graph.metadata = {}
    back = from_nir(graph)
    np.testing.assert_allclose(back.lifs[0].beta.detach(), net.lifs[0].beta.detach().clamp(0, 1), atol=1e-6)
    bad = nir.NIRGraph.from_list(nir.Affine(np.ones((2, 3), np.float32), np.zeros(2, np.float32)))
    with pytest.raises(ValueError):
        from_nir(bad)


# ---------------------------------------------------------------------- microcontroller (Cortex-M4F)
def _mcu_missing() -> str:
    from sb3_spiking.export.mcu import missing_tools

    missing = missing_tools()
    return f"needs {', '.join(missing)} (Debian: gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)" if missing else ""


needs_mcu = pytest.mark.skipif(bool(_mcu_missing()), reason=_mcu_missing() or "toolchain present")


@needs_mcu
def test_mcu_check_paper_size_actor_matches_torch_and_meets_the_instruction_target():
    from benchmarks.mcu_check import TARGET_INSTRUCTIONS, check, random_actor, recorded_observations

    net = random_actor(34, (256, 128), gain=4.0)
    obs, starts, _ = recorded_observations(34, 120, seed=1)
    starts[60] = True  # a reset in the middle: the firmware must restart from the zero state
    result = check(net, obs, starts)
    assert 0.7 < result["activation_sparsity"] < 0.9, "realistic sparsity (the paper's actor: 0.79)"
    dense, event = result["kernels"]["dense"], result["kernels"]["event"]
    for row in (dense, event):
        assert row["max_action_diff_vs_torch"] < 1e-5 and row["steps_with_other_spike_count"] == 0
        assert 150_000 < row["flash_bytes"] < 200_000  # 156 KB of float weights + code
        assert row["ram_bytes"] < 8192  # membranes 1.5 KB + one step's stack
    # instruction counts come from QEMU's deterministic icount: no timing noise
    assert event["instructions_per_step_mean"] <= TARGET_INSTRUCTIONS
    assert dense["instructions_per_step_mean"] > 3 * event["instructions_per_step_mean"]
    assert 5.5 < event["instructions_per_tick"] < 6.5  # 1 ns per instruction, SysTick at 168 MHz


@needs_mcu
def test_mcu_run_of_a_leaky_bounded_policy_matches_predict():
    from sb3_spiking.export.mcu import run_mcu_actor

    obs_space = spaces.Box(-np.inf, np.inf, (7,), np.float32)
    act_space = spaces.Box(np.array([0.0, -2.0], np.float32), np.array([1.0, 3.0], np.float32))
    th.manual_seed(2)
    policy = SpikingPolicy(obs_space, act_space, lambda _: 1e-3, net_arch=dict(pi=[20, 12], qf=[8]), readout="leaky",
                           lif_reset="zero")
    obs = np.random.default_rng(2).normal(0, 2, (80, 7)).astype(np.float32)
    state, expected = None, []
    for o in obs:
        a, state = policy.predict(o[None], state)
        expected.append(a[0])
    res = run_mcu_actor(policy, obs)  # sizes that are not multiples of the register block (8)
    assert np.abs(res.actions - np.array(expected)).max() < 1e-5
    assert res.spikes.sum() > 0


def test_mcu_check_reports_missing_tools(monkeypatch, capsys):
    import benchmarks.mcu_check as mcu_check

    monkeypatch.setattr(mcu_check, "missing_tools", lambda: ["qemu-system-arm"])
    assert mcu_check.main(["--steps", "5"]) == 2
    assert "qemu-system-arm" in capsys.readouterr().err


# ------------------------------------------------------------ NIR consumers (snnTorch, Norse) round trip
needs_consumers = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in ("nir", "nirtorch", "snntorch", "norse")),
    reason="needs the nir extra (nir, nirtorch, norse) and snntorch",
)


def _simulate_plain_nir(graph, observations, dt):
    """NIR's own equations, forward Euler, nothing from our code or a consumer: Affine, then LIF
    ``v += dt/τ·(v_leak − v + R·I)``, spike where ``v > v_threshold``, then ``v = v_reset``; tanh of the output."""
    names, succ = [], dict(graph.edges)
    node = succ["input"]
    while node != "output":
        names.append(node)
        node = succ[node]
    v = {n: np.zeros(graph.nodes[n].tau.shape) for n in names if type(graph.nodes[n]).__name__ == "LIF"}
    actions, spikes = [], []
    for x in np.asarray(observations, np.float64):
        layer_spikes = []
        for n in names:
            nd = graph.nodes[n]
            if type(nd).__name__ == "Affine":
                x = nd.weight.astype(np.float64) @ x + nd.bias
            else:
                tau = nd.tau.astype(np.float64)
                v[n] = v[n] + dt / tau * (nd.v_leak - v[n] + nd.r * x)
                s = v[n] > nd.v_threshold
                v[n] = np.where(s, nd.v_reset, v[n])
                x = s.astype(np.float64)
                layer_spikes.append(x)
        actions.append(np.tanh(x))
        spikes.append(np.concatenate(layer_spikes))
    return np.array(actions), np.array(spikes)


def _zero_reset_net(seed=5):
    th.manual_seed(seed)
    net = SpikingMLP(6, 2, (32, 16), lif_reset="zero")
    with th.no_grad():
        net.fcs[1].weight.mul_(3.0)
        net.lifs[0].beta[0] = 1.4  # clamped to 0.999: finite τ
        net.lifs[1].threshold[0] = -0.3  # clamped to 0.01: positive threshold
    return net


@needs_nir
@pytest.mark.parametrize("form", [None, "snntorch", "norse"])
def test_nir_graph_of_a_zero_reset_actor_means_the_actor_in_plain_nir(form):
    from sb3_spiking.export.nir_export import DEFAULT_DT, to_nir

    net = _zero_reset_net()
    obs = np.random.default_rng(5).normal(0.4, 1.0, (300, 6)).astype(np.float32)
    graph = to_nir(net, consumer=form)
    for name in ("lif0", "lif1"):
        lif = graph.nodes[name]
        assert np.all(np.isfinite(lif.tau)) and np.all(lif.v_threshold > 0) and np.all(lif.v_reset == 0)
    ref_act, ref_spikes = _simulate_plain_nir(graph, obs, DEFAULT_DT)
    t_act, _ = torch_actions(net, obs)
    with th.no_grad():
        _, _, spk = net(th.as_tensor(obs)[:, None], net.initial_state(1), return_spikes=True)
    ours = th.cat([s[:, 0] for s in spk], dim=1).numpy()
    assert 0.05 < ours.mean() < 0.8
    assert (ours == ref_spikes).mean() >= 0.999
    assert np.abs(ref_act - t_act).max() < 1e-4


@needs_nir
def test_nir_consumer_errors_name_the_layer_and_the_consumer():
    from sb3_spiking.export.nir_export import NIRConsumerError, to_nir

    with pytest.raises(NIRConsumerError, match=r"'lif0'.*snnTorch.*subtractive reset.*lif_reset='zero'"):
        to_nir(_busy_net(hidden=(8,)), consumer="snntorch")
    leaky = SpikingMLP(3, 2, (8,), readout="leaky", lif_reset="zero")
    with pytest.raises(NIRConsumerError, match=r"'readout_li'.*Norse.*LI"):
        to_nir(leaky, consumer="norse")
    with pytest.raises(NIRConsumerError, match=r"dt = 1e-4"):
        to_nir(_zero_reset_net(), dt=1e-3, consumer="snntorch")
    with pytest.raises(ValueError, match="consumer"):
        to_nir(_zero_reset_net(), consumer="loihi")
    with pytest.warns(UserWarning, match="subtractive reset"):
        to_nir(_busy_net(hidden=(8,)))  # still exported for our own import, with a warning


@needs_nir
def test_nir_round_trip_of_a_zero_reset_actor(tmp_path):
    from sb3_spiking.export.nir_export import export_nir, from_nir, load_nir, to_nir

    net = _zero_reset_net()
    export_nir(net, tmp_path / "a.nir")
    back = load_nir(tmp_path / "a.nir")
    assert all(lif.reset == "zero" for lif in back.lifs)
    x = th.randn(120, 2, 6) + 0.4
    with th.no_grad():
        a, _, s_a = net(x, net.initial_state(2), return_spikes=True)
        b, _, s_b = back(x, back.initial_state(2), return_spikes=True)
    assert th.equal(a, b) and all(th.equal(p, q) for p, q in zip(s_a, s_b))
    for form in ("snntorch", "norse"):  # the consumer forms are the same network (float rounding aside)
        other = from_nir(to_nir(net, consumer=form))
        with th.no_grad():
            c, _, s_c = other(x, other.initial_state(2), return_spikes=True)
        agree = th.cat([(p == q).float().flatten() for p, q in zip(s_a, s_c)]).mean()
        assert agree >= 0.999 and (a - c).abs().max() < 1e-4


@pytest.fixture(scope="module")
def trained_zero_reset_pendulum(tmp_path_factory):
    """A small actor trained natively with lif_reset='zero' (the quick start's recipe, shortened), saved and loaded."""
    from experiments.nir_roundtrip import recorded_episode, train_pendulum
    from sb3_spiking import GuidedTD3

    model = train_pendulum(seed=0, timesteps=2000)
    path = tmp_path_factory.mktemp("pendulum") / "zero.zip"
    model.save(path)
    model = GuidedTD3.load(path, device="cpu")
    obs1, starts1 = recorded_episode("pendulum", model, seed=11)
    obs2, starts2 = recorded_episode("pendulum", model, seed=12)
    return model, np.concatenate([obs1, obs2]), np.concatenate([starts1, starts2])


@needs_consumers
@pytest.mark.parametrize("consumer", ["snntorch", "norse"])
def test_nir_consumers_fly_a_trained_actor_like_torch(trained_zero_reset_pendulum, consumer):
    from sb3_spiking.export.nir_consumers import ConsumerController, compare_with_torch, run_consumer
    from sb3_spiking.export.nir_export import to_nir

    model, obs, starts = trained_zero_reset_pendulum
    assert all(lif.reset == "zero" for lif in model.policy.actor.net.lifs)  # the kwarg survived save / load
    graph = to_nir(model, consumer=consumer)
    run = run_consumer(graph, consumer, obs, starts)  # the consumer's own importer loads it
    cmp = compare_with_torch(model, run, obs, starts)
    assert 0.02 < cmp["spike_rate"] < 0.9, "the actor must spike"
    assert cmp["spike_agreement"] >= 0.999
    assert cmp["max_action_diff"] <= 1e-4
    # closed loop on one start: the consumer as a controller, actions in the env's bounds like predict
    from experiments.nir_roundtrip import closed_loop

    space = model.action_space
    ctrl = ConsumerController(graph, consumer, low=np.asarray(space.low), high=np.asarray(space.high))
    assert closed_loop("pendulum", ctrl, 2)["return"] == pytest.approx(closed_loop("pendulum", model, 2)["return"], rel=1e-3)


@needs_consumers
def test_nir_probe_shows_what_the_direct_graph_does_in_each_consumer():
    from experiments.nir_roundtrip import probe

    rows = {(r["reset"], r["consumer"], r["form"]): r for r in probe(steps=200)}
    assert "v_threshold" in rows[("subtract", "snntorch", "direct")]["error"]  # snnTorch's per-layer threshold
    assert rows[("subtract", "norse", "direct")]["spike_agreement"] < 0.95  # reset to zero instead of subtract
    assert rows[("zero", "norse", "direct")]["spike_agreement"] < 0.95  # Norse ignores R
    assert "NIRConsumerError" in rows[("subtract", "norse", "norse")]["error"]
    for consumer in ("snntorch", "norse"):
        row = rows[("zero", consumer, consumer)]
        assert row["spike_agreement"] == 1.0 and row["max_action_diff"] < 1e-6


@needs_consumers
@needs_drone
def test_nir_consumers_fly_the_drone_evaluation_batch_like_predict(tmp_path):
    # batched closed loop (the drone's evaluation rolls out all initial states at once), untrained actor
    from experiments.nir_roundtrip import closed_loop
    from sb3_spiking import GuidedTD3
    from sb3_spiking.export.nir_consumers import ConsumerController
    from sb3_spiking.export.nir_export import to_nir
    from sb3_spiking.tasks.drone.env import DroneHoverEnv
    from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide

    model = GuidedTD3("SpikingPolicy", DroneHoverEnv(actor_history=1), guide=PDHoverGuide(), buffer_size=100,
                      learning_starts=10**9, seed=0,
                      policy_kwargs=dict(net_arch=dict(pi=[24, 16], qf=[8]), readout="linear", lif_reset="zero"))
    reference = closed_loop("drone", model, 6, model)
    space = model.action_space
    for consumer in ("snntorch", "norse"):
        ctrl = ConsumerController(to_nir(model, consumer=consumer), consumer, np.asarray(space.low), np.asarray(space.high))
        assert closed_loop("drone", ctrl, 6, model) == reference
