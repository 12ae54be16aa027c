"""Efficiency metrics with NeuroBench's definitions, and the paper's per-inference energy estimate.

Implemented here (``neurobench`` itself pulls torchaudio/CUDA wheels) following NeuroBench's
definitions, per inference (= one control step, averaged over the recorded steps):

* **footprint**: bytes of all parameters and buffers (NeuroBench ``Footprint``);
* **activation sparsity**: fraction of zero outputs of the activation layers — the LIF layers'
  spikes for the SNN, the hidden ReLU outputs for an MLP (the output squashing ``tanh`` of either
  is not counted);
* **dense SynOps**: ``Σ fan_in · fan_out`` over connection layers (every synapse, zero input or
  not, bias excluded — NeuroBench's ``Dense``);
* **effective MACs / ACs**: synaptic operations with a non-zero input *and* a non-zero weight;
  counted as MACs when the layer's input is real-valued (observations, ReLU outputs) and as ACs
  when it is binary (spikes) — NeuroBench's ``Effective_MACs`` / ``Effective_ACs``;
* **neuron updates**: LIF neurons updated per step (every neuron, every step: the SNN is clocked);
* **state**: bytes a deployment carries from step to step — the network's state variables
  (membranes, synaptic currents, adaptive thresholds, feedback traces) for the SNN, the input
  history buffer for an actor fed its past commands (float32).

Memory networks (:mod:`sb3_spiking.memory_neurons`) add synapses: a recurrent layer's ``V`` (binary
input: its own previous spikes, counted as ACs) and the action feedback's ``W_fb`` (real-valued
traces: MACs).

Energy (Loihi figures quoted by the paper, Davies et al. 2018: 23.6 pJ per synaptic op, 1.7 pJ
per within-tile spike, 81 pJ per neuron update). The paper gives its result (≈ 9.7e-5 mJ) but
not its formula; two estimates are reported:

* ``energy_paper_mj`` = dense SynOps·1.7 pJ + neuron updates·81 pJ + spikes·23.6 pJ — a
  reconstruction that reproduces the paper's 9.7e-5 mJ from the paper's own counts (37.9k dense
  SynOps, 384 neurons, sparsity 0.79 → 80.6 spikes: 9.74e-5 mJ);
* ``energy_event_mj`` = (effective MACs + ACs)·23.6 pJ + spikes·1.7 pJ + neuron updates·81 pJ — the
  usual event-driven reading of the same figures (each effective synaptic event costs 23.6 pJ).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch as th
from torch import nn

from sb3_spiking.export.resolve import resolve_actor
from sb3_spiking.neurons import SpikingMLP

E_SYNOP_PJ = 23.6  #: Loihi energy per synaptic operation [pJ]
E_SPIKE_TILE_PJ = 1.7  #: Loihi within-tile spike energy [pJ]
E_NEURON_PJ = 81.0  #: Loihi energy per (active) neuron update [pJ]

#: the paper's Table (section 8 of docs/reference): name -> figures (None = not reported)
PAPER_TABLE: dict[str, dict[str, Any]] = {
    "ANN 64-64 + action history (paper)": dict(
        reward=447, footprint_kb=55.3, activation_sparsity=0.0, dense_synops=None, effective_macs=13.7e3, effective_acs=0,
        energy_mj=None),
    "SNN 256-128 (paper)": dict(
        reward=446, footprint_kb=158.3, activation_sparsity=0.79, dense_synops=37.9e3, effective_macs=4.6e3,
        effective_acs=12.2e3, energy_mj=9.7e-5),
}


@dataclass
class EfficiencyReport:
    """NeuroBench-style figures of one controller, per inference (one control step)."""

    name: str
    footprint_bytes: int
    activation_sparsity: float
    dense_synops: float
    effective_macs: float
    effective_acs: float
    neuron_updates: float = 0.0
    spikes: float = 0.0
    reward: float | None = None
    data: str = ""
    layer_sparsity: list[float] = field(default_factory=list)
    state_bytes: int = 0

    @property
    def energy_paper_mj(self) -> float | None:
        """Reconstruction of the paper's Loihi estimate [mJ] (``None`` for non-spiking networks)."""
        if self.neuron_updates == 0:
            return None
        pj = self.dense_synops * E_SPIKE_TILE_PJ + self.neuron_updates * E_NEURON_PJ + self.spikes * E_SYNOP_PJ
        return pj * 1e-9

    @property
    def energy_event_mj(self) -> float | None:
        """Event-driven Loihi estimate [mJ] (``None`` for non-spiking networks)."""
        if self.neuron_updates == 0:
            return None
        pj = (
            (self.effective_macs + self.effective_acs) * E_SYNOP_PJ
            + self.spikes * E_SPIKE_TILE_PJ
            + self.neuron_updates * E_NEURON_PJ
        )
        return pj * 1e-9

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(energy_paper_mj=self.energy_paper_mj, energy_event_mj=self.energy_event_mj)
        return d


