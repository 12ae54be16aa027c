"""GuidedTD3: sequence-trained TD3 for a stateful spiking actor, with a privileged guide (JSRL)
and a decaying behaviour-cloning term (TD3+BC) — arXiv 2510.24461, "TD3BC+JSRL"."""

from __future__ import annotations

import inspect
import io
import pathlib
import warnings
from collections import deque
from typing import Any, ClassVar, NamedTuple, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, EventCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, Schedule
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.td3.td3 import TD3

from sb3_spiking import allocator
from sb3_spiking.callbacks import SlopeScheduleCallback
from sb3_spiking.guided_td3.buffers import SequenceReplayBuffer, WindowSamples, check_window_settings
from sb3_spiking.guided_td3.policies import MlpSequencePolicy, SequencePolicy, SpikingActor, SpikingPolicy
from sb3_spiking.guided_td3.vine import VineGradient, VineSettings, branchable_env
from sb3_spiking.guides import GuideSpec, resolve_guide
from sb3_spiking.neurons import check_slope
from sb3_spiking.obs_keys import privileged_part
from sb3_spiking.save_compat import VersionedSaveMixin  # version records on save/load (docs/reliability.md)

SelfGuidedTD3 = TypeVar("SelfGuidedTD3", bound="GuidedTD3")

BC_TARGETS = ("guide", "executed")
#: "none": imitate on every actor step; "q": only where the critic rates the guide's action above the actor's;
#: "best": imitate the best-rated of the guide's action, the actor's and perturbations of the actor's
BC_FILTERS = ("none", "q", "best")
#: "policy": Q₁(s, π(s)) (TD3+BC); "buffer": Q₁(s, a_buffer), the authors' public code (no policy gradient)
ACTOR_Q_INPUTS = ("policy", "buffer")


