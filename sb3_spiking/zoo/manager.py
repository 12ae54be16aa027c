"""rl-zoo's ``ExperimentManager`` with the fixes and defaults the sb3_spiking CLI needs.

* **Embedded study by default**: ``-optimize`` (or ``--trial-id``) without ``--storage`` uses a
  local optuna journal file ``<log folder>/optuna/<algo>_<env>.log`` — no server, safe for several
  processes on one machine, and the study survives the run (rl-zoo's default is in memory).
* **Stable study name**: without ``--study-name`` it is ``<algo>_<env>`` (rl-zoo would let optuna
  invent a random one, so workers on other machines would not share the study).
* ``--trial-id 0`` replays trial 0 (rl-zoo tests the id for truthiness and silently ignores 0).
* Config errors — unknown key, wrong import path, wrongly typed or out-of-range value — raise
  :class:`~sb3_spiking.zoo.config.ZooConfigError` naming the file, the env entry and the key; with
  ``-optimize`` the YAML values are checked by building the model once before the first trial.
"""

from __future__ import annotations

import os
import random
import re
import time
from typing import Any

import optuna
from rl_zoo3.exp_manager import ExperimentManager

from sb3_spiking.zoo.config import ZooConfigError, check_hyperparams
from sb3_spiking.zoo.registration import ALGO_NAMES


class _TrialId(int):
    """An int that is truthy even when 0 (rl-zoo checks ``if self.trial_id:``)."""

    def __bool__(self) -> bool:
        return True


def default_storage(log_folder: str, algo: str, env_id: str) -> str:
    """Path of the embedded (journal-file) optuna storage for ``algo`` on ``env_id``."""
    return os.path.join(log_folder, "optuna", f"{algo}_{env_id}.log")


def default_study_name(algo: str, env_id: str) -> str:
    return f"{algo}_{env_id}"


def normalize_storage_url(storage: str) -> str:
    """Pick an installed PostgreSQL driver for a plain ``postgresql://`` URL.

    SQLAlchemy 2.1 maps ``postgresql://`` to psycopg 3; with only psycopg2 installed the URL is
    rewritten to ``postgresql+psycopg2://`` (and vice versa), so users can type the plain form.
    """
    scheme, sep, rest = storage.partition("://")
    if not sep or scheme not in ("postgresql", "postgres"):
        return storage
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        return f"postgresql+psycopg://{rest}"
    if importlib.util.find_spec("psycopg2") is not None:
        return f"postgresql+psycopg2://{rest}"
    raise ZooConfigError(
        f"--storage {scheme}://… needs a PostgreSQL driver: pip install 'psycopg[binary]' (or psycopg2-binary)"
    )


def mask_password(url: str) -> str:
    """``scheme://user:***@host/db`` for printing."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def open_storage(storage: str) -> Any:
    """An optuna storage object for a URL or a journal ``*.log`` path (as rl-zoo interprets them)."""
    storage = normalize_storage_url(storage)
    if storage.endswith(".log"):
        os.makedirs(os.path.dirname(os.path.abspath(storage)), exist_ok=True)
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(storage))
    return storage


class ZooExperimentManager(ExperimentManager):
    """See the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        env_id = self.env_name.gym_id
        if self.optimize_hyperparameters or self.trial_id is not None:
            if self.storage is None:
                self.storage = default_storage(self.log_folder, self.algo, env_id)
            self.storage = normalize_storage_url(self.storage)
            if self.study_name is None:
                self.study_name = default_study_name(self.algo, env_id)
            if self.verbose > 0:
                print(f"optuna storage: {mask_password(self.storage)}  study: {self.study_name}")
        if self.trial_id is not None:
            if self.trial_id < 0:
                raise ZooConfigError(f"--trial-id must be >= 0, got {self.trial_id}")
            self.trial_id = _TrialId(self.trial_id)

    @property
    def where(self) -> str:
        return f"{self.config} [{self.env_name.gym_id}]"

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            hyperparams, saved = super().read_hyperparameters()
        except (FileNotFoundError, IndexError, KeyError) as e:
            raise ZooConfigError(f"{self.where}: {e}") from e
        if self.algo in ALGO_NAMES:  # other algorithms (e.g. td3 for a guide) keep rl-zoo's own handling
            check_hyperparams(self.algo, hyperparams, self.where, n_timesteps_given=self.n_timesteps > 0)
        return hyperparams, saved

    def load_trial(self, storage: str, study_name: str, trial_id: int | None = None, convert: bool = True) -> dict[str, Any]:
        study = optuna.load_study(storage=open_storage(storage), study_name=study_name)
        if trial_id is not None:
            numbers = [t.number for t in study.trials]
            if int(trial_id) not in numbers:
                raise ZooConfigError(f"study {study_name!r} in {storage} has no trial {int(trial_id)} (it has trials {numbers})")
            trial = study.trials[numbers.index(int(trial_id))]
            if self.verbose > 0:
                print(f"replaying trial {trial.number} ({trial.state.name}, value {trial.value}): {trial.params}")
        return super().load_trial(storage, study_name, trial_id, convert)

    def setup_experiment(self):  # type: ignore[override]
        try:
            return super().setup_experiment()
        except ZooConfigError:
            raise
        except (ValueError, TypeError) as e:
            raise ZooConfigError(f"{self.where}: {type(e).__name__}: {e}") from e

    def hyperparameters_optimization(self) -> None:
        # build the model once with the YAML values: a bad value fails now, with context,
        # instead of as a failed first trial on every worker
        from rl_zoo3.utils import ALGOS

        env = self.create_envs(1, no_log=True)
        try:
            ALGOS[self.algo](env=env, tensorboard_log=None, seed=None, verbose=0, device=self.device, **self._hyperparams)
        except (ValueError, TypeError) as e:
            raise ZooConfigError(f"{self.where}: {type(e).__name__}: {e}") from e
        finally:
            env.close()
        self._ensure_study()
        super().hyperparameters_optimization()

    def objective(self, trial: optuna.Trial) -> float:
        """rl-zoo's objective, but a trial that raises is recorded as FAIL and the study goes on.

        rl-zoo prunes ValueError/AssertionError and lets anything else end the whole worker (it
        calls ``study.optimize`` without ``catch``); returning NaN makes optuna mark the trial
        failed and continue. The error is kept in the trial's ``error`` user attribute.
        """
        try:
            return super().objective(trial)
        except optuna.TrialPruned:
            raise
        except Exception as e:  # noqa: BLE001 - any error of one trial must not stop the study
            message = f"{type(e).__name__}: {e}"
            trial.set_user_attr("error", message[:1000])
            print(f"trial {trial.number} failed and is recorded as FAIL: {message}", flush=True)
            return float("nan")

    def _ensure_study(self, attempts: int = 6) -> None:
        """Create the study if missing. Workers started together on an empty database race to
        create the schema and the study; the loser retries (optuna's own create would crash)."""
        assert self.storage is not None
        for attempt in range(attempts):
            try:
                optuna.create_study(
                    storage=open_storage(self.storage), study_name=self.study_name, direction="maximize", load_if_exists=True
                )
                return
            except Exception as e:  # noqa: BLE001 - sqlalchemy IntegrityError/ProgrammingError from the race
                if attempt == attempts - 1:
                    raise
                if self.verbose > 0:
                    print(f"creating study {self.study_name!r}: {type(e).__name__}, retrying")
                time.sleep(0.2 + random.random())


__all__ = ["ZooExperimentManager", "default_storage", "default_study_name", "normalize_storage_url", "open_storage"]