def footprint(module: nn.Module) -> int:
    """Bytes of all parameters and buffers (NeuroBench ``Footprint``)."""
    return int(sum(t.numel() * t.element_size() for t in [*module.parameters(), *module.buffers()]))


def _is_binary(x: th.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


def synaptic_ops(layer: nn.Linear, inputs: th.Tensor) -> tuple[float, float, float]:
    """``(dense, effective_macs, effective_acs)`` of a linear layer, summed over the rows of ``inputs``.

    Effective ops = pairs (non-zero input, non-zero weight): ``Σ_rows Σ_i [x_i ≠ 0] · nnz(W[:, i])``.
    """
    x = inputs.reshape(-1, layer.in_features)
    dense = float(x.shape[0] * layer.in_features * layer.out_features)
    nnz_per_input = (layer.weight != 0).sum(0).to(th.float64)  # (in,) non-zero synapses fanning out of input i
    effective = float(((x != 0).to(th.float64) @ nnz_per_input).sum())
    return (dense, 0.0, effective) if _is_binary(x) else (dense, effective, 0.0)


@th.no_grad()
def spiking_efficiency(
    actor: Any, sequences: Sequence[np.ndarray], name: str = "SNN", reward: float | None = None, data: str = ""
) -> EfficiencyReport:
    """Measure a spiking actor on observation sequences (one ``(T, in_dim)`` array per episode;
    the state starts at zero for each, as in deployment).

    :param actor: model, policy, actor or :class:`SpikingMLP`.
    :param sequences: actor observations of real rollouts.
    """
    net: SpikingMLP = resolve_actor(actor)[0]
    totals = np.zeros(3)
    spikes_per_layer = np.zeros(len(net.hidden))
    steps = 0
    for seq in sequences:
        x = th.as_tensor(np.asarray(seq, np.float32)).unsqueeze(1)  # (T, 1, D)
        y, _, spikes = net(x, net.initial_state(1), return_spikes=True)  # deployment: its own commands fed back
        inputs = [x, *spikes]  # input of fc0, fc1, …, readout
        for layer, inp in zip([*net.fcs, net.readout], inputs):
            totals += synaptic_ops(layer, inp)
        for lif, s in zip(net.lifs, spikes):
            if hasattr(lif, "recurrent"):  # the layer's own previous spikes through V
                totals += synaptic_ops(lif.recurrent, th.cat([th.zeros_like(s[:1]), s[:-1]]))
        if net.feedback is not None:
            fb_state = net.initial_state(1)[-2:]
            traces, _ = net.feedback.sequence(fb_state[0], fb_state[1], y)
            totals += synaptic_ops(net.feedback.weight, traces)
        spikes_per_layer += [float(s.sum()) for s in spikes]
        steps += x.shape[0]
    if steps == 0:
        raise ValueError("no observations")
    n_neurons = sum(net.hidden)
    total_spikes = spikes_per_layer.sum() / steps
    return EfficiencyReport(
        name=name,
        footprint_bytes=footprint(net),
        activation_sparsity=float(1.0 - total_spikes / n_neurons),
        dense_synops=float(totals[0] / steps),
        effective_macs=float(totals[1] / steps),
        effective_acs=float(totals[2] / steps),
        neuron_updates=float(n_neurons),
        spikes=float(total_spikes),
        reward=reward,
        data=data,
        layer_sparsity=[float(1.0 - s / steps / h) for s, h in zip(spikes_per_layer, net.hidden)],
        state_bytes=4 * sum(net.state_sizes),
    )


def make_mlp(in_dim: int, hidden: Sequence[int] = (64, 64), out_dim: int = 4, seed: int = 0) -> nn.Sequential:
    """An SB3-TD3-shaped actor MLP: ``[Linear, ReLU] × len(hidden)``, ``Linear``, ``Tanh``."""
    th.manual_seed(seed)
    sizes = [in_dim, *hidden]
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers, nn.Linear(sizes[-1], out_dim), nn.Tanh())


