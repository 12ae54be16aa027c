"""GuidedTD3: sequence-trained TD3 for a stateful spiking actor, with a privileged guide (JSRL)
and a decaying behaviour-cloning term (TD3+BC) — arXiv 2510.24461, "TD3BC+JSRL"."""

from __future__ import annotations

import io
import pathlib
from typing import Any, ClassVar, TypeVar

import numpy as np
import torch as th
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.noise import ActionNoise
from stable_baselines3.common.policies import BasePolicy
from stable_baselines3.common.type_aliases import GymEnv, MaybeCallback, RolloutReturn, Schedule, TrainFreq, TrainFrequencyUnit
from stable_baselines3.common.utils import polyak_update, should_collect_more_steps
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.td3.td3 import TD3

from sb3_spiking import task_registry
from sb3_spiking.callbacks import SlopeScheduleCallback, walk_callbacks
from sb3_spiking.guided_td3 import checks
from sb3_spiking.guided_td3.buffers import SequenceReplayBuffer, WindowSamples, check_window_settings
from sb3_spiking.guided_td3.checks import DEFAULT_BC_COEF
from sb3_spiking.guided_td3.collection import GuidedCollector, GuideTeacher, StepChoice, next_observations
from sb3_spiking.guided_td3.losses import (
    ActorBatch,
    ActorLossTerm,
    BCTerm,
    NStepTargets,
    QTerm,
    critic_loss,
    critic_steps,
    critic_view,
    map_obs,
    n_step_targets,
    target_inputs,
    weighted_sum,
)
from sb3_spiking.guided_td3.policies import MlpSequencePolicy, SequencePolicy, SpikingActor, SpikingPolicy
from sb3_spiking.guided_td3.vine import VineGradient, VinePhase, VineSettings
from sb3_spiking.guides import GuideSpec, resolve_guide
from sb3_spiking.neurons import check_slope
from sb3_spiking.save_compat import VersionedSaveMixin  # version records on save/load (docs/reliability.md)

SelfGuidedTD3 = TypeVar("SelfGuidedTD3", bound="GuidedTD3")

#: the SpikingPolicy's default initial slope (``policy_kwargs["slope"]``)
DEFAULT_SLOPE = 2.0
#: the buffer's window flags that GuidedTD3 also reads (``replay_buffer_kwargs``; both on by default)
WINDOW_FLAGS = ("burn_in", "train_from_episode_start")


