"""Stateful actors and the asymmetric actor-critic policies of GuidedTD3.

:class:`SequencePolicy` holds what every GuidedTD3 policy shares (privileged critics, the recurrent
``predict`` contract, the zero state); :class:`SpikingPolicy` (spiking actor) and
:class:`MlpSequencePolicy` (non-spiking baseline) are its two actors.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from gymnasium import spaces
from stable_baselines3.common.policies import BasePolicy, ContinuousCritic
from stable_baselines3.common.preprocessing import get_action_dim, get_flattened_obs_dim, preprocess_obs
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, FlattenExtractor, create_mlp, get_actor_critic_arch
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.td3.policies import TD3Policy
from torch import nn

from sb3_spiking.export.resolve import unit_command
from sb3_spiking.guided_td3.critics import ProxyActor
from sb3_spiking.neurons import DEFAULT_FEEDBACK_DECAYS, READOUTS, RESETS, SpikingMLP, check_slope, layer_types
from sb3_spiking.obs_keys import ACTOR_KEY, COMMAND_KEY, PRIVILEGED_KEY, actor_part, check_observation_space, command_in_force

State = tuple[np.ndarray, ...]



def memory_kwargs(neuron: str | list[str], feedback: bool, feedback_decays: list[float]) -> dict[str, Any]:
    """The memory options that differ from the defaults (files of plain LIF actors stay loadable by
    older versions, which do not know these keys)."""
    data: dict[str, Any] = {}
    if neuron != "lif":
        data["neuron"] = neuron
    if feedback:
        data.update(feedback=True, feedback_decays=list(feedback_decays))
    return data


class PrivilegedExtractor(BaseFeaturesExtractor):
    """Critic features for a ``Dict`` observation: the flattened privileged part only."""

    def __init__(self, observation_space: spaces.Dict):
        check_observation_space(observation_space)
        super().__init__(observation_space, get_flattened_obs_dim(observation_space[PRIVILEGED_KEY]))
        self.flatten = nn.Flatten()

    def forward(self, observations: dict[str, th.Tensor]) -> th.Tensor:  # type: ignore[override]
        return self.flatten(observations[PRIVILEGED_KEY])


def _predict_with_state(
    owner: BasePolicy,
    actor: SpikingActor | MlpSequenceActor,
    observation: np.ndarray | dict[str, np.ndarray],
    state: State | None,
    episode_start: np.ndarray | None,
) -> tuple[np.ndarray, State]:
    """sb3-contrib's recurrent ``predict`` for ``actor``; ``owner`` (the actor or its policy) converts
    observations and unscales actions (both have the env's spaces)."""
    owner.set_training_mode(False)
    if isinstance(observation, tuple) and len(observation) == 2 and isinstance(observation[1], dict):
        raise ValueError("predict() got an (obs, info) tuple: pass only the observation")
    obs_tensor, vectorized_env = owner.obs_to_tensor(observation)
    n_envs = actor_part(obs_tensor).shape[0]
    sizes = actor.state_sizes
    if state is not None and (
        len(state) != len(sizes) or any(getattr(s, "shape", None) != (n_envs, h) for s, h in zip(state, sizes))
    ):
        raise ValueError(
            f"state must be a tuple of arrays with shapes {[(n_envs, h) for h in sizes]}, "
            f"got {[getattr(s, 'shape', None) for s in state]}"
        )
    flags = None if episode_start is None else np.asarray(episode_start, dtype=bool).reshape(-1)
    if flags is not None and flags.shape != (n_envs,):
        raise ValueError(
            f"episode_start must hold one flag per env: {n_envs} values for this observation, got {np.shape(episode_start)}"
        )
    with th.no_grad():
        if state is None:
            state_t = actor.start_state(obs_tensor)
        else:
            state_t = tuple(th.as_tensor(s, dtype=th.float32, device=owner.device) for s in state)
            if flags is not None and flags.any():
                state_t = actor.start_state(obs_tensor, state_t, th.as_tensor(flags, device=owner.device))
        actions_t, new_state = actor.step(obs_tensor, state_t)
    actions = actions_t.cpu().numpy().reshape((-1, *owner.action_space.shape))  # type: ignore[misc]
    actions = owner.unscale_action(actions)
    if not vectorized_env:
        actions = actions.squeeze(axis=0)
    return actions, tuple(s.cpu().numpy() for s in new_state)


class _StatefulPredict:
    """``actor.predict`` with the policy's recurrent contract (SB3's ``Actor.predict`` has no state), and the
    actor's input preprocessed as SB3 preprocesses the critics' (an image scaled to [0, 1] with
    ``normalize_images``)."""

    observation_space: spaces.Space
    normalize_images: bool

    def _actor_input(self, obs: PyTorchObs) -> th.Tensor:
        """The actor's part of ``obs`` as float, an image divided by 255 when ``normalize_images`` (any leading dims)."""
        space = check_observation_space(self.observation_space)
        return preprocess_obs(actor_part(obs), space, normalize_images=self.normalize_images)  # type: ignore[return-value]

    def start_state(self, obs: PyTorchObs, state: tuple[th.Tensor, ...] | None = None,
                    rows: th.Tensor | None = None) -> tuple[th.Tensor, ...]:
        """The state an episode starts from, one row per observation of ``obs`` ``(N, …)``: the zero state, whose action
        feedback (if any) holds the observation's command in force (``obs["command"]``, :mod:`sb3_spiking.obs_keys`).
        Given ``state`` and ``rows`` ``(N,)`` bool, only those rows start; the others keep ``state``."""
        command = command_in_force(obs)
        low, high = self.action_space.low, self.action_space.high  # type: ignore[attr-defined]
        fresh = self.initial_state(actor_part(obs).shape[0], command=unit_command(command, low, high))
        if state is None or rows is None:
            return fresh
        keep = rows.reshape(-1, 1)
        return tuple(th.where(keep, f, s) for f, s in zip(fresh, state))

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: State | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, State]:
        """One control step: ``(action, new state)``; the start state when ``state`` is ``None``.

        Same contract as :meth:`SequencePolicy.predict` (``deterministic`` is ignored).
        """
        return _predict_with_state(self, self, observation, state, episode_start)  # type: ignore[arg-type]


