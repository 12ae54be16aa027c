"""Return and landed fraction of a controller on fixed start seeds (the task's success measure)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sb3_spiking.obs_keys import ACTOR_KEY, PRIVILEGED_KEY
from sb3_spiking.tasks.lunar_lander.env import episode_landed, make_lunar_lander_novel_privileged


@dataclass
class LandingResult:
    """Per-episode outcomes of :func:`evaluate_landing` (one entry per start seed)."""

    seeds: list[int]
    returns: np.ndarray
    lengths: np.ndarray
    landed: np.ndarray

    @property
    def mean_return(self) -> float:
        return float(self.returns.mean())

    @property
    def std_return(self) -> float:
        return float(self.returns.std())

    @property
    def landed_fraction(self) -> float:
        return float(self.landed.mean())

    def summary(self) -> str:
        return (
            f"return {self.mean_return:.1f} ± {self.std_return:.1f}, landed {100 * self.landed_fraction:.0f} % "
            f"({int(self.landed.sum())}/{len(self.landed)}), mean length {self.lengths.mean():.0f}"
        )


def evaluate_landing(
    controller: Any,
    seeds: Sequence[int] = tuple(range(100)),
    observation: str = "actor",
    obs_transform: Callable[[np.ndarray], np.ndarray] | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> LandingResult:
    """Fly one episode per start seed and record return, length and whether it landed.

    Every method is evaluated on the same env (:func:`make_lunar_lander_novel_privileged`) reset with
    the same seeds, so the start states (initial push and terrain) are identical across methods.

    :param controller: an SB3 model (GuidedTD3, RecurrentPPO, TD3, ...: ``predict(obs, state,
        episode_start, deterministic=True)``, the recurrent state carried over the episode) or a guide
        (callable on a batch of observations).
    :param seeds: start seeds, one episode each.
    :param observation: what the controller reads: ``"actor"`` (the 5 visible values, a ``Box``),
        ``"privileged"`` (the full 8 values, e.g. the guide) or ``"dict"`` (both, GuidedTD3's input).
    :param obs_transform: applied to the observation before the controller (e.g. a VecNormalize's
        ``normalize_obs``); not applied to ``"dict"`` observations.
    :param env_kwargs: passed to the env (gravity, wind, ...).
    """
    if observation not in ("actor", "privileged", "dict"):
        raise ValueError(f"observation must be 'actor', 'privileged' or 'dict', got {observation!r}")
    env = make_lunar_lander_novel_privileged(**(env_kwargs or {}))
    is_model = hasattr(controller, "predict")
    returns, lengths, landed = [], [], []
    try:
        for seed in seeds:
            obs, _ = env.reset(seed=int(seed))
            state, start = None, np.ones(1, dtype=bool)
            total, steps, done, terminated = 0.0, 0, False, False
            while not done:
                x = _select(obs, observation, obs_transform)
                if is_model:
                    action, state = controller.predict(x, state=state, episode_start=start, deterministic=True)
                else:
                    action = controller(x)
                start = np.zeros(1, dtype=bool)
                obs, reward, terminated, truncated, _ = env.step(np.asarray(action, dtype=np.float32).reshape(-1))
                total += float(reward)
                steps += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(steps)
            landed.append(episode_landed(env, terminated))
    finally:
        env.close()
    return LandingResult([int(s) for s in seeds], np.asarray(returns), np.asarray(lengths), np.asarray(landed, dtype=bool))


def _select(obs: dict[str, np.ndarray], observation: str, transform: Callable[[np.ndarray], np.ndarray] | None) -> Any:
    """The controller's view of one observation, batched (leading axis of 1)."""
    if observation == "dict":
        return {k: v[None] for k, v in obs.items()}
    x = obs[ACTOR_KEY if observation == "actor" else PRIVILEGED_KEY][None]
    return transform(x) if transform is not None else x
