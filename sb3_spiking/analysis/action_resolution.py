"""Does the critic see what one action changes? The paired-perturbation test, as a function and a callback.

From ``n_pairs`` states reached by the deployed policy (deterministic, its recurrent state carried),
the env is copied and flown twice for ``horizon`` steps: once with the policy's action ``a`` at the
branch step, once with ``a + δ`` (``δ ~ N(0, delta)`` in the policy's [-1, 1] units), the policy
flying both afterwards. The *true* effect is the difference of the two discounted returns; the
critic's estimate is ``Q(s, a + δ) − Q(s, a)``. Logged (``diagnostics/action_resolution_*``): the
correlation of the two over the pairs, their sign agreement and the spreads of both.

It needs an env that ``copy.deepcopy`` copies exactly (checked: the copy must follow the original step
for step), e.g. gymnasium's Pendulum; Box2D envs such as LunarLander cannot be copied, which is the
reason a critic matters there. Works for :class:`~sb3_spiking.GuidedTD3` and stable-baselines3's
``TD3`` (any model with ``critic.q1_forward`` and a ``predict`` with sb3-contrib's state contract).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from stable_baselines3.common.callbacks import BaseCallback


@dataclass
class ActionResolution:
    """One paired-perturbation test: per pair the true effect and the critic's estimate."""

    true_effect: np.ndarray
    critic_effect: np.ndarray

    @property
    def correlation(self) -> float:
        if self.true_effect.std() == 0 or self.critic_effect.std() == 0:
            return float("nan")
        return float(np.corrcoef(self.true_effect, self.critic_effect)[0, 1])

    @property
    def sign_agreement(self) -> float:
        return float(np.mean(np.sign(self.true_effect) == np.sign(self.critic_effect)))

    def as_dict(self) -> dict[str, float]:
        return dict(corr=self.correlation, sign=self.sign_agreement, true_std=float(self.true_effect.std()),
                    critic_std=float(self.critic_effect.std()), n=float(len(self.true_effect)))


def check_copyable(env: gym.Env, seed: int = 0, steps: int = 5) -> None:
    """``ValueError`` unless a ``copy.deepcopy`` of ``env`` follows the original exactly for ``steps`` steps."""
    env.reset(seed=seed)
    for _ in range(steps):
        try:
            twin = copy.deepcopy(env)
            action = env.action_space.sample()
            a, b = env.step(action)[0], twin.step(action)[0]
        except Exception as e:  # e.g. a Box2D world is not copied (LunarLander's copy has no lander)
            raise ValueError(f"the action-resolution test needs an env that copy.deepcopy copies; {env} is not: {e!r}") from e
        same = all(np.array_equal(a[k], b[k]) for k in a) if isinstance(a, dict) else np.array_equal(a, b)
        if not same:
            raise ValueError(f"the action-resolution test needs an exact copy of the env; a deepcopy of {env} diverges")


def _q(model: Any, obs: Any, scaled_action: np.ndarray) -> float:
    obs_t = model.policy.obs_to_tensor(obs)[0]
    with th.no_grad():
        act = th.as_tensor(scaled_action, dtype=th.float32, device=model.device).reshape(1, -1)
        return float(model.critic.q1_forward(obs_t, act).item())


def _fly(model: Any, env: gym.Env, obs: Any, state: Any, first_action: np.ndarray, horizon: int, gamma: float) -> float:
    """Discounted return of ``first_action`` then the policy for ``horizon - 1`` steps (stops at the episode's end)."""
    total, discount, action = 0.0, 1.0, first_action
    for _ in range(horizon):
        obs, reward, terminated, truncated, _ = env.step(action)
        total += discount * float(reward)
        discount *= gamma
        if terminated or truncated:
            break
        action, state = model.predict(obs, state=state, episode_start=np.zeros(1, dtype=bool), deterministic=True)
        action = action.reshape(env.action_space.shape)
    return total