class SpikingActor(_StatefulPredict, BasePolicy):
    """Stateful spiking actor: actor observation -> LIF layers -> readout -> tanh.

    It reads only the actor part of the observation (``obs["actor"]`` for a ``Dict`` space, the
    whole vector for a ``Box``). Unlike SB3's ``Actor`` it needs a hidden state: use
    :meth:`step` for one environment step and :meth:`unroll` for a sequence.

    :param observation_space: the environment's observation space.
    :param action_space: ``Box`` action space (the output is in [-1, 1], SB3 squashing).
    :param net_arch: LIF layer sizes, e.g. ``[256, 128]``.
    :param slope: initial surrogate slope.
    :param readout: ``"linear"`` (the paper's) or ``"leaky"`` (leaky-integrator output neurons),
        see :class:`~sb3_spiking.neurons.SpikingMLP`.
    :param readout_beta: initial leak of the leaky readout.
    :param lif_reset: ``"subtract"`` (the paper's) or ``"zero"`` (NIR's LIF: what NIR consumers run),
        see :class:`~sb3_spiking.neurons.LIF`.
    :param neuron: hidden neuron type (``"lif"``, ``"recurrent"``, ``"synaptic"``, ``"adaptive"``) for
        every layer, or a list with one per layer (:mod:`sb3_spiking.memory_neurons`).
    :param feedback: feed the actor's own command back into its first layer
        (:class:`~sb3_spiking.memory_neurons.ActionFeedback`); in training windows the executed
        command is replayed (``unroll(..., commands=...)``).
    :param feedback_decays: initial decays of the feedback traces.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        slope: float = 2.0,
        readout: str = "linear",
        readout_beta: float = 0.5,
        lif_reset: str = "subtract",
        normalize_images: bool = False,
        neuron: str | list[str] = "lif",
        feedback: bool = False,
        feedback_decays: tuple[float, ...] | list[float] = DEFAULT_FEEDBACK_DECAYS,
        **_ignored: Any,
    ):
        super().__init__(observation_space, action_space, normalize_images=normalize_images, squash_output=True)
        self.net_arch = list(net_arch)
        self.readout, self.readout_beta = readout, float(readout_beta)
        self.neuron, self.feedback = neuron if isinstance(neuron, str) else list(neuron), bool(feedback)
        self.feedback_decays = [float(d) for d in feedback_decays]
        in_dim = get_flattened_obs_dim(check_observation_space(observation_space))
        out_dim = check_box_action_dim(action_space, type(self).__name__)
        check_command_space(observation_space, out_dim)
        self.lif_reset = lif_reset
        self.net = SpikingMLP(in_dim, out_dim, self.net_arch, slope, readout, readout_beta, lif_reset=lif_reset, neuron=neuron,
                              feedback=feedback, feedback_decays=self.feedback_decays)
        # the state variables of every layer, the readout membrane (leaky readout), the feedback's state
        self.state_sizes = list(self.net.state_sizes)

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(net_arch=self.net_arch, slope=self.net.slope, readout=self.readout, readout_beta=self.readout_beta)
        if self.lif_reset != "subtract":  # files of the default reset stay loadable by older versions
            data.update(lif_reset=self.lif_reset)
        data.update(memory_kwargs(self.neuron, self.feedback, self.feedback_decays))
        return data

    def with_last_command(self, state: tuple[th.Tensor, ...], command: th.Tensor) -> tuple[th.Tensor, ...]:
        """``state`` with the feedback's last command set to the executed ``command`` ``(N, A)`` (scaled
        to [-1, 1]); unchanged without feedback."""
        return self.net.with_last_command(state, command.reshape(command.shape[0], -1))

    @property
    def slope(self) -> float:
        return self.net.slope

    def set_slope(self, slope: float) -> None:
        self.net.set_slope(slope)

    def initial_state(self, n_envs: int, command: th.Tensor | None = None) -> tuple[th.Tensor, ...]:
        """Zero state; an action feedback holds ``command`` ``(n_envs, A)`` (in [-1, 1]) when given."""
        return self.net.initial_state(n_envs, self.device, None if command is None else command.to(self.device))

    def step(self, obs: PyTorchObs, state: tuple[th.Tensor, ...]) -> tuple[th.Tensor, tuple[th.Tensor, ...]]:
        """One step for a batch of envs: observation ``(N, …)`` -> (action ``(N, A)``, new state)."""
        x = self._actor_input(obs).flatten(1)
        return self.net.step(x, state)

    def unroll(
        self,
        obs: PyTorchObs,
        state: tuple[th.Tensor, ...] | None = None,
        burn_in: int = 0,
        grad_rows: th.Tensor | None = None,
        return_spikes: bool = False,
        commands: th.Tensor | None = None,
    ) -> tuple[th.Tensor, list[th.Tensor]] | th.Tensor:
        """Run over windows ``(B, L, …)`` from ``state`` (zero if ``None``).

        The first ``burn_in`` steps only warm the state up: they run without an autograd graph
        (R2D2-style burn-in), except for the windows flagged in ``grad_rows`` (``(B,)`` bool), whose
        warm-up steps keep their graph (e.g. windows that start an episode and train from step 0).

        :param commands: ``(B, L, A)`` actions executed at each step (scaled), replayed into the action
            feedback (ignored without it); without them a feedback actor feeds back its own outputs.
        :return: actions ``(B, L, A)`` (and each layer's spikes ``(B, L, H)`` if asked).
        """
        x = self._actor_input(obs)
        x = x.reshape(x.shape[0], x.shape[1], -1).transpose(0, 1)  # time-major (L, B, D)
        cmd = None
        if self.net.feedback is not None and commands is not None:
            cmd = commands.float().reshape(commands.shape[0], commands.shape[1], -1).transpose(0, 1)
        if state is None:  # the windows' first steps start their episodes' state (the command in force, if any)
            state = self.start_state({k: v[:, 0] for k, v in obs.items()} if isinstance(obs, dict) else obs[:, 0])
        parts, spikes_parts = [], []
        if burn_in > 0:
            with th.no_grad():
                out, warm_state, spikes = self.net(x[:burn_in], state, return_spikes=True,
                                                   commands=None if cmd is None else cmd[:burn_in])
            if grad_rows is not None and grad_rows.any():
                # recompute the flagged rows with a graph and splice them in (out-of-place, so
                # gradients reach them); the rest of the batch stays graph-free
                rows = grad_rows.nonzero().squeeze(1)
                out_g, state_g, spikes_g = self.net(x[:burn_in, rows], tuple(s[rows] for s in state), return_spikes=True,
                                                    commands=None if cmd is None else cmd[:burn_in, rows])
                out = _splice(out, out_g, rows, dim=1)
                spikes = [_splice(s, g, rows, dim=1) for s, g in zip(spikes, spikes_g)]
                warm_state = tuple(_splice(s, g, rows, dim=0) for s, g in zip(warm_state, state_g))
            state = warm_state
            parts.append(out)
            spikes_parts.append(spikes)
            x = x[burn_in:]
            cmd = None if cmd is None else cmd[burn_in:]
        if x.shape[0] > 0:
            out, _, spikes = self.net(x, state, return_spikes=True, commands=cmd)
            parts.append(out)
            spikes_parts.append(spikes)
        actions = th.cat(parts).transpose(0, 1)
        if not return_spikes:
            return actions
        layer_spikes = [th.cat([p[i] for p in spikes_parts]).transpose(0, 1) for i in range(len(self.net_arch))]
        return actions, layer_spikes

    def forward(self, obs: PyTorchObs) -> th.Tensor:  # type: ignore[override]
        raise RuntimeError(
            "SpikingActor is stateful: call actor.step(obs, state), actor.unroll(obs_windows) or "
            "actor/policy.predict(obs, state, episode_start)"
        )

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        """One step from the zero state (what a stateless caller of SB3's ``_predict`` can mean)."""
        return self.step(observation, self.initial_state(actor_part(observation).shape[0]))[0]


class MlpSequenceActor(_StatefulPredict, BasePolicy):
    """Stateless ReLU MLP actor with :class:`SpikingActor`'s interface: the non-spiking baseline.

    It reads the same actor observation as the spiking actor (add past actions to it with the drone
    env's ``actor_history`` option for the paper's "MLP with action history"). Its state is the
    empty tuple, so GuidedTD3 trains and deploys it exactly like the spiking actor; it has no
    surrogate slope.

    :param net_arch: hidden layer sizes, e.g. ``[256, 128]``.
    :param activation_fn: hidden activation.
    """

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        net_arch: list[int],
        activation_fn: type[nn.Module] = nn.ReLU,
        normalize_images: bool = False,
        **_ignored: Any,
    ):
        super().__init__(observation_space, action_space, normalize_images=normalize_images, squash_output=True)
        self.net_arch, self.activation_fn = list(net_arch), activation_fn
        in_dim = get_flattened_obs_dim(check_observation_space(observation_space))
        out_dim = check_box_action_dim(action_space, type(self).__name__)
        self.mu = nn.Sequential(*create_mlp(in_dim, out_dim, self.net_arch, activation_fn, squash_output=True))
        self.state_sizes: list[int] = []  # nothing carried between steps

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(net_arch=self.net_arch, activation_fn=self.activation_fn)
        return data

    def initial_state(self, n_envs: int, command: th.Tensor | None = None) -> tuple[th.Tensor, ...]:
        return ()

    def with_last_command(self, state: tuple[th.Tensor, ...], command: th.Tensor) -> tuple[th.Tensor, ...]:
        return state

    def step(self, obs: PyTorchObs, state: tuple[th.Tensor, ...]) -> tuple[th.Tensor, tuple[th.Tensor, ...]]:
        """One step for a batch of envs: observation ``(N, …)`` -> (action ``(N, A)``, ``()``)."""
        return self.mu(self._actor_input(obs).flatten(1)), ()

    def unroll(
        self,
        obs: PyTorchObs,
        state: tuple[th.Tensor, ...] | None = None,
        burn_in: int = 0,
        grad_rows: th.Tensor | None = None,
        return_spikes: bool = False,
        commands: th.Tensor | None = None,
    ) -> tuple[th.Tensor, list[th.Tensor]] | th.Tensor:
        """Actions for windows ``(B, L, …)``; ``burn_in``, ``grad_rows`` and ``commands`` change nothing (no state)."""
        x = self._actor_input(obs)
        actions = self.mu(x.reshape(x.shape[0], x.shape[1], -1))
        return (actions, []) if return_spikes else actions

    def forward(self, obs: PyTorchObs) -> th.Tensor:  # type: ignore[override]
        return self.mu(self._actor_input(obs).flatten(1))

    def _predict(self, observation: PyTorchObs, deterministic: bool = False) -> th.Tensor:
        return self.forward(observation)


def _splice(base: th.Tensor, rows_values: th.Tensor, rows: th.Tensor, dim: int) -> th.Tensor:
    """``base`` with the entries ``rows`` along ``dim`` replaced by ``rows_values`` (differentiable)."""
    return base.index_copy(dim, rows, rows_values)


def check_command_space(observation_space: spaces.Space, action_dim: int) -> None:
    """A ``"command"`` observation entry must hold one value per action.

    :raises ValueError: naming the key and both sizes.
    """
    if isinstance(observation_space, spaces.Dict) and COMMAND_KEY in observation_space.spaces:
        size = get_flattened_obs_dim(observation_space[COMMAND_KEY])
        if size != action_dim:
            raise ValueError(
                f"observation entry {COMMAND_KEY!r} (the command in force) has {size} values, the action {action_dim}"
            )


def check_box_action_dim(action_space: spaces.Space, owner: str) -> int:
    """The flat action dimension of a ``Box`` action space.

    :param owner: the class that needs it, for the message.
    :raises ValueError: for any other space.
    """
    if not isinstance(action_space, spaces.Box):
        raise ValueError(f"{owner} needs a Box action space, got {action_space}")
    return int(np.prod(action_space.shape))


def _check_readout(readout: str, readout_beta: float) -> None:
    if readout not in READOUTS:
        raise ValueError(f"readout must be one of {READOUTS}, got {readout!r}")
    if not 0.0 <= float(readout_beta) <= 1.0:
        raise ValueError(f"readout_beta must be in [0, 1], got {readout_beta}")


class SequencePolicy(TD3Policy):
    """Stateful actor + twin feed-forward critics, with an asymmetric (privileged) critic: what every
    GuidedTD3 policy shares. Subclasses build the actor (:meth:`make_actor`).

    * ``Box`` observation: actor and critics see the same vector.
    * ``Dict`` observation with keys ``"actor"`` and ``"privileged"``: the actor sees only
      ``obs["actor"]``, the critics (and the guide) see ``obs["privileged"]``.

    :meth:`predict` follows sb3-contrib's recurrent contract exactly:
    ``predict(obs, state, episode_start, deterministic) -> (action, state)``, the start state (zero; an action
    feedback from the observation's ``"command"``) when ``state`` is ``None``, state rows reset to it where
    ``episode_start`` is set. The state is a tuple of
    ``(n_envs, size)`` arrays, one per entry of the actor's ``state_sizes`` (empty for a stateless actor).

    :param net_arch: ``dict(pi=[256, 128], qf=[256, 256])`` (actor and critic layer sizes), or a
        list used for both.
    :param critic_layer_norm: ``LayerNorm`` after every hidden layer of the critics (RLPD, Ball et al.
        2023): bounds the critics' extrapolation to actions far from the replay data.
    :param critic_history: the critics read the last ``critic_history`` observations (oldest first, zeros before the
        episode's start; ``Box`` observations): a critic that needs no privileged state on a partially observed task.
        The windows hold the past steps, so nothing else is stored; needs ``critic_history − 1 ≤ n_warmup``.
    :param proxy_target: the critics' target policy is a stateless non-spiking
        :class:`~sb3_spiking.guided_td3.critics.ProxyActor` regressed onto the actor (arXiv 2505.24161),
        instead of the Polyak-averaged target actor.
    Other parameters: see :class:`stable_baselines3.td3.policies.TD3Policy`; the actor shares no
    features extractor (``share_features_extractor`` must be ``False``).
    """

    actor: SpikingActor | MlpSequenceActor  # type: ignore[assignment]
    actor_target: SpikingActor | MlpSequenceActor  # type: ignore[assignment]

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        critic_layer_norm: bool = False,
        proxy_target: bool = False,
        critic_history: int = 1,
    ):
        check_observation_space(observation_space)
        if int(critic_history) != critic_history or critic_history < 1:
            raise ValueError(f"critic_history must be an integer >= 1, got {critic_history!r}")
        if critic_history > 1 and not isinstance(observation_space, spaces.Box):
            raise ValueError("critic_history needs a Box observation (a Dict's privileged part is the critic's state)")
        self.critic_history = int(critic_history)
        if not isinstance(proxy_target, bool):
            raise ValueError(f"proxy_target must be true or false, got {proxy_target!r}")
        # read by make_critic and _build, which TD3Policy's constructor calls
        self.proxy_target = proxy_target
        check_box_action_dim(action_space, type(self).__name__)
        if share_features_extractor:
            raise ValueError(f"{type(self).__name__}: the sequence actor has no features extractor to share")
        self.critic_layer_norm = bool(critic_layer_norm)  # read by make_critic, which TD3Policy's constructor calls
        if features_extractor_class is None:
            is_dict = isinstance(observation_space, spaces.Dict)
            features_extractor_class = PrivilegedExtractor if is_dict else FlattenExtractor
        if net_arch is None:
            net_arch = dict(pi=[256, 128], qf=[256, 256])
        get_actor_critic_arch(net_arch)  # validates the format
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            n_critics=n_critics,
            share_features_extractor=False,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        if self.critic_layer_norm:  # files without it stay loadable by older versions
            data.update(critic_layer_norm=True)
        if self.proxy_target:
            data.update(proxy_target=True)
        if self.critic_history != 1:
            data.update(critic_history=self.critic_history)
        return data

    def _build(self, lr_schedule: Schedule) -> None:
        super()._build(lr_schedule)
        self.proxy: ProxyActor | None = None
        if self.proxy_target:
            self.proxy = ProxyActor(self.observation_space, self.action_space, self.critic_kwargs["net_arch"],
                                    features_extractor=(extractor := self.make_features_extractor()),
                                    features_dim=extractor.features_dim, activation_fn=self.critic_kwargs["activation_fn"],
                                    normalize_images=self.normalize_images).to(self.device)
            self.proxy.optimizer = self.optimizer_class(  # type: ignore[assignment]
                self.proxy.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
            )

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ContinuousCritic:
        if self.critic_history > 1:  # k stacked observations: its own extractor on that space
            low, high = self.observation_space.low.ravel(), self.observation_space.high.ravel()  # type: ignore[union-attr]
            stacked = spaces.Box(np.tile(low, self.critic_history), np.tile(high, self.critic_history))
            kwargs = dict(self.critic_kwargs, observation_space=stacked, features_extractor=FlattenExtractor(stacked),
                          features_dim=stacked.shape[0])
        else:
            kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        critic = ContinuousCritic(**kwargs).to(self.device)
        if not self.critic_layer_norm:
            return critic
        # LayerNorm after every hidden layer (RLPD, Ball et al. 2023): it bounds how far Q can extrapolate
        # to actions the buffer never holds, which is where an unanchored actor's gradient leads it
        in_dim = critic.features_extractor.features_dim + get_action_dim(self.action_space)
        for idx in range(len(critic.q_networks)):
            q_net = nn.Sequential(
                *create_mlp(in_dim, 1, self.critic_kwargs["net_arch"], self.critic_kwargs["activation_fn"],
                            post_linear_modules=[nn.LayerNorm])
            )
            critic.add_module(f"qf{idx}", q_net)
            critic.q_networks[idx] = q_net
        return critic.to(self.device)

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> BasePolicy:  # type: ignore[override]
        raise NotImplementedError(f"{type(self).__name__} must build its actor (make_actor)")

    @property
    def slope(self) -> float | None:
        """Current surrogate slope of the actor; ``None`` for an actor that does not spike."""
        return None

    def set_slope(self, slope: float) -> None:
        raise TypeError(f"{type(self).__name__} has no surrogate slope to set (its actor does not spike)")

    def initial_state(self, n_envs: int) -> State:
        """Zero hidden state for ``n_envs`` environments (numpy, as ``predict`` returns it)."""
        return tuple(np.zeros((n_envs, h), dtype=np.float32) for h in self.actor.state_sizes)

    def with_executed_action(self, state: State, action: np.ndarray) -> State:
        """``state`` (from :meth:`predict`) after ``action`` (in the action space's units) was executed
        instead of the predicted one, e.g. by a guide: an actor with action feedback remembers the
        executed command; any other state is returned unchanged."""
        if not getattr(getattr(self.actor, "net", None), "feedback", None):
            return state
        scaled = self.scale_action(np.asarray(action, dtype=np.float32).reshape(-1, *self.action_space.shape))
        command = th.as_tensor(np.clip(scaled, -1.0, 1.0), dtype=th.float32).reshape(scaled.shape[0], -1)
        new = self.actor.with_last_command(tuple(th.as_tensor(s) for s in state), command)
        return tuple(s.cpu().numpy() for s in new)

    def predict(  # type: ignore[override]
        self,
        observation: np.ndarray | dict[str, np.ndarray],
        state: State | None = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, State]:
        """One control step with hidden state (sb3-contrib recurrent contract).

        :param observation: observation(s), batched over envs or single.
        :param state: previous state from ``predict`` (``None`` = the start state: zero, an action feedback holding
            the observation's ``"command"`` where it has one, :meth:`SpikingActor.start_state`).
        :param episode_start: ``(n_envs,)`` flags; where set, the state is reset to the start state first.
        :param deterministic: ignored (the TD3 actor is deterministic; exploration noise is added
            by the algorithm during training only).
        :return: action(s) in the action space's bounds and the new state.
        """
        return _predict_with_state(self, self.actor, observation, state, episode_start)


