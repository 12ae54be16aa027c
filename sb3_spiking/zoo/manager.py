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
* **Checkpoints and resume** (:class:`ReliabilityOptions`): ``--checkpoint-freq N`` writes full
  checkpoints (:mod:`sb3_spiking.checkpoints`) to ``<run folder>/checkpoints/``; ``--resume
  auto|PATH`` continues a run from one, in the same run folder, at the saved step with the saved
  total step budget (monitor file appended, evaluation history and best return kept).
* **Trial heartbeats** (:mod:`sb3_spiking.zoo.heartbeat`): the trial of a worker that died is
  failed and re-queued by the other workers, for journal files and RDB (PostgreSQL) studies alike.
"""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from rl_zoo3.exp_manager import ExperimentManager

from sb3_spiking import allocator, task_registry
from sb3_spiking.checkpoints import (
    VECNORMALIZE_FILE,
    TrainingCheckpointCallback,
    list_checkpoints,
    load_checkpoint,
    resolve_checkpoint,
)
from sb3_spiking.zoo._patching import swapped
from sb3_spiking.zoo.config import ZooConfigError, check_hyperparams, resolve_extends
from sb3_spiking.zoo.heartbeat import HeartbeatSettings, journal_storage, rdb_storage
from sb3_spiking.zoo.registration import ALGO_NAMES

CHECKPOINT_DIR = "checkpoints"


@dataclass
class ReliabilityOptions:
    """The CLI's reliability flags (``sb3-spiking train -h`` lists them).

    :param checkpoint_freq: env steps between full checkpoints (``0``: none).
    :param checkpoint_keep: checkpoints kept (the most recent ones).
    :param resume: ``"auto"`` (the latest checkpoint of the most recent run folder that has one,
        unless that run finished; else a new run) or a checkpoint / ``checkpoints`` / run folder.
    :param heartbeat: heartbeat of running optuna trials.
    """

    checkpoint_freq: int = 0
    checkpoint_keep: int = 2
    resume: str | None = None
    heartbeat: HeartbeatSettings = field(default_factory=HeartbeatSettings)


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


def open_storage(storage: str, heartbeat: HeartbeatSettings | None = None) -> Any:
    """An optuna storage for a URL or a journal ``*.log`` path (as rl-zoo interprets them), with
    trial heartbeats when ``heartbeat`` is given and enabled."""
    storage = normalize_storage_url(storage)
    if storage.endswith(".log"):
        os.makedirs(os.path.dirname(os.path.abspath(storage)), exist_ok=True)
        return journal_storage(storage, heartbeat)
    return rdb_storage(storage, heartbeat)


def run_folders(log_path: str, env_name: str) -> list[Path]:
    """rl-zoo's run folders ``<log_path>/<env_name>_<id>``, most recent (highest id) first."""
    root = Path(log_path)
    if not root.is_dir():
        return []
    runs = [(int(p.name.rsplit("_", 1)[1]), p) for p in root.iterdir()
            if p.is_dir() and re.fullmatch(re.escape(env_name) + r"_\d+", p.name)]  # fmt: skip
    return [p for _, p in sorted(runs, reverse=True)]


