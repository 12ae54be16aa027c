"""Kill a zoo-CLI training run with SIGKILL after a checkpoint, resume it through the same CLI.

The env is the memory-benchmark pendulum with a reward-curriculum hook (as the drone envs have)
that logs every stage the curriculum sets, so the test sees which stage the resumed run starts in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from sb3_spiking.checkpoints import list_checkpoints
from sb3_spiking.tasks.drone.reward import stage_from_progress
from sb3_spiking.zoo.manager import find_resume_checkpoint

REPO = Path(__file__).resolve().parents[1]
ENV_ID = "CurriculumPendulum-v0"
TOTAL, CKPT_FREQ, TRAIN_FREQ, GRAD_STEPS = 1200, 300, 50, 5

CURRICULUM_ENV_MODULE = '''
"""PendulumNoVelPrivileged-v1 that takes a reward-curriculum stage and logs each one set."""
import os

import gymnasium as gym

from sb3_spiking.tasks.pendulum import make_pendulum_novel_privileged


class CurriculumLog(gym.Wrapper):
    def set_curriculum_stage(self, stage):
        with open(os.environ["CURRICULUM_LOG"], "a") as f:
            f.write(f"{os.getpid()} {int(stage)}\\n")


if "CurriculumPendulum-v0" not in gym.registry:
    gym.register("CurriculumPendulum-v0", entry_point=lambda **kw: CurriculumLog(make_pendulum_novel_privileged(**kw)))
'''
CONFIG = {
    ENV_ID: {
        "n_timesteps": TOTAL,
        "policy": "SpikingPolicy",
        "policy_kwargs": {"net_arch": {"pi": [16], "qf": [16]}},
        "guide": "sb3_spiking.tasks.pendulum:PendulumSwingUpGuide",
        "buffer_size": 5000,
        "learning_starts": 100,
        "batch_size": 16,
        "train_freq": TRAIN_FREQ,
        "gradient_steps": GRAD_STEPS,
        "noise_type": "normal",
        "noise_std": 0.1,
        "n_seq": 10,
        "n_warmup": 2,
        "stride": 5,
        "guide_horizon_start": 100,
        "guide_horizon_end": 2,
        "guide_horizon_fraction": 0.6,
        "slope": 2.0,
        "slope_schedule": "adaptive",
        "slope_max": 50.0,
        "slope_schedule_kwargs": {
            "return_range": [-1600, 0],
            "eval_env": "PendulumNoVelPrivileged-v1",
            "eval_freq": 200,
            "n_eval_episodes": 1,
        },
        "callback": ["sb3_spiking.tasks.drone.curriculum.RewardCurriculumCallback"],
    }
}


def test_zoo_cli_sigkill_then_resume(tmp_path):
    (tmp_path / "zoo_curriculum_env.py").write_text(CURRICULUM_ENV_MODULE)
    (tmp_path / "cfg.yml").write_text(yaml.safe_dump(CONFIG))
    stages_log = tmp_path / "stages.log"
    env = dict(
        os.environ, OMP_NUM_THREADS="1", CURRICULUM_LOG=str(stages_log), PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)])
    )
    cmd = [sys.executable, "-m", "sb3_spiking.zoo", "train", "--algo", "guided_td3", "--env", ENV_ID, "-conf", "cfg.yml",
           "--gym-packages", "zoo_curriculum_env", "-f", "logs", "--seed", "1", "--eval-freq", "400", "--eval-episodes", "1",
           "--num-threads", "1",
           "--checkpoint-freq", str(CKPT_FREQ)]  # fmt: skip
    run_dir = tmp_path / "logs" / "guided_td3" / f"{ENV_ID}_1"
    ckpt_dir = run_dir / "checkpoints"

    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    try:
        while time.time() < deadline:
            done = list_checkpoints(ckpt_dir)
            if done and int(done[-1].name.split("_")[1]) >= 2 * CKPT_FREQ:
                break
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            time.sleep(0.1)
        else:
            raise AssertionError("no checkpoint at step >= 600 in time")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    first_pid = proc.pid

    last = list_checkpoints(ckpt_dir)[-1]
    step = int(last.name.split("_")[1])
    assert step < TOTAL and step % TRAIN_FREQ == 0
    state = json.loads((last / "state.json").read_text())
    assert state["num_timesteps"] == step and state["total_timesteps"] == TOTAL
    assert state["sb3_spiking_format"] == 1 and state["sb3_spiking_version"]
    saved_stage = state["callbacks"]["RewardCurriculumCallback_0"]["stage"]
    assert saved_stage == stage_from_progress(step / TOTAL) > 0
    saved_slope = state["callbacks"]["slope_callback"]
    assert len(saved_slope["schedule"]["terms"]) > 0  # the adaptive schedule had evaluations to keep

    resumed = subprocess.run([*cmd, "--resume", "auto"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    out = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, out[-4000:]
    # one env: every collected step up to the checkpoint is in the restored buffer
    assert f"resuming from {last.relative_to(tmp_path)} at step {step} of {TOTAL} ({TOTAL - step} to go), " \
           f"{step} transitions in the buffer, {state['n_updates']} updates" in out, out[-3000:]  # fmt: skip
    assert not (tmp_path / "logs" / "guided_td3" / f"{ENV_ID}_2").exists()  # same run folder
    assert f"checkpoint: {last.relative_to(tmp_path)}" not in out  # the next one is a full interval later

    from sb3_spiking import GuidedTD3

    final = GuidedTD3.load(run_dir / f"{ENV_ID}.zip")
    assert final.num_timesteps == TOTAL  # the original budget, not step + TOTAL
    # update counter continued: one training round of GRAD_STEPS per TRAIN_FREQ steps after the checkpoint
    assert final._n_updates == state["n_updates"] + GRAD_STEPS * (TOTAL - step) // TRAIN_FREQ

    # checkpoints of the resumed run: buffer grew on from the restored one, schedules continued
    later = [c for c in list_checkpoints(ckpt_dir) if int(c.name.split("_")[1]) > step]
    assert later, list_checkpoints(ckpt_dir)
    later_state = json.loads((later[-1] / "state.json").read_text())
    assert later_state["total_timesteps"] == TOTAL and later_state["n_updates"] > state["n_updates"]
    later_slope = later_state["callbacks"]["slope_callback"]
    n_before = len(saved_slope["schedule"]["terms"])
    assert later_slope["schedule"]["terms"][:n_before] == saved_slope["schedule"]["terms"]
    assert later_slope["history"][: len(saved_slope["history"])] == saved_slope["history"]
    later_step = int(later[-1].name.split("_")[1])
    model = GuidedTD3.load(later[-1] / "model.zip")
    model.load_replay_buffer(later[-1] / "replay_buffer.pkl")
    assert model.replay_buffer.size() == later_step  # not later_step - step: the buffer was restored

    # the curriculum started the resumed run in the saved stage (progress kept), not in stage 0
    lines = [line.split() for line in stages_log.read_text().splitlines()]
    resumed_stages = [int(s) for pid, s in lines if int(pid) != first_pid]
    assert resumed_stages[0] == saved_stage and resumed_stages[-1] == stage_from_progress(1.0)
    assert later_state["callbacks"]["RewardCurriculumCallback_0"]["stage"] == stage_from_progress(later_step / TOTAL)

    # the evaluation history before the checkpoint was kept, the resumed run's evaluations appended
    timesteps = list(np.load(run_dir / "evaluations.npz")["timesteps"])
    assert timesteps[0] == 400 and timesteps == sorted(timesteps) and timesteps[-1] > step

    # what --resume finds now: nothing with auto (the run finished), the latest for a path
    log_path = str(tmp_path / "logs" / "guided_td3")
    assert find_resume_checkpoint("auto", log_path, ENV_ID) is None
    latest = list_checkpoints(ckpt_dir)[-1]
    for given in (run_dir, ckpt_dir, latest):
        assert find_resume_checkpoint(str(given), log_path, ENV_ID) == latest


def test_resume_and_checkpoint_flags_fail_clearly(tmp_path, monkeypatch, capsys):
    from sb3_spiking.zoo.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["sb3-spiking"])
    base = ["train", "--algo", "guided_td3", "--env", "Pendulum-v1", "-f", "logs", "-n", "200", "--eval-freq", "-1"]
    (tmp_path / "empty").mkdir()
    for extra, message in [
        (["--resume", "empty"], "--resume empty: no complete checkpoint in empty"),
        (["--checkpoint-freq", "100", "-optimize"], "do not apply to -optimize"),
        (["--checkpoint-freq", "-5"], "--checkpoint-freq must be >= 0"),
        (["--checkpoint-freq", "ten"], "--checkpoint-freq must be an integer, got 'ten'"),
    ]:
        with pytest.raises(SystemExit) as exc:
            main([*base, *extra])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "-h"])
    assert "--resume auto|PATH" in capsys.readouterr().out  # our flags, above rl-zoo's own help
