"""Surrogate-gradient slope analysis (paper section 3.3, Fig. 1).

For a random spiking network and a set of surrogate slopes ``k``, compute per weight layer

* the mean gradient magnitude of a loss at the network output (how much gradient reaches the
  layer: shallow slopes vanish less), and
* the cosine similarity of the gradient at slope ``k`` to the gradient at the steepest slope
  (``k = 100`` stands in for the "true" gradient of the step function).

Each run draws one network (weights, leaks, thresholds), one input sequence and one target; all
slopes of that run share them, so only the backward pass differs between slopes (the forward pass
of a spiking network does not depend on the slope). Results are averaged over runs.

Setup (the paper gives only "4 layers x 64 LIF neurons, 100 runs"; the rest is ours, see
``docs/analysis.md``): :class:`~sb3_spiking.neurons.SpikingMLP` with ``hidden=(64,)*4``, input
size 64, a linear readout of 64 outputs, ``n_steps`` time steps from zero membrane,
inputs ``x ~ N(input_mean, input_std²)`` i.i.d. per step, loss ``mean((y - y*)²)`` over time,
batch and outputs with ``y`` the (linear, no tanh) readout and ``y* ~ N(0, 1)``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch as th

from sb3_spiking.neurons import SpikingMLP

DEFAULT_SLOPES: tuple[float, ...] = (1.0, 10.0, 25.0, 50.0, 100.0)

#: cosine similarity to the k = 100 gradient at the first hidden layer, read off the paper's Fig. 1
PAPER_FIRST_LAYER_COSINE: dict[float, float] = {1.0: 0.03, 25.0: 0.37, 50.0: 0.70, 100.0: 1.0}


@dataclass
class SlopeAnalysisConfig:
    """Network, data and averaging of :func:`analyse_slopes`.

    :param n_layers: number of LIF layers.
    :param width: neurons per LIF layer (and input / output size).
    :param n_runs: independent random networks averaged over.
    :param slopes: surrogate slopes to compare.
    :param reference_slope: slope whose gradient is the cosine reference (the steepest).
    :param n_steps: time steps per sequence (gradients flow through the membrane as well).
    :param batch_size: sequences per run.
    :param input_mean: mean of the Gaussian input (a positive drive keeps the layers spiking).
    :param input_std: standard deviation of the Gaussian input.
    :param weight_gain: multiplies PyTorch's default ``Linear`` init of the hidden layers; > 1 keeps
        deep layers active (with the default init the spike rate decays with depth).
    :param seed: base seed; run ``r`` uses ``seed + r``.
    """

    n_layers: int = 4
    width: int = 64
    n_runs: int = 100
    slopes: tuple[float, ...] = DEFAULT_SLOPES
    reference_slope: float = 100.0
    n_steps: int = 10
    batch_size: int = 32
    input_mean: float = 0.5
    input_std: float = 1.0
    weight_gain: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        self.slopes = tuple(float(k) for k in self.slopes)
        if self.n_layers < 1 or self.width < 1 or self.n_runs < 1 or self.n_steps < 1 or self.batch_size < 1:
            raise ValueError("n_layers, width, n_runs, n_steps and batch_size must be positive")
        if not self.slopes or any(not (k > 0 and math.isfinite(k)) for k in self.slopes):
            raise ValueError(f"slopes must be finite and > 0, got {self.slopes}")


@dataclass
class SlopeAnalysisResult:
    """Per-slope, per-layer statistics; layer ``i < n_layers`` is the i-th LIF layer's input
    weights, the last layer is the readout.

    ``grad_norm[k][i]``: mean over runs of ``‖∂L/∂W_i‖₂``; ``grad_abs[k][i]``: mean absolute
    gradient entry; ``cosine[k][i]`` / ``cosine_std[k][i]``: mean / std over runs of the cosine
    similarity to the reference slope's gradient; ``spike_rate[i]``: mean firing rate of LIF layer i.
    """

    config: SlopeAnalysisConfig
    layers: list[str]
    grad_norm: dict[float, list[float]] = field(default_factory=dict)
    grad_abs: dict[float, list[float]] = field(default_factory=dict)
    cosine: dict[float, list[float]] = field(default_factory=dict)
    cosine_std: dict[float, list[float]] = field(default_factory=dict)
    spike_rate: list[float] = field(default_factory=list)

    def rows(self) -> list[dict[str, float | int | str]]:
        """One row per (slope, layer), as written to the CSV."""
        out: list[dict[str, float | int | str]] = []
        for k in self.config.slopes:
            for i, name in enumerate(self.layers):
                out.append(
                    dict(
                        slope=k,
                        layer=i + 1,
                        layer_name=name,
                        grad_norm=self.grad_norm[k][i],
                        grad_abs_mean=self.grad_abs[k][i],
                        cosine_to_reference=self.cosine[k][i],
                        cosine_std=self.cosine_std[k][i],
                        spike_rate=self.spike_rate[i] if i < len(self.spike_rate) else float("nan"),
                    )
                )
        return out


def _layer_weights(net: SpikingMLP) -> list[th.Tensor]:
    return [fc.weight for fc in net.fcs] + [net.readout.weight]


def _build_run(cfg: SlopeAnalysisConfig, run: int) -> tuple[SpikingMLP, th.Tensor, th.Tensor]:
    gen_seed = cfg.seed + run
    th.manual_seed(gen_seed)  # nn.Linear / LIF init draw from the global generator
    net = SpikingMLP(cfg.width, cfg.width, (cfg.width,) * cfg.n_layers, slope=cfg.reference_slope)
    with th.no_grad():
        for fc in net.fcs[1:]:
            fc.weight.mul_(cfg.weight_gain)
    g = th.Generator().manual_seed(10_000_019 + gen_seed)
    x = cfg.input_mean + cfg.input_std * th.randn(cfg.n_steps, cfg.batch_size, cfg.width, generator=g)
    target = th.randn(cfg.n_steps, cfg.batch_size, cfg.width, generator=g)
    return net, x, target


def _forward_loss(net: SpikingMLP, x: th.Tensor, target: th.Tensor) -> tuple[th.Tensor, list[th.Tensor]]:
    """Loss on the linear readout (no tanh, so the output layer's gradient does not saturate).

    The hidden layers run through the network's own sequence path, so every neuron type and the
    action feedback (fed its own outputs) are unrolled as the network computes them."""
    _, _, spikes = net(x, net.initial_state(x.shape[1]), return_spikes=True)
    y = net.readout(spikes[-1])
    return ((y - target) ** 2).mean(), spikes


def gradients_per_slope(
    net: SpikingMLP, x: th.Tensor, target: th.Tensor, slopes: Sequence[float]
) -> tuple[dict[float, list[th.Tensor]], list[float]]:
    """Gradient of the loss w.r.t. every layer's weights, for each slope, on one network and batch.

    The network's slope is restored afterwards.

    :return: ``{slope: [flattened gradient per layer]}`` and the spike rate of each LIF layer.
    """
    original = net.slope
    grads: dict[float, list[th.Tensor]] = {}
    rates: list[float] = []
    weights = _layer_weights(net)
    try:
        for k in slopes:
            net.set_slope(k)
            loss, spikes = _forward_loss(net, x, target)
            grads[float(k)] = [g.detach().flatten() for g in th.autograd.grad(loss, weights)]
            rates = [float(s.detach().mean()) for s in spikes]
    finally:
        net.set_slope(original)
    return grads, rates


def analyse_slopes(config: SlopeAnalysisConfig | None = None, progress: bool = False) -> SlopeAnalysisResult:
    """Run the slope analysis (paper Fig. 1) and return per-layer magnitudes and cosine similarities.

    :param config: network, data and averaging (defaults: 4 x 64 LIF, 100 runs, k = 1, 10, 25, 50, 100).
    :param progress: print a line every 10 runs.
    """
    cfg = config or SlopeAnalysisConfig()
    slopes = list(cfg.slopes)
    if cfg.reference_slope not in slopes:
        slopes.append(cfg.reference_slope)
    n_w = cfg.n_layers + 1
    norms = {k: np.zeros((cfg.n_runs, n_w)) for k in slopes}
    absm = {k: np.zeros((cfg.n_runs, n_w)) for k in slopes}
    coss = {k: np.zeros((cfg.n_runs, n_w)) for k in slopes}
    rates = np.zeros((cfg.n_runs, cfg.n_layers))
    for r in range(cfg.n_runs):
        net, x, target = _build_run(cfg, r)
        grads, rates[r] = gradients_per_slope(net, x, target, slopes)
        ref = grads[cfg.reference_slope]
        for k in slopes:
            for i, (g, g_ref) in enumerate(zip(grads[k], ref)):
                norms[k][r, i] = float(g.norm())
                absm[k][r, i] = float(g.abs().mean())
                # a layer with no gradient at all (silent network) has cosine 0 by convention
                coss[k][r, i] = float(th.nn.functional.cosine_similarity(g, g_ref, dim=0, eps=1e-30))
        if progress and (r + 1) % 10 == 0:
            print(f"  run {r + 1}/{cfg.n_runs}", flush=True)
    layers = [f"lif{i + 1}" for i in range(cfg.n_layers)] + ["readout"]
    result = SlopeAnalysisResult(cfg, layers, spike_rate=rates.mean(0).tolist())
    for k in cfg.slopes:
        result.grad_norm[k] = norms[k].mean(0).tolist()
        result.grad_abs[k] = absm[k].mean(0).tolist()
        result.cosine[k] = coss[k].mean(0).tolist()
        result.cosine_std[k] = coss[k].std(0).tolist()
    return result


def write_csv(result: SlopeAnalysisResult, path: str | Path) -> Path:
    """Write one row per (slope, layer) to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = result.rows()
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot(result: SlopeAnalysisResult, path: str | Path) -> Path:
    """Two-panel PNG: gradient norm per layer (log scale) and cosine similarity to the reference."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    layers = np.arange(1, len(result.layers) + 1)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    cmap = plt.get_cmap("viridis")
    for j, k in enumerate(result.config.slopes):
        color = cmap(j / max(len(result.config.slopes) - 1, 1))
        ax1.plot(layers, result.grad_norm[k], "o-", color=color, label=f"k = {k:g}")
        ax2.plot(layers, result.cosine[k], "o-", color=color, label=f"k = {k:g}")
    if result.config.reference_slope == 100.0:
        ks = [k for k in PAPER_FIRST_LAYER_COSINE if k != 100.0]
        ax2.scatter([1] * len(ks), [PAPER_FIRST_LAYER_COSINE[k] for k in ks], marker="x", color="red", zorder=5,
                    label="paper (read off, layer 1)")
    names = [n.replace("lif", "LIF ") for n in result.layers]
    for ax in (ax1, ax2):
        ax.set_xticks(layers, names)
        ax.set_xlabel("layer (input side → output)")
        ax.grid(alpha=0.3)
    ax1.set_yscale("log")
    ax1.set_ylabel("mean ‖∂L/∂W‖₂")
    ax1.set_title("gradient magnitude")
    ax2.set_ylabel(f"cosine similarity to k = {result.config.reference_slope:g}")
    ax2.set_title("gradient alignment")
    ax2.set_ylim(-0.05, 1.05)
    ax2.legend(fontsize=8)
    c = result.config
    fig.suptitle(f"{c.n_layers} x {c.width} LIF, {c.n_runs} runs, {c.n_steps} steps", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def format_comparison(result: SlopeAnalysisResult) -> str:
    """Text table: first-hidden-layer cosine per slope beside the paper's read-off value."""
    lines = ["slope  cos(layer 1)  paper  | cos per layer (1 … out) | ‖g‖ per layer"]
    for k in result.config.slopes:
        paper = PAPER_FIRST_LAYER_COSINE.get(k)
        p = f"{paper:5.2f}" if paper is not None else "   - "
        cos = " ".join(f"{c:5.2f}" for c in result.cosine[k])
        nrm = " ".join(f"{n:.2e}" for n in result.grad_norm[k])
        lines.append(f"{k:5g}  {result.cosine[k][0]:12.2f}  {p}  | {cos} | {nrm}")
    lines.append("spike rate per LIF layer: " + " ".join(f"{r:.2f}" for r in result.spike_rate))
    return "\n".join(lines)


__all__ = [
    "DEFAULT_SLOPES",
    "PAPER_FIRST_LAYER_COSINE",
    "SlopeAnalysisConfig",
    "SlopeAnalysisResult",
    "analyse_slopes",
    "format_comparison",
    "gradients_per_slope",
    "plot",
    "write_csv",
]
