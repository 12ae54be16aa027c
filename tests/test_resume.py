"""Kill a training process with SIGKILL, resume it from its last checkpoint through the same CLI."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sb3_spiking.checkpoints import list_checkpoints, load_checkpoint
from sb3_spiking.tasks.pendulum import PendulumSwingUpGuide

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = [
    sys.executable,
    str(ROOT / "examples" / "train_pendulum.py"),
    "--steps",
    "2400",
    "--checkpoint-freq",
    "400",
    "--slope-eval-freq",
    "400",
    "--no-progress",
]


@pytest.mark.slow  # two training subprocesses, ~20 s
def test_sigkill_then_resume_restores_step_buffer_and_schedules(tmp_path):
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([*SCRIPT, "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 240
    try:
        while time.time() < deadline:
            done = list_checkpoints(out / "checkpoints")
            if done and int(done[-1].name.split("_")[1]) >= 1200:
                break
            assert proc.poll() is None, proc.stdout.read().decode()
            time.sleep(0.2)
        else:
            raise AssertionError("no checkpoint at step >= 1200 in time")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # no half-written checkpoint is ever listed; keep_last=2 pruned the older ones
    ckpts = list_checkpoints(out / "checkpoints")
    assert 1 <= len(ckpts) <= 2
    last = ckpts[-1]
    step = int(last.name.split("_")[1])
    state = json.loads((last / "state.json").read_text())
    assert state["num_timesteps"] == step and state["total_timesteps"] == 2400
    slope_state = state["callbacks"]["slope"]

    model, remaining, _ = load_checkpoint(out / "checkpoints", guide=PendulumSwingUpGuide())
    assert model.num_timesteps == step and remaining == 2400 - step
    assert model.replay_buffer.pos == step  # one env: every collected step up to the checkpoint
    assert model._n_updates == state["n_updates"] > 0
    assert model._guide is not None

    resumed = subprocess.run([*SCRIPT, "--out", str(out), "--resume"], env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"resuming at step {step} ({2400 - step} to go)" in resumed.stdout
    assert "after 2400 steps" in resumed.stdout
    final = list_checkpoints(out / "checkpoints")[-1]
    final_state = json.loads((final / "state.json").read_text())
    # the adaptive schedule continued from its saved evaluation history instead of restarting
    n_before = len(slope_state["schedule"]["terms"])
    assert len(final_state["callbacks"]["slope"]["schedule"]["terms"]) > n_before > 0
    assert final_state["callbacks"]["slope"]["schedule"]["terms"][:n_before] == slope_state["schedule"]["terms"]
    assert final_state["callbacks"]["slope"]["history"][: len(slope_state["history"])] == slope_state["history"]
    assert np.isfinite(final_state["n_updates"])
