"""Replay buffer of fixed-length windows cut from per-env episode streams.

Why not SB3's ``ReplayBuffer``: it samples i.i.d. transitions, while a stateful (spiking) actor
must be trained on sequences so that its hidden state can warm up. Fixed-length windows with a
validity mask are the simple design (variable-length batching is what sb3-contrib avoids too).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.buffers import BaseBuffer, ReplayBuffer
from stable_baselines3.common.vec_env import VecNormalize


class WindowSamples(NamedTuple):
    """A batch of ``B`` windows of ``L`` steps; every tensor has leading dims ``(B, L)``.

    Observations are tensors, or dicts of tensors for a ``Dict`` observation space. Actions are
    stored scaled to [-1, 1] (SB3 convention).
    """

    observations: th.Tensor | dict[str, th.Tensor]
    next_observations: th.Tensor | dict[str, th.Tensor]
    actions: th.Tensor  #: executed action (guide's or actor's + noise)
    guide_actions: th.Tensor  #: the guide's action for this observation (= executed where no guide)
    has_guide_action: th.Tensor  #: 1 where the guide was queried on this step
    guide_acted: th.Tensor  #: 1 where the guide flew this step
    rewards: th.Tensor
    terminated: th.Tensor  #: 1 on a true termination (no bootstrap); time-limit truncations are 0
    valid: th.Tensor  #: 1 on steps that belong to the window's episode and are stored
    actor_mask: th.Tensor  #: valid steps that enter the actor loss (after the warm-up)
    starts_episode: th.Tensor  #: (B,) 1 where the window begins at an episode's first step


class SequenceReplayBuffer(ReplayBuffer):
    """Stores per-env episode streams and samples fixed-length windows with masks.

    Windows start on the episode steps ``0, stride, 2·stride, …`` (sampled with probability
    proportional to the steps they cover, i.e. uniformly over stored steps), run for ``n_seq``
    steps and are masked from the first step that belongs to another episode or has not been
    stored yet. A window never crosses an episode boundary, so the actor's state is always reset at
    the window start. Windows whose first step is an episode's first step carry the true (zero)
    initial state; with ``train_from_episode_start`` their actor mask covers them from step 0,
    otherwise the first ``n_warmup`` steps of every window are warm-up only.

    Every step keeps the executed action, whether the guide flew it, and the guide's action for
    that observation (the teacher-action buffer used for DAgger-style relabelling). Terminations
    and time-limit truncations are stored separately; full-length episodes are kept like any other.

    Memory (float32, measured with ``python -m benchmarks.bench_buffer_memory``): a 2 M-transition
    buffer for the drone task (Dict observation: 18-dim actor + 150-dim privileged part, stored for
    ``obs`` and ``next_obs``) takes 2.78 GB (1 389 B per transition; RSS grew by 2.59 GiB) — well
    inside 24 GB. Sampling 256 windows of 100 steps from it takes ≈ 36 ms.
    Arrays are allocated on the first ``add`` so that loading a model for inference costs nothing.

    Subclasses :class:`~stable_baselines3.common.buffers.ReplayBuffer` only so that SB3's
    ``load_replay_buffer`` accepts it; none of the parent's storage is used. SB3's ``dones`` and
    ``timeouts`` are read-only float views derived from ``terminated`` / ``truncated``
    (``dones = terminated | truncated``, ``timeouts = truncated``).

    :param buffer_size: total number of transitions (over all envs).
    :param observation_space: ``Box`` or ``Dict`` of ``Box``.
    :param action_space: ``Box``.
    :param device: torch device of the sampled tensors.
    :param n_envs: number of parallel environments.
    :param n_seq: window length.
    :param n_warmup: warm-up steps at the start of a window with no actor loss (``< n_seq``).
    :param stride: distance between window starts inside an episode (``1 ≤ stride ≤ n_seq``).
    :param train_from_episode_start: windows starting an episode enter the actor loss from step 0.
    :param burn_in: the warm-up steps of a window only warm the actor's state up: the learner unrolls them
        without an autograd graph (R2D2's burn-in; GuidedTD3 reads it). The buffer samples the same either way.
    :param optimize_memory_usage: unsupported (must be ``False``), kept for SB3's constructor call.
    :param handle_timeout_termination: must be ``True``: truncations are always told apart.
    """

    def __init__(
        self,
        buffer_size: int,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        device: th.device | str = "auto",
        n_envs: int = 1,
        n_seq: int = 100,
        n_warmup: int = 50,
        stride: int = 25,
        train_from_episode_start: bool = True,
        burn_in: bool = True,
        optimize_memory_usage: bool = False,
        handle_timeout_termination: bool = True,
    ):
        BaseBuffer.__init__(self, buffer_size, observation_space, action_space, device=device, n_envs=n_envs)
        check_window_settings(n_seq, n_warmup, stride)
        if optimize_memory_usage:
            raise ValueError("SequenceReplayBuffer does not support optimize_memory_usage=True")
        if not handle_timeout_termination:
            raise ValueError("SequenceReplayBuffer always separates truncations from terminations")
        if not isinstance(action_space, spaces.Box):
            raise ValueError(f"SequenceReplayBuffer needs a Box action space, got {action_space}")
        if isinstance(observation_space, spaces.Dict):
            for key, sub in observation_space.spaces.items():
                if not isinstance(sub, spaces.Box):
                    raise ValueError(f"Dict observation entry {key!r} must be a Box, got {sub}")
        elif not isinstance(observation_space, spaces.Box):
            raise ValueError(f"SequenceReplayBuffer needs a Box or Dict observation space, got {observation_space}")
        self.buffer_size = max(buffer_size // n_envs, 1)  # steps per env stream
        if self.buffer_size < n_seq:
            raise ValueError(f"buffer_size per env ({self.buffer_size}) must be at least n_seq ({n_seq})")
        self.n_seq, self.n_warmup, self.stride = int(n_seq), int(n_warmup), int(stride)
        self.train_from_episode_start, self.burn_in = bool(train_from_episode_start), bool(burn_in)
        self.optimize_memory_usage = False
        self.handle_timeout_termination = True
        self.is_dict = isinstance(observation_space, spaces.Dict)
        self._allocated = False
        # per-env episode bookkeeping (what the next added step is)
        self._next_is_start = np.ones(n_envs, dtype=bool)
        self._next_ep_step = np.zeros(n_envs, dtype=np.int64)

    # ------------------------------------------------------------------ storage
    def _obs_storage(self) -> Any:
        def alloc(space: spaces.Box) -> np.ndarray:
            dtype = np.float32 if np.issubdtype(space.dtype, np.floating) else space.dtype
            return np.zeros((self.buffer_size, self.n_envs, *space.shape), dtype=dtype)

        if self.is_dict:
            return {key: alloc(sub) for key, sub in self.observation_space.spaces.items()}  # type: ignore[attr-defined]
        return alloc(self.observation_space)  # type: ignore[arg-type]

    def _allocate(self) -> None:
        S, N, A = self.buffer_size, self.n_envs, self.action_dim
        self.observations = self._obs_storage()
        self.next_observations = self._obs_storage()
        self.actions = np.zeros((S, N, A), dtype=np.float32)
        self.guide_actions = np.zeros((S, N, A), dtype=np.float32)
        self.has_guide_action = np.zeros((S, N), dtype=bool)
        self.guide_acted = np.zeros((S, N), dtype=bool)
        self.rewards = np.zeros((S, N), dtype=np.float32)
        self.terminated = np.zeros((S, N), dtype=bool)
        self.truncated = np.zeros((S, N), dtype=bool)
        self.episode_start = np.zeros((S, N), dtype=bool)
        self.episode_step = np.zeros((S, N), dtype=np.int32)
        self._allocated = True

    # SB3's ReplayBuffer names, for code that reads them: derived, read-only views of the flags
    @property
    def dones(self) -> np.ndarray:
        """SB3's ``dones``: ``1.0`` where the step ended its episode (termination or truncation), ``(S, N)``
        float32, read-only."""
        return self._flags_as_float(self.terminated | self.truncated if self._allocated else None)

    @property
    def timeouts(self) -> np.ndarray:
        """SB3's ``timeouts``: ``1.0`` where the episode was truncated (time limit), ``(S, N)`` float32, read-only."""
        return self._flags_as_float(self.truncated if self._allocated else None)

    def _flags_as_float(self, flags: np.ndarray | None) -> np.ndarray:
        out = np.zeros((self.buffer_size, self.n_envs), np.float32) if flags is None else flags.astype(np.float32)
        out.flags.writeable = False  # a copy: writing to it would change nothing stored
        return out

    def nbytes(self) -> int:
        """Bytes held by the storage arrays (0 before the first ``add``)."""
        if not self._allocated:
            return 0
        total = 0
        for value in self.__dict__.values():
            if isinstance(value, np.ndarray) and value.ndim >= 2 and value.shape[0] == self.buffer_size:
                total += value.nbytes
            elif isinstance(value, dict):
                total += sum(v.nbytes for v in value.values() if isinstance(v, np.ndarray))
        return total

    # ------------------------------------------------------------------ writing
    def mark_episode_start(self) -> None:
        """The envs were reset outside an episode end (e.g. a new ``learn`` call): the next added
        step of every env starts an episode, so no window joins it to the interrupted one."""
        self._next_is_start[:] = True
        self._next_ep_step[:] = 0

    def add(  # type: ignore[override]
        self,
        obs: np.ndarray | dict[str, np.ndarray],
        next_obs: np.ndarray | dict[str, np.ndarray],
        action: np.ndarray,
        reward: np.ndarray,
        done: np.ndarray,
        infos: list[dict[str, Any]],
        guide_actions: np.ndarray | None = None,
        guide_acted: np.ndarray | None = None,
    ) -> None:
        """Add one vectorised step: SB3's signature plus the guide's part of the step (keyword
        arguments, as sb3-contrib's recurrent buffers take ``lstm_states``).

        ``done`` covers terminations and truncations; truncations are recognised by
        ``infos[i]["TimeLimit.truncated"]``.

        :param guide_actions: the guide's actions for ``obs``, scaled to [-1, 1], ``(n_envs, *action
            shape)``; ``None`` if the guide was not queried (the step is then stored without one,
            ``has_guide_action`` 0, and the executed action stands in for it).
        :param guide_acted: ``(n_envs,)`` bools, where the guide flew the step (the executed action is
            its action); ``None``: nowhere. Only with ``guide_actions``.
        """
        if guide_actions is None and guide_acted is not None:
            raise ValueError("guide_acted given without guide_actions")
        if not self._allocated:
            self._allocate()
        p = self.pos
        if self.is_dict:
            for key in self.observations:
                shape = self.observations[key].shape[1:]  # (n_envs, *entry shape)
                self.observations[key][p] = np.asarray(obs[key]).reshape(shape)
                self.next_observations[key][p] = np.asarray(next_obs[key]).reshape(shape)
        else:
            self.observations[p] = np.asarray(obs).reshape(self.observations.shape[1:])
            self.next_observations[p] = np.asarray(next_obs).reshape(self.next_observations.shape[1:])
        action = np.asarray(action, np.float32).reshape(self.n_envs, self.action_dim)
        self.actions[p] = action
        if guide_actions is not None:
            self.guide_actions[p] = np.asarray(guide_actions, np.float32).reshape(self.n_envs, self.action_dim)
            self.guide_acted[p] = False if guide_acted is None else np.asarray(guide_acted, bool).reshape(self.n_envs)
            self.has_guide_action[p] = True
        else:
            self.guide_actions[p] = action
            self.guide_acted[p] = False
            self.has_guide_action[p] = False
        done = np.asarray(done, bool).reshape(self.n_envs)
        truncated = np.array([bool(info.get("TimeLimit.truncated", False)) for info in infos]) & done
        self.rewards[p] = np.asarray(reward, np.float32).reshape(self.n_envs)
        self.terminated[p] = done & ~truncated
        self.truncated[p] = truncated
        self.episode_start[p] = self._next_is_start
        self.episode_step[p] = self._next_ep_step
        self._next_is_start = done.copy()
        self._next_ep_step = np.where(done, 0, self._next_ep_step + 1)
        self.pos += 1
        if self.pos == self.buffer_size:
            self.full = True
            self.pos = 0

    # ------------------------------------------------------------------ sampling
    def sample(self, batch_size: int, env: VecNormalize | None = None) -> WindowSamples:  # type: ignore[override]
        """Sample ``batch_size`` windows of ``n_seq`` steps (see class docstring).

        :param batch_size: number of windows.
        :param env: the ``VecNormalize`` wrapper of the training env, if any: observations, next
            observations and rewards are stored raw and normalised here with its current
            statistics, as SB3's ``ReplayBuffer`` does (so the actor trains on what it acts on).
        """
        n_stored = self.size()
        if n_stored == 0:
            raise RuntimeError("cannot sample from an empty SequenceReplayBuffer")
        S, L = self.buffer_size, self.n_seq
        env_idx = np.random.randint(0, self.n_envs, size=batch_size)
        t = np.random.randint(0, n_stored, size=batch_size)
        # when full, positions cover [0, S) and the oldest stored step sits at self.pos
        age = (self.pos - 1 - t) % S  # 0 = newest stored step
        back = self.episode_step[t, env_idx] % self.stride
        back = np.minimum(back, n_stored - 1 - age)  # never reach back past the oldest stored step
        start = (t - back) % S
        age_start = age + back
        idx = (start[:, None] + np.arange(L)[None, :]) % S  # (B, L)
        env_col = env_idx[:, None]
        stored = np.arange(L)[None, :] <= age_start[:, None]
        boundary = self.episode_start[idx, env_col].copy()
        boundary[:, 0] = False  # the window's own first step may start an episode
        valid = stored & (np.cumsum(boundary, axis=1) == 0)
        starts_episode = self.episode_start[start, env_idx]
        warm = np.arange(L)[None, :] >= self.n_warmup
        if self.train_from_episode_start:
            warm = warm | starts_episode[:, None]
        actor_mask = valid & warm

        def gather(arr: np.ndarray) -> th.Tensor:
            return self.to_torch(arr[idx, env_col])

        def gather_obs(stored: np.ndarray | dict[str, np.ndarray]) -> th.Tensor | dict[str, th.Tensor]:
            if self.is_dict:
                windows = self._normalize_obs({k: v[idx, env_col] for k, v in stored.items()}, env)  # type: ignore[union-attr]
                return {k: self.to_torch(v) for k, v in windows.items()}  # type: ignore[union-attr]
            return self.to_torch(self._normalize_obs(stored[idx, env_col], env))  # type: ignore[arg-type,call-overload]

        f32 = lambda a: self.to_torch(a.astype(np.float32))  # noqa: E731
        return WindowSamples(
            observations=gather_obs(self.observations),
            next_observations=gather_obs(self.next_observations),
            actions=gather(self.actions),
            guide_actions=gather(self.guide_actions),
            has_guide_action=f32(self.has_guide_action[idx, env_col]),
            guide_acted=f32(self.guide_acted[idx, env_col]),
            rewards=self.to_torch(self._normalize_reward(self.rewards[idx, env_col], env)),
            terminated=f32(self.terminated[idx, env_col]),
            valid=f32(valid),
            actor_mask=f32(actor_mask),
            starts_episode=f32(starts_episode),
        )

    def recent_windows(
        self, n: int, length: int, newest: int, rng: np.random.Generator, key: str | None = None
    ) -> tuple[dict[str, np.ndarray] | np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``n`` steps drawn uniformly from the ``newest`` stored steps (all envs together) that the actor flew (not
        the guide), each with the window of observations that leads to it, as a stateful actor saw them.

        A window holds the step and up to ``length − 1`` steps before it within its episode (oldest first, zero
        after its length: a shorter window starts the episode); steps whose window reaches past the oldest stored
        step are not drawn, so fewer than ``n`` may come back while the buffer is young.

        :param key: for a ``Dict`` observation, the entry the windows hold (e.g. the actor's part).
        :return: the observations at the drawn steps (``(n, …)``, every entry), the windows ``(n, length, …)``,
            their lengths ``(n,)`` and the drawn steps' indices in their episodes ``(n,)``.
        """
        n_stored = self.size()
        if n_stored == 0:
            raise RuntimeError("cannot draw from an empty SequenceReplayBuffer")
        depth = max(1, min(n_stored, int(newest) // self.n_envs))  # vector steps back from the newest
        age = rng.integers(0, depth, 4 * n)
        env = rng.integers(0, self.n_envs, 4 * n)
        t = (self.pos - 1 - age) % self.buffer_size
        steps = self.episode_step[t, env].astype(np.int64)
        lengths = np.minimum(steps + 1, length)
        # a window shorter than ``length`` must start its episode (a stateful actor starts from zero there)
        keep = np.flatnonzero(~self.guide_acted[t, env] & (lengths - 1 <= n_stored - 1 - age))[:n]
        t, env, lengths, steps = t[keep], env[keep], lengths[keep], steps[keep]
        stored = self.observations if key is None else self.observations[key]  # type: ignore[index]
        windows = np.zeros((len(t), length, *stored.shape[2:]), np.float32)
        for j in range(length):  # row i holds steps t - lengths + 1 ... t (j < lengths)
            back = lengths - 1 - j
            rows = np.flatnonzero(back >= 0)
            windows[rows, j] = stored[(t[rows] - back[rows]) % self.buffer_size, env[rows]]
        at = {k: v[t, env] for k, v in self.observations.items()} if self.is_dict else self.observations[t, env]  # type: ignore[union-attr]
        return at, windows, lengths, steps

    def to_torch(self, array: np.ndarray, copy: bool = True) -> th.Tensor:
        return th.as_tensor(np.ascontiguousarray(array), device=self.device)


def check_window_settings(n_seq: int, n_warmup: int, stride: int) -> None:
    """Raise ``ValueError`` unless ``1 ≤ n_seq``, ``0 ≤ n_warmup < n_seq`` and ``1 ≤ stride ≤ n_seq``."""
    if int(n_seq) != n_seq or n_seq < 1:
        raise ValueError(f"n_seq must be a positive integer, got {n_seq!r}")
    if int(n_warmup) != n_warmup or not 0 <= n_warmup < n_seq:
        raise ValueError(f"n_warmup must be an integer with 0 <= n_warmup < n_seq={n_seq}, got {n_warmup!r}")
    if int(stride) != stride or not 1 <= stride <= n_seq:
        raise ValueError(f"stride must be an integer with 1 <= stride <= n_seq={n_seq}, got {stride!r}")