class GuidedTD3(VersionedSaveMixin, TD3):  # mixin: sb3_spiking.save_compat
    """TD3 for a stateful spiking actor trained on sequences, optionally guided by a privileged policy.

    **Collection.** In every episode the guide flies the first ``H`` steps while the spiking actor
    is fed the same observations (its hidden state warms up); then the actor flies with the
    exploration noise. ``H`` falls linearly from ``guide_horizon_start`` to ``guide_horizon_end``
    over the first ``guide_horizon_fraction`` of training. The guide is queried on *every* step and
    its action stored beside the executed one (teacher-action buffer).

    **Update** on a batch of windows of ``n_seq`` steps (:class:`SequenceReplayBuffer`):

    * critic: TD3 target on every valid step, target actor unrolled over the window with its own
      state, clipped target noise, twin minimum;
    * actor (every ``policy_delay`` updates), on steps after the ``n_warmup`` warm-up (from step 0
      in windows that start an episode, when ``train_from_episode_start``):
      ``−(α / mean|Q|)·Q₁(s, π(s)) + λ_BC·‖π(s) − a‖²`` with ``a`` the guide's action stored for
      that step (``bc_target="guide"``, DAgger-style relabelling) or the executed buffer action
      (``"executed"``, the paper). Q is evaluated at the actor's own action.
    * ``λ_BC = bc_coef · bc_decay^epoch``; an **epoch** is ``bc_decay_interval`` gradient steps.

    Without a guide it is plain sequence TD3 (the BC term needs a guide and is off); with
    ``bc_coef=0`` it is the "no BC" ablation; with ``guide_horizon_start=guide_horizon_end=0`` the
    guide only teaches (no jump-start).

    **Logs** (besides TD3's): ``rollout/guide_fraction`` (share of collected steps the guide flew),
    ``train/guide_horizon`` (``H`` now), ``train/bc_coef`` (``λ_BC`` now), ``train/bc_loss``,
    ``train/surrogate_slope`` and ``train/spike_rate_layer<i>`` (spiking actor only), ``train/q_pi``
    (mean ``Q₁(s, π(s))``, only with a Q term, ``alpha > 0``), and the *autonomous return*:
    ``rollout/actor_ep_rew_mean`` / ``rollout/actor_ep_len_mean``, the Monitor return and length
    averaged over the last ``stats_window_size`` episodes in which every action came from the actor
    (with its exploration noise: no guided step, no random warm-up step before ``learning_starts``).
    Beside SB3's ``rollout/ep_rew_mean`` (all episodes, guided steps included) it shows what the
    deployed controller achieves; it is logged once such an episode has ended.

    **Warnings** (``UserWarning``, at construction) for settings that do nothing: ``alpha=0`` with
    ``policy_delay > 1`` (without a critic, the skipped actor updates are wasted gradient steps), and
    a ``bc_coef`` set explicitly (to a value other than the default) without a guide.

    :param policy: ``"SpikingPolicy"``, ``"MlpSequencePolicy"`` or a :class:`SequencePolicy` subclass.
    :param env: environment (``Box`` or ``Dict(actor, privileged)`` observations, ``Box`` actions).
    :param guide: ``None``, a callable ``obs -> action`` (numpy, batched, privileged observation),
        an import path ``"module:attr"``, ``{"module:Class": {kwargs}}`` (built with those
        arguments; rl-zoo's YAML form), or a saved SB3 model path (see :mod:`sb3_spiking.guides`).
        Never saved in the model zip.
    :param n_steps: n-step TD targets for the critic, summed inside the sampled windows (see
        :func:`n_step_targets`; 1 = TD3's). Longer sums spread value along the episode faster.
    :param n_seq: window length (paper: 100).
    :param n_warmup: warm-up steps without actor loss (paper: 50).
    :param stride: distance between window starts within an episode.
    :param alpha: TD3+BC Q-term scale α (paper: 2.0). ``None`` (default): 0 with a guide (the best
        measured recipe, docs/results.md and docs/lunar_lander.md), 2.0 without one (nothing to
        imitate: plain sequence TD3). ``alpha=0`` drops the Q term and the critic
        updates: pure behaviour cloning (with ``guide_horizon_start=guide_horizon_end`` ≥ the
        episode length the guide flies everything: the paper's BC baseline on guide data; with
        ``alpha > 0`` the same set-up is its TD3BC baseline).
    :param bc_coef: initial λ_BC (paper: 0.2; default 1.0, the measured recipe's).
    :param bc_decay: λ_BC multiplier per epoch (paper: 0.99).
    :param bc_decay_interval: gradient steps per epoch.
    :param bc_target: ``"guide"`` or ``"executed"``.
    :param guide_horizon_start: guided steps per episode at the start of training (paper: 500 − 100).
    :param guide_horizon_end: guided steps per episode at the end of the decay (``None``: ``n_warmup``,
        the paper's). The default 0 ends with the actor flying whole episodes from its zero state, as
        it is deployed.
    :param guide_horizon_fraction: fraction of training over which ``H`` decays (paper: ~0.8).
    :param burn_in: run the warm-up steps of the actor unroll without an autograd graph.
    :param train_from_episode_start: windows starting an episode train the actor from step 0.
    :param critic_fraction: fraction of the valid window steps (drawn at random per update) that
        enter the critic loss. The paper uses every step (1.0); the feed-forward critic on
        ``batch_size × n_seq`` transitions is most of an update's cost, so less is faster.
    :param mask_cold_targets: leave out of the critic loss the steps whose TD target reads the target
        actor at a cold state: the target actor is unrolled from zero state at the window start, so
        in a window that starts mid-episode its first ``n_warmup`` outputs are not the deployed
        policy's. ``False`` bootstraps on every valid step (the behaviour before this option, kept
        for the ablation).
    :param bc_filter: ``"none"`` (imitate on every actor step) or ``"q"`` (Q-filtered BC, Nair et al.
        2018: imitate the guide only where ``Q₁(s, a_guide) > Q₁(s, π(s))``, so the student
        can outgrow a weaker teacher; Q₁ decides, as in the Q term), or ``"best"`` (imitate whichever
        of the teacher's action, the actor's own and ``bc_search_samples`` perturbations of it Q₁ rates
        highest: a target that can be better than the teacher). Needs ``alpha > 0``.
    :param bc_search_samples: ``bc_filter="best"``: perturbations of the actor's action rated beside
        the teacher's and the actor's own.
    :param bc_search_noise: ``bc_filter="best"``: their Gaussian std (in [-1, 1] action units).
    :param bc_anneal_fraction: if set, λ_BC also falls linearly to 0 at this fraction of training
        (on top of ``bc_decay``), leaving the Q term alone at the end.
    :param q_start_fraction: the critic trains from the first update, but the Q term and the Q filter
        act on the actor only after this fraction of training (plain BC before): a critic that has
        not learnt yet gives the actor random gradients and a random filter (critic warm-start on the
        guide's and the imitating student's data).
    :param actor_q_input: ``"policy"`` (the Q term is ``Q₁(s, π(s))``, TD3+BC) or ``"buffer"``
        (``Q₁(s, a)`` at the buffer action, as the authors' public code does: no policy gradient,
        the actor learns from the BC term only). Only for reproducing that code.
    :param anchor_coef: weight of a trust-region term ``anchor_coef · |π(s) − π'(s)|²`` on the actor
        steps, ``π'`` the Polyak-averaged target actor: it keeps the actor near its own recent
        behaviour (which the critic has data for) rather than near the teacher, so the Q term can
        move it past a weaker teacher, slowly. Acts only while the Q term does; 0 = off.
    :param vine_start_fraction: if set, from this fraction of training on each ``train()`` call
        measures the action gradient of the actor's value in copies of the env and moves the actor
        along it (:mod:`sb3_spiking.guided_td3.vine`: TRPO's vine rollouts, a deterministic policy
        gradient without a learnt critic), instead of imitating: λ_BC is 0 from then on (a Q term
        with ``alpha > 0`` stays). Needs an env whose rows can be copied (the drone task's). This is
        the RL half that makes a student better than its teacher on the drone, where the learnt
        critic cannot resolve actions (docs/guided_rl.md §7–8). ``None`` (default): off. The vine's
        leader envs, gradient buffer and optimiser are not saved: a resumed run starts them afresh.
    :param vine_kwargs: options of the vine gradient, see :class:`~sb3_spiking.guided_td3.vine.VineSettings`.
    :param slope: initial surrogate slope of the actor.
    :param slope_schedule: ``None`` (slope stays unless a :class:`SlopeScheduleCallback` is passed
        to ``learn``), ``"fixed"``, ``"interval"`` or ``"adaptive"``: ``learn`` then adds a
        ``SlopeScheduleCallback(slope_schedule, **slope_schedule_kwargs)`` itself — the form
        rl-zoo's optuna merge can tune.
    :param slope_schedule_kwargs: arguments of that callback/schedule.
    :param optimize_memory_usage: must be ``False`` (accepted for TD3's signature; the sequence
        buffer has no memory-optimised variant).
    :param keep_freed_memory: on CPU, apply :func:`sb3_spiking.allocator.keep_freed_memory` when the
        model is set up (also on load: the flag is saved): glibc then keeps freed memory mapped, so
        the sequence updates reuse their tens of MB instead of page-faulting them in again (a fifth
        of the drone recipe's wall time, docs/performance.md). Off by default because the setting is
        process-wide (it changes ``mallopt`` for everything in the process); the zoo's drone configs
        turn it on. ``SB3_SPIKING_NO_MALLOPT=1`` still vetoes it.
    :param policy_delay: gradient steps per actor update. ``None`` (default): 1 when ``alpha`` is 0
        (no critic to wait for), TD3's 2 otherwise.
    Other parameters: see :class:`stable_baselines3.TD3`. The defaults are the best recipe measured
    in this project (relabelled BC alone with a guide, horizon 200 → 0; lr 1e-3, τ 0.01, γ 0.99, target
    noise 0.2 / clip 0.5 as in the paper); the paper's recipe is one preset away:
    ``GuidedTD3(policy, env, guide=guide, **PAPER_RECIPE)`` (:mod:`sb3_spiking.guided_td3.presets`;
    ``LEGACY_DEFAULTS`` restores the earlier defaults).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {  # type: ignore[assignment]
        "SpikingPolicy": SpikingPolicy,
        "MlpSequencePolicy": MlpSequencePolicy,
    }
    policy: SequencePolicy  # type: ignore[assignment]
    actor: SpikingActor  # type: ignore[assignment]
    actor_target: SpikingActor  # type: ignore[assignment]
    replay_buffer: SequenceReplayBuffer  # type: ignore[assignment]

    def __init__(
        self,
        policy: str | type[SequencePolicy],
        env: GymEnv | str,
        learning_rate: float | Schedule = 1e-3,
        buffer_size: int = 1_000_000,
        learning_starts: int = 1000,
        batch_size: int = 64,
        tau: float = 0.01,
        gamma: float = 0.99,
        train_freq: int | tuple[int, str] = 100,
        gradient_steps: int = 10,
        action_noise: ActionNoise | None = None,
        replay_buffer_class: type[ReplayBuffer] | None = None,
        replay_buffer_kwargs: dict[str, Any] | None = None,
        optimize_memory_usage: bool = False,
        n_steps: int = 1,
        policy_delay: int | None = None,
        target_policy_noise: float = 0.2,
        target_noise_clip: float = 0.5,
        guide: GuideSpec = None,
        n_seq: int = 100,
        n_warmup: int = 50,
        stride: int = 25,
        alpha: float | None = None,
        bc_coef: float = 1.0,
        bc_decay: float = 0.99,
        bc_decay_interval: int = 1000,
        bc_target: str = "guide",
        guide_horizon_start: int = 200,
        guide_horizon_end: int | None = 0,
        guide_horizon_fraction: float = 0.8,
        burn_in: bool = True,
        train_from_episode_start: bool = True,
        critic_fraction: float = 1.0,
        mask_cold_targets: bool = True,
        bc_filter: str = "none",
        bc_search_samples: int = 4,
        bc_search_noise: float = 0.1,
        bc_anneal_fraction: float | None = None,
        q_start_fraction: float = 0.0,
        actor_q_input: str = "policy",
        anchor_coef: float = 0.0,
        vine_start_fraction: float | None = None,
        vine_kwargs: dict[str, Any] | None = None,
        slope: float = 2.0,
        slope_schedule: str | None = None,
        slope_schedule_kwargs: dict[str, Any] | None = None,
        keep_freed_memory: bool = False,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        check_window_settings(n_seq, n_warmup, stride)
        # None: the best measured recipe with a guide (relabelled BC alone, no critic, every gradient
        # step an actor step); without a guide there is nothing to imitate: TD3+BC's Q term and delay
        if alpha is None:
            alpha = 0.0 if guide is not None else 2.0
        if policy_delay is None:
            policy_delay = 1 if alpha == 0 else 2
        if optimize_memory_usage:
            raise ValueError(
                "optimize_memory_usage=True is not supported: the SequenceReplayBuffer stores next "
                "observations separately (windows are gathered per env stream)"
            )
        if replay_buffer_class is not None and not issubclass(replay_buffer_class, SequenceReplayBuffer):
            raise ValueError(f"GuidedTD3 needs a SequenceReplayBuffer (sub)class, got {replay_buffer_class}")
        if alpha == 0 and bc_coef == 0 and vine_start_fraction != 0:
            raise ValueError("alpha=0 and bc_coef=0 leave the actor without any loss (until a vine gradient starts)")
        if bc_target not in BC_TARGETS:
            raise ValueError(f"bc_target must be one of {BC_TARGETS}, got {bc_target!r}")
        _check_number("alpha", alpha, low=0.0)
        _check_number("bc_coef", bc_coef, low=0.0)
        _check_number("bc_decay", bc_decay, low=0.0, high=1.0, low_open=True)
        _check_int("bc_decay_interval", bc_decay_interval, low=1)
        _check_int("guide_horizon_start", guide_horizon_start, low=0)
        if guide_horizon_end is not None:
            _check_int("guide_horizon_end", guide_horizon_end, low=0)
        _check_number("guide_horizon_fraction", guide_horizon_fraction, low=0.0, high=1.0, low_open=True)
        _check_number("critic_fraction", critic_fraction, low=0.0, high=1.0, low_open=True)
        _check_int("n_steps", n_steps, low=1)
        if n_steps > n_seq:
            raise ValueError(f"n_steps ({n_steps}) cannot exceed the window length n_seq ({n_seq})")
        if bc_filter not in BC_FILTERS:
            raise ValueError(f"bc_filter must be one of {BC_FILTERS}, got {bc_filter!r}")
        if bc_filter != "none" and alpha == 0:
            raise ValueError(f"bc_filter={bc_filter!r} compares critic values: it needs alpha > 0 (a trained critic)")
        _check_int("bc_search_samples", bc_search_samples, low=0)
        _check_number("bc_search_noise", bc_search_noise, low=0.0)
        if bc_anneal_fraction is not None:
            _check_number("bc_anneal_fraction", bc_anneal_fraction, low=0.0, high=1.0, low_open=True)
        _check_number("q_start_fraction", q_start_fraction, low=0.0, high=1.0)
        if actor_q_input not in ACTOR_Q_INPUTS:
            raise ValueError(f"actor_q_input must be one of {ACTOR_Q_INPUTS}, got {actor_q_input!r}")
        _check_number("anchor_coef", anchor_coef, low=0.0)
        if anchor_coef > 0 and alpha == 0:
            raise ValueError("anchor_coef > 0 bounds the Q term's steps: it needs alpha > 0")
        if vine_start_fraction is not None:
            _check_number("vine_start_fraction", vine_start_fraction, low=0.0, high=1.0)
        elif vine_kwargs:
            raise ValueError("vine_kwargs given without vine_start_fraction (the vine gradient is off)")
        VineSettings.from_kwargs(vine_kwargs)  # validate now, not at the first train() call
        if actor_q_input == "buffer" and bc_coef == 0:
            raise ValueError("actor_q_input='buffer' gives the actor no gradient from the Q term: it needs bc_coef > 0")
        check_slope(slope)  # also at load time (no policy is built before _setup_model)
        if slope_schedule is not None:  # validate name and kwargs now, not at learn()
            SlopeScheduleCallback(slope_schedule, **(slope_schedule_kwargs or {}))
        elif slope_schedule_kwargs:
            raise ValueError("slope_schedule_kwargs given without slope_schedule")
        # stored as given: the slope reaches the policy in _setup_model, so that load() accepts
        # the policy_kwargs passed here
        policy_kwargs = dict(policy_kwargs or {})
        if "slope" in policy_kwargs and policy_kwargs["slope"] != slope:
            raise ValueError("give the initial slope once: as GuidedTD3(slope=...), not in policy_kwargs")
        _warn_inactive_settings(alpha, policy_delay, bc_coef, guide)

        self.guide = guide
        self.n_seq, self.n_warmup, self.stride = int(n_seq), int(n_warmup), int(stride)
        self.alpha, self.bc_coef, self.bc_decay = float(alpha), float(bc_coef), float(bc_decay)
        self.bc_decay_interval, self.bc_target = int(bc_decay_interval), bc_target
        self.guide_horizon_start = int(guide_horizon_start)
        self.guide_horizon_end = self.n_warmup if guide_horizon_end is None else int(guide_horizon_end)
        self.guide_horizon_fraction = float(guide_horizon_fraction)
        self.burn_in, self.train_from_episode_start = bool(burn_in), bool(train_from_episode_start)
        self.critic_fraction = float(critic_fraction)
        self.mask_cold_targets = bool(mask_cold_targets)
        self.bc_filter = bc_filter
        self.bc_search_samples, self.bc_search_noise = int(bc_search_samples), float(bc_search_noise)
        self.bc_anneal_fraction = None if bc_anneal_fraction is None else float(bc_anneal_fraction)
        self.q_start_fraction = float(q_start_fraction)
        self.actor_q_input = actor_q_input
        self.anchor_coef = float(anchor_coef)
        self.vine_start_fraction = None if vine_start_fraction is None else float(vine_start_fraction)
        self.vine_kwargs = dict(vine_kwargs or {})
        self.slope = float(slope)
        self.slope_schedule = slope_schedule
        self.slope_schedule_kwargs = dict(slope_schedule_kwargs or {})
        self.keep_freed_memory = bool(keep_freed_memory)
        # runtime state, never saved
        self._guide = None
        self._actor_state: tuple[th.Tensor, ...] | None = None
        self._episode_steps: np.ndarray | None = None
        # the guide's part of the step being collected: (actions scaled, where it flew), from
        # _sample_action to _store_transition, which hands it to the buffer's add
        self._step_guide: tuple[np.ndarray, np.ndarray] | None = None
        self._guided_steps = 0
        self._bc_imitated: list[float] = []  # per actor update: share of steps that imitated (bc_filter), for the logs
        self._anchor_losses: list[float] = []  # per actor update with the anchor term, for the logs
        self._vine: VineGradient | None = None  # built at the first train() call that uses it
        self._collected_steps = 0
        # autonomous-return metric: per env, whether any action of the running episode did not come
        # from the actor (guide or random warm-up); returns/lengths of the other episodes
        self._episode_assisted: np.ndarray | None = None
        self._actor_ep_returns: deque[float] = deque(maxlen=stats_window_size)
        self._actor_ep_lengths: deque[int] = deque(maxlen=stats_window_size)
        self.slope_callback: SlopeScheduleCallback | None = None
        self._resume_slope_state: dict[str, Any] | None = None

        try:
            super().__init__(
                policy,
                env,
                learning_rate=learning_rate,
                buffer_size=buffer_size,
                learning_starts=learning_starts,
                batch_size=batch_size,
                tau=tau,
                gamma=gamma,
                train_freq=train_freq,
                gradient_steps=gradient_steps,
                action_noise=action_noise,
                replay_buffer_class=replay_buffer_class or SequenceReplayBuffer,
                replay_buffer_kwargs=replay_buffer_kwargs,
                optimize_memory_usage=optimize_memory_usage,
                policy_delay=policy_delay,
                target_policy_noise=target_policy_noise,
                target_noise_clip=target_noise_clip,
                stats_window_size=stats_window_size,
                tensorboard_log=tensorboard_log,
                policy_kwargs=policy_kwargs,
                verbose=verbose,
                seed=seed,
                device=device,
                _init_setup_model=False,
            )
        except AssertionError as e:  # SB3 checks spaces with assert: make it a real error, same text
            raise ValueError(str(e) or f"stable-baselines3 rejected the arguments (failed assertion: {e!r})") from e
        # n-step returns are computed inside the sampled windows (n_step_targets), not by SB3's
        # NStepReplayBuffer: SB3 is told 1 so that it neither builds that buffer nor warns about ours
        self.n_steps = int(n_steps)
        if _init_setup_model:
            self._setup_model()

    # ------------------------------------------------------------------ set-up
    def _setup_model(self) -> None:
        if not (isinstance(self.policy_class, type) and issubclass(self.policy_class, SequencePolicy)):
            raise ValueError(
                f"GuidedTD3 needs a SequencePolicy (sub)class (SpikingPolicy, MlpSequencePolicy), got {self.policy_class}"
            )
        for key in ("n_seq", "n_warmup", "stride", "train_from_episode_start"):
            if key in self.replay_buffer_kwargs and self.replay_buffer_kwargs[key] != getattr(self, key):
                raise ValueError(f"set {key} as a GuidedTD3 argument, not in replay_buffer_kwargs")
        self.replay_buffer_kwargs.update(
            n_seq=self.n_seq, n_warmup=self.n_warmup, stride=self.stride, train_from_episode_start=self.train_from_episode_start
        )
        # SB3 builds the policy from self.policy_kwargs: add the slope for that call only (older
        # saved files have it in policy_kwargs already, with the same value). SB3 must not set up its
        # own n-step buffer either (see __init__): it sees n_steps 1 for that call
        given, n_steps = self.policy_kwargs, self.n_steps
        self.policy_kwargs, self.n_steps = {"slope": self.slope, **given}, 1
        try:
            super()._setup_model()
        finally:
            self.policy_kwargs, self.n_steps = given, n_steps
        if self.keep_freed_memory and self.device.type == "cpu":  # opt-in: process-wide glibc setting
            allocator.keep_freed_memory()  # sequence updates reuse their tens of MB instead of page-faulting them in again
        if self.slope_schedule is not None and self.policy.slope is None:
            raise ValueError(
                f"slope_schedule={self.slope_schedule!r} needs a spiking actor; {self.policy_class.__name__} has none"
            )
        self._guide = resolve_guide(self.guide)
        if self._guide is not None and self.env is not None:
            self._check_guide()

    def _check_guide(self) -> None:
        """Call the guide once on sample observations: wrong shapes fail here, not mid-training.

        Only the shape is checked: a random sample of an unbounded space may be no state the guide
        was built for, so non-finite actions are caught on real observations, during collection.
        """
        n = self.n_envs
        sample = self.observation_space.sample()
        if isinstance(sample, dict):
            batch = {k: np.stack([v] * n) for k, v in sample.items()}
        else:
            batch = np.stack([sample] * n)
        with np.errstate(all="ignore"):
            self._guide_actions(batch, check_finite=False, when="on a sample observation at construction")

    def _guide_actions(
        self, obs: np.ndarray | dict[str, np.ndarray], check_finite: bool = True, when: str | None = None
    ) -> np.ndarray:
        """Guide actions for a batch of observations, scaled to [-1, 1] and validated.

        An exception raised inside the guide is re-raised with the same type (``RuntimeError`` if
        that type cannot take a message) and a message naming the guide, the observation shape and
        the step, chained to the original: a traceback deep in user code then says where it came from.
        """
        assert self._guide is not None
        guide_obs = privileged_part(obs)
        when = when or f"at env step {self.num_timesteps}"
        try:
            actions = np.asarray(self._guide(guide_obs), dtype=np.float32)
        except Exception as e:  # noqa: BLE001 - re-raised below, with the guide named
            message = (
                f"the guide {_describe(self._guide)} raised {type(e).__name__} {when} "
                f"(observation of shape {np.shape(guide_obs)}): {e}"
            )
            try:
                error = type(e)(message)
            except Exception:  # noqa: BLE001 - an exception type whose constructor wants more
                error = RuntimeError(message)
            raise error from e
        expected = (self.n_envs, *self.action_space.shape)  # type: ignore[misc]
        if actions.shape != expected:
            raise ValueError(
                f"the guide returned actions of shape {actions.shape}, expected {expected} "
                f"(guide {_describe(self._guide)}, {when}, observation of shape {np.shape(guide_obs)})"
            )
        if check_finite and not np.isfinite(actions).all():
            raise ValueError(
                f"the guide returned non-finite actions at step {self.num_timesteps}: {actions} (guide {_describe(self._guide)})"
            )
        return np.clip(self.policy.scale_action(actions), -1.0, 1.0)

    def _excluded_save_params(self) -> list[str]:
        return [
            *super()._excluded_save_params(),
            "guide",
            "_guide",
            "_actor_state",
            "_episode_steps",
            "_episode_assisted",
            "_actor_ep_returns",
            "_actor_ep_lengths",
            "_step_guide",
            "_bc_imitated",
            "_anchor_losses",
            "_vine",
            "slope_callback",
            "_resume_slope_state",
        ]

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfGuidedTD3],
        path: str | pathlib.Path | io.BufferedIOBase,
        *args: Any,
        policy_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SelfGuidedTD3:
        """Load a saved model (see ``BaseAlgorithm.load``); the guide is passed again as ``guide=...``.

        :param policy_kwargs: if given, must equal the saved ones, as in SB3, except for ``slope``:
            the same ``policy_kwargs`` as at construction are accepted, also for older files that
            stored the slope in them. A given ``slope`` must equal the model's initial slope.
        """
        model = super().load(path, *args, **kwargs)  # SB3 compares policy_kwargs strictly: we do it below
        if policy_kwargs is not None:
            given, stored = dict(policy_kwargs), dict(model.policy_kwargs)
            given_slope, _ = given.pop("slope", None), stored.pop("slope", None)
            stored.pop("device", None)  # as SB3: the device is not part of the comparison
            if given != stored or (given_slope is not None and given_slope != model.slope):
                raise ValueError(
                    "The specified policy kwargs do not equal the stored policy kwargs. "
                    f"Stored kwargs: {model.policy_kwargs} (initial slope {model.slope}), specified kwargs: {policy_kwargs}"
                )
        return model

    def _setup_learn(
        self,
        total_timesteps: int,
        callback: MaybeCallback = None,
        reset_num_timesteps: bool = True,
        tb_log_name: str = "run",
        progress_bar: bool = False,
    ) -> tuple[int, BaseCallback]:
        if self.alpha == 0 and self._guide is None and self.vine_start_fraction != 0:
            raise ValueError("alpha=0 (pure behaviour cloning) needs a guide to imitate")
        if self.vine_start_fraction is not None:
            branchable_env(self.env)  # a clear error now rather than at the vine's first update
        env_reset = reset_num_timesteps or self._last_obs is None
        total, callback = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        if reset_num_timesteps or self._actor_ep_returns.maxlen != self._stats_window_size:  # as SB3's episode statistics
            self._actor_ep_returns = deque(maxlen=self._stats_window_size)
            self._actor_ep_lengths = deque(maxlen=self._stats_window_size)
        if env_reset or self._actor_state is None or self._episode_assisted is None:
            # the env was reset: every env starts an episode with zero actor state
            self._actor_state = self.actor.initial_state(self.n_envs)
            self._episode_steps = np.zeros(self.n_envs, dtype=np.int64)
            self._episode_assisted = np.zeros(self.n_envs, dtype=bool)
            if isinstance(self.replay_buffer, SequenceReplayBuffer):
                self.replay_buffer.mark_episode_start()
        return total, callback

    def _init_callback(self, callback: MaybeCallback, progress_bar: bool = False) -> BaseCallback:
        if self.slope_schedule is not None:
            if any(isinstance(cb, SlopeScheduleCallback) for cb in _walk_callbacks(callback)):
                raise ValueError(
                    f"GuidedTD3(slope_schedule={self.slope_schedule!r}) already schedules the slope; "
                    "do not pass a SlopeScheduleCallback to learn() as well"
                )
            self.slope_callback = SlopeScheduleCallback(self.slope_schedule, **self.slope_schedule_kwargs)
            if self._resume_slope_state is not None:  # continuing from a checkpoint
                self.slope_callback.load_state_dict(self._resume_slope_state)
                self._resume_slope_state = None
            user = callback if isinstance(callback, list) else ([] if callback is None else [callback])
            callback = [self.slope_callback, *user]
        return super()._init_callback(callback, progress_bar)

    # ------------------------------------------------------------------ collection
    @property
    def guide_horizon(self) -> int:
        """Guided steps per episode now: linear from start to end over ``guide_horizon_fraction``; 0 without a guide."""
        if self._guide is None:  # what is logged (train/guide_horizon, curve.csv) is what happens
            return 0
        progress = min((1.0 - self._current_progress_remaining) / self.guide_horizon_fraction, 1.0)
        return int(round(self.guide_horizon_start + (self.guide_horizon_end - self.guide_horizon_start) * progress))

    @property
    def bc_coef_now(self) -> float:
        """λ_BC after ``_n_updates // bc_decay_interval`` epochs of decay (times the linear anneal to 0
        when ``bc_anneal_fraction`` is set); 0 without a guide (no BC term) and in the vine phase."""
        if self._guide is None or self.vine_active:  # the vine phase replaces imitation
            return 0.0
        coef = self.bc_coef * self.bc_decay ** (self._n_updates // self.bc_decay_interval)
        if self.bc_anneal_fraction is not None:
            progress = 1.0 - self._current_progress_remaining
            coef *= max(0.0, 1.0 - progress / self.bc_anneal_fraction)
        return coef

    @property
    def q_term_active(self) -> bool:
        """Whether the actor loss has its Q term (and the Q filter) now: ``alpha > 0`` and past ``q_start_fraction``."""
        return self.alpha > 0 and 1.0 - self._current_progress_remaining >= self.q_start_fraction

    def _sample_action(
        self, learning_starts: int, action_noise: ActionNoise | None = None, n_envs: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        assert self._last_obs is not None and self._actor_state is not None and self._episode_steps is not None
        assert self._episode_assisted is not None
        # the actor sees every observation, also while the guide flies: its state warms up
        obs_tensor, _ = self.policy.obs_to_tensor(self._last_obs)
        with th.no_grad():
            actor_action, self._actor_state = self.actor.step(obs_tensor, self._actor_state)
        shape = (n_envs, *self.action_space.shape)  # type: ignore[misc]
        if self.num_timesteps < learning_starts:
            scaled = self.policy.scale_action(np.array([self.action_space.sample() for _ in range(n_envs)]))
            self._episode_assisted[:] = True  # random warm-up actions are not the actor's either
        else:
            # the actor's output is flat (n_envs, prod(shape)); the env and the noise want the space's shape
            scaled = actor_action.cpu().numpy().reshape(shape)
        if action_noise is not None:
            scaled = np.clip(scaled + action_noise(), -1.0, 1.0)
        if self._guide is not None:
            original = self._last_original_obs if self._vec_normalize_env is not None else self._last_obs
            guide_scaled = self._guide_actions(original)  # type: ignore[arg-type]  # (n_envs, *shape)
            guided = self._episode_steps < self.guide_horizon
            scaled = np.where(guided.reshape(n_envs, *([1] * (len(shape) - 1))), guide_scaled, scaled)
            self._step_guide = (guide_scaled, guided)
            self._guided_steps += int(guided.sum())
            self._episode_assisted |= guided
        self._collected_steps += n_envs
        # the action feedback remembers what was executed (the guide's, noisy or random commands)
        self._actor_state = self.actor.with_last_command(
            self._actor_state, th.as_tensor(scaled, dtype=th.float32, device=self.device).reshape(n_envs, -1)
        )
        return self.policy.unscale_action(scaled), scaled.astype(np.float32)

    def _store_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        _check_finite(new_obs, "observation", self.num_timesteps)
        _check_finite(reward, "reward", self.num_timesteps)
        step_guide, self._step_guide = self._step_guide, None
        if isinstance(replay_buffer, SequenceReplayBuffer) and step_guide is not None:
            # SB3's _store_transition (original observations under VecNormalize, terminal
            # observations of finished episodes) runs unchanged; its add call gets the guide's part
            guide_actions, guide_acted = step_guide
            replay_buffer = _AddWithGuide(replay_buffer, guide_actions=guide_actions, guide_acted=guide_acted)
        super()._store_transition(replay_buffer, buffer_action, new_obs, reward, dones, infos)
        # episode bookkeeping for the next step: finished envs restart with zero actor state
        assert self._episode_steps is not None and self._actor_state is not None
        done = np.asarray(dones, dtype=bool)
        self._record_actor_episodes(done, infos)
        self._episode_steps = np.where(done, 0, self._episode_steps + 1)
        if done.any():
            keep = th.as_tensor(~done, dtype=th.float32, device=self.device).unsqueeze(1)
            self._actor_state = tuple(s * keep for s in self._actor_state)

    def _record_actor_episodes(self, done: np.ndarray, infos: list[dict[str, Any]]) -> None:
        """Keep the Monitor return/length of finished episodes the actor flew alone; reset the flags."""
        assert self._episode_assisted is not None
        for i in np.flatnonzero(done):
            episode = infos[i].get("episode")  # set by SB3's Monitor, as for rollout/ep_rew_mean
            if not self._episode_assisted[i] and episode is not None:
                self._actor_ep_returns.append(float(episode["r"]))
                self._actor_ep_lengths.append(int(episode["l"]))
        self._episode_assisted[done] = False

    def dump_logs(self) -> None:
        self.logger.record("rollout/guide_fraction", self._guided_steps / max(self._collected_steps, 1))
        self.logger.record("train/guide_horizon", self.guide_horizon)
        if self._actor_ep_returns:  # the deployed controller's own return, beside ep_rew_mean
            self.logger.record("rollout/actor_ep_rew_mean", float(np.mean(self._actor_ep_returns)))
            self.logger.record("rollout/actor_ep_len_mean", float(np.mean(self._actor_ep_lengths)))
        super().dump_logs()

    # ------------------------------------------------------------------ update
    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer])
        critic_losses, actor_losses, bc_losses, q_values = [], [], [], []
        self._bc_imitated, self._anchor_losses = [], []
        spike_rates: list[list[float]] = []
        for _ in range(gradient_steps):
            self._n_updates += 1
            # raw observations and rewards are stored: normalise them as the actor saw them
            data = self.replay_buffer.sample(batch_size, env=self._vec_normalize_env)
            if self.alpha > 0:  # pure BC (alpha=0) needs no critic
                critic_loss = self._critic_loss(data)
                self._check_loss(critic_loss, "critic")
                self.critic.optimizer.zero_grad()
                critic_loss.backward()
                self.critic.optimizer.step()
                critic_losses.append(critic_loss.item())

            if self._n_updates % self.policy_delay == 0:
                actor_loss, bc_loss, q_mean, rates = self._actor_loss(data)
                if actor_loss is not None:
                    self._check_loss(actor_loss, "actor")
                    self.actor.optimizer.zero_grad()
                    actor_loss.backward()
                    self.actor.optimizer.step()
                    actor_losses.append(actor_loss.item())
                    bc_losses.append(bc_loss)
                    q_values.append(q_mean)
                    spike_rates.append(rates)
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.actor.parameters(), self.actor_target.parameters(), self.tau)
        if self.vine_active:
            self._train_vine()

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if critic_losses:
            self.logger.record("train/critic_loss", np.mean(critic_losses))
        self.logger.record("train/bc_coef", self.bc_coef_now)
        if self.policy.slope is not None:  # None: a non-spiking actor
            self.logger.record("train/surrogate_slope", self.policy.slope)
        if actor_losses:
            self.logger.record("train/actor_loss", np.mean(actor_losses))
            self.logger.record("train/bc_loss", np.mean(bc_losses))
            if self.q_term_active:
                self.logger.record("train/q_pi", np.mean(q_values))
            if self.bc_filter != "none" and np.isfinite(self._bc_imitated).any():
                # share of actor steps that still imitate (the teacher, or a better-rated action for "best")
                self.logger.record("train/bc_imitated_fraction", float(np.nanmean(self._bc_imitated)))
            if self._anchor_losses:  # mean squared distance of the actor from its target actor
                self.logger.record("train/anchor_loss", float(np.mean(self._anchor_losses)))
            for i, rate in enumerate(np.mean(spike_rates, axis=0)):
                self.logger.record(f"train/spike_rate_layer{i}", rate)

    @property
    def vine_active(self) -> bool:
        """Whether ``train()`` now also follows the vine gradient (past ``vine_start_fraction``)."""
        return self.vine_start_fraction is not None and 1.0 - self._current_progress_remaining >= self.vine_start_fraction

    def _train_vine(self) -> None:
        """Measure vine gradients with the current actor, then follow them (:mod:`sb3_spiking.guided_td3.vine`)."""
        if self._vine is None:
            seed = 20_000 + 1_000 * (self.seed or 0)  # leaders' starts: apart from the training and evaluation seeds
            settings = VineSettings.from_kwargs(self.vine_kwargs)
            self._vine = VineGradient(self.env, self.actor, settings, self.n_seq, self.n_warmup, seed=seed)  # type: ignore[arg-type]
        vine = self._vine
        self.actor.set_training_mode(False)
        vine.collect(self.actor)
        self.actor.set_training_mode(True)
        factor = 1.0
        if vine.settings.anneal:  # linearly to 0 from the vine's start to the end of training
            start = float(self.vine_start_fraction or 0.0)
            factor = min(1.0, self._current_progress_remaining / max(1.0 - start, 1e-8))
        losses = [vine.update(self.actor, factor) for _ in range(vine.settings.updates)] if len(vine) else []
        self.logger.record("vine/learning_rate", vine.settings.learning_rate * factor)
        if losses:
            polyak_update(self.actor.parameters(), self.actor_target.parameters(), self.tau)
            self.logger.record("vine/loss", float(np.mean(losses)))
        for key, value in vine.stats().items():
            self.logger.record(key, value)

    def critic_mask(self, data: WindowSamples, targets: NStepTargets | None = None) -> th.Tensor:
        """``(B, L)`` steps whose TD target is evaluated at a warm target-actor state (or needs none).

        The target of step ``i`` bootstraps at step ``j`` (``j = i`` for 1-step returns) and reads the
        target actor's output at position ``j + 1`` of its unroll from zero state at the window start.
        That state is the deployed one only in windows that start an episode; elsewhere it is warm
        from position ``n_warmup`` on (as for the actor loss). A sum that ends in a termination reads
        no target actor at all.
        """
        valid = data.valid.bool()
        if not self.mask_cold_targets:
            return valid
        if targets is None:
            targets = n_step_targets(data.rewards, data.terminated, data.valid, self.gamma, self.n_steps)
        warm = targets.boot_index + 1 >= self.n_warmup
        return valid & (warm | (targets.boot_discount == 0) | data.starts_episode.bool()[:, None])

    def _critic_loss(self, data: WindowSamples) -> th.Tensor:
        targets = n_step_targets(data.rewards, data.terminated, data.valid, self.gamma, self.n_steps)
        kept = self.critic_mask(data, targets)
        chosen = kept
        if self.critic_fraction < 1.0:
            chosen = kept & (th.rand(kept.shape, device=kept.device) < self.critic_fraction)
            first_kept = kept.float().argmax(dim=1)  # keep at least one step per window that has any
            rows = th.arange(kept.shape[0], device=kept.device)
            chosen[rows, first_kept] |= kept[rows, first_kept] & ~chosen.any(dim=1)
        rows, cols = chosen.nonzero(as_tuple=True)
        boot = targets.boot_index[rows, cols]
        with th.no_grad():
            # target actor over s_0, s_1', …, s_L': its output at position j+1 is π'(s_{j+1})
            first = _map_obs(data.observations, lambda x: x[:, :1])
            seq = _cat_obs(first, data.next_observations)
            # executed commands for the action feedback: position j+1 follows a_j (the last one is unread)
            commands = th.cat([data.actions, data.actions[:, -1:]], dim=1)
            next_actions = self.actor_target.unroll(seq, commands=commands)[:, 1:][rows, boot]  # type: ignore[index]
            noise = (th.randn_like(next_actions) * self.target_policy_noise).clamp(
                -self.target_noise_clip, self.target_noise_clip
            )
            next_actions = (next_actions + noise).clamp(-1.0, 1.0)
            next_obs = _map_obs(data.next_observations, lambda x: x[rows, boot])
            next_q = th.cat(self.critic_target(next_obs, next_actions), dim=1).min(dim=1, keepdim=True)[0]
            target_q = targets.returns[rows, cols].unsqueeze(1) + targets.boot_discount[rows, cols].unsqueeze(1) * next_q
        current_q = self.critic(_map_obs(data.observations, lambda x: x[rows, cols]), data.actions[rows, cols])
        return sum(th.nn.functional.mse_loss(q, target_q) for q in current_q)  # type: ignore[return-value]

    def _actor_loss(self, data: WindowSamples) -> tuple[th.Tensor | None, float, float, list[float]]:
        mask = data.actor_mask.bool()
        if not mask.any() or not (self.q_term_active or self.bc_coef_now > 0):  # bc_coef_now is 0 without a guide
            # no term acts (e.g. λ_BC annealed to 0 while a vine gradient trains the actor): no step,
            # also none of Adam's momentum
            return None, 0.0, 0.0, []
        pi, spikes = self._unroll_actor(data)
        loss = pi.new_zeros(())
        q_mean = 0.0
        obs = _map_obs(data.observations, lambda x: x[mask])
        use_q = self.q_term_active
        if use_q:
            q_action = pi[mask] if self.actor_q_input == "policy" else data.actions[mask]
            q = self.critic.q1_forward(obs, q_action)
            loss = -(self.alpha / q.abs().mean().detach().clamp_min(1e-6)) * q.mean()
            q_mean = q.mean().item()
            if self.anchor_coef > 0:
                with th.no_grad():  # the target actor over the same window, from the same zero state
                    anchor = self.actor_target.unroll(data.observations)[mask]  # type: ignore[index]
                anchor_loss = (pi[mask] - anchor).pow(2).mean()
                loss = loss + self.anchor_coef * anchor_loss
                self._anchor_losses.append(anchor_loss.item())
        bc_value, imitated = 0.0, float("nan")
        if self._guide is not None and self.bc_coef > 0:
            target = data.actions
            if self.bc_target == "guide":
                has = data.has_guide_action.unsqueeze(-1)
                target = has * data.guide_actions + (1 - has) * data.actions
            target, student = target[mask], pi[mask].detach()
            filtered = self.bc_filter != "none" and use_q
            if filtered:  # Q₁ of the student's own action, as in the Q term (whose value of π(s) is reused)
                with th.no_grad():
                    q_student = q.detach() if self.actor_q_input == "policy" else self.critic.q1_forward(obs, student)
            if filtered and self.bc_filter == "best":
                target = self._best_target(obs, target, student, q_student)
                imitated = float((target != student).any(dim=1).float().mean().item())
            sq_err = (pi[mask] - target).pow(2).mean(dim=1)
            if filtered and self.bc_filter == "q":
                # imitate only where the critic prefers the teacher's action to the student's own;
                # averaged over all actor steps, so the term fades as the student outgrows the teacher
                with th.no_grad():
                    keep = (self.critic.q1_forward(obs, target) > q_student).float().squeeze(1)
                sq_err = sq_err * keep
                imitated = keep.mean().item()
            bc = sq_err.mean()
            loss = loss + self.bc_coef_now * bc
            bc_value = bc.item()
        self._bc_imitated.append(imitated)
        rates = [s[mask].mean().item() for s in spikes]
        return loss, bc_value, q_mean, rates

    def _best_target(
        self, obs: th.Tensor | dict[str, th.Tensor], teacher: th.Tensor, student: th.Tensor, q_student: th.Tensor
    ) -> th.Tensor:
        """The imitation target of ``bc_filter="best"``: of the teacher's action, the student's own and
        ``bc_search_samples`` perturbations of it (σ ``bc_search_noise``, i.e. actions like those the
        exploration flies, where the critic has data), the one with the highest Q₁. Ranking actions by
        value uses the critic less boldly than following its gradient."""
        with th.no_grad():
            candidates = [teacher, student]
            for _ in range(self.bc_search_samples):
                candidates.append((student + self.bc_search_noise * th.randn_like(student)).clamp(-1.0, 1.0))
            values = [self.critic.q1_forward(obs, teacher), q_student]
            values += [self.critic.q1_forward(obs, c) for c in candidates[2:]]
            best = th.cat(values, dim=1).argmax(dim=1)
            return th.stack(candidates, dim=1)[th.arange(best.shape[0], device=best.device), best]

    def _unroll_actor(self, data: WindowSamples) -> tuple[th.Tensor, list[th.Tensor]]:
        """Actor actions over the windows; warm-up steps without a graph where ``burn_in`` allows."""
        if not self.burn_in:
            return self.actor.unroll(data.observations, return_spikes=True, commands=data.actions)  # type: ignore[return-value]
        # windows that start an episode are trained from step 0: their warm-up keeps its graph
        grad_rows = data.starts_episode.bool() if self.train_from_episode_start else None
        return self.actor.unroll(  # type: ignore[return-value]
            data.observations, burn_in=self.n_warmup, grad_rows=grad_rows, return_spikes=True, commands=data.actions
        )

    def _check_loss(self, loss: th.Tensor, name: str) -> None:
        if not th.isfinite(loss):
            raise FloatingPointError(
                f"non-finite {name} loss ({loss.item()}) at update {self._n_updates}, env step {self.num_timesteps}; "
                "training stopped before applying it"
            )

    def learn(
        self: SelfGuidedTD3,
        total_timesteps: int,
        callback: MaybeCallback = None,
        log_interval: int = 4,
        tb_log_name: str = "GuidedTD3",
        reset_num_timesteps: bool = True,
        progress_bar: bool = False,
    ) -> SelfGuidedTD3:
        return super().learn(
            total_timesteps=total_timesteps,
            callback=callback,
            log_interval=log_interval,
            tb_log_name=tb_log_name,
            reset_num_timesteps=reset_num_timesteps,
            progress_bar=progress_bar,
        )


# ---------------------------------------------------------------------- helpers
class _AddWithGuide:
    """The replay buffer as SB3's ``_store_transition`` sees it: that method only calls ``add``,
    which is passed on with the guide's actions of the step as keyword arguments."""

    def __init__(self, buffer: SequenceReplayBuffer, **guide: np.ndarray) -> None:
        self._buffer, self._guide = buffer, guide

    def add(self, *args: Any) -> None:
        self._buffer.add(*args, **self._guide)