@th.no_grad()
def mlp_efficiency(
    mlp: nn.Module, inputs: np.ndarray, name: str = "MLP", reward: float | None = None, data: str = "",
    history_values: int = 0,
) -> EfficiencyReport:
    """Measure a feed-forward actor (``nn.Sequential`` of ``Linear`` and activations) on ``(N, D)`` inputs.

    The activation sparsity counts the zero outputs of the hidden activation layers (not of the
    final output activation).

    :param history_values: values of past commands in the input, which a deployment must keep in a
        buffer (its state, float32); e.g. 32 × 4 for the paper's MLP with action history.
    """
    x = th.as_tensor(np.asarray(inputs, np.float32))
    modules = list(mlp.children()) if isinstance(mlp, nn.Sequential) else [mlp]
    totals = np.zeros(3)
    zeros = count = 0
    last_linear = max(i for i, m in enumerate(modules) if isinstance(m, nn.Linear))
    for i, m in enumerate(modules):
        if isinstance(m, nn.Linear):
            totals += synaptic_ops(m, x)
        x = m(x)
        if not isinstance(m, nn.Linear) and i < last_linear:  # a hidden activation
            zeros += int((x == 0).sum())
            count += x.numel()
    n = len(inputs)
    return EfficiencyReport(
        name=name,
        footprint_bytes=footprint(mlp),
        activation_sparsity=zeros / count if count else 0.0,
        dense_synops=float(totals[0] / n),
        effective_macs=float(totals[1] / n),
        effective_acs=float(totals[2] / n),
        reward=reward,
        data=data,
        state_bytes=4 * int(history_values),
    )


def _k(x: float | None) -> str:
    return "-" if x is None else f"{x / 1e3:.1f}k"


def format_table(reports: Sequence[EfficiencyReport], paper: bool = True) -> str:
    """Markdown table of our reports, with the paper's rows beneath."""
    head = (
        "| controller | reward | footprint | state | act. sparsity | dense SynOps | eff. MACs | eff. ACs "
        "| energy (paper formula) | energy (event-driven) | data |"
    )
    lines = [head, "|" + "---|" * 11]
    for r in reports:
        e1, e2 = r.energy_paper_mj, r.energy_event_mj
        lines.append(
            f"| {r.name} | {'-' if r.reward is None else f'{r.reward:.0f}'} | {r.footprint_bytes / 1000:.1f} kB | "
            f"{r.state_bytes} B | "
            f"{r.activation_sparsity:.2f} | {_k(r.dense_synops)} | {_k(r.effective_macs)} | {_k(r.effective_acs)} | "
            f"{'-' if e1 is None else f'{e1:.2e} mJ'} | {'-' if e2 is None else f'{e2:.2e} mJ'} | {r.data} |"
        )
    if paper:
        for name, p in PAPER_TABLE.items():
            energy = "-" if p["energy_mj"] is None else f"{p['energy_mj']:.1e} mJ"
            lines.append(
                f"| {name} | {p['reward']} | {p['footprint_kb']} kB | - | {p['activation_sparsity']:.2f} | "
                f"{_k(p['dense_synops'])} | {_k(p['effective_macs'])} | {_k(p['effective_acs'])} | "
                f"{energy} | - | paper Table 2 |"
            )
    return "\n".join(lines)


__all__ = [
    "E_NEURON_PJ",
    "E_SPIKE_TILE_PJ",
    "E_SYNOP_PJ",
    "PAPER_TABLE",
    "EfficiencyReport",
    "footprint",
    "format_table",
    "make_mlp",
    "mlp_efficiency",
    "spiking_efficiency",
    "synaptic_ops",
]
