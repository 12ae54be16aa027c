"""A tuning worker killed mid-trial: the other workers go on, the dead worker's trial becomes FAIL
(trial heartbeats) and is retried, and the study ends consistent — on the embedded journal file
(the CLI's default) and on PostgreSQL (skipped only when no server is reachable, as in
``test_zoo_postgres.py``)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.trial import TrialState

from sb3_spiking.zoo.manager import open_storage
from test_zoo import HOLD_CONFIG, HOLD_MODULE, HOLD_SPACE, REPO
from test_zoo_postgres import PG_URL, _server_reachable

# per worker: the survivors must still start a trial more than the grace period (3 s) after the kill,
# when they fail the dead trial and pick up its retry. Trials are made long enough for that here
# (3x the zoo tests' budget: ~3-6 s each) so that faster training code cannot end the study first.
N_TRIALS = 4
TRIAL_STEPS = 3 * HOLD_CONFIG["HoldTarget-v0"]["n_timesteps"]
HEARTBEAT = ["--heartbeat-interval", "1", "--heartbeat-grace", "3", "--trial-retries", "1"]
# no wall-clock limit on the study (a busy machine only makes it slower): a failure is a study in which no trial
# changed state for this long while workers run, or a worker that does not even start one
STALL_S = 600


def _start_worker(tmp_path: Path, seed: int, storage_args: list[str]) -> subprocess.Popen:
    """A tuning worker; its output goes to ``worker<seed>.log`` (a file: nobody has to drain a pipe meanwhile)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    cmd = [
        sys.executable, "-m", "sb3_spiking.zoo", "train", "--algo", "guided_td3", "--env", "HoldTarget-v0",
        "--gym-packages", "zoo_hold_env", "-conf", "hold.yml", "-f", "logs", "--seed", str(seed), "--num-threads", "1",
        "-optimize", "--n-trials", str(N_TRIALS), "--n-startup-trials", "1", "--n-evaluations", "2", "--pruner", "none",
        "--eval-episodes", "1", "--no-optim-plots", "--search-space", "space.yml", *HEARTBEAT, *storage_args,
    ]  # fmt: skip
    with open(tmp_path / f"worker{seed}.log", "w") as log:
        return subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)


def _output(tmp_path: Path, seed: int) -> str:
    return (tmp_path / f"worker{seed}.log").read_text()


def _trials(storage: str, study_name: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return optuna.load_study(study_name=study_name, storage=open_storage(storage)).trials
    except KeyError:  # study not created yet
        return []


def _wait_while_the_study_progresses(procs: list[subprocess.Popen], storage: str, study_name: str) -> None:
    """Until every process in ``procs`` has exited; fails only if no trial changes state for ``STALL_S`` seconds."""
    seen, since = None, time.monotonic()
    while any(p.poll() is None for p in procs):
        now = tuple((t.number, t.state) for t in _trials(storage, study_name))
        if now != seen:
            seen, since = now, time.monotonic()
        assert time.monotonic() - since < STALL_S, f"no trial changed state for {STALL_S} s: {now}"
        time.sleep(0.5)


def _kill_one_worker_mid_trial(tmp_path: Path, storage: str, study_name: str, storage_args: list[str]) -> None:
    (tmp_path / "zoo_hold_env.py").write_text(HOLD_MODULE)
    config = {"HoldTarget-v0": {**HOLD_CONFIG["HoldTarget-v0"], "n_timesteps": TRIAL_STEPS}}
    (tmp_path / "hold.yml").write_text(yaml.safe_dump(config))
    (tmp_path / "space.yml").write_text(yaml.safe_dump(HOLD_SPACE))
    workers = [_start_worker(tmp_path, seed, storage_args) for seed in (1, 2, 3)]
    victim, survivors = workers[0], workers[1:]
    try:
        # wait until the victim runs a trial (and has beaten at least once), then kill it; the only limit is a
        # generous one on the start (imports and the first env), which a busy machine slows down
        start = time.monotonic()
        victim_trial = None
        while victim_trial is None:
            assert time.monotonic() - start < STALL_S, "the victim never started a trial"
            assert victim.poll() is None, _output(tmp_path, 1)[-3000:]
            time.sleep(0.3)
            running = [
                t for t in _trials(storage, study_name)
                if t.state == TrialState.RUNNING and t.user_attrs.get("worker", "").endswith(f":{victim.pid}")
            ]  # fmt: skip
            victim_trial = running[0].number if running else None
        time.sleep(1.0)  # mid-trial; its heartbeat thread beat at the start
        victim.send_signal(signal.SIGKILL)
        victim.wait()  # SIGKILL cannot be ignored
        _wait_while_the_study_progresses(survivors, storage, study_name)
        outputs = []
        for seed, proc in zip((2, 3), survivors):
            outputs.append(_output(tmp_path, seed))
            assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{outputs[-1][-4000:]}"
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
    assert victim.returncode == -signal.SIGKILL

    trials = optuna.load_study(study_name=study_name, storage=open_storage(storage)).trials
    states = {t.number: t.state for t in trials}
    assert TrialState.RUNNING not in states.values() and TrialState.WAITING not in states.values(), states
    assert states[victim_trial] == TrialState.FAIL  # failed for its missing heartbeat by a survivor
    retries = [t for t in trials if t.system_attrs.get("failed_trial") == victim_trial]
    assert len(retries) == 1 and retries[0].state in (TrialState.COMPLETE, TrialState.PRUNED)
    victim_params = next(t.params for t in trials if t.number == victim_trial)
    assert retries[0].params == victim_params  # the same configuration, run again
    per_worker = Counter(t.user_attrs.get("worker", "?").rsplit(":", 1)[-1] for t in trials)
    for proc in survivors:  # each survivor finished all its trials (one of them the retry)
        assert per_worker[str(proc.pid)] == N_TRIALS, per_worker
    assert per_worker[str(victim.pid)] == 1  # killed in its first trial
    assert len(trials) == 1 + 2 * N_TRIALS
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials if t.number != victim_trial)
    for out in outputs:
        assert "heartbeat every 1 s, grace 3 s, 1 retries" in out and "Number of finished trials:" in out