class NStepTargets(NamedTuple):
    """Per step ``i`` of ``(B, L)`` windows: ``returns`` = discounted reward sum over up to ``n`` steps,
    and the bootstrap ``γ^k · Q'(s'_j, π'(s'_j))`` it needs: ``boot_index`` ``j`` and ``boot_discount``
    ``γ^k`` (0 when the sum ended in a termination)."""

    returns: th.Tensor
    boot_discount: th.Tensor
    boot_index: th.Tensor


def n_step_targets(rewards: th.Tensor, terminated: th.Tensor, valid: th.Tensor, gamma: float, n: int) -> NStepTargets:
    """n-step TD targets inside windows: the sum stops at a termination (no bootstrap), at the window's
    last valid step or after ``n`` rewards (bootstrap at the step where it stopped). ``n = 1`` is TD3's
    ``r + γ (1 - d) Q'(s', π'(s'))``. Windows give the following steps for free, so value spreads ``n``
    times faster per update than with 1-step targets; the sum is over the actions actually flown (no
    off-policy correction), as in R2D2 and Ape-X.
    """
    B, L = rewards.shape
    valid_b, term_b = valid.bool(), terminated.bool()

    def ahead(x: th.Tensor, k: int) -> th.Tensor:  # x[:, i + k], zero (False) past the window's end
        return th.cat([x[:, k:], x.new_zeros(B, min(k, L))], dim=1)

    positions = th.arange(L, device=rewards.device).expand(B, L)
    returns, discount = th.zeros_like(rewards), th.ones_like(rewards)
    boot_discount, boot_index = th.zeros_like(rewards), positions.clone()
    running = valid_b.clone()
    for k in range(n):
        step = ahead(valid_b, k) & running
        returns = returns + discount * ahead(rewards, k) * step
        ends = ahead(term_b, k) & step
        stop = step & (ends | ~ahead(valid_b, k + 1) | (k == n - 1))
        boot_discount = th.where(stop & ~ends, discount * gamma, boot_discount)
        boot_index = th.where(stop, positions + k, boot_index)
        running = running & ~stop
        discount = discount * gamma
    return NStepTargets(returns, boot_discount, boot_index)


