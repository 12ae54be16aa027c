"""Efficiency of drone controllers on real drone flights: the spiking actor beside MLP actors.

The metrics themselves (NeuroBench definitions, Loihi energy) are the core's
:mod:`sb3_spiking.analysis.efficiency`; here they are measured on recorded drone rollouts.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch as th
from torch import nn

from sb3_spiking.analysis.efficiency import EfficiencyReport, make_mlp, mlp_efficiency, spiking_efficiency
from sb3_spiking.export.resolve import resolve_actor
from sb3_spiking.guided_td3 import GuidedTD3
from sb3_spiking.neurons import SpikingMLP
from sb3_spiking.tasks.drone import evaluation, rollouts


def trained_mlp_efficiency(path: str, name: str, n_episodes: int = 4, seed: int = 0) -> EfficiencyReport:
    """Efficiency of a trained non-spiking actor (a GuidedTD3 zip with ``MlpSequencePolicy``).

    The MLP flies ``n_episodes`` episodes itself (autonomously, protocol (b) on the initial states of
    :func:`sb3_spiking.tasks.drone.evaluation.fly` seeded ``seed``), so its activation sparsity and reward come from
    its own flights; the spiking actor's reward is measured on the same starts (:func:`drone_efficiency_table`).
    """
    model = GuidedTD3.load(path, device="cpu")
    mu = getattr(model.actor, "mu", None)
    if not isinstance(mu, nn.Sequential):
        raise ValueError(f"{path} does not hold an MLP actor (MlpSequencePolicy); got {type(model.actor).__name__}")
    flight = evaluation.fly(model, n_episodes=n_episodes, seed=seed, record=True)
    # the actor's inputs on the steps its episode was still running
    inputs = [obs["actor"][running] for obs, running in zip(flight.observations, flight.running)]
    data = f"trained MLP flying {n_episodes} episodes ({sum(len(x) for x in inputs)} steps)"
    history = mu[0].in_features - 18  # the drone actor's 18 values, then its past commands
    return mlp_efficiency(mu, np.concatenate(inputs), name=name, reward=flight.mean_return, data=data, history_values=history)


def drone_efficiency_table(
    model: Any = None, n_episodes: int = 4, seed: int = 0, max_episode_steps: int = 500,
    mlp: str | None = None, mlp_history: str | None = None,
) -> list[EfficiencyReport]:
    """Spiking actor vs MLP actors (18-64-64-4 and 146-64-64-4 with a 32-step action history),
    all measured on the same real drone rollouts.

    :param model: a trained spiking controller (GuidedTD3 model, policy or path to its zip). It flies
        the rollouts itself; its reward is its protocol (b) mean return on the starts the trained MLP rows
        fly. ``None``: an untrained 18-256-128-4 actor is fed the observations of PD-guide flights (no reward).
    :param n_episodes: rollouts to measure on.
    :param seed: seed of the first rollout (and of the untrained networks).
    :param max_episode_steps: truncation length of the rollouts.
    :param mlp: trained MLP actor without action history (GuidedTD3 zip, ``MlpSequencePolicy``);
        ``None``: an untrained 18-64-64-4 MLP on the SNN's observations (footprint and MACs exact,
        sparsity and reward not meaningful).
    :param mlp_history: the same for the MLP with a 32-step action history (146 inputs).
    """
    if isinstance(model, str):
        model = rollouts.load_actor(model)
    if model is None:
        th.manual_seed(seed)
        actor: Any = SpikingMLP(18, 4, (256, 128))
        episodes = rollouts.fly(actor, pilot="guide", n_episodes=n_episodes, seed=seed, max_episode_steps=max_episode_steps)
        reward, data = None, f"untrained SNN fed {n_episodes} PD-guide flights"
    else:
        actor = model
        episodes = rollouts.fly(actor, pilot="actor", n_episodes=n_episodes, seed=seed, max_episode_steps=max_episode_steps)
        # the reward: protocol (b) on the starts the trained MLPs fly (trained_mlp_efficiency), so the column is paired
        reward = evaluation.fly(model, n_episodes=n_episodes, seed=seed).mean_return
        data = f"trained SNN flying {n_episodes} episodes ({sum(e.length for e in episodes)} steps)"
    net = resolve_actor(actor)[0]
    arch = "-".join(str(h) for h in net.hidden)
    reports = [spiking_efficiency(actor, [e.actor_obs for e in episodes], name=f"SNN {arch} (ours)", reward=reward, data=data)]
    reports[0].state_bytes += 4 * (net.fcs[0].in_features - 18)  # past commands in its input (actor_history), if any
    obs = np.concatenate([e.actor_obs for e in episodes])
    # privileged layout: actor part (18), motor states (4), action history (32 x 4)
    history = np.concatenate([e.privileged_obs[:, 22 : 22 + 128] for e in episodes])
    mlp_data = f"untrained MLP, same {len(obs)} observations"
    if mlp is not None:
        reports.append(trained_mlp_efficiency(mlp, "MLP 64-64, no history (ours, trained)", n_episodes, seed))
    else:
        reports.append(mlp_efficiency(make_mlp(18, seed=seed), obs, name="MLP 64-64, no history (ours)", data=mlp_data))
    if mlp_history is not None:
        reports.append(trained_mlp_efficiency(mlp_history, "MLP 64-64 + action history (ours, trained)", n_episodes, seed))
    else:
        reports.append(
            mlp_efficiency(
                make_mlp(146, seed=seed),
                np.concatenate([obs, history], 1),
                name="MLP 64-64 + action history (ours)",
                data=mlp_data,
                history_values=128,
            )
        )
    return reports


__all__ = ["drone_efficiency_table", "trained_mlp_efficiency"]