def measure_action_resolution(
    model: Any,
    make_env: Callable[[], gym.Env],
    n_pairs: int = 32,
    branch_steps: tuple[int, int] = (20, 100),
    horizon: int = 100,
    delta: float = 0.1,
    seed: int = 0,
) -> ActionResolution:
    """The paired-perturbation test (module docstring) on ``n_pairs`` episodes started with seeds ``seed + i``.

    :param branch_steps: the branch step of each pair is drawn uniformly from this range (policy steps from the reset).
    :param horizon: steps flown after the branch (the discount is the model's ``gamma``).
    :param delta: std of the perturbation in the policy's [-1, 1] action units.
    """
    if getattr(model.policy, "critic_history", 1) > 1:
        raise ValueError("the action-resolution test reads Q(s, a) at one observation; this critic reads "
                         f"critic_history={model.policy.critic_history} of them")
    rng = np.random.default_rng(seed)
    true, est = [], []
    policy = model.policy
    for i in range(n_pairs):
        env = make_env()
        obs, _ = env.reset(seed=seed + i)
        state, start = None, np.ones(1, dtype=bool)
        t0 = int(rng.integers(*branch_steps))
        alive = True
        for _ in range(t0):
            action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
            start = np.zeros(1, dtype=bool)
            obs, _, terminated, truncated, _ = env.step(action.reshape(env.action_space.shape))
            if terminated or truncated:
                alive = False
                break
        if not alive:
            continue
        action, state = model.predict(obs, state=state, episode_start=start, deterministic=True)
        a = policy.scale_action(action.reshape(1, -1)).astype(np.float64)  # both branches in the same precision
        a_pert = np.clip(a + rng.normal(0.0, delta, size=a.shape), -1.0, 1.0)
        first, second = [policy.unscale_action(x).reshape(env.action_space.shape) for x in (a, a_pert)]
        twin = copy.deepcopy(env)
        base = _fly(model, env, obs, copy.deepcopy(state), first, horizon, model.gamma)
        perturbed = _fly(model, twin, obs, copy.deepcopy(state), second, horizon, model.gamma)
        true.append(perturbed - base)
        est.append(_q(model, obs, a_pert) - _q(model, obs, a))
    return ActionResolution(np.asarray(true), np.asarray(est))


class ActionResolutionCallback(BaseCallback):
    """Logs :func:`measure_action_resolution` every ``every`` env steps (``diagnostics/action_resolution_*``)
    and keeps each result in :attr:`history` as ``(num_timesteps, ActionResolution)``.

    :param make_env: a factory of single (non-vectorised) envs with the training env's observations, copyable.
    Other parameters: see :func:`measure_action_resolution`.
    """

    def __init__(self, make_env: Callable[[], gym.Env], every: int = 10_000, n_pairs: int = 32,
                 branch_steps: tuple[int, int] = (20, 100), horizon: int = 100, delta: float = 0.1, seed: int = 0,
                 verbose: int = 0):
        super().__init__(verbose)
        check_copyable(make_env())
        self.make_env, self.every, self.next_at = make_env, int(every), int(every)
        self.kwargs = dict(n_pairs=n_pairs, branch_steps=branch_steps, horizon=horizon, delta=delta, seed=seed)
        self.history: list[tuple[int, ActionResolution]] = []

    def _on_step(self) -> bool:
        if self.num_timesteps < self.next_at:
            return True
        self.next_at += self.every
        training = self.model.policy.training
        self.model.policy.set_training_mode(False)
        try:
            result = measure_action_resolution(self.model, self.make_env, **self.kwargs)
        finally:
            self.model.policy.set_training_mode(training)
        self.history.append((self.num_timesteps, result))
        for key, value in result.as_dict().items():
            self.logger.record(f"diagnostics/action_resolution_{key}", value)
        if self.verbose:
            print(f"action resolution at {self.num_timesteps}: corr {result.correlation:.2f}, "
                  f"sign {result.sign_agreement:.2f}")
        return True


__all__ = ["ActionResolution", "ActionResolutionCallback", "check_copyable", "measure_action_resolution"]