class SpikingPolicy(SequencePolicy):
    """:class:`SequencePolicy` with the spiking actor (:class:`SpikingActor`).

    The state is a tuple with one ``(n_envs, hidden_i)`` membrane array per LIF layer (and
    ``(n_envs, action_dim)`` for the leaky readout's membrane).

    :param net_arch: ``dict(pi=[256, 128], qf=[256, 256])`` (LIF sizes and critic MLP sizes), or a
        list used for both.
    :param slope: initial surrogate slope of the actor.
    :param readout: ``"linear"`` (the paper's: ``tanh(W s + b)`` of the last layer's spikes) or
        ``"leaky"`` (leaky-integrator output neurons, smooth actions), see
        :class:`~sb3_spiking.neurons.SpikingMLP`.
    :param readout_beta: initial leak of the leaky readout (learned per action).
    :param lif_reset: reset of the actor's LIF layers: ``"subtract"`` (the paper's) or ``"zero"``
        (NIR's LIF, so that the exported NIR graph runs identically in snnTorch and Norse).
    :param neuron: hidden neuron type, ``"lif"`` (default), ``"recurrent"``, ``"synaptic"`` or
        ``"adaptive"``, or a list with one per layer (:mod:`sb3_spiking.memory_neurons`).
    :param feedback: the actor's own command fed back into its first layer through leaky traces
        (:class:`~sb3_spiking.memory_neurons.ActionFeedback`): the memory of the commands that a
        plant with lagging actuators needs, kept in the network's state instead of the input.
    :param feedback_decays: initial decays of those traces (learned).
    Other parameters: see :class:`SequencePolicy`.
    """

    actor: SpikingActor  # type: ignore[assignment]
    actor_target: SpikingActor  # type: ignore[assignment]
    #: the actor class built by :meth:`make_actor` (a subclass keeps the constructor's arguments)
    actor_class: type[SpikingActor] = SpikingActor

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        critic_layer_norm: bool = False,
        proxy_target: bool = False,
        critic_history: int = 1,
        slope: float = 2.0,
        readout: str = "linear",
        readout_beta: float = 0.5,
        lif_reset: str = "subtract",
        neuron: str | list[str] = "lif",
        feedback: bool = False,
        feedback_decays: tuple[float, ...] | list[float] = DEFAULT_FEEDBACK_DECAYS,
    ):
        _check_readout(readout, readout_beta)
        if lif_reset not in RESETS:
            raise ValueError(f"lif_reset must be one of {RESETS}, got {lif_reset!r}")
        # checked here, before the networks are built: a clear error naming the key
        pi_arch = get_actor_critic_arch(net_arch if net_arch is not None else dict(pi=[256, 128], qf=[256, 256]))[0]
        layer_types(neuron, len(pi_arch))
        if not isinstance(feedback, bool):
            raise ValueError(f"feedback must be true or false, got {feedback!r}")
        if not feedback and tuple(float(d) for d in feedback_decays) != DEFAULT_FEEDBACK_DECAYS:
            raise ValueError("feedback_decays is an option of the action feedback: set feedback: true with it")
        self._memory = dict(neuron=neuron if isinstance(neuron, str) else list(neuron), feedback=feedback,
                            feedback_decays=[float(d) for d in feedback_decays])
        # read by make_actor, which TD3Policy's constructor calls
        self._readout, self._readout_beta = readout, float(readout_beta)
        self._lif_reset = lif_reset
        self._initial_slope = check_slope(slope)
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            n_critics=n_critics,
            share_features_extractor=share_features_extractor,
            critic_layer_norm=critic_layer_norm,
            proxy_target=proxy_target,
            critic_history=critic_history,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        data = super()._get_constructor_parameters()
        data.update(slope=self._initial_slope)
        if self._readout != "linear":  # files of the linear readout stay loadable by older versions
            data.update(readout=self._readout, readout_beta=self._readout_beta)
        if self._lif_reset != "subtract":
            data.update(lif_reset=self._lif_reset)
        data.update(memory_kwargs(**self._memory))
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> SpikingActor:  # type: ignore[override]
        return self.actor_class(
            self.observation_space,
            self.action_space,  # type: ignore[arg-type]
            net_arch=self.net_args["net_arch"],
            slope=self._initial_slope,
            readout=self._readout,
            readout_beta=self._readout_beta,
            lif_reset=self._lif_reset,
            **self._memory,
            normalize_images=self.normalize_images,  # scaled as the critics' input
        ).to(self.device)

    @property
    def slope(self) -> float:
        """Current surrogate slope of the actor."""
        return self.actor.slope

    def set_slope(self, slope: float) -> None:
        """Set the surrogate slope of actor *and* target actor (polyak updates skip buffers)."""
        self.actor.set_slope(slope)
        self.actor_target.set_slope(slope)