def _map_obs(obs: th.Tensor | dict[str, th.Tensor], fn) -> th.Tensor | dict[str, th.Tensor]:
    return {k: fn(v) for k, v in obs.items()} if isinstance(obs, dict) else fn(obs)


def _cat_obs(a: th.Tensor | dict[str, th.Tensor], b: th.Tensor | dict[str, th.Tensor]) -> th.Tensor | dict[str, th.Tensor]:
    if isinstance(a, dict):
        return {k: th.cat([a[k], b[k]], dim=1) for k in a}  # type: ignore[index]
    return th.cat([a, b], dim=1)  # type: ignore[list-item]


def _walk_callbacks(callback: MaybeCallback):
    if callback is None:
        return
    if isinstance(callback, list):
        for cb in callback:
            yield from _walk_callbacks(cb)
        return
    yield callback
    if isinstance(callback, CallbackList):
        yield from _walk_callbacks(callback.callbacks)
    if isinstance(callback, EventCallback) and callback.callback is not None:
        yield from _walk_callbacks(callback.callback)


def _check_finite(value: np.ndarray | dict[str, np.ndarray], what: str, step: int) -> None:
    arrays = value.values() if isinstance(value, dict) else [value]
    for arr in arrays:
        arr = np.asarray(arr)
        if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
            raise FloatingPointError(f"non-finite {what} from the environment at env step {step}: {arr}")


