"""Trial heartbeats for the optuna storages of the zoo CLI, so a killed worker's trial is failed and retried.

A worker that dies mid-trial (SIGKILL, OOM killer, lost machine) cannot mark its trial finished:
without heartbeats it stays RUNNING forever, and counts against ``--max-total-trials``. With them,
optuna records a heartbeat of every running trial every ``interval`` seconds from a thread; any
worker starting a trial first marks the RUNNING trials without a heartbeat for ``grace`` seconds
FAIL and re-queues each (same parameters) up to ``retries`` times
(optuna's ``RetryHeartbeatStaleTrialCallback``, formerly ``RetryFailedTrialCallback``).

* **PostgreSQL / any RDB URL**: optuna's own ``RDBStorage(heartbeat_interval=, grace_period=,
  heartbeat_stale_trial_callback=)`` (timestamps from the database server's clock).
* **Journal file** (the CLI's embedded default): optuna's ``JournalStorage`` (optuna ≤ 5.0) has no
  heartbeat; :class:`HeartbeatJournalStorage` adds one with the same optuna interface, storing the
  time of the last beat in the trial's system attribute ``heartbeat`` (one journal line per beat).
  Timestamps are the workers' wall clocks: fine on one machine; across machines sharing the file
  (NFS) keep the clocks in sync (NTP) and ``grace`` well above their skew.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.storages import JournalStorage
from optuna.storages._heartbeat import BaseHeartbeat  # what optuna's optimize loop checks for
from optuna.trial import FrozenTrial, TrialState

try:  # optuna >= 4.9 renamed it
    from optuna.storages import RetryHeartbeatStaleTrialCallback as RetryCallback
except ImportError:  # pragma: no cover - older optuna
    from optuna.storages import RetryFailedTrialCallback as RetryCallback

#: trial system attribute holding the last heartbeat (seconds since the epoch) in a journal study
HEARTBEAT_ATTR = "heartbeat"


@dataclass(frozen=True)
class HeartbeatSettings:
    """Heartbeat of running trials.

    :param interval: seconds between heartbeats; ``0`` switches heartbeats off.
    :param grace: seconds without a heartbeat after which a RUNNING trial is failed
        (default ``3 * interval``: two missed beats are tolerated).
    :param retries: how often a trial failed this way is re-queued with the same parameters.
    """

    interval: int = 60
    grace: int | None = None
    retries: int = 1

    def __post_init__(self) -> None:
        for name in ("interval", "retries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"heartbeat {name} must be an integer >= 0, got {value!r}")
        if self.grace is not None and (isinstance(self.grace, bool) or not isinstance(self.grace, int) or self.grace < 1):
            raise ValueError(f"heartbeat grace must be a positive integer (seconds), got {self.grace!r}")
        if self.enabled and self.grace_period <= self.interval:
            raise ValueError(f"heartbeat grace ({self.grace_period} s) must exceed the interval ({self.interval} s)")

    @property
    def enabled(self) -> bool:
        return self.interval > 0

    @property
    def grace_period(self) -> int:
        return self.grace if self.grace is not None else 3 * self.interval

    def stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        """What runs on each trial failed for a missing heartbeat: a re-queue, if ``retries`` > 0."""
        if self.retries == 0:
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return RetryCallback(max_retry=self.retries)


class HeartbeatJournalStorage(JournalStorage, BaseHeartbeat):
    """:class:`optuna.storages.JournalStorage` with optuna's heartbeat interface (see the module docstring).

    :param backend: the journal backend, e.g. ``JournalFileBackend(path)``.
    :param heartbeat_interval: seconds between heartbeats of a running trial.
    :param grace_period: seconds without one after which the trial counts as stale.
    :param heartbeat_stale_trial_callback: called with each trial failed as stale.
    """

    def __init__(
        self,
        backend: Any,
        heartbeat_interval: int,
        grace_period: int,
        heartbeat_stale_trial_callback: Callable[[optuna.Study, FrozenTrial], None] | None = None,
    ) -> None:
        super().__init__(backend)
        self.heartbeat_interval = heartbeat_interval
        self.grace_period = grace_period
        self.heartbeat_stale_trial_callback = heartbeat_stale_trial_callback

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            self.set_trial_system_attr(trial_id, HEARTBEAT_ATTR, time.time())
        except UpdateFinishedTrialError:
            pass  # another worker failed it as stale meanwhile (we were frozen past the grace period)

    def _get_stale_trial_ids(self, study_id: int) -> list[int]:
        now = time.time()
        stale = []
        for trial in self.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
            # the start counts as a beat: a re-queued trial inherits its predecessor's old heartbeat
            started = trial.datetime_start.timestamp() if trial.datetime_start is not None else 0.0
            last = max(float(trial.system_attrs.get(HEARTBEAT_ATTR, 0.0)), started)
            if now - last > self.grace_period:
                stale.append(trial._trial_id)
        return stale

    def get_heartbeat_interval(self) -> int | None:
        return self.heartbeat_interval

    def get_heartbeat_stale_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        return self.heartbeat_stale_trial_callback

    def get_failed_trial_callback(self) -> Callable[[optuna.Study, FrozenTrial], None] | None:
        # optuna < 4.9 asks under this name
        return self.heartbeat_stale_trial_callback


def journal_storage(path: str, heartbeat: HeartbeatSettings | None) -> JournalStorage:
    """A journal-file storage, with heartbeats when ``heartbeat`` is enabled."""
    backend = optuna.storages.journal.JournalFileBackend(path)
    if heartbeat is None or not heartbeat.enabled:
        return JournalStorage(backend)
    return HeartbeatJournalStorage(backend, heartbeat.interval, heartbeat.grace_period, heartbeat.stale_trial_callback())


def rdb_storage(url: str, heartbeat: HeartbeatSettings | None) -> str | optuna.storages.RDBStorage:
    """An RDB storage (URL unchanged when heartbeats are off)."""
    if heartbeat is None or not heartbeat.enabled:
        return url
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # heartbeat_interval is "experimental"
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=heartbeat.interval,
            grace_period=heartbeat.grace_period,
            heartbeat_stale_trial_callback=heartbeat.stale_trial_callback(),
        )


def fail_stale_trials(study: optuna.Study) -> list[int]:
    """Fail (and re-queue, per the storage's settings) the study's stale trials now; their numbers.

    What every worker does before it starts a trial; useful when no worker is left running.
    """
    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
    after = {t.number: t.state for t in study.get_trials(deepcopy=False)}
    return sorted(n for n in before if after.get(n) == TrialState.FAIL)


__all__ = [
    "HEARTBEAT_ATTR",
    "HeartbeatJournalStorage",
    "HeartbeatSettings",
    "fail_stale_trials",
    "journal_storage",
    "rdb_storage",
]
