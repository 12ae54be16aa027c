"""The environments: LunarLanderContinuous-v3 with the velocities hidden from the actor.

gymnasium's observation is ``[x, y, vx, vy, θ, ω, leg1, leg2]``. The actor sees
``[x, y, θ, leg1, leg2]`` (:data:`ACTOR_INDICES`); the two linear velocities and the angular velocity
(:data:`HIDDEN_INDICES`) it has to infer from how the positions change, i.e. from its own state.

Two forms of the same partial observation:

* ``LunarLanderContinuousNoVelPrivileged-v3`` (:data:`ENV_ID`): ``Dict(actor, privileged)`` for
  GuidedTD3 — critics and guide read the full observation (``"privileged"``);
* ``LunarLanderContinuousNoVelActor-v3`` (:data:`BOX_ENV_ID`): the actor's 5 values as a plain ``Box``,
  for baselines without a privileged input (sb3-contrib's RecurrentPPO, TD3 with an MLP). Unlike
  rl-zoo's ``LunarLanderContinuousNoVel-v3`` (registered when rl_zoo3 is imported: velocities set to 0,
  8 values, hence the different id) the hidden entries are dropped, so both forms give every method
  exactly the same information.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from sb3_spiking.envs.wrappers import PrivilegedSplit
from sb3_spiking.obs_keys import ACTOR_KEY

ENV_ID = "LunarLanderContinuousNoVelPrivileged-v3"
BOX_ENV_ID = "LunarLanderContinuousNoVelActor-v3"
#: what the actor sees: x, y, angle, left-leg contact, right-leg contact
ACTOR_INDICES = (0, 1, 4, 6, 7)
#: hidden from the actor: vx, vy, angular velocity
HIDDEN_INDICES = (2, 3, 5)
_BASE_ID = "LunarLanderContinuous-v3"


def make_lunar_lander_novel_privileged(
    render_mode: str | None = None, actor_history: int = 0, actor_scale: float = 1.0, **kwargs
) -> gym.Env:
    """``LunarLanderContinuous-v3`` (1000-step limit) as ``Dict(actor=5 values, privileged=8 values)``.

    :param render_mode: gymnasium render mode.
    :param actor_history: previous visible observations appended to the actor's (see
        :class:`ActorHistory`); 0 (default): the actor sees the current 5 values only.
    :param actor_scale: factor on the actor's observation (the privileged one stays as it is). The
        positions change by ~0.005 per step, tiny input currents for a spiking layer whose weights
        start near 1; a larger scale makes the change visible without waiting for large weights.
    :param kwargs: passed to ``gym.make("LunarLanderContinuous-v3", ...)`` (gravity, wind, ...).
    """
    env: gym.Env = PrivilegedSplit(gym.make(_BASE_ID, render_mode=render_mode, **kwargs), actor_indices=ACTOR_INDICES)
    return _actor_options(env, actor_history, actor_scale)


def make_lunar_lander_novel(
    render_mode: str | None = None, actor_history: int = 0, actor_scale: float = 1.0, **kwargs
) -> gym.Env:
    """``LunarLanderContinuous-v3`` with only the actor's 5 values as a ``Box`` observation (baselines).

    :param actor_history: as in :func:`make_lunar_lander_novel_privileged`.
    :param actor_scale: as in :func:`make_lunar_lander_novel_privileged`.
    """
    return _actor_options(_ActorOnly(gym.make(_BASE_ID, render_mode=render_mode, **kwargs)), actor_history, actor_scale)


def _actor_options(env: gym.Env, actor_history: int, actor_scale: float) -> gym.Env:
    if actor_scale != 1.0:
        env = _ActorScale(env, actor_scale)
    return ActorHistory(env, actor_history) if actor_history else env


class _ActorScale(gym.ObservationWrapper):
    """The actor's observation (``"actor"`` or the whole ``Box``) times a constant."""

    def __init__(self, env: gym.Env, scale: float):
        super().__init__(env)
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"actor_scale must be a positive number, got {scale!r}")
        self.scale = float(scale)
        space = env.observation_space
        self._dict = isinstance(space, gym.spaces.Dict)
        actor = space[ACTOR_KEY] if self._dict else space  # type: ignore[index]
        scaled = gym.spaces.Box(actor.low * self.scale, actor.high * self.scale, dtype=actor.dtype)
        self.observation_space = gym.spaces.Dict({**space.spaces, ACTOR_KEY: scaled}) if self._dict else scaled  # type: ignore[union-attr]

    def observation(self, observation):
        if self._dict:
            return {**observation, ACTOR_KEY: (observation[ACTOR_KEY] * self.scale).astype(np.float32)}
        return (observation * self.scale).astype(np.float32)