class MlpSequencePolicy(SequencePolicy):
    """:class:`SequencePolicy` with a non-spiking MLP actor (:class:`MlpSequenceActor`).

    The baseline of the paper's controller comparison: same critics, same algorithm, same
    ``predict`` contract (the state is the empty tuple). It has no surrogate slope (``slope`` is
    ``None``, :meth:`set_slope` raises ``TypeError``); a slope *schedule* is refused by GuidedTD3.

    :param slope: accepted (validated) and ignored: GuidedTD3 passes its ``slope`` argument to every
        policy, so that its arguments stay the same for both actors.
    :param readout: accepted (validated) and ignored, with ``readout_beta``: a config written for
        the spiking actor (e.g. ``readout: leaky`` in its ``policy_kwargs``) runs, and its saved
        models load, with this policy too.
    Other parameters: see :class:`SequencePolicy`.
    """

    actor: MlpSequenceActor  # type: ignore[assignment]
    actor_target: MlpSequenceActor  # type: ignore[assignment]

    def __init__(
        self,
        observation_space: spaces.Space,
        action_space: spaces.Box,
        lr_schedule: Schedule,
        net_arch: list[int] | dict[str, list[int]] | None = None,
        activation_fn: type[nn.Module] = nn.ReLU,
        features_extractor_class: type[BaseFeaturesExtractor] | None = None,
        features_extractor_kwargs: dict[str, Any] | None = None,
        normalize_images: bool = False,
        optimizer_class: type[th.optim.Optimizer] = th.optim.Adam,
        optimizer_kwargs: dict[str, Any] | None = None,
        n_critics: int = 2,
        share_features_extractor: bool = False,
        critic_layer_norm: bool = False,
        proxy_target: bool = False,
        critic_history: int = 1,
        slope: float = 2.0,
        readout: str = "linear",
        readout_beta: float = 0.5,
    ):
        _check_readout(readout, readout_beta)
        self._ignored = dict(slope=check_slope(slope), readout=readout, readout_beta=float(readout_beta))
        super().__init__(
            observation_space,
            action_space,
            lr_schedule,
            net_arch=net_arch,
            activation_fn=activation_fn,
            features_extractor_class=features_extractor_class,
            features_extractor_kwargs=features_extractor_kwargs,
            normalize_images=normalize_images,
            optimizer_class=optimizer_class,
            optimizer_kwargs=optimizer_kwargs,
            n_critics=n_critics,
            share_features_extractor=share_features_extractor,
            critic_layer_norm=critic_layer_norm,
            proxy_target=proxy_target,
            critic_history=critic_history,
        )

    def _get_constructor_parameters(self) -> dict[str, Any]:
        # the ignored options as given, so that a policy saved on its own is rebuilt with the same call
        data = super()._get_constructor_parameters()
        data.update(slope=self._ignored["slope"])
        if self._ignored["readout"] != "linear":
            data.update(readout=self._ignored["readout"], readout_beta=self._ignored["readout_beta"])
        return data

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> MlpSequenceActor:  # type: ignore[override]
        return MlpSequenceActor(
            self.observation_space,
            self.action_space,  # type: ignore[arg-type]
            net_arch=self.net_args["net_arch"],
            activation_fn=self.net_args["activation_fn"],
            normalize_images=self.normalize_images,  # scaled as the critics' input
        ).to(self.device)


__all__ = [
    "ACTOR_KEY",
    "PRIVILEGED_KEY",
    "MlpSequenceActor",
    "MlpSequencePolicy",
    "PrivilegedExtractor",
    "SequencePolicy",
    "SpikingActor",
    "SpikingPolicy",
    "check_box_action_dim",
]
