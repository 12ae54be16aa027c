"""Two optuna workers on one study in a real PostgreSQL server (``.ci/postgres.sh`` starts one).

Both workers are started at the same moment on a study that does not exist yet (the race to create
it is part of the test); each runs 2 trials of a tiny deterministic task. The study must end with
exactly 4 finished trials, numbered 0-3, each recorded by the worker that ran it, both workers
contributing. Skipped only when no server is reachable at ``SB3_SPIKING_PG_URL`` (default
``postgresql://sb3:sb3@127.0.0.1:5432/sb3_optuna``, what ``.ci/postgres.sh`` creates).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections import Counter

import optuna
import pytest
import yaml

from test_zoo import HOLD_CONFIG, HOLD_MODULE, HOLD_SPACE, REPO

PG_URL = os.environ.get("SB3_SPIKING_PG_URL", "postgresql://sb3:sb3@127.0.0.1:5432/sb3_optuna")


def _server_reachable(url: str) -> str | None:
    """``None`` when a connection works, else the reason."""
    try:
        import sqlalchemy

        from sb3_spiking.zoo.manager import normalize_storage_url

        engine = sqlalchemy.create_engine(normalize_storage_url(url), connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as e:  # noqa: BLE001 - any failure means "no server here"
        return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


@pytest.fixture(scope="module")
def pg_url():
    reason = _server_reachable(PG_URL)
    if reason is not None:
        from sb3_spiking.zoo.manager import mask_password

        pytest.skip(f"no PostgreSQL server at {mask_password(PG_URL)} ({reason}); run `bash .ci/postgres.sh` as root")
    return PG_URL


def test_two_workers_share_one_postgres_study(tmp_path, pg_url):
    (tmp_path / "zoo_hold_env.py").write_text(HOLD_MODULE)
    (tmp_path / "hold.yml").write_text(yaml.safe_dump(HOLD_CONFIG))
    (tmp_path / "space.yml").write_text(yaml.safe_dump(HOLD_SPACE))
    study_name = f"test_two_workers_{uuid.uuid4().hex[:8]}"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(tmp_path), str(REPO)]))
    workers = []
    for seed in (1, 2):
        cmd = [
            sys.executable, "-m", "sb3_spiking.zoo", "train", "--algo", "guided_td3", "--env", "HoldTarget-v0",
            "--gym-packages", "zoo_hold_env", "-conf", "hold.yml", "-f", f"logs_worker{seed}", "--seed", str(seed),
            "--num-threads", "1", "-optimize", "--n-trials", "2", "--n-startup-trials", "1", "--n-evaluations", "2",
            "--eval-episodes", "1", "--no-optim-plots", "--search-space", "space.yml",
            "--storage", pg_url, "--study-name", study_name,
        ]  # fmt: skip
        workers.append(subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    for proc in workers:
        out, _ = proc.communicate(timeout=300)
        outputs.append(out)
        assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{out[-4000:]}"

    from sb3_spiking.zoo.cli import study_summary
    from sb3_spiking.zoo.manager import open_storage

    storage = open_storage(pg_url)
    try:
        trials = optuna.load_study(study_name=study_name, storage=storage).trials
        assert sorted(t.number for t in trials) == [0, 1, 2, 3]  # none lost, none duplicated
        assert all(t.state.name in ("COMPLETE", "PRUNED") for t in trials), [t.state.name for t in trials]
        per_worker = Counter(t.user_attrs["worker"] for t in trials)
        pids = {f":{p.pid}" for p in workers}
        assert len(per_worker) == 2 and all(n >= 1 for n in per_worker.values()), per_worker
        assert {w[w.rindex(":"):] for w in per_worker} == pids  # recorded by the two processes we started
        for out in outputs:  # each worker reports the trials it ran (ids come from the shared study)
            assert out.count("Trial ") >= 2 and "Number of finished trials:" in out
        summary = study_summary(pg_url, study_name)
        assert summary["n_trials"] == 4 and sum(summary["workers"].values()) == 4
        assert "sb3:***@" in summary["storage"]
        print(f"study {study_name}: states {summary['states']}, workers {dict(per_worker)}, best {summary.get('best')}")
    finally:
        optuna.delete_study(study_name=study_name, storage=storage)