def _describe(guide: Any) -> str:
    """A short description of a guide for error messages: its type and (shortened) repr."""
    text = repr(guide)
    text = text if len(text) <= 120 else text[:117] + "..."
    name = type(guide).__qualname__
    return text if name in text else f"{name} {text}"


def _warn_inactive_settings(alpha: float, policy_delay: int, bc_coef: float, guide: GuideSpec) -> None:
    """Warn about settings that silently do nothing (checked at construction, not on load)."""
    if alpha == 0 and policy_delay > 1:
        warnings.warn(
            f"alpha=0 (no critic) with policy_delay={policy_delay}: the actor is still updated only once "
            f"every {policy_delay} gradient steps, so {policy_delay - 1} of every {policy_delay} steps do "
            "nothing; set policy_delay=1",
            UserWarning,
            stacklevel=3,
        )
    # the default bc_coef is no choice of the user's: plain sequence TD3 keeps it without a warning
    default_bc_coef = inspect.signature(GuidedTD3.__init__).parameters["bc_coef"].default
    if guide is None and bc_coef > 0 and bc_coef != default_bc_coef:
        warnings.warn(
            f"bc_coef={bc_coef} without a guide: the behaviour-cloning term needs a guide and is off",
            UserWarning,
            stacklevel=3,
        )


def _check_number(name: str, value: float, low: float | None = None, high: float | None = None, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value!r}")


def _check_int(name: str, value: int, low: int = 0) -> None:
    if isinstance(value, bool) or int(value) != value or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


__all__ = ["GuidedTD3"]
