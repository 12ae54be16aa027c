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
    # rl-zoo's EvalCallback ran on the batched eval env, built with the config's env_kwargs
    # (actor_history 4: rl-zoo alone would build it without them and fail on the 34-value input)
    evaluations = np.load(run / "evaluations.npz")
    assert evaluations["results"].shape == (2, 4)


def test_make_drone_vec_env_keeps_earlier_monitor_files(tmp_path):
    from sb3_spiking.task_registry import make_vec_env as make_drone_vec_env  # SB3's, with the drone's batched env
    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv

    first = make_drone_vec_env("DroneHover-v0", n_envs=2, seed=0, monitor_dir=str(tmp_path))
    assert isinstance(first.venv, DroneHoverVecEnv)
    first.close()
    (tmp_path / "0.monitor.csv").write_text("#kept\n")
    again = make_drone_vec_env(
        "DroneHover-v0", n_envs=2, seed=0, monitor_dir=str(tmp_path), monitor_kwargs={"override_existing": False}
    )
    again.close()
    assert (tmp_path / "0.monitor.csv").read_text() == "#kept\n"  # a resumed run appends a new file instead
    assert (tmp_path / "0.continued1.monitor.csv").exists()


def test_zoo_manager_builds_seeded_batched_train_and_eval_envs(tmp_path):
    """ZooExperimentManager.create_envs (train and rl-zoo's eval env) -> one seeded DroneHoverVecEnv."""
    import argparse

    from stable_baselines3.common.vec_env import VecMonitor

    from sb3_spiking.tasks.drone.vec_env import DroneHoverVecEnv
    from sb3_spiking.zoo.manager import ZooExperimentManager

    manager = ZooExperimentManager(argparse.Namespace(), "guided_td3", "DroneHover-v0", str(tmp_path), seed=3,
                                   env_kwargs={"max_episode_steps": 50})  # fmt: skip
    manager.save_path = str(tmp_path / "run")
    train = manager.create_envs(4)
    evaluation = manager.create_envs(2, eval_env=True)
    assert isinstance(train, VecMonitor) and isinstance(train.unwrapped, DroneHoverVecEnv) and train.num_envs == 4
    assert isinstance(evaluation.unwrapped, DroneHoverVecEnv) and evaluation.num_envs == 2
    assert (tmp_path / "run" / "0.monitor.csv").exists()
    reference = DroneHoverVecEnv(4, max_episode_steps=50)
    reference.seed(3)  # rl-zoo's seeding: row i gets seed + i, as DummyVecEnv's envs would
    assert np.array_equal(train.reset()["privileged"], reference.reset()["privileged"])
    # anything that is not a drone env still gets rl-zoo's DummyVecEnv of Monitor-wrapped envs
    pendulum = ZooExperimentManager(argparse.Namespace(), "td3", "Pendulum-v1", str(tmp_path), seed=0)
    pendulum.save_path = str(tmp_path / "pendulum")
    assert type(pendulum.create_envs(2).unwrapped).__name__ == "DummyVecEnv"


def test_zoo_train_drone_checkpoint_resume_keeps_monitor_and_eval(tmp_path):
    """--checkpoint-freq / --resume on the batched drone env: continued monitor file, evaluations kept."""
    config = tmp_path / "tiny.yml"
    config.write_text(
        "DroneHover-v0:\n  n_timesteps: 1200\n  policy: SpikingPolicy\n"
        "  policy_kwargs: \"dict(net_arch=dict(pi=[16], qf=[16]))\"\n  n_envs: 4\n"
        "  guide: sb3_spiking.tasks.drone.pd_guide:PDHoverGuide\n  buffer_size: 5000\n  learning_starts: 200\n"
        "  batch_size: 8\n  train_freq: 100\n  gradient_steps: 2\n  n_seq: 10\n  n_warmup: 2\n  stride: 5\n"
        "  callback:\n    - sb3_spiking.tasks.drone.curriculum.RewardCurriculumCallback\n"
    )
    base = [sys.executable, "-m", "sb3_spiking.zoo", "train", "--algo", "guided_td3", "--env", "DroneHover-v0",
            "-conf", str(config), "-f", str(tmp_path), "--eval-freq", "300", "--eval-episodes", "2", "--seed", "0",
            "--num-threads", "1", "--checkpoint-freq", "600"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    first = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    run = tmp_path / "guided_td3" / "DroneHover-v0_1"
    checkpoints = sorted((run / "checkpoints").iterdir())
    assert checkpoints, "no checkpoint written"
    resumed = subprocess.run(
        [*base, "--resume", str(checkpoints[0])], cwd=ROOT, capture_output=True, text=True, timeout=600, env=env
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout
    monitors = sorted(p.name for p in run.glob("*.monitor.csv"))
    assert monitors == ["0.continued1.monitor.csv", "0.monitor.csv"]  # the first run's episodes kept
    evaluations = np.load(run / "evaluations.npz")
    steps = list(evaluations["timesteps"])  # kept up to the checkpoint (600), then the resumed run's
    assert steps == sorted(steps) and len(steps) >= 3 and steps[-1] > 600
