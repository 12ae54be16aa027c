"""Vine policy gradients: the action gradient of the policy's value, measured in a copyable simulator.

Why this exists: on the drone task GuidedTD3's learned critic ranks *states* well but cannot tell
which of two nearby *actions* is better (its estimate of a one-step action change is uncorrelated
with the true effect, experiments/notes/guided_rl.md §7), so following its gradient never made a student better
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

An env supports this when its innermost ``VecEnv`` implements
:class:`~sb3_spiking.branching.BranchableVecEnv` (``branch_env``, ``copy_rows_from``; the drone task's
:class:`~sb3_spiking.tasks.drone.vec_env.DroneHoverVecEnv` does), optionally
:class:`~sb3_spiking.branching.SettingsFollower` (``match_settings``, called before each round of
measurements, for settings that change during training such as the drone's reward curriculum: the leaders
then earn what the agent earns). :class:`VinePhase` is the phase GuidedTD3 runs from ``vine_start_fraction`` on.

Where the simulator cannot be copied, ``copies="model"`` flies the copies on a dynamics model learnt from the
agent's replay buffer (:mod:`sb3_spiking.guided_td3.dynamics`; the env implements
:class:`~sb3_spiking.branching.ModelCopyableVecEnv`): a copy starts from what its leader observes, and with
``branch_from="replay"`` the branch points are recent training steps from the replay buffer instead of leader
flights. On the drone the model's gradients agree with the simulator's (correlation 0.815 at the same branch points)
and a weak teacher's student rises nearly as with simulator copies (docs/critic.md §3b).
"""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.utils import obs_as_tensor, polyak_update
from stable_baselines3.common.vec_env import VecEnv

from sb3_spiking.branching import SettingsFollower, branchable_env, model_copyable_env
from sb3_spiking.guided_td3.buffers import SequenceReplayBuffer
from sb3_spiking.guided_td3.dynamics import DynamicsModel, TransitionSampler, replay_transitions
from sb3_spiking.obs_keys import ACTOR_KEY, actor_part