class _IncludingYaml:
    """The ``yaml`` module as rl-zoo's config reader sees it: ``safe_load`` resolves ``extends`` includes
    (:func:`sb3_spiking.zoo.config.resolve_extends`); everything else is yaml's."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def safe_load(self, stream: Any) -> Any:
        import yaml

        loaded = yaml.safe_load(stream)
        return resolve_extends(loaded, self.folder) if isinstance(loaded, dict) else loaded

    def __getattr__(self, name: str) -> Any:
        import yaml

        return getattr(yaml, name)


def find_resume_checkpoint(resume: str, log_path: str, env_name: str) -> Path | None:
    """The checkpoint ``--resume`` means (see :class:`ReliabilityOptions`); ``None``: start a new run."""
    if resume == "auto":
        for run in run_folders(log_path, env_name):
            found = list_checkpoints(run / CHECKPOINT_DIR)
            if found:
                return None if (run / f"{env_name}.zip").exists() else found[-1]
        return None
    path = Path(resume)
    if (path / CHECKPOINT_DIR).is_dir():
        path = path / CHECKPOINT_DIR
    try:
        return resolve_checkpoint(path)
    except FileNotFoundError as e:
        raise ZooConfigError(f"--resume {resume}: {e} (give a checkpoint folder step_…, its parent, or a run folder)") from e


class _OptunaWithStorage:
    """The ``optuna`` module as rl-zoo's experiment manager sees it during the optimisation: every
    name is optuna's, except that ``create_study`` uses the given storage object."""

    def __init__(self, storage: Any) -> None:
        self._storage = storage

    def __getattr__(self, name: str) -> Any:
        return getattr(optuna, name)

    def create_study(self, *args: Any, **kwargs: Any) -> optuna.Study:
        return optuna.create_study(*args, **{**kwargs, "storage": self._storage})