class _ActorOnly(gym.ObservationWrapper):
    """The actor's 5 values of the observation as a ``Box`` (the hidden velocities dropped)."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        space = env.observation_space
        idx = np.asarray(ACTOR_INDICES)
        self.observation_space = gym.spaces.Box(space.low[idx], space.high[idx], dtype=space.dtype)  # type: ignore[index]

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return observation[list(ACTOR_INDICES)]


class ActorHistory(gym.Wrapper):
    """Append the actor's previous ``k`` visible observations to its current one (newest first).

    A frame stack: the velocities become finite differences of the actor's input, so a memoryless
    actor can fly. An option for comparisons; the task itself (``actor_history=0``) leaves the
    velocities to the actor's own memory. At reset the history holds copies of the first
    observation (zero velocity, as the lander starts — apart from its initial push).

    :param env: a LunarLander env from this module (``Dict`` with ``"actor"``, or the actor ``Box``).
    :param k: number of previous observations (>= 1).
    """

    def __init__(self, env: gym.Env, k: int):
        super().__init__(env)
        if int(k) != k or k < 1:
            raise ValueError(f"actor_history must be an integer >= 1, got {k!r}")
        self.k = int(k)
        space = env.observation_space
        self._dict = isinstance(space, gym.spaces.Dict)
        actor = space[ACTOR_KEY] if self._dict else space  # type: ignore[index]
        stacked = gym.spaces.Box(np.tile(actor.low, self.k + 1), np.tile(actor.high, self.k + 1), dtype=actor.dtype)
        self.observation_space = gym.spaces.Dict({**space.spaces, ACTOR_KEY: stacked}) if self._dict else stacked  # type: ignore[union-attr]
        self._frames: list[np.ndarray] = []

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self._frames = [self._actor(obs)] * (self.k + 1)
        return self._stack(obs), info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._frames = [self._actor(obs), *self._frames[: self.k]]
        return self._stack(obs), reward, terminated, truncated, info

    def _actor(self, obs):
        return np.array(obs[ACTOR_KEY] if self._dict else obs)

    def _stack(self, obs):
        stacked = np.concatenate(self._frames)
        return {**obs, ACTOR_KEY: stacked} if self._dict else stacked


def episode_landed(env: gym.Env, terminated: bool) -> bool:
    """Whether an episode that just ended is a landing.

    **Landed** := the episode *terminated* (not truncated at the 1000-step limit) because the lander
    came to rest — Box2D put its body to sleep (``not lander.awake``), the ending gymnasium rewards
    with +100 — and not because it crashed (``game_over``: the body touched the ground) or flew off
    the screen (``|x| ≥ 1``). Landing outside the pad still counts (the return tells how well).
    Call it right after the final ``step``, before ``reset``.

    :param env: the (possibly wrapped) LunarLander env of that episode.
    :param terminated: the ``terminated`` flag of the final step.
    """
    if not terminated:
        return False
    from gymnasium.envs.box2d.lunar_lander import SCALE, VIEWPORT_W

    lander = env.unwrapped
    half_width = VIEWPORT_W / SCALE / 2  # gymnasium's x observation is (pos.x - half_width) / half_width
    x = (float(lander.lander.position.x) - half_width) / half_width  # type: ignore[attr-defined]
    return bool(not lander.lander.awake and not lander.game_over and abs(x) < 1.0)  # type: ignore[attr-defined]


def register_envs() -> None:
    """Register :data:`ENV_ID` and :data:`BOX_ENV_ID` with gymnasium (idempotent; box2d loads on make)."""
    module = "sb3_spiking.tasks.lunar_lander.env"
    if ENV_ID not in gym.registry:
        gym.register(ENV_ID, entry_point=f"{module}:make_lunar_lander_novel_privileged")
    if BOX_ENV_ID not in gym.registry:
        gym.register(BOX_ENV_ID, entry_point=f"{module}:make_lunar_lander_novel")