if TYPE_CHECKING:
    from sb3_spiking.guided_td3.guided_td3 import GuidedTD3


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
        falling starts within ~70 steps (experiments/notes/guided_rl.md §9); at the default spacing a tenth of the
        measurements fall in the first 50 steps.
    :param early_spacing: mean steps between branch points while the leaders are in their first
        ``early_steps`` steps (the leaders start together and mostly stay in step: their median step decides).
    :param leader_steps: leader steps (and their branch points) per ``train()`` call.
    :param updates: actor updates per ``train()`` call.
    :param batch_size: gradients per actor update.
    :param buffer_size: most recent gradients kept (older ones were measured for an older actor).
    :param step: size of the improvement step in action units: the actor regresses onto
        ``a + step · ĝ / rms(ĝ)``, ``a`` its own output when the gradient was measured and ``ĝ`` clipped at the
        buffer's 90th percentile of norms (a bounded step that the actor reaches and stops at, like behaviour
        cloning of an improved teacher; the plain deterministic policy gradient drifted, experiments/notes/guided_rl.md §8).
    :param trust: weight of a trust region: the other steps of each stored window keep the outputs they
        had when the gradient was measured (only the measured state is moved; without it the network
        drifts where nothing was measured, measured: experiments/notes/guided_rl.md). 0 = off.
    :param learning_rate: of the vine term's own Adam (the imitation phase uses the model's). The measured
        gradients are noisy and Adam steps about this far whatever the signal: past the vine's peak the
        weights wander (experiments/notes/guided_rl.md §10); 1e-4 held rises more slowly but higher than 3e-4.
    :param anneal: the learning rate falls linearly to 0 at the end of training (GuidedTD3), so the
        final weights are not those of a noisy last step.
    :param copies: what the copies fly: ``"simulator"`` (exact copies of the env's rows,
        :class:`~sb3_spiking.branching.BranchableVecEnv`) or ``"model"`` (a dynamics model learnt from the replay
        buffer, for envs whose state cannot be copied: :class:`~sb3_spiking.branching.ModelCopyableVecEnv`).
    :param model_updates: with ``copies="model"``, the model's updates (batches of 512 transitions) before each
        round of measurements; the first round takes 100 times as many.
    :param branch_from: where the branch points come from: ``"leaders"`` (envs flying the deterministic actor,
        real flights beside training's) or ``"replay"`` (with ``copies="model"``: steps the actor flew among the
        replay buffer's newest :data:`RECENT_STEPS`, no env steps beyond training's; ``leader_steps / spacing``
        rounds of ``n_leaders`` points per call, ``early_steps`` does not apply).
    """

    n_leaders: int = 32
    eps: float = 0.2
    hold: int = 10
    horizon: int = 300
    gamma: float = 1.0
    spacing: int = 50
    early_steps: int = 0
    early_spacing: int = 10
    leader_steps: int = 200
    updates: int = 4
    batch_size: int = 256
    buffer_size: int = 2048
    step: float = 0.05
    trust: float = 1.0
    learning_rate: float = 3e-4
    anneal: bool = True
    copies: str = "simulator"
    model_updates: int = 50
    branch_from: str = "leaders"

    def __post_init__(self) -> None:
        if self.copies not in COPIES:
            raise ValueError(f"vine_kwargs['copies'] must be one of {COPIES}, got {self.copies!r}")
        if self.branch_from not in BRANCH_FROM:
            raise ValueError(f"vine_kwargs['branch_from'] must be one of {BRANCH_FROM}, got {self.branch_from!r}")
        if self.branch_from == "replay" and self.copies != "model":
            raise ValueError("vine_kwargs['branch_from'] 'replay' needs copies 'model' (a simulator cannot be copied "
                             "from an observation)")
        for name in ("n_leaders", "hold", "horizon", "spacing", "early_spacing", "leader_steps", "batch_size", "buffer_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 1:
                raise ValueError(f"vine_kwargs[{name!r}] must be an int >= 1, got {value!r}")
        for name in ("updates", "early_steps", "model_updates"):
            value = getattr(self, name)
            if isinstance(value, bool) or int(value) != value or value < 0:
                raise ValueError(f"vine_kwargs[{name!r}] must be an int >= 0, got {value!r}")
        if not isinstance(self.anneal, (bool, np.bool_)):
            raise ValueError(f"vine_kwargs['anneal'] must be True or False, got {self.anneal!r}")
        if isinstance(self.step, bool) or not isinstance(self.step, (int, float)) or not 0 < self.step <= 2:
            why = " (step=None, the plain policy gradient, was removed: it drifts, §8)" if self.step is None else ""
            raise ValueError(f"vine_kwargs['step'] must be in (0, 2], got {self.step!r}{why}")
        if self.hold > self.horizon:
            raise ValueError(f"vine_kwargs['hold'] ({self.hold}) cannot exceed 'horizon' ({self.horizon})")
        if not 0 <= float(self.trust) < float("inf"):
            raise ValueError(f"vine_kwargs['trust'] must be a finite number >= 0, got {self.trust!r}")
        for name, low, high in (("eps", 0.0, 1.0), ("gamma", 0.0, 1.0), ("learning_rate", 0.0, 1.0)):
            value = float(getattr(self, name))
            if not low < value <= high:
                raise ValueError(f"vine_kwargs[{name!r}] must be in ({low}, {high}], got {getattr(self, name)!r}")

    @classmethod
    def from_kwargs(cls, kwargs: dict[str, Any] | None) -> VineSettings:
        """Settings from a ``vine_kwargs`` dict, naming any unknown or mistyped key.

        A number given as a string (YAML reads ``1e-4`` without a dot as the string ``"1e-4"``) is converted,
        with a warning naming the key; anything else of the wrong type is refused.
        """
        kwargs = dict(kwargs or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(kwargs) - set(fields))
        if unknown:
            removed = sorted(set(unknown) & REMOVED_SETTINGS)
            why = f" ({', '.join(removed)}: removed, measured worse: experiments/notes/guided_rl.md §9-10)" if removed else ""
            raise ValueError(f"unknown vine_kwargs {unknown}{why}; valid: {', '.join(fields)}")
        return cls(**{key: _typed(key, value, type(getattr(cls, key))) for key, value in kwargs.items()})

    def given(self, kwargs: dict[str, Any] | None) -> dict[str, Any]:
        """The keys of ``kwargs`` with this object's (checked, converted) values: what the user set, as it is saved."""
        return {key: getattr(self, key) for key in (kwargs or {})}


