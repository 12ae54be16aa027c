"""Saved models record the sb3_spiking version and format; incompatible files fail clearly, before
anything in them is unpickled; tensors are read with ``torch.load(weights_only=True)``."""

from __future__ import annotations

import base64
import io
import json
import pathlib
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch as th

import sb3_spiking
from sb3_spiking import GuidedTD3
from sb3_spiking.checkpoints import TrainingCheckpointCallback, load_checkpoint
from sb3_spiking.save_compat import FORMAT_VERSION, IncompatibleModelError, load_weights_only, read_saved_versions


class TouchOnUnpickle:
    """Unpickling this creates a file: stands in for code a malicious file would run."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return pathlib.Path.touch, (self.path,)


def _tiny_model(env) -> GuidedTD3:
    return GuidedTD3("SpikingPolicy", env, n_seq=10, n_warmup=2, stride=5, learning_starts=20, buffer_size=500,
                     policy_kwargs=dict(net_arch=dict(pi=[8], qf=[8])), seed=0)  # fmt: skip


def _rewrite_zip(path: Path, name: str, edit) -> None:
    """Replace entry ``name`` of the zip at ``path`` with ``edit(old_bytes)``."""
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    entries[name] = edit(entries[name])
    with zipfile.ZipFile(path, "w") as archive:
        for n, content in entries.items():
            archive.writestr(n, content)


def _edit_data(path: Path, **changes) -> None:
    def edit(raw: bytes) -> bytes:
        data = json.loads(raw)
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        return json.dumps(data).encode()

    _rewrite_zip(path, "data", edit)


def _payload(marker: Path) -> dict:
    """A ``data`` entry as SB3 writes it, whose deserialisation touches ``marker``."""
    return {":type:": "<class 'function'>", ":serialized:": base64.b64encode(pickle.dumps(TouchOnUnpickle(marker))).decode()}


@pytest.fixture
def saved(tmp_path, pendulum) -> Path:
    path = tmp_path / "model.zip"
    _tiny_model(pendulum).save(path)
    return path


def test_save_records_version_and_format_and_reload_keeps_them_current(saved, pendulum):
    assert read_saved_versions(saved) == (sb3_spiking.__version__, FORMAT_VERSION)
    with open(saved, "rb") as f:  # file objects too, rewound for SB3
        f.seek(0)
        assert read_saved_versions(f) == (sb3_spiking.__version__, FORMAT_VERSION) and f.tell() == 0
    _edit_data(saved, sb3_spiking_version=None, sb3_spiking_format=None)  # a file from before versions were recorded
    model = GuidedTD3.load(saved, env=pendulum)  # still readable (format 1)
    resaved = saved.with_name("resaved.zip")
    model.save(resaved)
    assert read_saved_versions(resaved) == (sb3_spiking.__version__, FORMAT_VERSION)


def test_newer_format_fails_clearly_before_unpickling(saved, tmp_path):
    marker = tmp_path / "code_ran"
    _edit_data(saved, sb3_spiking_version="9.9.0", sb3_spiking_format=FORMAT_VERSION + 1, lr_schedule=_payload(marker))
    with pytest.raises(IncompatibleModelError) as exc:
        GuidedTD3.load(saved)
    message = str(exc.value)
    assert f"saved by sb3_spiking 9.9.0 (format {FORMAT_VERSION + 1})" in message
    assert f"this is sb3_spiking {sb3_spiking.__version__}" in message and "upgrade: pip install 'sb3_spiking>=9.9.0'" in message
    assert not marker.exists()  # refused before anything in the file was unpickled


def test_older_incompatible_format_names_the_version_to_use(saved):
    _edit_data(saved, sb3_spiking_version="0.0.1", sb3_spiking_format=0)
    with pytest.raises(
        IncompatibleModelError, match=r"saved by sb3_spiking 0\.0\.1 \(format 0\).*pip install 'sb3_spiking==0\.0\.1'"
    ):
        GuidedTD3.load(saved)


def test_load_unpickles_data_but_load_weights_only_does_not(saved, tmp_path, pendulum):
    """What docs/reliability.md says: ``load`` runs code from the file; load_weights_only does not."""
    reference = GuidedTD3.load(saved)
    marker = tmp_path / "code_ran"
    _edit_data(saved, lr_schedule=_payload(marker))
    fresh = _tiny_model(pendulum)
    load_weights_only(fresh, saved)
    assert not marker.exists()
    for key, value in reference.policy.state_dict().items():
        assert th.equal(fresh.policy.state_dict()[key], value), key
    GuidedTD3.load(saved)  # the pickled entry is deserialised: trust only your own files
    assert marker.exists()


def test_tensors_are_loaded_with_weights_only(saved, tmp_path):
    """A ``.pth`` entry holding anything but tensors is refused (SB3 2.9 uses weights_only=True)."""
    marker = tmp_path / "code_ran"

    def poisoned(raw: bytes) -> bytes:
        state = th.load(io.BytesIO(raw), weights_only=True)
        state["extra"] = TouchOnUnpickle(marker)
        buffer = io.BytesIO()
        th.save(state, buffer)
        return buffer.getvalue()

    _rewrite_zip(saved, "policy.pth", poisoned)
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        GuidedTD3.load(saved)
    assert not marker.exists()


def test_checkpoint_of_incompatible_format_is_refused(tmp_path, pendulum):
    model = _tiny_model(pendulum)
    callback = TrainingCheckpointCallback(tmp_path / "ckpt", save_freq=100)
    model.learn(100, callback=callback)
    folder = callback.save()
    state = json.loads((folder / "state.json").read_text())
    assert state["sb3_spiking_version"] == sb3_spiking.__version__ and state["sb3_spiking_format"] == FORMAT_VERSION
    loaded, remaining, _ = load_checkpoint(tmp_path / "ckpt", env=pendulum)
    assert remaining == 0 and np.array_equal(loaded.replay_buffer.actions[:100], model.replay_buffer.actions[:100])
    state["sb3_spiking_format"], state["sb3_spiking_version"] = FORMAT_VERSION + 1, "9.9.0"
    (folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(IncompatibleModelError, match=rf"checkpoint {folder} was saved by sb3_spiking 9\.9\.0"):
        load_checkpoint(tmp_path / "ckpt", env=pendulum)


def test_load_accepts_the_policy_kwargs_given_at_construction_also_for_older_files(tmp_path, pendulum):
    kwargs = dict(net_arch=dict(pi=[8], qf=[8]))
    model = _tiny_model(pendulum)
    obs = np.stack([pendulum.observation_space.sample() for _ in range(3)])
    expected, _ = model.predict(obs, state=model.policy.initial_state(3))
    new, old = tmp_path / "new.zip", tmp_path / "old.zip"
    model.save(new)
    with zipfile.ZipFile(new) as archive:
        assert "slope" not in json.loads(archive.read("data"))["policy_kwargs"], "the slope is GuidedTD3's argument"
    model.policy_kwargs = {**kwargs, "slope": model.slope}  # what earlier versions stored
    model.save(old)
    for path in (new, old):
        loaded = GuidedTD3.load(path, env=pendulum, policy_kwargs=dict(kwargs))
        action, _ = loaded.predict(obs, state=loaded.policy.initial_state(3))
        assert np.array_equal(action, expected) and loaded.policy.slope == model.slope
        GuidedTD3.load(path, env=pendulum, policy_kwargs=dict(kwargs, slope=model.slope))  # also as given before
        with pytest.raises(ValueError, match="do not equal the stored policy kwargs"):
            GuidedTD3.load(path, env=pendulum, policy_kwargs=dict(net_arch=dict(pi=[16], qf=[8])))
        with pytest.raises(ValueError, match="do not equal the stored policy kwargs"):
            GuidedTD3.load(path, env=pendulum, policy_kwargs=dict(kwargs, slope=model.slope + 1))


def test_models_saved_with_removed_options_load_when_off_and_are_refused_when_on(tmp_path):
    """Options measured worse everywhere were removed (issue 28): a file that has them switched off loads as before;
    one that used them is refused with the option named (it would train differently)."""
    import gymnasium as gym

    model = _tiny_model(gym.make("Pendulum-v1"))
    obs = np.zeros((1, 3), np.float32)
    path = tmp_path / "m.zip"

    def saved_as_before(**old) -> Path:
        model.save(path)

        def edit(raw: bytes) -> bytes:
            return json.dumps({**json.loads(raw), **old}).encode()

        _rewrite_zip(path, "data", edit)
        return path

    off = dict(bc_filter="none", bc_search_samples=4, bc_search_noise=0.1, anchor_coef=0.0, mask_cold_targets=True,
               bc_anneal_fraction=None, q_start_fraction=0.0, _guided_steps=7, _collected_steps=9)
    loaded = GuidedTD3.load(saved_as_before(**off))
    assert not any(hasattr(loaded, k) for k in ("bc_filter", "mask_cold_targets", "anchor_coef"))
    assert np.array_equal(loaded.predict(obs)[0], model.predict(obs)[0])
    for key, value in dict(bc_filter="q", anchor_coef=10.0, mask_cold_targets=False, bc_anneal_fraction=0.8,
                           q_start_fraction=0.2).items():
        with pytest.raises(ValueError, match=f"removed.*{key}"):
            GuidedTD3.load(saved_as_before(**{**off, key: value}))
    with pytest.raises(ValueError, match="hard_starts"):
        GuidedTD3.load(saved_as_before(vine_start_fraction=0.5, vine_kwargs={"hard_starts": 0.25}))
    loaded = GuidedTD3.load(saved_as_before(vine_start_fraction=0.5, vine_kwargs={"hard_starts": 0.0, "hard_pool": 64}))
    assert loaded.vine_kwargs == {} and loaded.vine is not None
