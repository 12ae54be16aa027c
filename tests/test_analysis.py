"""Analysis tools: slope analysis, training diagnostics callback, efficiency metrics (hand counts),
flight pictures and the command line."""

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch as th

from _legacy_defaults import LEGACY_DEFAULTS
from sb3_spiking import GuidedTD3
from sb3_spiking.analysis.diagnostics import SurrogateGradientDiagnostics
from sb3_spiking.analysis.efficiency import (
    E_NEURON_PJ,
    E_SPIKE_TILE_PJ,
    E_SYNOP_PJ,
    footprint,
    make_mlp,
    mlp_efficiency,
    spiking_efficiency,
    synaptic_ops,
)
from sb3_spiking.analysis.surrogate_gradients import SlopeAnalysisConfig, analyse_slopes, gradients_per_slope, plot, write_csv
from sb3_spiking.envs.wrappers import PrivilegedSplit
from sb3_spiking.neurons import SpikingMLP
from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide

ROOT = Path(__file__).resolve().parents[1]
needs_drone = pytest.mark.skipif(importlib.util.find_spec("l2f") is None, reason="drone extra (l2f) not installed")


# ------------------------------------------------------------------------------- slope analysis
def test_slope_analysis_shape_of_the_result(tmp_path):
    cfg = SlopeAnalysisConfig(n_runs=6, width=24, n_steps=4, batch_size=8)
    r = analyse_slopes(cfg)
    assert r.layers == ["lif1", "lif2", "lif3", "lif4", "readout"]
    assert all(0.05 < s < 0.6 for s in r.spike_rate), "inputs must make every layer spike"
    np.testing.assert_allclose(r.cosine[100.0], 1.0, atol=1e-6)
    # the readout's gradient does not pass through a surrogate: same for every slope
    for k in cfg.slopes:
        assert r.cosine[k][-1] == pytest.approx(1.0, abs=1e-6)
        assert r.grad_norm[k][-1] == pytest.approx(r.grad_norm[100.0][-1], rel=1e-6)
    # shallow slopes: more gradient reaches the first layer; steeper slopes: closer to k = 100
    first_norm = [r.grad_norm[k][0] for k in cfg.slopes]
    first_cos = [r.cosine[k][0] for k in cfg.slopes]
    assert first_norm == sorted(first_norm, reverse=True)
    assert first_cos == sorted(first_cos)
    rows = list(csv.DictReader(write_csv(r, tmp_path / "g.csv").open()))
    assert len(rows) == 5 * 5 and rows[0]["slope"] == "1.0" and rows[0]["layer_name"] == "lif1"
    assert plot(r, tmp_path / "g.png").stat().st_size > 10_000


def test_gradients_per_slope_matches_a_direct_computation_and_restores_the_slope():
    th.manual_seed(0)
    net = SpikingMLP(8, 3, (16, 16), slope=5.0)
    x, y = th.randn(6, 4, 8) + 0.5, th.randn(6, 4, 3)
    grads, _ = gradients_per_slope(net, x, y, [2.0, 30.0])
    assert net.slope == 5.0
    net.set_slope(30.0)
    # the documented loss, written out: mean squared error of the linear readout
    h = x
    for fc, lif, mem in zip(net.fcs, net.lifs, net.initial_state(4)):
        h, _ = lif(fc(h), mem)
    loss = ((net.readout(h) - y) ** 2).mean()
    direct = th.autograd.grad(loss, [net.fcs[0].weight, net.readout.weight])
    th.testing.assert_close(grads[30.0][0], direct[0].flatten())
    th.testing.assert_close(grads[30.0][-1], direct[1].flatten())
    assert not th.allclose(grads[2.0][0], grads[30.0][0])


def test_example_analyse_surrogate_gradients_runs(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "analyse_surrogate_gradients.py"), "--runs", "3", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "cos(layer 1)" in out.stdout
    assert (tmp_path / "surrogate_gradients.png").exists() and (tmp_path / "surrogate_gradients.csv").exists()


# ------------------------------------------------------------------------------ diagnostics
FAST = dict(n_seq=16, n_warmup=4, stride=4, batch_size=16, learning_starts=100, train_freq=50, gradient_steps=2,
            policy_kwargs=dict(net_arch=dict(pi=[32, 16], qf=[32, 32])))


def _model(tb=None):
    env = PrivilegedSplit(gym.make("Pendulum-v1"), [0, 1])
    return GuidedTD3("SpikingPolicy", env, guide=lambda o: PendulumSwingUpGuide()(o), seed=0, tensorboard_log=tb, **FAST,
        **LEGACY_DEFAULTS)