#: what the vine's copies can fly (:attr:`VineSettings.copies`)
COPIES = ("simulator", "model")
#: where the branch points come from (:attr:`VineSettings.branch_from`)
BRANCH_FROM = ("leaders", "replay")
#: ``branch_from="replay"`` draws from this many newest stored steps (all envs): ~30 ``train()`` calls of the drone
#: recipe (50 steps × 16 envs each), i.e. states of nearly the current actor
RECENT_STEPS = 25_000

#: settings of earlier versions that were measured worse and removed (hard starts: §10; the plain
#: deterministic policy gradient ``step=None`` and ``step_norm="sample"``: §8-9 of experiments/notes/guided_rl.md)
REMOVED_SETTINGS = frozenset({"hard_starts", "hard_pool", "step_norm"})


def _typed(key: str, value: Any, kind: type) -> Any:
    """``value`` as the setting's type ``kind`` (int, float, bool or str), or ``ValueError`` naming the key."""
    if kind is str:
        if isinstance(value, str):
            return value
        raise ValueError(f"vine_kwargs[{key!r}] must be a string, got {value!r}")
    if kind is bool:
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        raise ValueError(f"vine_kwargs[{key!r}] must be True or False, got {value!r}")
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"vine_kwargs[{key!r}] must be a number, got the string {value!r}") from None
        converted = int(number) if kind is int and number.is_integer() else number
        warnings.warn(
            f"vine_kwargs[{key!r}] is the string {value!r} (YAML reads 1e-4 without a dot as a string): using {converted!r}",
            UserWarning,
            stacklevel=4,
        )
        value = converted
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"vine_kwargs[{key!r}] must be a number, got {value!r}")
    if kind is int:
        if int(value) != value:
            raise ValueError(f"vine_kwargs[{key!r}] must be an integer, got {value!r}")
        return int(value)
    return float(value)


def check_actor(actor: Any) -> None:
    """``ValueError`` for an actor the vine cannot train: one with action feedback (its windows hold actor inputs
    only and start from the zero state, and the copies' perturbed commands are not fed back — the feedback would
    learn a deployment that does not happen)."""
    if getattr(getattr(actor, "net", None), "feedback", None) is not None:
        raise ValueError("the vine phase does not support an actor with action feedback (policy_kwargs feedback: "
                         "true): its windows do not replay the executed commands; train it without vine_kwargs")


