"""SB3 callbacks of sb3_spiking."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EvalCallback, EventCallback
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import VecEnv

from sb3_spiking.schedules import SlopeSchedule, make_schedule


def walk_callbacks(callback: Any) -> Iterator[BaseCallback]:
    """Every callback in ``callback`` (``None``, a callback or a list), nested ones included (``CallbackList``,
    an ``EventCallback``'s child such as ``EvalCallback(callback_after_eval=...)``)."""
    if callback is None:
        return
    if isinstance(callback, list):
        for cb in callback:
            yield from walk_callbacks(cb)
        return
    yield callback
    if isinstance(callback, CallbackList):
        yield from walk_callbacks(callback.callbacks)
    if isinstance(callback, EventCallback) and callback.callback is not None:
        yield from walk_callbacks(callback.callback)


class SlopeScheduleCallback(BaseCallback):
    """Applies a surrogate-slope schedule to the actor and target actor, logs ``train/surrogate_slope``.

    Time-based schedules (``fixed``, ``interval``) are applied on every step. The ``adaptive``
    schedule is fed evaluation returns, from one of three sources:

    1. as ``EvalCallback(..., callback_after_eval=SlopeScheduleCallback("adaptive"))``: the
       evaluation callback's ``last_mean_reward`` after each of its evaluations;
    2. with ``eval_env``: its own deterministic evaluation every ``eval_freq`` environment steps;
    3. with neither: every ``eval_freq`` steps, the mean return of the training episodes finished
       since the last update (``model.ep_info_buffer``; guide-assisted episodes included — a
       cheaper, noisier signal, documented rather than hidden);
    4. with ``eval_freq=None``: only what another callback passes to :meth:`feed` (e.g. a task's
       evaluation callback, such as the drone's ``LearningCurveCallback``, which feeds
       ``model.slope_callback``: the schedule announces itself there when training starts).

    :param schedule: ``"fixed"``, ``"interval"``, ``"adaptive"`` or a :class:`SlopeSchedule`.
    :param eval_env: environment (or env id, or factory) for the schedule's own evaluations.
    :param eval_freq: environment steps (summed over envs) between adaptive updates; ``None``: fed
        externally through :meth:`feed` only.
    :param n_eval_episodes: episodes per own evaluation.
    :param schedule_kwargs: arguments of the schedule (e.g. ``k=2`` or ``return_range=(0, 500)``).
    """

    def __init__(
        self,
        schedule: str | SlopeSchedule = "fixed",
        eval_env: gym.Env | VecEnv | str | Callable[[], gym.Env] | None = None,
        eval_freq: int | None = 10_000,
        n_eval_episodes: int = 10,
        verbose: int = 0,
        **schedule_kwargs: Any,
    ):
        super().__init__(verbose=verbose)
        self.schedule = make_schedule(schedule, **schedule_kwargs)
        if eval_freq is not None and (int(eval_freq) != eval_freq or eval_freq < 1):
            raise ValueError(f"eval_freq must be a positive integer or None (fed externally), got {eval_freq!r}")
        if eval_freq is None and eval_env is not None:
            raise ValueError("eval_env needs an eval_freq (eval_freq=None means the schedule is fed externally)")
        if int(n_eval_episodes) != n_eval_episodes or n_eval_episodes < 1:
            raise ValueError(f"n_eval_episodes must be a positive integer, got {n_eval_episodes!r}")
        self.eval_freq = None if eval_freq is None else int(eval_freq)
        self.n_eval_episodes = int(n_eval_episodes)
        self.n_fed = 0  #: evaluation returns received (own, parent's or external)
        self._eval_env_spec = eval_env
        self.eval_env: gym.Env | VecEnv | None = None
        self._next_update = 0
        self._episodes_seen = 0
        self.history: list[tuple[int, float]] = []  #: (num_timesteps, slope) each time the slope changed

    @property
    def externally_fed(self) -> bool:
        """True when only :meth:`feed` supplies evaluation returns (``eval_freq=None``)."""
        return self.eval_freq is None and not self.under_eval_callback

    @property
    def under_eval_callback(self) -> bool:
        return isinstance(self.parent, EvalCallback)

    def _init_callback(self) -> None:
        if not hasattr(self.model.policy, "set_slope"):
            raise TypeError(f"SlopeScheduleCallback needs a policy with set_slope(), got {type(self.model.policy).__name__}")
        spec = self._eval_env_spec
        if isinstance(spec, str):
            self.eval_env = Monitor(gym.make(spec))
        elif callable(spec) and not isinstance(spec, (gym.Env, VecEnv)):
            self.eval_env = spec()
        else:
            self.eval_env = spec
        if self.eval_env is not None and self.eval_env.observation_space != self.model.observation_space:
            raise ValueError(
                f"SlopeScheduleCallback: eval_env {spec!r} observes {self.eval_env.observation_space}, the model "
                f"{self.model.observation_space}; build it with the training env's options (pass an env or a factory, "
                "e.g. for the drone's actor_history) instead of a bare env id"
            )
        if hasattr(self.model, "slope_callback"):
            # the run's slope schedule announces itself: evaluation callbacks feed it (LearningCurveCallback), and
            # checkpoints save its state, which a resumed run hands back here (sb3_spiking.checkpoints)
            self.model.slope_callback = self
            saved = getattr(self.model, "_resume_slope_state", None)
            if saved is not None:
                self.load_state_dict(saved)
                self.model._resume_slope_state = None
        if self.eval_freq is not None and self._next_update <= self.num_timesteps:  # not restored from a checkpoint
            self._next_update = self.num_timesteps + self.eval_freq
        self._apply()

    def _apply(self) -> None:
        k = self.schedule.value(self.num_timesteps, max(getattr(self.model, "_total_timesteps", 0), 1))
        if not self.history or self.history[-1][1] != k:
            self.model.policy.set_slope(k)
            self.history.append((self.num_timesteps, k))
        self.logger.record("train/surrogate_slope", k)

    def _feed(self) -> None:
        """Give the adaptive schedule one evaluation return, if one is available."""
        if self.under_eval_callback:
            mean_return = float(self.parent.last_mean_reward)  # type: ignore[union-attr]
        elif self.eval_env is not None:
            returns, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=self.n_eval_episodes, deterministic=True)
            mean_return = float(np.mean(returns))
        else:
            finished = self.model._episode_num - self._episodes_seen
            self._episodes_seen = self.model._episode_num
            recent = list(self.model.ep_info_buffer)[-finished:] if finished > 0 else []
            if not recent:
                return
            mean_return = float(np.mean([info["r"] for info in recent]))
        self.feed(mean_return)

    def feed(self, mean_return: float) -> None:
        """Give the schedule one evaluation's mean return (applied from the next step)."""
        if not np.isfinite(mean_return):
            raise ValueError(f"evaluation return must be finite, got {mean_return!r}")
        self.schedule.observe(float(mean_return))
        self.n_fed += 1
        self.logger.record("train/slope_eval_return", float(mean_return))

    def _on_step(self) -> bool:
        if self.schedule.needs_evaluations:
            if self.under_eval_callback:  # we are called right after each evaluation
                self._feed()
            elif self.eval_freq is not None and self.num_timesteps >= self._next_update:
                self._next_update = self.num_timesteps + self.eval_freq
                self._feed()
        self._apply()
        return True

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume the schedule exactly."""
        return {
            "schedule": self.schedule.state_dict(),
            "history": list(self.history),
            "next_update": self._next_update,
            "episodes_seen": self._episodes_seen,
            "n_fed": self.n_fed,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.schedule.load_state_dict(state["schedule"])
        self.history = [tuple(h) for h in state["history"]]  # type: ignore[misc]
        self._next_update = state["next_update"]
        self._episodes_seen = state["episodes_seen"]
        self.n_fed = state.get("n_fed", 0)

    def _on_training_end(self) -> None:
        if self.externally_fed and self.schedule.needs_evaluations and self.n_fed == 0:
            warnings.warn(
                "SlopeScheduleCallback(eval_freq=None): no evaluation was fed during training, so the "
                "adaptive slope never moved; add a LearningCurveCallback or give an eval_freq",
                stacklevel=2,
            )