def test_diagnostics_callback_logs_to_tensorboard_without_changing_training(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model = _model(str(tmp_path))
    diag = SurrogateGradientDiagnostics(every_n_updates=4, steep_slope=100.0)
    model.learn(400, callback=diag)
    assert len(diag.history) >= 3
    rec = diag.history[-1]
    assert rec["slope"] == 2.0 and model.policy.slope == 2.0 and model.actor_target.slope == 2.0
    assert set(rec["cosine_to_steep"]) == {"lif0", "lif1", "readout"}
    assert rec["cosine_to_steep"]["readout"] == pytest.approx(1.0, abs=1e-5)  # no surrogate on its path
    assert rec["grad_norm"]["readout"] == pytest.approx(rec["grad_norm_steep"]["readout"], rel=1e-5)
    assert rec["cosine_to_steep"]["lif0"] < 0.999 and rec["grad_norm"]["lif0"] > rec["grad_norm_steep"]["lif0"]
    [run_dir] = [p for p in tmp_path.iterdir() if p.is_dir()]
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = events.Tags()["scalars"]
    assert "diagnostics/cosine_to_steep/lif0" in tags and "diagnostics/grad_norm/readout" in tags
    assert len(events.Scalars("diagnostics/cosine_to_steep/lif0")) == len(diag.history)

    # same seed without the callback: identical weights (no RNG, slope or gradient side effects)
    plain = _model()
    plain.learn(400)
    for a, b in zip(model.policy.parameters(), plain.policy.parameters()):
        assert th.equal(a, b)


def test_diagnostics_callback_validates_its_arguments():
    with pytest.raises(ValueError):
        SurrogateGradientDiagnostics(every_n_updates=0)
    with pytest.raises(ValueError):
        SurrogateGradientDiagnostics(steep_slope=-1)


# ------------------------------------------------------------------------------- efficiency
def test_efficiency_figures_against_a_hand_count():
    # 2 inputs -> LIF(3) -> readout(2); β = 0, θ = 0.5, W0 picks input 0 for neuron 0 and input 1
    # for neuron 1, neuron 2 gets nothing. Input (2, 0) twice: only neuron 0 spikes, on both steps
    # (step 2: U = 0·2 + 2 − 0.5 = 1.5 > θ after the soft reset).
    net = SpikingMLP(2, 2, (3,))
    with th.no_grad():
        net.fcs[0].weight.copy_(th.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]))
        net.fcs[0].bias.zero_()
        net.lifs[0].beta.zero_()
        net.lifs[0].threshold.fill_(0.5)
        net.readout.weight.copy_(th.tensor([[1.0, 2.0, 3.0], [0.0, 5.0, 6.0]]))  # one zero weight
    rep = spiking_efficiency(net, [np.array([[2.0, 0.0], [2.0, 0.0]], np.float32)])
    assert rep.spikes == 1.0  # per step
    assert rep.activation_sparsity == pytest.approx(2 / 3)
    assert rep.dense_synops == 2 * 3 + 3 * 2  # fan_in · fan_out, bias excluded
    assert rep.effective_macs == 1  # one non-zero real input, one non-zero weight in its column
    assert rep.effective_acs == 1  # neuron 0 spiked: its readout column (1, 0) has one non-zero weight
    assert rep.footprint_bytes == 4 * (2 * 3 + 3 + 3 + 3 + 3 * 2 + 2 + 1)  # W, b, β, θ, readout, slope buffer
    assert rep.energy_paper_mj == pytest.approx((12 * E_SPIKE_TILE_PJ + 3 * E_NEURON_PJ + 1 * E_SYNOP_PJ) * 1e-9)
    assert rep.energy_event_mj == pytest.approx((2 * E_SYNOP_PJ + 1 * E_SPIKE_TILE_PJ + 3 * E_NEURON_PJ) * 1e-9)


def test_paper_architectures_hand_counted():
    snn = SpikingMLP(18, 4, (256, 128))
    rep = spiking_efficiency(snn, [np.random.default_rng(0).normal(size=(20, 18)).astype(np.float32)])
    assert rep.dense_synops == 18 * 256 + 256 * 128 + 128 * 4 == 37_888  # paper: 37.9k
    assert rep.effective_macs == 18 * 256  # real-valued inputs, all non-zero: paper 4.6k
    weights = 18 * 256 + 256 + 256 * 128 + 128 + 128 * 4 + 4
    assert rep.footprint_bytes == footprint(snn) == 4 * (weights + 2 * (256 + 128) + 2)
    mlp = make_mlp(18 + 32 * 4)
    x = np.random.default_rng(1).normal(size=(50, 146)).astype(np.float32)
    rep = mlp_efficiency(mlp, x)
    assert rep.footprint_bytes == 4 * (146 * 64 + 64 + 64 * 64 + 64 + 64 * 4 + 4) == 55_312  # paper: 55.3 kB
    assert rep.dense_synops == 146 * 64 + 64 * 64 + 64 * 4 == 13_696  # paper: 13.7k MACs
    # effective MACs skip the ReLU zeros: hand count from the measured hidden activations
    h1 = th.relu(mlp[0](th.as_tensor(x)))
    h2 = th.relu(mlp[2](h1))
    hand = 146 * 64 + float((h1 != 0).sum() * 64 + (h2 != 0).sum() * 4) / 50
    assert rep.effective_macs == pytest.approx(hand)
    assert rep.activation_sparsity == pytest.approx(float(((h1 == 0).sum() + (h2 == 0).sum()) / (50 * 128)))
    assert rep.effective_acs == 0 and rep.energy_paper_mj is None


