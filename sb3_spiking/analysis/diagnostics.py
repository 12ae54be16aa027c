"""Training diagnostics: how the surrogate slope shapes the actor's gradient *during* training.

:class:`SurrogateGradientDiagnostics` is an optional SB3 callback for :class:`~sb3_spiking.GuidedTD3`.
Every ``every_n_updates`` gradient updates it samples one batch of windows, computes the actor loss
gradient twice — at the current slope and at a steep reference slope (default 100, the paper's
stand-in for the true gradient) — and logs per weight layer

* ``diagnostics/grad_norm/<layer>``: ‖∂J/∂W‖₂ at the current slope,
* ``diagnostics/grad_norm_steep/<layer>``: the same at the steep slope,
* ``diagnostics/cosine_to_steep/<layer>``: cosine similarity of the two (1 = same direction),

plus ``diagnostics/slope`` and ``diagnostics/actor_loss``. This is the paper's Fig. 1 measured on
the real actor and the real loss instead of a random network.

Side effects are nil by design: gradients come from ``torch.autograd.grad`` (no ``.grad``
accumulated, no optimiser step), the slope is restored in a ``finally`` block, and the numpy /
torch random states used by the buffer's sampler are restored, so a run with the callback follows
the same trajectory as one without it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import TensorBoardOutputFormat

from sb3_spiking.neurons import check_slope


def actor_layer_weights(actor: Any) -> dict[str, th.Tensor]:
    """Weight matrices of a spiking actor by layer name: ``lif0 … lifN`` (input weights of each
    LIF layer) and ``readout``."""
    net = actor.net
    layers = {f"lif{i}": fc.weight for i, fc in enumerate(net.fcs)}
    layers["readout"] = net.readout.weight
    return layers


class SurrogateGradientDiagnostics(BaseCallback):
    """Log per-layer actor gradient norms and their alignment with a steep-slope gradient.

    :param every_n_updates: gradient updates between two measurements.
    :param batch_size: windows per measurement batch (default: the model's ``batch_size``).
    :param steep_slope: reference slope ``k`` of the "true" gradient.
    :param verbose: 1 prints one line per measurement.

    After training, :attr:`history` holds one dict per measurement (``n_updates``,
    ``num_timesteps``, ``slope``, ``actor_loss`` and the three per-layer dicts).
    """

    def __init__(self, every_n_updates: int = 1000, batch_size: int | None = None, steep_slope: float = 100.0, verbose: int = 0):
        super().__init__(verbose=verbose)
        if int(every_n_updates) != every_n_updates or every_n_updates < 1:
            raise ValueError(f"every_n_updates must be a positive integer, got {every_n_updates!r}")
        if batch_size is not None and (int(batch_size) != batch_size or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.every_n_updates = int(every_n_updates)
        self.batch_size = None if batch_size is None else int(batch_size)
        self.steep_slope = check_slope(steep_slope)
        self.history: list[dict[str, Any]] = []
        self._next = self.every_n_updates

    def _init_callback(self) -> None:
        for attr in ("_actor_loss", "replay_buffer"):
            if not hasattr(self.model, attr):
                raise TypeError(f"SurrogateGradientDiagnostics needs a GuidedTD3 model (missing {attr!r})")
        n = int(getattr(self.model, "_n_updates", 0))
        self._next = (n // self.every_n_updates + 1) * self.every_n_updates

    # updates happen between rollouts: check when a new rollout starts, i.e. right after ``train``
    def _on_rollout_start(self) -> None:
        if self.model._n_updates >= self._next and self.model.replay_buffer.size() > 0:
            self._next = (self.model._n_updates // self.every_n_updates + 1) * self.every_n_updates
            record = self.measure()
            if record is not None:
                self._log(record)

    def _on_training_end(self) -> None:  # the last ``train`` is followed by no rollout
        self._on_rollout_start()

    def _on_step(self) -> bool:
        return True

    def measure(self) -> dict[str, Any] | None:
        """Sample a batch and compare the gradients at the current and the steep slope.

        :return: the measurement (also appended to :attr:`history`), or ``None`` when the batch
            has no step that enters the actor loss.
        """
        model = self.model
        actor = model.policy.actor
        weights = actor_layer_weights(actor)
        np_state, th_state = np.random.get_state(), th.random.get_rng_state()
        slope = actor.slope
        try:
            data = model.replay_buffer.sample(self.batch_size or model.batch_size)
            grads = {}
            loss_value = float("nan")
            for k in (slope, self.steep_slope):
                actor.set_slope(k)  # the actor only: the target actor takes no part in the actor loss
                loss, *_ = model._actor_loss(data)
                if loss is None:
                    return None
                if k == slope:
                    loss_value = float(loss.detach())
                grads[k] = th.autograd.grad(loss, list(weights.values()), allow_unused=True)
        finally:
            actor.set_slope(slope)
            np.random.set_state(np_state)
            th.random.set_rng_state(th_state)
        record: dict[str, Any] = dict(
            n_updates=int(model._n_updates), num_timesteps=int(model.num_timesteps), slope=float(slope),
            actor_loss=loss_value, grad_norm={}, grad_norm_steep={}, cosine_to_steep={},
        )
        for name, g, g_ref in zip(weights, grads[slope], grads[self.steep_slope]):
            g = th.zeros_like(weights[name]) if g is None else g
            g_ref = th.zeros_like(weights[name]) if g_ref is None else g_ref
            record["grad_norm"][name] = float(g.norm())
            record["grad_norm_steep"][name] = float(g_ref.norm())
            denom = float(g.norm() * g_ref.norm())
            record["cosine_to_steep"][name] = float((g.flatten() @ g_ref.flatten()) / denom) if denom > 0 else math.nan
        self.history.append(record)
        return record

    def _log(self, record: dict[str, Any]) -> None:
        scalars = {"diagnostics/slope": record["slope"], "diagnostics/actor_loss": record["actor_loss"]}
        for key in ("grad_norm", "grad_norm_steep", "cosine_to_steep"):
            for name, value in record[key].items():
                scalars[f"diagnostics/{key}/{name}"] = value
        # written straight to TensorBoard at the measurement's step: going through logger.record
        # would keep only the last value before the next dump
        writers = [f.writer for f in self.logger.output_formats if isinstance(f, TensorBoardOutputFormat)]
        for writer in writers:
            for key, value in scalars.items():
                writer.add_scalar(key, value, record["num_timesteps"])
            writer.flush()
        if not writers:  # no TensorBoard: still visible in stdout / CSV at the next dump
            for key, value in scalars.items():
                self.logger.record(key, value)
        if self.verbose:
            cos = " ".join(f"{n}={c:.2f}" for n, c in record["cosine_to_steep"].items())
            print(f"[diagnostics] update {record['n_updates']}: slope {record['slope']:g}, cos to k={self.steep_slope:g}: {cos}")


__all__ = ["SurrogateGradientDiagnostics", "actor_layer_weights"]