class ZooExperimentManager(ExperimentManager):
    """See the module docstring."""

    def __init__(self, *args: Any, options: ReliabilityOptions | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.options = options or ReliabilityOptions()
        self.resume_from: Path | None = None
        self._checkpointed_callbacks: dict[str, Any] = {}
        self._check_reliability_options()
        env_id = self.env_name.gym_id
        if self.optimize_hyperparameters or self.trial_id is not None:
            if self.storage is None:
                self.storage = default_storage(self.log_folder, self.algo, env_id)
            self.storage = normalize_storage_url(self.storage)
            if self.study_name is None:
                self.study_name = default_study_name(self.algo, env_id)
            if self.verbose > 0:
                hb = self.options.heartbeat
                beat = (
                    f"heartbeat every {hb.interval} s, grace {hb.grace_period} s, {hb.retries} retries"
                    if hb.enabled
                    else "no heartbeat"
                )
                print(f"optuna storage: {mask_password(self.storage)}  study: {self.study_name}  ({beat})")
        if self.trial_id is not None:
            if self.trial_id < 0:
                raise ZooConfigError(f"--trial-id must be >= 0, got {self.trial_id}")
            self.trial_id = _TrialId(self.trial_id)

    @property
    def where(self) -> str:
        return f"{self.config} [{self.env_name.gym_id}]"

    # ------------------------------------------------------------------ checkpoints and resume
    def _check_reliability_options(self) -> None:
        opts = self.options
        if opts.checkpoint_freq < 0 or opts.checkpoint_keep < 1:
            raise ZooConfigError(
                f"--checkpoint-freq must be >= 0 and --checkpoint-keep >= 1, got {opts.checkpoint_freq}, {opts.checkpoint_keep}"
            )
        if opts.checkpoint_freq == 0 and opts.resume is None:
            return
        if self.algo not in ALGO_NAMES:
            raise ZooConfigError(f"--checkpoint-freq / --resume support {', '.join(ALGO_NAMES)}, not {self.algo!r}")
        if self.optimize_hyperparameters:
            raise ZooConfigError(
                "--checkpoint-freq / --resume do not apply to -optimize "
                "(a killed worker's trial is re-queued instead: --heartbeat-interval)"
            )
        if opts.resume is not None and self.continue_training:
            raise ZooConfigError("--resume and -i/--trained-agent exclude each other")
        if opts.resume is not None:
            self.resume_from = find_resume_checkpoint(opts.resume, self.log_path, self.env_name)
            if self.resume_from is None:
                print(f"--resume {opts.resume}: no unfinished run with a checkpoint under {self.log_path}; starting a new run")
            else:
                # continue in the run folder of the checkpoint: same logs, monitor file, checkpoints
                self.save_path = str(self.resume_from.parent.parent)
                self.params_path = f"{self.save_path}/{self.env_name}"
                self.continue_training = True  # rl-zoo then calls _load_pretrained_agent

    def create_callbacks(self) -> None:
        super().create_callbacks()
        if self.optimize_hyperparameters:
            return
        # callbacks that write files (e.g. a learning curve, a final evaluation) write them next to the
        # model, where rl-zoo keeps evaluations.npz; without -tb the logger has no folder and they would
        # land in the working directory
        for cb in self.callbacks:
            set_run_folder = getattr(cb, "set_run_folder", None)
            if callable(set_run_folder):
                set_run_folder(self.save_path)
        # the YAML's callbacks with a state (e.g. a reward curriculum) are recorded in every
        # checkpoint and restored on resume (where they can be), by class name and position
        for cb in self.callbacks:
            if hasattr(cb, "state_dict"):
                self._checkpointed_callbacks[f"{type(cb).__name__}_{len(self._checkpointed_callbacks)}"] = cb
        if self.options.checkpoint_freq > 0:
            self.callbacks.append(
                TrainingCheckpointCallback(
                    os.path.join(self.save_path, CHECKPOINT_DIR),
                    save_freq=self.options.checkpoint_freq,
                    keep_last=self.options.checkpoint_keep,
                    stateful_callbacks=self._checkpointed_callbacks,
                    verbose=self.verbose,
                )
            )

    def create_envs(self, n_envs: int, eval_env: bool = False, no_log: bool = False):  # type: ignore[no-untyped-def]
        if self.resume_from is not None and not (eval_env or no_log):
            self.monitor_kwargs = {**self.monitor_kwargs, "override_existing": False}  # append episodes
        if eval_env and self._eval_env_kwargs_args is None:
            # rl-zoo takes the eval env's kwargs from the command line only: a config's env_kwargs
            # (e.g. the drone's actor_history) would be missing and the eval observations would not
            # match the policy. Without --eval-env-kwargs, evaluate on the training env's kwargs.
            self.eval_env_kwargs = self.env_kwargs
        # rl-zoo calls SB3's make_vec_env by its module-level name: swap in the core's drop-in, which
        # builds one batched VecEnv for the ids a task registered a builder for (the drone: one C++
        # call per step for all envs) and delegates every other env unchanged, for this call only
        import rl_zoo3.exp_manager as zoo_exp_manager

        with swapped(zoo_exp_manager, "make_vec_env", task_registry.make_vec_env):
            return super().create_envs(n_envs, eval_env=eval_env, no_log=no_log)

    def _maybe_normalize(self, env: Any, eval_env: bool) -> Any:
        saved = self.resume_from / VECNORMALIZE_FILE if self.resume_from is not None else None
        if saved is None or not saved.exists():
            return super()._maybe_normalize(env, eval_env)
        from stable_baselines3.common.vec_env import VecNormalize

        env = VecNormalize.load(str(saved), env)
        if eval_env:
            env.training, env.norm_reward = False, False
        return env

    def _load_pretrained_agent(self, hyperparams: dict[str, Any], env: Any) -> Any:
        if self.resume_from is None:
            return super()._load_pretrained_agent(hyperparams, env)
        from rl_zoo3.utils import ALGOS

        # the checkpoint's own settings are used; only what is never saved is passed again
        model, remaining, state = load_checkpoint(
            self.resume_from, env=env, algorithm=ALGOS[self.algo], guide=hyperparams.get("guide"),
            tensorboard_log=self.tensorboard_log, verbose=self.verbose, device=self.device,
        )  # fmt: skip
        total = int(state["total_timesteps"])
        if remaining <= 0:
            raise ZooConfigError(f"--resume: checkpoint {self.resume_from} is already at the step budget {total}")
        if self.n_timesteps not in (total, remaining):
            print(f"--resume: the checkpoint's step budget {total} is kept (not n_timesteps={self.n_timesteps})")
        self.n_timesteps = remaining
        for name, cb in self._checkpointed_callbacks.items():
            if hasattr(cb, "load_state_dict") and name in state["callbacks"]:
                cb.load_state_dict(state["callbacks"][name])
        self._restore_eval_history(model.num_timesteps)
        print(f"resuming from {self.resume_from} at step {model.num_timesteps} of {total} ({remaining} to go), "
              f"{model.replay_buffer.size()} transitions in the buffer, {model._n_updates} updates")  # fmt: skip
        return model

    def _restore_eval_history(self, step: int) -> None:
        """Keep the run's ``evaluations.npz`` (up to ``step``) and best return in the EvalCallback."""
        from stable_baselines3.common.callbacks import EvalCallback

        path = os.path.join(self.save_path, "evaluations.npz")
        evals = [cb for cb in self.callbacks if isinstance(cb, EvalCallback)]
        if not evals or not os.path.exists(path):
            return
        with np.load(path) as saved:
            keep = saved["timesteps"] <= step  # evaluations after the checkpoint are redone
            cb = evals[0]
            cb.evaluations_timesteps = [int(t) for t in saved["timesteps"][keep]]
            cb.evaluations_results = [list(r) for r in saved["results"][keep]]
            cb.evaluations_length = [list(n) for n in saved["ep_lengths"][keep]]
            if keep.any():
                cb.best_mean_reward = float(np.max(np.mean(saved["results"][keep], axis=1)))

    def learn(self, model: Any) -> None:
        if self.resume_from is None:
            return super().learn(model)
        # rl-zoo's learn, but continuing the step counter and the progress (the guide horizon
        # and the curriculum depend on it) instead of restarting at 0
        kwargs: dict[str, Any] = {"callback": self.callbacks or None}
        if self.log_interval > -1:
            kwargs["log_interval"] = self.log_interval
        elif self.log_interval < -1:
            kwargs["log_interval"] = None
        try:
            model.learn(self.n_timesteps, reset_num_timesteps=False, **kwargs)
        except KeyboardInterrupt:
            pass  # as rl-zoo: save the model when interrupted
        finally:
            if self.callbacks:
                self.callbacks[0].on_training_end()  # closes a progress bar
            model.env.close()

    def read_hyperparameters(self) -> tuple[dict[str, Any], dict[str, Any]]:
        from rl_zoo3 import exp_manager

        try:
            # rl-zoo reads the YAML itself: its reader resolves our configs' ``extends`` includes for this call
            folder = os.path.dirname(os.path.abspath(self.config))
            with swapped(exp_manager, "yaml", _IncludingYaml(folder)):
                hyperparams, saved = super().read_hyperparameters()
        except (FileNotFoundError, IndexError, KeyError) as e:
            raise ZooConfigError(f"{self.where}: {e}") from e
        if self.algo in ALGO_NAMES:  # other algorithms (e.g. td3 for a guide) keep rl-zoo's own handling
            check_hyperparams(self.algo, hyperparams, self.where, n_timesteps_given=self.n_timesteps > 0)
            policy = hyperparams.get("policy")
            if isinstance(policy, str) and ":" in policy:  # rl-zoo imports only the dotted form of an import path
                hyperparams["policy"] = policy.replace(":", ".")
            if hyperparams.get("keep_freed_memory"):  # the process's switch, also for a resumed run (not saved)
                allocator.request_keep_freed_memory()
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
        # rl-zoo builds the study from the storage *string* (no method to override); hand it our
        # storage object instead, which carries the trial heartbeat (stale trials of dead workers
        # are failed and re-queued): its module sees an optuna whose create_study uses that storage,
        # for this call only (optuna itself is left alone)
        import rl_zoo3.exp_manager as zoo_exp_manager

        storage = open_storage(self.storage, self.options.heartbeat)  # type: ignore[arg-type]
        with swapped(zoo_exp_manager, "optuna", _OptunaWithStorage(storage)):
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