def test_synaptic_ops_tells_binary_from_real_inputs():
    layer = th.nn.Linear(3, 2)
    assert synaptic_ops(layer, th.tensor([[1.0, 0.0, 1.0]])) == (6.0, 0.0, 4.0)
    assert synaptic_ops(layer, th.tensor([[0.5, 0.0, 1.0]])) == (6.0, 4.0, 0.0)


@needs_drone
def test_drone_efficiency_table_on_real_rollouts():
    from sb3_spiking.analysis.efficiency import format_table
    from sb3_spiking.tasks.drone.efficiency import drone_efficiency_table

    reports = drone_efficiency_table(None, n_episodes=1, max_episode_steps=60)
    snn, mlp, mlp_hist = reports
    assert 0.0 < snn.activation_sparsity < 1.0 and snn.dense_synops == 37_888 and snn.effective_acs > 0
    assert mlp.footprint_bytes == 4 * (18 * 64 + 64 + 64 * 64 + 64 + 64 * 4 + 4)
    assert mlp_hist.dense_synops == 13_696
    table = format_table(reports)
    assert "SNN 256-128 (paper)" in table and "untrained SNN fed 1 PD-guide flights" in table


@needs_drone
def test_the_efficiency_table_scores_trained_actors_on_the_same_starts(tmp_path):
    # the spiking actor's reward is protocol (b) on the starts a trained MLP row flies (paired), not its own rollouts
    from sb3_spiking import GuidedTD3
    from sb3_spiking.tasks.drone.efficiency import drone_efficiency_table, trained_mlp_efficiency
    from sb3_spiking.tasks.drone.evaluation import fly
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    snn = GuidedTD3("SpikingPolicy", DroneHoverVecEnv(2, command_obs=True), seed=0,
                    policy_kwargs=dict(net_arch=dict(pi=[16, 8], qf=[16]), feedback=True))
    mlp = GuidedTD3("MlpSequencePolicy", DroneHoverVecEnv(2, actor_history=32), seed=0,
                    policy_kwargs=dict(net_arch=dict(pi=[64, 64], qf=[16])))
    mlp.save(tmp_path / "mlp")
    reports = drone_efficiency_table(snn, n_episodes=2, max_episode_steps=60, mlp_history=str(tmp_path / "mlp.zip"))
    assert reports[0].reward == fly(snn, n_episodes=2, seed=0).mean_return
    assert reports[2].reward == trained_mlp_efficiency(str(tmp_path / "mlp.zip"), "m", 2, 0).reward


# --------------------------------------------------------------------------- pictures and CLI
@needs_drone
def test_flight_pictures_and_cli(tmp_path, capsys):
    from sb3_spiking.tasks.drone.analysis_cli import main
    from sb3_spiking.tasks.drone.env import DroneHoverEnv
    from sb3_spiking.tasks.drone.pd_guide import PDHoverGuide

    model = GuidedTD3("SpikingPolicy", DroneHoverEnv(), guide=PDHoverGuide(), buffer_size=1000, seed=0,
                      policy_kwargs=dict(net_arch=dict(pi=[32, 16], qf=[32])), **LEGACY_DEFAULTS)
    model.save(tmp_path / "m")
    main(["flight", "--model", str(tmp_path / "m.zip"), "--max-steps", "40", "--out", str(tmp_path / "pics")])
    for name in ("flight.png", "path3d.png", "spikes.png"):
        assert (tmp_path / "pics" / name).stat().st_size > 10_000
    main(["efficiency", "--model", str(tmp_path / "m.zip"), "--episodes", "1", "--out", str(tmp_path / "eff")])
    assert "SNN 32-16 (ours)" in (tmp_path / "eff" / "efficiency.md").read_text()
    main(["slopes", "--runs", "2", "--width", "8", "--out", str(tmp_path / "sl")])
    assert (tmp_path / "sl" / "surrogate_gradients.csv").exists()
    main(["export", str(tmp_path / "m.zip"), "--out", str(tmp_path / "c"), "--check-episodes", "1"])
    out = capsys.readouterr().out
    assert "max |action error|" in out and (tmp_path / "c" / "snn_actor.c").exists()