class VineGradient:
    """Measures ``∇_a Q^π`` at the leaders' states and moves the actor along it (see the module docstring).

    :param env: the training env (its innermost ``VecEnv`` must be copyable, :func:`branchable_env`).
    :param actor: the stateful actor (``step``, ``unroll``, ``initial_state``).
    :param settings: vine options.
    :param n_seq: length of the actor's input windows (as the replay windows).
    :param n_warmup: burn-in steps of a window that does not start an episode.
    :param seed: seeds the leaders' initial states and the branch schedule.
    :param transitions: with ``copies="model"``, where the dynamics model learns from (e.g.
        :func:`~sb3_spiking.guided_td3.dynamics.replay_transitions` of the replay buffer).
    :param replay: with ``branch_from="replay"``, the replay buffer whose recent steps are the branch points.
    """

    def __init__(self, env: VecEnv, actor: Any, settings: VineSettings, n_seq: int, n_warmup: int, seed: int = 0,
                 transitions: TransitionSampler | None = None, replay: SequenceReplayBuffer | None = None) -> None:
        check_actor(actor)
        base = model_copyable_env(env) if settings.copies == "model" else branchable_env(env)
        self.settings, self.n_seq, self.n_warmup = settings, int(n_seq), int(n_warmup)
        s = settings
        self.action_dim = int(np.prod(base.action_space.shape))
        eye = np.eye(self.action_dim, dtype=np.float32)
        self._dirs = np.concatenate([eye, -eye])  # +e_j then -e_j: central differences per axis
        self._n_dirs = len(self._dirs)
        self.dynamics: DynamicsModel | None = None
        self._transitions = transitions
        self.model_loss = float("nan")
        if s.copies == "model":
            if transitions is None:
                raise ValueError("copies='model' needs transitions to learn the dynamics from")
            with th.random.fork_rng():  # the model's initial weights from the seed, training's random stream untouched
                th.manual_seed(int(seed))
                self.dynamics = DynamicsModel(base.physical_state_dim, self.action_dim)
            self.branches = base.model_copies(s.n_leaders * self._n_dirs, self.dynamics)
        else:
            self.branches = base.branch_env(s.n_leaders * self._n_dirs)
        self._source = base  # settings that change in training (match_settings) are followed from here
        self.replay = replay
        self._rng = np.random.default_rng(seed)
        if s.branch_from == "replay":  # no leaders: branch points are drawn from the replay buffer
            if replay is None:
                raise ValueError("branch_from='replay' needs the replay buffer")
            self.leaders = None
            space = base.observation_space
            obs_dim = int(np.prod((space[ACTOR_KEY] if isinstance(space, spaces.Dict) else space).shape))
        else:
            self.leaders = base.branch_env(s.n_leaders)
            self.leaders.seed(int(seed))
            self._obs = self.leaders.reset()
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
        self.sim_steps = 0  # steps simulated by leaders and copies (on the learnt model too)
        self.env_steps = 0  # the leaders' steps: flights of the env beyond training's (none with branch_from replay)
        self.samples = 0
        self._returns: list[float] = []  # returns of finished leader episodes (the deterministic actor's)
        self._ep_return = np.zeros(s.n_leaders)

    def _early(self) -> bool:
        # the leaders start together and stay mostly in step (episodes end early only by crashing)
        return self.settings.early_steps > 0 and float(np.median(self._t)) < self.settings.early_steps

    def _gap(self) -> int:
        s = self.settings.early_spacing if self._early() else self.settings.spacing
        return int(self._rng.integers(max(1, s // 2), s + s // 2 + 1))

    def _match_settings(self) -> None:
        # e.g. the reward weights of a curriculum (the copies take them from the leaders)
        if self.leaders is not None and isinstance(self.leaders, SettingsFollower):
            self.leaders.match_settings(self._source)

    def __len__(self) -> int:
        return self.settings.buffer_size if self._full else self._pos

    # ------------------------------------------------------------------ measuring
    @th.no_grad()
    def collect(self, actor: Any, n_steps: int | None = None) -> None:
        """Advance the leaders ``n_steps`` (default ``leader_steps``) steps, measuring a gradient at each branch point
        (with model copies, the model first learns for ``model_updates`` updates: 100 times as many the first time)."""
        self._match_settings()
        if self.dynamics is not None:
            with th.enable_grad():
                updates = self.settings.model_updates * (1 if self.dynamics.scaled else 100)
                self.model_loss = self.dynamics.fit(self._transitions, updates)  # type: ignore[arg-type]
        device = next(actor.parameters()).device
        if self.leaders is None:  # branch_from="replay": as many branch points as leaders would give
            for _ in range(max(1, (self.settings.leader_steps if n_steps is None else n_steps) // self.settings.spacing)):
                self._branch_from_replay(actor, device)
            return
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
            self._obs, reward, done, _ = self.leaders.step(action.cpu().numpy())
            self.sim_steps += len(done)
            self.env_steps += len(done)
            self._ep_return += reward
            self._t += 1
            if done.any():
                self._returns += self._ep_return[done].tolist()
                self._ep_return[done] = 0.0
                self._t[done] = 0
                keep = th.as_tensor(~done, dtype=th.float32, device=device).unsqueeze(1)
                self._state = tuple(h * keep for h in self._state)

    @property
    def episode_steps(self) -> np.ndarray:
        """The current step of each leader's episode, ``(n_leaders,)``."""
        return self._t.copy()

    @th.no_grad()
    def measure_now(self, actor: Any) -> np.ndarray:
        """Branch every leader now, at its current step (outside the branch schedule): the measured
        gradients ``(n_leaders, action size)``, also stored for the updates."""
        if self.leaders is None:
            raise RuntimeError("measure_now branches the leaders, and branch_from='replay' has none")
        first = self._pos
        self._branch(actor, next(actor.parameters()).device)
        return self._grads[(first + np.arange(self.settings.n_leaders)) % self.settings.buffer_size].copy()

    @th.no_grad()
    def _branch(self, actor: Any, device: th.device) -> None:
        n, k = self.settings.n_leaders, self._n_dirs
        obs = self.branches.copy_rows_from(self.leaders, np.repeat(np.arange(n), k), np.arange(n * k))
        grads = self._measure(actor, device, obs, self._state, n)
        t = self._t
        lengths = np.minimum(t + 1, self.n_seq)
        windows = np.zeros_like(self._ring)
        for i in range(n):
            steps = np.arange(t[i] - lengths[i] + 1, t[i] + 1) % self.n_seq  # oldest first
            windows[i, : lengths[i]] = self._ring[i, steps]
        self._store(actor, device, windows, lengths, grads)

    @th.no_grad()
    def _branch_from_replay(self, actor: Any, device: th.device) -> None:
        """Branch at recent steps of the replay buffer instead of at leaders' steps: the actor's state there is
        its state after the window leading to the step (as the update unrolls it)."""
        k = self._n_dirs
        key = ACTOR_KEY if isinstance(self.replay.observations, dict) else None  # type: ignore[union-attr]
        at, windows, lengths, steps = self.replay.recent_windows(  # type: ignore[union-attr]
            self.settings.n_leaders, self.n_seq, RECENT_STEPS, self._rng, key=key)
        m = len(lengths)
        if m == 0:
            return
        rows = np.repeat(np.arange(m), k)
        at = {key_: v[rows] for key_, v in at.items()} if isinstance(at, dict) else at[rows]
        obs = self.branches.start_from(at, np.repeat(steps, k), np.arange(m * k), self._source)
        x = th.as_tensor(windows, device=device)
        state = actor.initial_state(m)
        for j in range(int(lengths.max()) - 1):  # the state before acting at the drawn step
            _, new = actor.step(x[:, j], state)
            live = th.as_tensor(j < lengths - 1, device=device).unsqueeze(1)
            state = tuple(th.where(live, a, b) for a, b in zip(new, state))
        self._store(actor, device, windows, lengths, self._measure(actor, device, obs, state, m))

    def _measure(self, actor: Any, device: th.device, obs: Any, state: tuple[th.Tensor, ...], n: int) -> np.ndarray:
        """Fly the copies (rows ``0 … n·2A − 1`` of :attr:`branches`, started at ``obs``) from the actor's ``state``
        ``(n, …)`` with each branch point's ``±eps`` perturbations; the central differences ``(n, A)``."""
        s, k = self.settings, self._n_dirs
        state = tuple(h.repeat_interleave(k, 0) for h in state)
        dirs = np.tile(self._dirs, (n, 1)) * s.eps
        # a copy whose episode ends (crash or time limit) stops counting; all ended: stop early
        gain, running, discount = np.zeros(n * k), np.ones(n * k, bool), 1.0
        for step in range(s.horizon):
            if n * k < self.branches.num_envs:  # fewer branch points than copies: the rest idle
                obs = {key: v[: n * k] for key, v in obs.items()} if isinstance(obs, dict) else obs[: n * k]
            action, state = actor.step(obs_as_tensor(obs, device), state)
            action = action.cpu().numpy()
            if step < s.hold:
                action = np.clip(action + dirs, -1.0, 1.0)
            if n * k < self.branches.num_envs:
                action = np.concatenate([action, np.zeros((self.branches.num_envs - n * k, action.shape[1]), action.dtype)])
            obs, reward, done, _ = self.branches.step(action)
            reward, done = reward[: n * k], done[: n * k]
            self.sim_steps += len(done)
            gain += np.where(running, reward, 0.0) * discount
            discount *= s.gamma
            running &= ~done
            if not running.any():
                break
        gain = gain.reshape(n, k)
        half = k // 2
        return (gain[:, :half] - gain[:, half:]) / (2.0 * s.eps)

    def _store(self, actor: Any, device: th.device, windows: np.ndarray, lengths: np.ndarray, grads: np.ndarray) -> None:
        """Keep the measured gradients with the actor-input windows leading to their branch points."""
        size = self.settings.buffer_size
        slots = (self._pos + np.arange(len(grads))) % size
        self._windows[slots] = windows.reshape(len(grads), self.n_seq, -1)
        self._lengths[slots], self._grads[slots] = lengths, grads
        self._full = self._full or self._pos + len(grads) >= size
        self._pos = (self._pos + len(grads)) % size
        self.samples += len(grads)
        # targets start from the actor's outputs *on the stored window* (burn-in from zero state), not from
        # the leader's action (whole-episode state): the two differ a little, and regressing the window's
        # output onto the leader's action would pull the actor off systematically
        self._outputs[slots] = self._window_outputs(actor, slots, device)[0].cpu().numpy()

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
        before = th.as_tensor(self._outputs[idx], device=device)
        # a copy that crashes while its twin does not gives a gradient tens of times the others': clipped at the
        # buffer's 90th percentile of norms, so neither do such states take huge steps nor does the normalisation
        # shrink everybody else's
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
        out = {"vine/samples": float(self.samples), "vine/sim_steps": float(self.sim_steps),
               "vine/env_steps": float(self.env_steps)}
        if size:
            out["vine/grad_abs_mean"] = float(np.abs(self._grads[:size]).mean())
        if self.dynamics is not None:
            out["vine/model_loss"] = self.model_loss
        if self._returns:
            out["vine/leader_ep_rew_mean"] = float(np.mean(self._returns))
            self._returns = []
        return out


class VinePhase:
    """The vine as a training phase: from ``start_fraction`` of training on, each ``train()`` call of the
    algorithm measures vine gradients with the current actor and follows them (λ_BC is 0 from then on).

    Its envs, gradient buffer and optimiser are built at its first use and never saved: a resumed run
    starts them afresh.

    :param start_fraction: fraction of training from which the phase runs.
    :param settings: the vine's settings.
    """

    def __init__(self, start_fraction: float, settings: VineSettings) -> None:
        self.start_fraction, self.settings = float(start_fraction), settings
        self.gradient: VineGradient | None = None

    def active(self, progress: float) -> bool:
        """Whether the phase runs at ``progress`` (fraction of training done)."""
        return progress >= self.start_fraction

    def check(self, env: VecEnv | None, actor: Any) -> None:
        """``ValueError`` with the reason unless ``env`` implements :class:`~sb3_spiking.branching.BranchableVecEnv`
        (with ``copies="model"``: :class:`~sb3_spiking.branching.ModelCopyableVecEnv`) and the vine can train
        ``actor`` (:func:`check_actor`)."""
        (model_copyable_env if self.settings.copies == "model" else branchable_env)(env)  # type: ignore[arg-type]
        check_actor(actor)

    def train(self, model: GuidedTD3) -> None:
        """One round: the leaders fly ``leader_steps`` steps measuring gradients, then ``updates`` actor updates
        (learning rate annealed linearly to 0 at the end of training with ``anneal``), logged under ``vine/``."""
        if self.gradient is None:
            seed = 20_000 + 1_000 * (model.seed or 0)  # leaders' starts: apart from the training and evaluation seeds
            transitions = None
            if self.settings.copies == "model":  # the model learns from the replay buffer, as the critic would
                transitions = replay_transitions(model.replay_buffer, model_copyable_env(model.env).physical_state, seed)  # type: ignore[arg-type]
            self.gradient = VineGradient(model.env, model.actor, self.settings, model.n_seq, model.n_warmup, seed=seed,  # type: ignore[arg-type]
                                         transitions=transitions, replay=model.replay_buffer)  # type: ignore[arg-type]
        vine = self.gradient
        model.actor.set_training_mode(False)
        vine.collect(model.actor)
        model.actor.set_training_mode(True)
        factor = 1.0
        if self.settings.anneal:  # linearly to 0 from the vine's start to the end of training
            factor = min(1.0, model._current_progress_remaining / max(1.0 - self.start_fraction, 1e-8))
        losses = [vine.update(model.actor, factor) for _ in range(self.settings.updates)] if len(vine) else []
        model.logger.record("vine/learning_rate", self.settings.learning_rate * factor)
        if losses:
            polyak_update(model.actor.parameters(), model.actor_target.parameters(), model.tau)
            model.logger.record("vine/loss", float(np.mean(losses)))
        for key, value in vine.stats().items():
            model.logger.record(key, value)


__all__ = ["COPIES", "REMOVED_SETTINGS", "VineGradient", "VinePhase", "VineSettings", "branchable_env"]
