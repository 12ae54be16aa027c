"""Vine policy gradients: the action gradient of the policy's value, measured in a copyable simulator.

Why this exists: on the drone task GuidedTD3's learned critic ranks *states* well but cannot tell
which of two nearby *actions* is better (its estimate of a one-step action change is uncorrelated
with the true effect, docs/guided_rl.md §7), so following its gradient never made a student better
than its teacher. A simulator whose rows can be copied does not need to guess: from a state the
policy visits, copies of the env fly the action perturbed by ``±eps`` along each action axis (held
for ``hold`` steps) and then the policy itself, with the same random numbers; the central
differences of their returns over ``horizon`` steps are ``∇_a Q^π(s, a)`` at ``a = π(s)``. This is
the "vine" procedure of TRPO (Schulman et al. 2015, §5.2) used for a deterministic policy gradient
(Silver et al. 2014): the actor is moved along ``∇_θ π(s) · ∇_a Q^π(s, a)``.

The branch points come from *leader* envs that fly the current deterministic actor from step 0
with zero state (the deployed controller's own state distribution); the actor's input windows
leading to each branch point are kept so that the update unrolls the stateful actor exactly as
training does (``n_warmup`` burn-in steps, or from the episode start).

An env supports this when its innermost ``VecEnv`` has two methods (the drone task's
:class:`~sb3_spiking.tasks.drone.vec_env.DroneHoverVecEnv` does)::

    branch_env(num_envs) -> VecEnv            # a new env with the same options, reset
    copy_rows_from(src, src_rows, dst_rows)   # make dst rows exact copies; returns the observation

and optionally ``match_settings(src)``, called before each round of measurements, for settings that
change during training (the drone's reward curriculum): the leaders then earn what the agent earns.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch as th
from stable_baselines3.common.utils import obs_as_tensor
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper, VecMonitor

from sb3_spiking.obs_keys import actor_part


@dataclass(frozen=True)
class VineSettings:
    """Options of the vine gradient (``GuidedTD3(vine_kwargs=...)``); defaults are the measured recipe.

    :param n_leaders: envs flying the deterministic actor; each branch point yields one gradient per leader.
        Each leader has 2 × (action size) copies: for the drone's 4 motors 32 leaders give 256 copies,
        the simulator's compiled vector size (l2f pads to powers of two).
    :param eps: size of the action perturbation (actions are in [-1, 1]).
    :param hold: steps the perturbation is held (one decision lasts this long; a 10 ms step alone
        changes the return too little to measure through the actor's spikes).
    :param horizon: steps each copy flies (fewer where the episode ends sooner).
    :param gamma: discount of the copies' returns; 1.0 is the episode return the task reports.
    :param spacing: mean leader steps between branch points (each gap is uniform in
        ``[spacing / 2, 3 spacing / 2]``, so branch points fall at every phase of an episode).
    :param early_steps: the first steps of an episode where branch points are denser (0: off). A drone student
        loses most of its return to its teacher while recovering from its start, and crashes only from a few
        falling starts within ~70 steps (docs/guided_rl.md §9); at the default spacing a tenth of the
        measurements fall in the first 50 steps.
    :param early_spacing: mean steps between branch points while the leaders are in their first
        ``early_steps`` steps (the leaders start together and mostly stay in step: their median step decides).
    :param hard_starts: probability that a leader whose episode ends restarts from a *hard start* (the initial
        state of a recent episode in which a leader crashed at its first try) instead of a fresh one (0: off).
        A drone student loses most of what it still lacks to a few falling starts that it fails to arrest
        (docs/guided_rl.md §9); at ~2 % of starts they get too few measurements to be learnt. Measured worse
        (§10): a perturbation held for ``hold`` steps cannot find the sustained full thrust those starts need.
    :param hard_pool: most recent hard starts kept (the oldest is replaced).
    :param leader_steps: leader steps (and their branch points) per ``train()`` call.
    :param updates: actor updates per ``train()`` call.
    :param batch_size: gradients per actor update.
    :param buffer_size: most recent gradients kept (older ones were measured for an older actor).
    :param step: size of the improvement step in action units: the actor regresses onto
        ``a + step · ĝ / rms(ĝ)``, ``a`` its own output when the gradient was measured (a bounded step
        that the actor reaches and stops at, like behaviour cloning of an improved teacher). ``None``:
        plain deterministic policy gradient ``-π(s) · ĝ`` (unbounded: Adam keeps following stale,
        noisy gradients; measured to drift, docs/guided_rl.md).
    :param step_norm: how ĝ is scaled in the bounded step: ``"buffer"``, by the rms of the buffer's gradients
        (clipped at their 90th percentile of norms: a state moves in proportion to how much its action
        matters), or ``"sample"``, each to the length ``sqrt(action size)`` (every state moves the same
        distance along its own direction).
    :param trust: weight of a trust region: the other steps of each stored window keep the outputs they
        had when the gradient was measured (only the measured state is moved; without it the network
        drifts where nothing was measured, measured: docs/guided_rl.md). 0 = off.
    :param learning_rate: of the vine term's own Adam (the imitation phase uses the model's). The measured
        gradients are noisy and Adam steps about this far whatever the signal: past the vine's peak the
        weights wander (docs/guided_rl.md §10); 1e-4 held rises more slowly but higher than 3e-4.
    :param anneal: the learning rate falls linearly to 0 at the end of training (GuidedTD3), so the
        final weights are not those of a noisy last step.
    """

    n_leaders: int = 32
    eps: float = 0.2
    hold: int = 10
    horizon: int = 300
    gamma: float = 1.0
    spacing: int = 50
    early_steps: int = 0
    early_spacing: int = 10
    hard_starts: float = 0.0
    hard_pool: int = 64
    leader_steps: int = 200
    updates: int = 4
    batch_size: int = 256
    buffer_size: int = 2048
    step: float | None = 0.05
    step_norm: str = "buffer"
    trust: float = 1.0
    learning_rate: float = 3e-4
    anneal: bool = True

    def __post_init__(self) -> None:
        for name in ("n_leaders", "hold", "horizon", "spacing", "early_spacing", "hard_pool", "leader_steps", "batch_size",
                     "buffer_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"vine_kwargs[{name!r}] must be an int >= 1, got {value!r}")
        for name in ("updates", "early_steps"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"vine_kwargs[{name!r}] must be an int >= 0, got {value!r}")
        if not isinstance(self.anneal, (bool, np.bool_)):
            raise ValueError(f"vine_kwargs['anneal'] must be True or False, got {self.anneal!r}")
        if self.step is not None and not 0 < float(self.step) <= 2:
            raise ValueError(f"vine_kwargs['step'] must be in (0, 2] or None, got {self.step!r}")
        if self.step_norm not in ("buffer", "sample"):
            raise ValueError(f"vine_kwargs['step_norm'] must be 'buffer' or 'sample', got {self.step_norm!r}")
        if self.hold > self.horizon:
            raise ValueError(f"vine_kwargs['hold'] ({self.hold}) cannot exceed 'horizon' ({self.horizon})")
        if not 0 <= float(self.trust) < float("inf"):
            raise ValueError(f"vine_kwargs['trust'] must be a finite number >= 0, got {self.trust!r}")
        if not 0 <= float(self.hard_starts) <= 1:
            raise ValueError(f"vine_kwargs['hard_starts'] must be in [0, 1], got {self.hard_starts!r}")
        for name, low, high in (("eps", 0.0, 1.0), ("gamma", 0.0, 1.0), ("learning_rate", 0.0, 1.0)):
            value = float(getattr(self, name))
            if not low < value <= high:
                raise ValueError(f"vine_kwargs[{name!r}] must be in ({low}, {high}], got {getattr(self, name)!r}")

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any] | None) -> VineSettings:
        """Settings from a ``vine_kwargs`` dict, naming any unknown key."""
        kwargs = dict(kwargs or {})
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(kwargs) - set(valid))
        if unknown:
            raise ValueError(f"unknown vine_kwargs {unknown}; valid: {', '.join(valid)}")
        return cls(**kwargs)


def branchable_env(env: VecEnv) -> VecEnv:
    """The innermost ``VecEnv`` of ``env`` if its rows can be copied, else ``ValueError`` saying why.

    Wrappers other than ``VecMonitor`` are refused: a ``VecNormalize`` (or any wrapper that changes
    observations or rewards) would make the copies' returns differ from what the agent is trained on.
    """
    inner = env
    while isinstance(inner, VecEnvWrapper):
        if not isinstance(inner, VecMonitor):
            raise ValueError(
                f"vine gradients fly copies of the raw env; the wrapper {type(inner).__name__} would change what "
                "they see or earn. Use the env without it (VecMonitor is fine)"
            )
        inner = inner.venv
    if not (callable(getattr(inner, "branch_env", None)) and callable(getattr(inner, "copy_rows_from", None))):
        raise ValueError(
            f"vine gradients need an env whose rows can be copied (methods branch_env and copy_rows_from), "
            f"got {type(inner).__name__}; the drone task's DroneHoverVecEnv has them (LunarLander's Box2D state "
            "cannot be copied)"
        )
    return inner


class VineGradient:
    """Measures ``∇_a Q^π`` at the leaders' states and moves the actor along it (see the module docstring).

    :param env: the training env (its innermost ``VecEnv`` must be copyable, :func:`branchable_env`).
    :param actor: the stateful actor (``step``, ``unroll``, ``initial_state``).
    :param settings: vine options.
    :param n_seq: length of the actor's input windows (as the replay windows).
    :param n_warmup: burn-in steps of a window that does not start an episode.
    :param seed: seeds the leaders' initial states and the branch schedule.
    """

    def __init__(self, env: VecEnv, actor: Any, settings: VineSettings, n_seq: int, n_warmup: int, seed: int = 0) -> None:
        base = branchable_env(env)
        self.settings, self.n_seq, self.n_warmup = settings, int(n_seq), int(n_warmup)
        s = settings
        self.action_dim = int(np.prod(base.action_space.shape))
        eye = np.eye(self.action_dim, dtype=np.float32)
        self._dirs = np.concatenate([eye, -eye])  # +e_j then -e_j: central differences per axis
        self._n_dirs = len(self._dirs)
        self.leaders = base.branch_env(s.n_leaders)
        self.branches = base.branch_env(s.n_leaders * self._n_dirs)
        self._source = base  # settings that change in training (match_settings) are followed from here
        self.leaders.seed(int(seed))
        self._obs = self.leaders.reset()
        self._rng = np.random.default_rng(seed)
        self._state = actor.initial_state(s.n_leaders)
        obs_dim = int(np.prod(actor_part(self._obs).shape[1:]))
        self._ring = np.zeros((s.n_leaders, self.n_seq, obs_dim), np.float32)  # last n_seq actor inputs
        self._t = np.zeros(s.n_leaders, np.int64)  # step of each leader's episode
        self._countdown = self._gap()
        self._was_early = self._early()
        self._windows = np.zeros((s.buffer_size, self.n_seq, obs_dim), np.float32)
        self._lengths = np.zeros(s.buffer_size, np.int64)
        self._grads = np.zeros((s.buffer_size, self.action_dim), np.float32)
        # the actor's outputs over each stored window when its gradient was measured
        self._outputs = np.zeros((s.buffer_size, self.n_seq, self.action_dim), np.float32)
        self._pos, self._full = 0, False
        self.optimizer = th.optim.Adam(actor.parameters(), lr=s.learning_rate)
        self.sim_steps = 0  # env steps simulated by leaders and copies
        self.samples = 0
        self._returns: list[float] = []  # returns of finished leader episodes (the deterministic actor's)
        self._ep_return = np.zeros(s.n_leaders)
        self._hard_returns: list[float] = []  # ... of those that flew a hard start again
        self._replayed = np.zeros(s.n_leaders, bool)  # leaders now flying a hard start again
        self.replays = 0
        if s.hard_starts > 0:
            every = np.arange(s.n_leaders)
            self._starts = base.branch_env(s.n_leaders)  # the initial state of each leader's current episode
            self._starts.copy_rows_from(self.leaders, every, every)
            self._pool = base.branch_env(s.hard_pool)
            self._pool_size, self._pool_pos = 0, 0

    def _early(self) -> bool:
        # the leaders start together and stay mostly in step (episodes end early only by crashing)
        return self.settings.early_steps > 0 and float(np.median(self._t)) < self.settings.early_steps

    def _gap(self) -> int:
        s = self.settings.early_spacing if self._early() else self.settings.spacing
        return int(self._rng.integers(max(1, s // 2), s + s // 2 + 1))

    def _match_settings(self) -> None:
        # e.g. the reward weights of a curriculum (the copies take them from the leaders)
        match = getattr(self.leaders, "match_settings", None)
        if callable(match):
            match(self._source)

    def __len__(self) -> int:
        return self.settings.buffer_size if self._full else self._pos

    # ------------------------------------------------------------------ measuring
    @th.no_grad()
    def collect(self, actor: Any, n_steps: int | None = None) -> None:
        """Advance the leaders ``n_steps`` (default ``leader_steps``) steps, measuring a gradient at each branch point."""
        self._match_settings()
        device = next(actor.parameters()).device
        for _ in range(self.settings.leader_steps if n_steps is None else n_steps):
            x = actor_part(self._obs)
            slot = self._t % self.n_seq
            self._ring[np.arange(len(slot)), slot] = x.reshape(len(slot), -1)
            if self.settings.early_steps:
                # entering the early window (new episodes): the next branch point comes at the early spacing,
                # not after a long gap drawn late in the previous episode
                early = self._early()
                if early and not self._was_early:
                    self._countdown = min(self._countdown, self._gap())
                self._was_early = early
            self._countdown -= 1
            if self._countdown <= 0:
                self._branch(actor, device)
                self._countdown = self._gap()
            action, self._state = actor.step(obs_as_tensor(self._obs, device), self._state)
            self._obs, reward, done, infos = self.leaders.step(action.cpu().numpy())
            self.sim_steps += len(done)
            self._ep_return += reward
            self._t += 1
            if done.any():
                self._returns += self._ep_return[done & ~self._replayed].tolist()
                self._hard_returns += self._ep_return[done & self._replayed].tolist()
                if self.settings.hard_starts > 0:
                    self._restart(np.flatnonzero(done), infos)
                self._ep_return[done] = 0.0
                self._t[done] = 0
                keep = th.as_tensor(~done, dtype=th.float32, device=device).unsqueeze(1)
                self._state = tuple(h * keep for h in self._state)

    def _restart(self, rows: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Leaders ``rows`` ended their episodes (and were reset): keep the starts they crashed from, and
        send some of them back to a kept hard start instead of their fresh one."""
        s = self.settings
        # only first tries: a start that is replayed and crashes again is not added twice
        crashed = [i for i in rows if not infos[i].get("TimeLimit.truncated", False) and not self._replayed[i]]
        for i in crashed:
            self._pool.copy_rows_from(self._starts, np.array([i]), np.array([self._pool_pos]))
            self._pool_pos = (self._pool_pos + 1) % s.hard_pool
            self._pool_size = min(self._pool_size + 1, s.hard_pool)
        replay = rows[self._rng.random(len(rows)) < s.hard_starts] if self._pool_size else rows[:0]
        if len(replay):
            obs = self.leaders.copy_rows_from(self._pool, self._rng.integers(self._pool_size, size=len(replay)), replay)
            # only the replayed rows' observations change (the others' are kept as the step returned them)
            if isinstance(self._obs, dict):
                for key in self._obs:
                    self._obs[key][replay] = obs[key][replay]
            else:
                self._obs[replay] = obs[replay]
            self.replays += len(replay)
        self._replayed[rows] = np.isin(rows, replay)
        self._starts.copy_rows_from(self.leaders, rows, rows)

    @property
    def episode_steps(self) -> np.ndarray:
        """The current step of each leader's episode, ``(n_leaders,)``."""
        return self._t.copy()

    @th.no_grad()
    def measure_now(self, actor: Any) -> np.ndarray:
        """Branch every leader now, at its current step (outside the branch schedule): the measured
        gradients ``(n_leaders, action size)``, also stored for the updates."""
        first = self._pos
        self._branch(actor, next(actor.parameters()).device)
        return self._grads[(first + np.arange(self.settings.n_leaders)) % self.settings.buffer_size].copy()

    @th.no_grad()
    def _branch(self, actor: Any, device: th.device) -> None:
        s, n, k = self.settings, self.settings.n_leaders, self._n_dirs
        obs = self.branches.copy_rows_from(self.leaders, np.repeat(np.arange(n), k), np.arange(n * k))
        state = tuple(h.repeat_interleave(k, 0) for h in self._state)
        dirs = np.tile(self._dirs, (n, 1)) * s.eps
        # a copy whose episode ends (crash or time limit) stops counting; all ended: stop early
        gain, running, discount = np.zeros(n * k), np.ones(n * k, bool), 1.0
        for step in range(s.horizon):
            action, state = actor.step(obs_as_tensor(obs, device), state)
            action = action.cpu().numpy()
            if step < s.hold:
                action = np.clip(action + dirs, -1.0, 1.0)
            obs, reward, done, _ = self.branches.step(action)
            self.sim_steps += len(done)
            gain += np.where(running, reward, 0.0) * discount
            discount *= s.gamma
            running &= ~done
            if not running.any():
                break
        gain = gain.reshape(n, k)
        half = k // 2
        grads = (gain[:, :half] - gain[:, half:]) / (2.0 * s.eps)
        slots = np.array([self._store(i, grads[i]) for i in range(n)])
        # targets start from the actor's outputs *on the stored window* (burn-in from zero state), not from
        # the leader's action (whole-episode state): the two differ a little, and regressing the window's
        # output onto the leader's action would pull the actor off systematically
        self._outputs[slots] = self._window_outputs(actor, slots, device)[0].cpu().numpy()

    def _store(self, leader: int, grad: np.ndarray) -> int:
        t = int(self._t[leader])
        length = min(t + 1, self.n_seq)
        steps = np.arange(t - length + 1, t + 1) % self.n_seq  # oldest first
        slot = self._pos
        self._windows[slot] = 0.0
        self._windows[slot, :length] = self._ring[leader, steps]
        self._lengths[slot], self._grads[slot] = length, grad
        self._pos = (self._pos + 1) % self.settings.buffer_size
        self._full = self._full or self._pos == 0
        self.samples += 1
        return slot

    def _window_outputs(self, actor: Any, idx: np.ndarray, device: th.device) -> tuple[th.Tensor, th.Tensor]:
        """The actor's outputs ``(len(idx), n_seq, A)`` over stored windows ``idx`` and the mask of the steps
        that count (have a graph): windows that start mid-episode burn in for ``n_warmup`` steps without a
        graph (as the replay windows), the others run from the episode start up to their length (causal:
        the zero padding after it changes nothing before it)."""
        windows, lengths = self._windows[idx], self._lengths[idx]
        full = lengths == self.n_seq
        out = th.zeros((len(idx), self.n_seq, self.action_dim), device=device)
        if full.any():
            rows = th.as_tensor(np.flatnonzero(full), device=device)
            out = out.index_put((rows,), actor.unroll(th.as_tensor(windows[full], device=device), burn_in=self.n_warmup))
        if (~full).any():
            rows = th.as_tensor(np.flatnonzero(~full), device=device)
            out = out.index_put((rows,), actor.unroll(th.as_tensor(windows[~full], device=device)))
        steps = np.arange(self.n_seq)
        counts = np.where(full[:, None], steps >= self.n_warmup, steps < lengths[:, None])
        return out, th.as_tensor(counts, device=device)

    # ------------------------------------------------------------------ following
    def loss(self, actor: Any) -> th.Tensor:
        """Over a batch of stored gradients: ``mean |π(s) − (a + step · ĝ / rms ĝ)|²`` (bounded step; ĝ clipped
        at the buffer's 90th percentile of norms), or
        ``−mean(π(s) · ĝ) / mean|ĝ|`` with ``step=None`` (the deterministic policy gradient)."""
        size = len(self)
        if size == 0:
            raise RuntimeError("no vine gradient measured yet: call collect() first")
        device = next(actor.parameters()).device
        idx = self._rng.choice(size, size=min(self.settings.batch_size, size), replace=False)
        outputs, counts = self._window_outputs(actor, idx, device)
        rows, last = th.arange(len(idx), device=device), th.as_tensor(self._lengths[idx] - 1, device=device)
        pi = outputs[rows, last]
        if self.settings.step is None:
            scale = float(np.abs(self._grads[:size]).mean()) or 1.0
            return -(pi * th.as_tensor(self._grads[idx], device=device)).sum(1).mean() / scale
        before = th.as_tensor(self._outputs[idx], device=device)
        if self.settings.step_norm == "sample":
            # every measured state moves the same distance (its direction only): states whose value changes
            # little with the action (steady hover) improve as fast as the violent first steps
            g = self._grads[idx]
            unit = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-12) * np.sqrt(self.action_dim)
            target = before[rows, last] + self.settings.step * th.as_tensor(unit, device=device)
        else:
            # a copy that crashes while its twin does not gives a gradient tens of times the others': clipped
            # at the buffer's 90th percentile of norms, so neither do such states take huge steps nor does
            # the normalisation shrink everybody else's
            norms = np.linalg.norm(self._grads[:size], axis=1)
            cap = float(np.quantile(norms, 0.9)) or 1.0
            clipped = self._grads[:size] * np.minimum(1.0, cap / np.maximum(norms, 1e-12))[:, None]
            rms = float(np.sqrt((clipped**2).mean())) or 1.0
            g = th.as_tensor(clipped[idx], device=device)
            target = before[rows, last] + self.settings.step * g / rms
        loss = (pi - target.clamp(-1.0, 1.0)).pow(2).sum(1).mean()
        if self.settings.trust > 0:
            # the other steps of each window keep their outputs from when the gradient was measured: only the
            # measured state is to change, not whatever else the network computes
            others = counts.clone()
            others[rows, last] = False
            err = (outputs - before).pow(2).sum(2)
            loss = loss + self.settings.trust * (err * others).sum() / others.sum().clamp_min(1)
        return loss

    def update(self, actor: Any, lr_factor: float = 1.0) -> float:
        """One actor update along the measured gradients at ``lr_factor × learning_rate``; returns the loss."""
        for group in self.optimizer.param_groups:
            group["lr"] = self.settings.learning_rate * float(lr_factor)
        loss = self.loss(actor)
        if not th.isfinite(loss):
            raise FloatingPointError(f"non-finite vine loss ({loss.item()}); the actor was not updated")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()

    def stats(self) -> dict[str, float]:
        """Diagnostics for the logger; clears the finished leader returns."""
        size = len(self)
        out = {"vine/samples": float(self.samples), "vine/sim_steps": float(self.sim_steps)}
        if size:
            out["vine/grad_abs_mean"] = float(np.abs(self._grads[:size]).mean())
        if self._returns:
            out["vine/leader_ep_rew_mean"] = float(np.mean(self._returns))
            self._returns = []
        if self.settings.hard_starts > 0:
            out["vine/hard_pool"] = float(self._pool_size)
            out["vine/hard_replays"] = float(self.replays)
            if self._hard_returns:
                out["vine/hard_start_rew_mean"] = float(np.mean(self._hard_returns))
                self._hard_returns = []
        return out
