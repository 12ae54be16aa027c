"""Crash-safe periodic checkpoints of a GuidedTD3 run and resuming from the latest one.

A checkpoint is a folder ``step_<num_timesteps>`` holding ``model.zip`` (weights, optimiser state,
slope buffer, step and update counters, training progress), ``replay_buffer.pkl`` and
``state.json`` (the slope schedule's evaluation history, the run's total step budget, the
sb3_spiking version and format, and the ``state_dict()`` of the run's stateful callbacks, e.g. a
reward curriculum's stage, for inspection), plus ``vecnormalize.pkl`` when the env is normalised. It is written
under a temporary name and renamed when complete, so a process killed mid-write never leaves a half
checkpoint behind. Everything else a run depends on is derived from what is saved: λ_BC from the
update counter, the guide horizon and progress-derived callbacks (a reward curriculum) from training progress.

Loading unpickles the model's ``data`` and the replay buffer: load only checkpoints you wrote.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback

from sb3_spiking.save_compat import FORMAT_KEY, FORMAT_VERSION, VERSION_KEY, check_format, package_version

STATE_FILE = "state.json"
MODEL_FILE = "model.zip"
BUFFER_FILE = "replay_buffer.pkl"
VECNORMALIZE_FILE = "vecnormalize.pkl"


class TrainingCheckpointCallback(BaseCallback):
    """Save a complete, resumable checkpoint every ``save_freq`` environment steps.

    The checkpoint is written at the start of the first collection round after the threshold
    (at most ``train_freq`` steps later), when model, buffer and counters agree.

    :param save_path: folder for the checkpoints.
    :param save_freq: environment steps (summed over envs) between checkpoints.
    :param keep_last: number of most recent checkpoints kept (older ones are deleted).
    :param save_replay_buffer: include the replay buffer (needed for an exact resume).
    :param stateful_callbacks: extra callbacks to record, by name: their ``state_dict()``, restored
        with ``load_state_dict`` where they have one (a callback whose state follows from training
        progress, such as a reward curriculum, may offer ``state_dict`` alone: recorded for inspection).
    """

    def __init__(
        self,
        save_path: str | os.PathLike,
        save_freq: int = 50_000,
        keep_last: int = 2,
        save_replay_buffer: bool = True,
        stateful_callbacks: dict[str, Any] | None = None,
        verbose: int = 0,
    ):
        super().__init__(verbose)
        if int(save_freq) != save_freq or save_freq < 1:
            raise ValueError(f"save_freq must be a positive integer, got {save_freq!r}")
        if int(keep_last) != keep_last or keep_last < 1:
            raise ValueError(f"keep_last must be a positive integer, got {keep_last!r}")
        self.save_path = Path(save_path)
        self.save_freq, self.keep_last = int(save_freq), int(keep_last)
        self.save_replay_buffer = save_replay_buffer
        self.stateful_callbacks = dict(stateful_callbacks or {})
        self._next_save = 0

    def _init_callback(self) -> None:
        self.save_path.mkdir(parents=True, exist_ok=True)
        # the model's counter: a resumed run starts past 0 (the callback's own counter is still 0 here)
        self._next_save = self.model.num_timesteps + self.save_freq

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        # Between a training round and the next collection every counter, the buffer and the
        # weights describe the same instant (on_step runs before SB3 stores the step's transition).
        if self.num_timesteps >= self._next_save:
            self._next_save = self.num_timesteps + self.save_freq
            self.save()

    def save(self) -> Path:
        """Write a checkpoint now and return its folder."""
        model = self.model
        final = self.save_path / f"step_{model.num_timesteps:012d}"
        tmp = self.save_path / f".tmp_{final.name}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model.save(tmp / MODEL_FILE)
        if self.save_replay_buffer and model.replay_buffer is not None:
            model.save_replay_buffer(tmp / BUFFER_FILE)
        vec_normalize = model.get_vec_normalize_env()
        if vec_normalize is not None:
            vec_normalize.save(str(tmp / VECNORMALIZE_FILE))
        callbacks = {name: callback_state(cb) for name, cb in self.stateful_callbacks.items()}
        slope_callback = getattr(model, "slope_callback", None)
        if slope_callback is not None:
            callbacks["slope_callback"] = slope_callback.state_dict()
        state = {
            VERSION_KEY: package_version(),
            FORMAT_KEY: FORMAT_VERSION,
            "num_timesteps": model.num_timesteps,
            "total_timesteps": model._total_timesteps,
            "n_updates": model._n_updates,
            "callbacks": callbacks,
        }
        (tmp / STATE_FILE).write_text(json.dumps(state, indent=1))
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)  # atomic: a checkpoint folder is complete or absent
        for old in list_checkpoints(self.save_path)[: -self.keep_last]:
            shutil.rmtree(old, ignore_errors=True)
        if self.verbose:
            print(f"checkpoint: {final}")
        return final


def callback_state(callback: Any) -> dict[str, Any]:
    """What a checkpoint records of a callback: its ``state_dict()`` (nothing without one)."""
    if hasattr(callback, "state_dict"):
        return callback.state_dict()
    return {}


def list_checkpoints(save_path: str | os.PathLike) -> list[Path]:
    """Complete checkpoint folders under ``save_path``, oldest first."""
    root = Path(save_path)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step_") and (p / STATE_FILE).exists())


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """``path`` itself if it is a checkpoint folder, else the latest complete one under it."""
    folder = Path(path)
    if (folder / STATE_FILE).exists():
        return folder
    found = list_checkpoints(folder)
    if not found:
        raise FileNotFoundError(f"no complete checkpoint in {folder}")
    return found[-1]


def read_state(folder: str | os.PathLike) -> dict[str, Any]:
    """A checkpoint's ``state.json``, after checking that this version can read the checkpoint."""
    state = json.loads((Path(folder) / STATE_FILE).read_text())
    check_format(state.get(VERSION_KEY), state.get(FORMAT_KEY), f"checkpoint {folder}")
    return state


