"""rl-zoo training on a drone id runs on one batched DroneHoverVecEnv (not a DummyVecEnv of single envs)."""

import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("l2f")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_zoo_train_on_drone_uses_the_batched_env(tmp_path):
    cmd = [sys.executable, "-m", "sb3_spiking.zoo", "train", "--algo", "guided_td3", "--env", "DroneHover-v0",
           "-f", str(tmp_path), "-n", "6000", "--eval-freq", "3000", "--eval-episodes", "4", "-params", "n_envs:8",
           "--seed", "3"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "guided_td3" / "DroneHover-v0_1"
    # a DummyVecEnv of 8 Monitor-wrapped envs writes 0..7.monitor.csv; the batched env one VecMonitor file
    monitors = sorted(p.name for p in run.glob("*.monitor.csv"))
    assert monitors == ["0.monitor.csv"]
    lines = (run / "0.monitor.csv").read_text().splitlines()
    assert len(lines) > 2  # header lines + finished episodes of all 8 drones
    evaluations = np.load(run / "evaluations.npz")  # rl-zoo's EvalCallback ran on the batched eval env
    assert evaluations["results"].shape == (2, 4)


def test_make_drone_vec_env_keeps_earlier_monitor_files(tmp_path):
    from sb3_spiking.envs.drone_vec_env import DroneHoverVecEnv, make_drone_vec_env

    first = make_drone_vec_env("DroneHover-v0", n_envs=2, seed=0, monitor_dir=str(tmp_path))
    assert isinstance(first.venv, DroneHoverVecEnv)
    first.close()
    (tmp_path / "0.monitor.csv").write_text("#kept\n")
    again = make_drone_vec_env("DroneHover-v0", n_envs=2, seed=0, monitor_dir=str(tmp_path), monitor_kwargs={"override_existing": False})
    again.close()
    assert (tmp_path / "0.monitor.csv").read_text() == "#kept\n"  # a resumed run appends a new file instead
    assert (tmp_path / "0.continued1.monitor.csv").exists()