class GuidedTD3(VersionedSaveMixin, TD3):  # mixin: sb3_spiking.save_compat
    """TD3 for a stateful spiking actor trained on sequences, optionally guided by a privileged policy.

    **Collection** (:meth:`collect_rollouts`, :class:`~sb3_spiking.guided_td3.collection.GuidedCollector`): the guide
    flies the first ``H`` steps of every episode while the actor sees the same observations (its state warms up),
    then the actor flies with the exploration noise; ``H`` falls linearly from ``guide_horizon_start`` to
    ``guide_horizon_end`` over ``guide_horizon_fraction`` of training. The guide's action is stored for every step.

    **Update** on windows of ``n_seq`` steps (:class:`SequenceReplayBuffer`): the critic's loss (``n_steps`` sums,
    target actor unrolled over the window, steps with a cold target actor left out; the critic's form and target
    policy are policy kwargs: :mod:`sb3_spiking.guided_td3.critics`, ``train/proxy_loss``); every ``policy_delay``
    updates the actor's loss, a weighted sum of the terms of :mod:`sb3_spiking.guided_td3.losses` on the steps after
    the ``n_warmup`` warm-up: ``QTerm`` (``−(α / mean|Q|)·Q₁(s, π(s))``, with ``alpha > 0``) and ``λ_BC ·`` ``BCTerm``
    (``‖π(s) − a‖²``), ``λ_BC = bc_coef · bc_decay^(updates // bc_decay_interval)``; optionally the vine phase
    (:class:`~sb3_spiking.guided_td3.vine.VinePhase`). Without a guide it is plain sequence TD3.

    **Logs** (besides TD3's): ``rollout/guide_fraction``, ``train/guide_horizon``, ``train/bc_coef``,
    ``train/bc_loss``, ``train/q_pi`` (with a Q term), ``train/guide_flown_fraction`` (share of the actor-loss steps
    the guide flew), ``train/surrogate_slope`` and ``train/spike_rate_layer<i>`` (spiking actor), and the autonomous
    return ``rollout/actor_ep_rew_mean`` / ``actor_ep_len_mean`` (Monitor return and length of the last
    ``stats_window_size`` episodes the actor flew alone). Settings that do nothing warn at construction.

    :param policy: ``"SpikingPolicy"``, ``"MlpSequencePolicy"`` or a :class:`SequencePolicy` subclass.
    :param env: environment (``Box`` or ``Dict(actor, privileged)`` observations, ``Box`` actions).
    :param guide: ``None``, a callable ``obs -> action`` (numpy, batched, privileged observation), an import path
        ``"module:attr"``, ``{"module:Class": {kwargs}}`` or a saved SB3 model path (:mod:`sb3_spiking.guides`).
        Never saved in the model zip.
    :param n_steps: n-step TD targets for the critic, summed inside the windows (1 = TD3's).
    :param n_seq: window length (paper: 100).
    :param n_warmup: warm-up steps without actor loss (paper: 50).
    :param stride: distance between window starts within an episode.
    :param alpha: Q-term scale α (paper: 2.0). ``None``: 0 with a guide (the best measured recipe, experiments/results.md),
        2.0 without one. ``alpha=0``: no Q term and no critic updates (pure behaviour cloning).
    :param bc_coef: initial λ_BC (paper: 0.2).
    :param bc_decay: λ_BC multiplier per epoch (paper: 0.99).
    :param bc_decay_interval: gradient steps per epoch.
    :param bc_target: ``"guide"`` (the guide's stored action, DAgger-style) or ``"executed"`` (the paper's).
    :param guide_horizon_start: guided steps per episode at the start of training (paper: 500 − 100).
    :param guide_horizon_end: ... at the end of the decay (``None``: ``n_warmup``, the paper's; 0: the actor ends
        flying whole episodes from its zero state, as deployed).
    :param guide_horizon_fraction: fraction of training over which ``H`` decays (paper: ~0.8).
    :param critic_fraction: fraction of the critic's valid window steps (drawn per update) in its loss (paper: 1.0).
    :param actor_q_input: where the Q term reads Q₁: ``"policy"`` (TD3+BC) or ``"buffer"`` (the buffer action, as
        the paper authors' public code: no policy gradient; for reproducing it only).
    :param vine_kwargs: the vine phase (:mod:`sb3_spiking.guided_td3.vine`): ``start_fraction``, the fraction of
        training from which on it runs in every ``train()`` (λ_BC is 0 from then on; kept as
        :attr:`vine_start_fraction`), and the :class:`~sb3_spiking.guided_td3.vine.VineSettings`. Needs an env
        implementing :class:`~sb3_spiking.branching.BranchableVecEnv`. ``None``: off. Its envs and optimiser are not
        saved.
    :param replay_buffer_kwargs: the :class:`SequenceReplayBuffer`'s window settings beyond ``n_seq`` / ``n_warmup`` /
        ``stride``: ``train_from_episode_start`` (windows that start an episode train the actor from step 0) and
        ``burn_in`` (the warm-up steps of the actor unroll run without an autograd graph), both ``True`` by default.
    :param policy_kwargs: the policy's arguments, e.g. ``slope`` (the initial surrogate slope of a
        :class:`SpikingPolicy`, 2.0 by default). Slope schedules are callbacks
        (:class:`~sb3_spiking.callbacks.SlopeScheduleCallback`, passed to ``learn``).
    :param optimize_memory_usage: must be ``False`` (the sequence buffer has no memory-optimised variant).
    :param policy_delay: gradient steps per actor update. ``None``: 1 when ``alpha`` is 0, else TD3's 2.
    Other parameters: see :class:`stable_baselines3.TD3`. The defaults are the best recipe measured in this project;
    the paper's is ``GuidedTD3(policy, env, guide=guide, **PAPER_RECIPE)`` (:mod:`sb3_spiking.guided_td3.presets`).
    """

    policy_aliases: ClassVar[dict[str, type[BasePolicy]]] = {  # type: ignore[assignment]
        "SpikingPolicy": SpikingPolicy,
        "MlpSequencePolicy": MlpSequencePolicy,
    }
    policy: SequencePolicy  # type: ignore[assignment]
    #: whether the class schedules the slope itself (the zoo's ZooGuidedTD3); GuidedTD3 leaves it to callbacks
    _keeps_slope_schedule: ClassVar[bool] = False
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
        bc_coef: float = DEFAULT_BC_COEF,
        bc_decay: float = 0.99,
        bc_decay_interval: int = 1000,
        bc_target: str = "guide",
        guide_horizon_start: int = 200,
        guide_horizon_end: int | None = 0,
        guide_horizon_fraction: float = 0.8,
        critic_fraction: float = 1.0,
        actor_q_input: str = "policy",
        vine_kwargs: dict[str, Any] | None = None,
        stats_window_size: int = 100,
        tensorboard_log: str | None = None,
        policy_kwargs: dict[str, Any] | None = None,
        verbose: int = 0,
        seed: int | None = None,
        device: th.device | str = "auto",
        _init_setup_model: bool = True,
    ):
        check_window_settings(n_seq, n_warmup, stride)
        if isinstance(env, str):  # an env id: the task plugins register theirs (e.g. DroneHover-v0)
            task_registry.load_tasks()
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
        # the vine's start is one of its settings; kept apart from the others, as files of every version store it
        vine_kwargs = None if vine_kwargs is None else dict(vine_kwargs)
        vine_start_fraction = None if vine_kwargs is None else vine_kwargs.pop("start_fraction", None)
        checks.check_settings(n_steps=n_steps, n_seq=n_seq, alpha=alpha, bc_coef=bc_coef, bc_decay=bc_decay,
                       bc_decay_interval=bc_decay_interval, bc_target=bc_target, guide_horizon_start=guide_horizon_start,
                       guide_horizon_end=guide_horizon_end, guide_horizon_fraction=guide_horizon_fraction,
                       critic_fraction=critic_fraction, actor_q_input=actor_q_input, vine_start_fraction=vine_start_fraction,
                       vine_kwargs=vine_kwargs)
        # every nested setting checked (and YAML's string numbers converted) now, not when the phase starts
        vine_kwargs = VineSettings.from_kwargs(vine_kwargs).given(vine_kwargs)
        # the initial slope, a policy kwarg, is kept beside policy_kwargs (as every version saved it) and reaches
        # the policy in _setup_model: files stay readable by earlier versions, and load() compares the rest
        policy_kwargs = dict(policy_kwargs or {})
        slope = check_slope(policy_kwargs.pop("slope", DEFAULT_SLOPE))  # also at load time (no policy built yet)
        replay_buffer_kwargs = dict(replay_buffer_kwargs or {})
        for key in WINDOW_FLAGS:
            replay_buffer_kwargs[key] = bool(replay_buffer_kwargs.get(key, True))
        checks.warn_inactive_settings(alpha, policy_delay, bc_coef, guide is not None)

        self.guide = guide
        self.n_seq, self.n_warmup, self.stride = int(n_seq), int(n_warmup), int(stride)
        self.alpha, self.bc_coef, self.bc_decay = float(alpha), float(bc_coef), float(bc_decay)
        self.bc_decay_interval, self.bc_target = int(bc_decay_interval), bc_target
        self.guide_horizon_start = int(guide_horizon_start)
        self.guide_horizon_end = self.n_warmup if guide_horizon_end is None else int(guide_horizon_end)
        self.guide_horizon_fraction = float(guide_horizon_fraction)
        self.critic_fraction = float(critic_fraction)
        self.actor_q_input = actor_q_input
        self.vine_start_fraction = None if vine_start_fraction is None else float(vine_start_fraction)
        self.vine_kwargs = vine_kwargs
        self.slope = float(slope)
        # runtime objects, never saved (built in _setup_model)
        self._guide = None
        self.collector: GuidedCollector | None = None
        self.vine: VinePhase | None = None
        self._warned_no_actor_steps = False
        self._dropped_slope_schedule: str | None = None
        #: the run's SlopeScheduleCallback, which announces itself at learn() (evaluations feed it, checkpoints save
        #: it); a checkpoint's schedule state waits in _resume_slope_state until then
        self.slope_callback: SlopeScheduleCallback | None = None
        self._resume_slope_state: dict[str, Any] | None = None

        try:
            super().__init__(
                policy, env, learning_rate=learning_rate, buffer_size=buffer_size, learning_starts=learning_starts,
                batch_size=batch_size, tau=tau, gamma=gamma, train_freq=train_freq, gradient_steps=gradient_steps,
                action_noise=action_noise, replay_buffer_class=replay_buffer_class or SequenceReplayBuffer,
                replay_buffer_kwargs=replay_buffer_kwargs, optimize_memory_usage=optimize_memory_usage,
                policy_delay=policy_delay, target_policy_noise=target_policy_noise, target_noise_clip=target_noise_clip,
                stats_window_size=stats_window_size, tensorboard_log=tensorboard_log, policy_kwargs=policy_kwargs,
                verbose=verbose, seed=seed, device=device, _init_setup_model=False,
            )  # fmt: skip
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
        checks.drop_removed_options(self.__dict__)  # a file of an earlier version
        if not self._keeps_slope_schedule:
            self._dropped_slope_schedule = checks.drop_slope_schedule(self.__dict__)
        for key in WINDOW_FLAGS:  # GuidedTD3 arguments of earlier versions, saved as attributes: the buffer's now
            if key in self.__dict__:
                self.replay_buffer_kwargs.setdefault(key, bool(self.__dict__.pop(key)))
        for key in ("n_seq", "n_warmup", "stride"):
            if key in self.replay_buffer_kwargs and self.replay_buffer_kwargs[key] != getattr(self, key):
                raise ValueError(f"set {key} as a GuidedTD3 argument, not in replay_buffer_kwargs")
        self.replay_buffer_kwargs.update(n_seq=self.n_seq, n_warmup=self.n_warmup, stride=self.stride)
        # SB3 builds the policy from self.policy_kwargs: add the slope for that call only (older saved files have it
        # there already, same value). SB3 must not set up its own n-step buffer (see __init__): it sees n_steps 1
        given, n_steps = self.policy_kwargs, self.n_steps
        self.policy_kwargs, self.n_steps = {"slope": self.slope, **given}, 1
        try:
            super()._setup_model()
        finally:
            self.policy_kwargs, self.n_steps = given, n_steps
        self._guide = resolve_guide(self.guide)
        teacher = None if self._guide is None else GuideTeacher(self._guide, self.policy, self.n_envs)
        if teacher is not None and self.env is not None:
            teacher.check()
        self.collector = GuidedCollector(self.policy, self.n_envs, teacher, self._stats_window_size)
        checks.check_critic_history(self.policy.critic_history, self.n_warmup)
        start = self.vine_start_fraction
        self.vine = None if start is None else VinePhase(start, VineSettings.from_kwargs(self.vine_kwargs))

    def _excluded_save_params(self) -> list[str]:
        runtime = ["guide", "_guide", "collector", "vine", "_warned_no_actor_steps", "_dropped_slope_schedule", "slope_callback",
                   "_resume_slope_state"]
        return [*super()._excluded_save_params(), *runtime]

    def _get_torch_save_params(self) -> tuple[list[str], list[str]]:
        state_dicts, tensors = super()._get_torch_save_params()  # + the proxy target's optimizer, where there is one
        return [*state_dicts, *(["policy.proxy.optimizer"] if getattr(self.policy, "proxy", None) else [])], tensors

    @property
    def burn_in(self) -> bool:
        """Whether the warm-up steps of the actor unroll run without an autograd graph (``replay_buffer_kwargs``)."""
        return bool(self.replay_buffer_kwargs.get("burn_in", True))

    @property
    def train_from_episode_start(self) -> bool:
        """Whether windows that start an episode train the actor from step 0 (``replay_buffer_kwargs``)."""
        return bool(self.replay_buffer_kwargs.get("train_from_episode_start", True))

    @property
    def _vine(self) -> VineGradient | None:
        """The vine phase's gradient estimator once built (``None`` before its first use and after loading)."""
        return None if self.vine is None else self.vine.gradient

    @classmethod
    def load(  # type: ignore[override]
        cls: type[SelfGuidedTD3],
        path: str | pathlib.Path | io.BufferedIOBase,
        *args: Any,
        policy_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> SelfGuidedTD3:
        """Load a saved model (see ``BaseAlgorithm.load``); the guide is passed again as ``guide=...``.
        :param policy_kwargs: if given, must equal the saved ones (as in SB3); a given ``slope`` must equal the model's
            initial slope (the construction's ``policy_kwargs`` are accepted, also by older files that stored it).
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
        if self._dropped_slope_schedule is not None and not _has_slope_callback(callback):
            checks.warn_dropped_slope_schedule(self._dropped_slope_schedule)
        if self.vine is not None:
            self.vine.check(self.env, self.actor)  # a clear error now rather than at the vine's first update
        checks.check_command_kept_raw(self._vec_normalize_env)
        env_reset = reset_num_timesteps or self._last_obs is None
        total, callback = super()._setup_learn(total_timesteps, callback, reset_num_timesteps, tb_log_name, progress_bar)
        assert self.collector is not None
        # the autonomous-return statistics restart with the step counter, as SB3's episode statistics
        if reset_num_timesteps or self.collector.actor_ep_returns.maxlen != self._stats_window_size:
            self.collector.reset_statistics(self._stats_window_size)
        if env_reset:  # every env starts an episode with zero actor state
            self.collector.start_episodes()
            if isinstance(self.replay_buffer, SequenceReplayBuffer):
                self.replay_buffer.mark_episode_start()
        return total, callback

    # ------------------------------------------------------------------ collection
    @property
    def guide_horizon(self) -> int:
        """Guided steps per episode now: linear from start to end over ``guide_horizon_fraction``; 0 without a guide."""
        if self._guide is None:  # what is logged (train/guide_horizon, curve.csv) is what happens
            return 0
        progress = min((1.0 - self._current_progress_remaining) / self.guide_horizon_fraction, 1.0)
        return int(round(self.guide_horizon_start + (self.guide_horizon_end - self.guide_horizon_start) * progress))

    # the collector's statistics under the names tests and scripts of earlier versions read
    _guided_steps = property(lambda self: 0 if self.collector is None else self.collector.guided_steps)
    _actor_ep_returns = property(lambda self: () if self.collector is None else self.collector.actor_ep_returns)
    _actor_ep_lengths = property(lambda self: () if self.collector is None else self.collector.actor_ep_lengths)

    def collect_rollouts(  # type: ignore[override]
        self,
        env: VecEnv,
        callback: BaseCallback,
        train_freq: TrainFreq,
        replay_buffer: ReplayBuffer,
        action_noise: ActionNoise | None = None,
        learning_starts: int = 0,
        log_interval: int | None = None,
    ) -> RolloutReturn:
        """SB3's off-policy collection loop with the guided collector choosing every action, and the guide's
        part of each step handed to ``replay_buffer.add`` (as RecurrentPPO owns its own loop)."""
        assert self.collector is not None and self._last_obs is not None
        self.policy.set_training_mode(False)
        num_collected_steps, num_collected_episodes = 0, 0
        assert train_freq.frequency > 0, "Should at least collect one step or episode."
        if env.num_envs > 1:
            assert train_freq.unit == TrainFrequencyUnit.STEP, "You must use only one env when doing episodic training."
        callback.on_rollout_start()
        continue_training = True
        while should_collect_more_steps(train_freq, num_collected_steps, num_collected_episodes):
            original = self._last_original_obs if self._vec_normalize_env is not None else self._last_obs
            random_actions = self.num_timesteps < learning_starts
            choice = self.collector.choose(
                self._last_obs, original, self.guide_horizon, random_actions, action_noise, self.num_timesteps  # type: ignore[arg-type]
            )
            actions, buffer_actions = self.policy.unscale_action(choice.action), choice.action.astype(np.float32)
            new_obs, rewards, dones, infos = env.step(actions)
            self.num_timesteps += env.num_envs
            num_collected_steps += 1
            callback.update_locals(locals())
            if not callback.on_step():
                return RolloutReturn(num_collected_steps * env.num_envs, num_collected_episodes, continue_training=False)
            self._update_info_buffer(infos, dones)
            self._store_guided_transition(replay_buffer, buffer_actions, choice, new_obs, rewards, dones, infos)  # type: ignore[arg-type]
            self._update_current_progress_remaining(self.num_timesteps, self._total_timesteps)
            self._on_step()
            for idx, done in enumerate(dones):
                if done:
                    num_collected_episodes += 1
                    self._episode_num += 1
                    if action_noise is not None:
                        action_noise.reset(**(dict(indices=[idx]) if env.num_envs > 1 else {}))
                    if log_interval is not None and self._episode_num % log_interval == 0:
                        self.dump_logs()
        callback.on_rollout_end()
        return RolloutReturn(num_collected_steps * env.num_envs, num_collected_episodes, continue_training)

    def _store_guided_transition(
        self,
        replay_buffer: ReplayBuffer,
        buffer_action: np.ndarray,
        choice: StepChoice,
        new_obs: np.ndarray | dict[str, np.ndarray],
        reward: np.ndarray,
        dones: np.ndarray,
        infos: list[dict[str, Any]],
    ) -> None:
        """SB3's ``_store_transition`` (original observations under VecNormalize, the terminal observation of
        a finished episode as its next observation) with the guide's part of the step passed to ``add``."""
        assert self.collector is not None
        checks.check_finite(new_obs, "observation", self.num_timesteps)
        checks.check_finite(reward, "reward", self.num_timesteps)
        if self._vec_normalize_env is not None:
            new_obs_, reward_ = self._vec_normalize_env.get_original_obs(), self._vec_normalize_env.get_original_reward()
        else:
            self._last_original_obs, new_obs_, reward_ = self._last_obs, new_obs, reward
        next_obs = next_observations(new_obs_, dones, infos, self._vec_normalize_env)
        guide = {} if choice.guide_actions is None else dict(guide_actions=choice.guide_actions, guide_acted=choice.guided)
        replay_buffer.add(self._last_original_obs, next_obs, buffer_action, reward_, dones, infos, **guide)  # type: ignore[arg-type,call-arg]
        self._last_obs = new_obs
        if self._vec_normalize_env is not None:
            self._last_original_obs = new_obs_
        self.collector.end_step(dones, infos)

    def dump_logs(self) -> None:
        assert self.collector is not None
        self.logger.record("rollout/guide_fraction", self.collector.guide_fraction())
        self.logger.record("train/guide_horizon", self.guide_horizon)
        if self.collector.actor_ep_returns:  # the deployed controller's own return, beside ep_rew_mean
            self.logger.record("rollout/actor_ep_rew_mean", float(np.mean(self.collector.actor_ep_returns)))
            self.logger.record("rollout/actor_ep_len_mean", float(np.mean(self.collector.actor_ep_lengths)))
        super().dump_logs()

    # ------------------------------------------------------------------ update
    @property
    def bc_coef_now(self) -> float:
        """λ_BC after ``_n_updates // bc_decay_interval`` epochs of decay; 0 without a guide (no BC term) and in
        the vine phase."""
        if self._guide is None or self.vine_active:  # the vine phase replaces imitation
            return 0.0
        return self.bc_coef * self.bc_decay ** (self._n_updates // self.bc_decay_interval)

    @property
    def q_term_active(self) -> bool:
        """Whether the actor loss has its Q term: ``alpha > 0``."""
        return self.alpha > 0

    @property
    def vine_active(self) -> bool:
        """Whether ``train()`` now also runs the vine phase (past ``vine_start_fraction``)."""
        return self.vine is not None and self.vine.active(1.0 - self._current_progress_remaining)

    def actor_terms(self) -> list[tuple[float, ActorLossTerm]]:
        """The actor loss's terms now, with their weights (:mod:`sb3_spiking.guided_td3.losses`)."""
        terms: list[tuple[float, ActorLossTerm]] = []
        if self.q_term_active:
            terms.append((1.0, QTerm(self.critic, self.alpha, self.actor_q_input)))
        if self._guide is not None and self.bc_coef > 0:  # weight 0 in the vine phase, still computed and logged
            terms.append((self.bc_coef_now, BCTerm(self.bc_target)))
        return terms

    def train(self, gradient_steps: int, batch_size: int = 64) -> None:
        self.policy.set_training_mode(True)
        proxy = self.policy.proxy
        self._update_learning_rate([self.actor.optimizer, self.critic.optimizer, *([proxy.optimizer] if proxy else [])])
        critic_losses, actor_losses, bc_losses, q_values, flown, proxy_losses = [], [], [], [], [], []
        spike_rates: list[list[float]] = []
        due, starved = 0, bool(self.actor_terms())  # starved: no due actor update had a step to train
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
                due, starved = due + 1, starved and not data.actor_mask.any().item()
                actor_loss, bc_loss, q_mean, rates, pi = self._actor_loss(data)
                if actor_loss is not None:
                    self._check_loss(actor_loss, "actor")
                    self.actor.optimizer.zero_grad()
                    actor_loss.backward()
                    self.actor.optimizer.step()
                    if proxy is not None:  # the proxy follows the actor where its state is the deployed one
                        steps = data.actor_mask.bool()
                        proxy_losses.append(proxy.follow(map_obs(data.observations, lambda x, m=steps: x[m]), pi[steps]))
                    actor_losses.append(actor_loss.item())
                    bc_losses.append(bc_loss)
                    q_values.append(q_mean)
                    spike_rates.append(rates)
                    flown.append(data.guide_acted[data.actor_mask.bool()].mean().item())
                polyak_update(self.critic.parameters(), self.critic_target.parameters(), self.tau)
                polyak_update(self.actor.parameters(), self.actor_target.parameters(), self.tau)
        if self.vine is not None and self.vine_active:
            self.vine.train(self)

        self.logger.record("train/n_updates", self._n_updates, exclude="tensorboard")
        if critic_losses:
            self.logger.record("train/critic_loss", np.mean(critic_losses))
        self.logger.record("train/bc_coef", self.bc_coef_now)
        if self.policy.slope is not None:  # None: a non-spiking actor
            self.logger.record("train/surrogate_slope", self.policy.slope)
        if actor_losses:
            self.logger.record("train/actor_loss", np.mean(actor_losses))
            self.logger.record("train/bc_loss", np.mean(bc_losses))
            self.logger.record("train/guide_flown_fraction", float(np.mean(flown)))
            if self.q_term_active:
                self.logger.record("train/q_pi", np.mean(q_values))
            if proxy_losses:
                self.logger.record("train/proxy_loss", np.mean(proxy_losses))
            for i, rate in enumerate(np.mean(spike_rates, axis=0)):
                self.logger.record(f"train/spike_rate_layer{i}", rate)
        elif due and starved and not self._warned_no_actor_steps:  # said once: the actor would silently never learn
            self._warned_no_actor_steps = True
            checks.warn_no_actor_steps(self._n_updates, self.n_warmup)

    def critic_mask(self, data: WindowSamples, targets: NStepTargets | None = None) -> th.Tensor:
        """``(B, L)`` steps that enter the critic loss (:func:`~sb3_spiking.guided_td3.losses.critic_steps`)."""
        if targets is None:
            targets = n_step_targets(data.rewards, data.terminated, data.valid, self.gamma, self.n_steps)
        return critic_steps(data, targets, self.n_warmup, self.policy.proxy is not None, self.policy.critic_history)

    def target_actions(self, data: WindowSamples) -> th.Tensor:
        """The critics' target policy over :func:`target_inputs`, ``(B, L + 1, A)``: the proxy, or the target actor
        unrolled from zero state at the window start."""
        seq, commands = target_inputs(data)
        with th.no_grad():
            proxy = self.policy.proxy
            return self.actor_target.unroll(seq, commands=commands) if proxy is None else proxy.over_window(seq)

    def _critic_loss(self, data: WindowSamples) -> th.Tensor:
        targets = n_step_targets(data.rewards, data.terminated, data.valid, self.gamma, self.n_steps)
        view, kept = critic_view(data, self.policy.critic_history), self.critic_mask(data, targets)
        return critic_loss(data, targets, kept, self.critic, self.critic_target, self.target_actions(data),
                           self.critic_fraction, self.target_policy_noise, self.target_noise_clip, view)

    def _actor_loss(self, data: WindowSamples) -> tuple[th.Tensor | None, float, float, list[float], th.Tensor | None]:
        """``(loss, BC term, mean Q₁, spike rate per layer, the actor's actions (B, L, A))``; ``None`` when no term acts
        on any step (then no optimiser step either, so none of Adam's momentum moves the actor)."""
        mask = data.actor_mask.bool()
        terms = self.actor_terms()
        if not mask.any() or not (self.q_term_active or self.bc_coef_now > 0):  # bc_coef_now is 0 without a guide
            return None, 0.0, 0.0, [], None
        pi, spikes = self._unroll_actor(data)
        seen = critic_view(data, self.policy.critic_history).now  # what the critic reads (the Q term)
        batch = ActorBatch(data, pi, mask, map_obs(seen, lambda x: x[mask]))
        loss = weighted_sum(batch, terms)
        rates = [s[mask].mean().item() for s in spikes]
        return loss, batch.logs.get("bc_loss", 0.0), batch.logs.get("q_pi", 0.0), rates, pi

    def _unroll_actor(self, data: WindowSamples) -> tuple[th.Tensor, list[th.Tensor]]:
        """Actor actions over the windows; warm-up steps without a graph where ``burn_in`` allows."""
        if not self.burn_in:  # the buffer's window setting
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

    def learn(self: SelfGuidedTD3, total_timesteps: int, callback: MaybeCallback = None, log_interval: int = 4,
              tb_log_name: str = "GuidedTD3", reset_num_timesteps: bool = True, progress_bar: bool = False) -> SelfGuidedTD3:
        return super().learn(total_timesteps, callback, log_interval, tb_log_name, reset_num_timesteps, progress_bar)


def _has_slope_callback(callback: MaybeCallback) -> bool:
    return any(isinstance(cb, SlopeScheduleCallback) for cb in walk_callbacks(callback))


__all__ = ["GuidedTD3", "n_step_targets"]