def load_checkpoint(path: str | os.PathLike, env: Any = None, algorithm: type | None = None, **load_kwargs: Any):
    """Load a checkpoint folder (or the latest one under a checkpoints folder) to continue training.

    :param path: a ``step_…`` folder or the folder containing them.
    :param env: the training environment (required to continue training).
    :param algorithm: class to load with (default :class:`sb3_spiking.GuidedTD3`).
    :param load_kwargs: passed to ``algorithm.load`` (e.g. ``guide=...``: guides are not saved).
    :return: ``(model, remaining_timesteps, state)``; continue with
        ``model.learn(remaining_timesteps, reset_num_timesteps=False)``. Saved callback states are in
        ``state["callbacks"]``; the run's slope schedule (the SlopeScheduleCallback given to ``learn``, or
        ZooGuidedTD3's own) is restored automatically when training starts;
        ``state["folder"]`` is the checkpoint loaded (its ``vecnormalize.pkl``, if any, is not
        applied: wrap ``env`` with ``VecNormalize.load`` first).
    :raises sb3_spiking.save_compat.IncompatibleModelError: written in a format this version cannot read.
    """
    if algorithm is None:
        from sb3_spiking.guided_td3 import GuidedTD3 as algorithm  # noqa: N813
    folder = resolve_checkpoint(path)
    state = read_state(folder)  # refuses an unreadable format before anything is unpickled
    model = algorithm.load(folder / MODEL_FILE, env=env, **load_kwargs)
    if (folder / BUFFER_FILE).exists():
        model.load_replay_buffer(folder / BUFFER_FILE)
    if "slope_callback" in state["callbacks"]:
        model._resume_slope_state = state["callbacks"]["slope_callback"]
    remaining = int(state["total_timesteps"]) - int(model.num_timesteps)
    state["folder"] = str(folder)
    return model, remaining, state