@pytest.mark.slow  # three tuning workers, ~70 s on 2 cores (CI runs -m slow in its own step)
def test_killed_worker_on_the_embedded_journal_study(tmp_path):
    storage = str(tmp_path / "logs" / "optuna" / "guided_td3_HoldTarget-v0.log")  # the CLI's default
    _kill_one_worker_mid_trial(tmp_path, storage, "guided_td3_HoldTarget-v0", [])


@pytest.mark.slow  # as the journal study: three tuning workers
def test_killed_worker_on_a_postgres_study(tmp_path):
    reason = _server_reachable(PG_URL)
    if reason is not None:
        from sb3_spiking.zoo.manager import mask_password

        pytest.skip(f"no PostgreSQL server at {mask_password(PG_URL)} ({reason}); run `bash .ci/postgres.sh` as root")
    study_name = f"test_killed_worker_{uuid.uuid4().hex[:8]}"
    try:
        _kill_one_worker_mid_trial(tmp_path, PG_URL, study_name, ["--storage", PG_URL, "--study-name", study_name])
    finally:
        try:
            optuna.delete_study(study_name=study_name, storage=open_storage(PG_URL))
        except KeyError:
            pass


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed to be used with Study.optimize")
def test_study_fail_stale_and_heartbeat_settings(tmp_path, monkeypatch, capsys):
    """No worker left: `study --fail-stale` fails the dead trial and re-queues it; bad settings fail clearly."""
    from sb3_spiking.zoo.cli import main
    from sb3_spiking.zoo.heartbeat import HEARTBEAT_ATTR, HeartbeatJournalStorage, HeartbeatSettings

    monkeypatch.chdir(tmp_path)
    path = "logs/optuna/guided_td3_Pendulum-v1.log"
    storage = open_storage(path, HeartbeatSettings(interval=1, grace=2))
    assert isinstance(storage, HeartbeatJournalStorage)
    study = optuna.create_study(storage=storage, study_name="guided_td3_Pendulum-v1", direction="maximize")
    dead = study.ask({"x": optuna.distributions.FloatDistribution(0, 1)})  # RUNNING, its worker gone
    storage.record_heartbeat(dead._trial_id)
    assert HEARTBEAT_ATTR in storage.get_trial(dead._trial_id).system_attrs
    alive = study.ask()
    storage.record_heartbeat(alive._trial_id)
    main(["study", "--env", "Pendulum-v1", "--fail-stale", "--heartbeat-grace", "5"])  # nothing is 5 s old yet
    assert "failed stale trials: []" in capsys.readouterr().out
    time.sleep(2.2)
    storage.record_heartbeat(alive._trial_id)
    main(["study", "--env", "Pendulum-v1", "--fail-stale", "--heartbeat-grace", "2"])
    assert "failed stale trials: [0]" in capsys.readouterr().out
    trials = optuna.load_study(study_name="guided_td3_Pendulum-v1", storage=open_storage(path)).trials
    assert [t.state for t in trials] == [TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING]
    assert trials[2].params == dead.params and trials[2].system_attrs["failed_trial"] == 0

    for bad, message in [(["--heartbeat-interval", "5", "--heartbeat-grace", "5"], "must exceed the interval"),
                         (["--heartbeat-interval", "-1"], "interval must be an integer >= 0"),
                         (["--trial-retries", "x"], "--trial-retries must be an integer")]:  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["train", "--algo", "guided_td3", "--env", "Pendulum-v1", "-optimize", *bad])
        assert exc.value.code == 2 and message in capsys.readouterr().err
    assert open_storage(path, HeartbeatSettings(interval=0)).__class__ is optuna.storages.JournalStorage
