"""Pictures of flights: a spiking controller vs the PD guide from the same initial state, and the
spiking actor's hidden-layer activity (raster and spike rate).

Everything is read from the actor observation (position error, row-major rotation matrix, linear
velocity, body rates) and the flown actions; motor commands are shown as set-points
``u = (a + 1) / 2`` of the maximum motor speed, the simulator's convention.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sb3_spiking.tasks.drone.rollouts import Episode

DT = 0.01  #: control period [s] (100 Hz)


def euler_angles(actor_obs: np.ndarray) -> np.ndarray:
    """Roll, pitch, yaw [rad] (ZYX convention) from the row-major rotation matrix in ``obs[:, 3:12]``."""
    R = np.asarray(actor_obs)[:, 3:12].reshape(-1, 3, 3)
    roll = np.arctan2(R[:, 2, 1], R[:, 2, 2])
    pitch = -np.arcsin(np.clip(R[:, 2, 0], -1.0, 1.0))
    yaw = np.arctan2(R[:, 1, 0], R[:, 0, 0])
    return np.stack([roll, pitch, yaw], axis=1)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_flight(flights: dict[str, Episode], path: str | Path, title: str = "") -> Path:
    """Position, attitude and motor commands vs time, one line style per controller.

    :param flights: label -> episode (e.g. ``{"SNN": ..., "PD guide": ...}``, same initial state).
    """
    plt = _plt()
    fig, axes = plt.subplots(3, 1, figsize=(9, 9), sharex=True)
    styles = ["-", "--", ":", "-."]
    colors = ["tab:red", "tab:green", "tab:blue", "tab:purple"]
    for (label, ep), ls in zip(flights.items(), styles):
        t = np.arange(ep.length) * DT
        att = np.degrees(euler_angles(ep.actor_obs))
        motors = (ep.actions + 1.0) / 2.0
        for i, axis in enumerate("xyz"):
            axes[0].plot(t, ep.actor_obs[:, i], ls, color=colors[i], label=f"{axis} ({label})")
        for i, name in enumerate(("roll", "pitch", "yaw")):
            axes[1].plot(t, att[:, i], ls, color=colors[i], label=f"{name} ({label})")
        for i in range(4):
            axes[2].plot(t, motors[:, i], ls, color=colors[i], lw=0.8, label=f"motor {i + 1} ({label})")
    axes[0].set_ylabel("position error [m]")
    axes[1].set_ylabel("attitude [deg]")
    axes[2].set_ylabel("motor set-point [0, 1]")
    axes[2].set_xlabel("time [s]")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2, loc="upper right")
    summary = ", ".join(f"{k}: return {e.ret:.0f} in {e.length} steps" for k, e in flights.items())
    fig.suptitle(f"{title}\n{summary}" if title else summary, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_path_3d(flights: dict[str, Episode], path: str | Path) -> Path:
    """3D path of each flight (start marked with a dot, target = origin with a star)."""
    plt = _plt()
    fig = plt.figure(figsize=(6, 6))
    ax = fig.add_subplot(projection="3d")
    for label, ep in flights.items():
        p = ep.actor_obs[:, :3]
        line = ax.plot(p[:, 0], p[:, 1], p[:, 2], label=label)[0]
        ax.scatter(*p[0], color=line.get_color(), s=20)
    ax.scatter(0, 0, 0, marker="*", color="k", s=80, label="target")
    ax.set_xlabel("x [m]")
    ax.set_ylabel("y [m]")
    ax.set_zlabel("z [m]")
    ax.legend()
    return _save(fig, path)


def plot_spikes(episode: Episode, path: str | Path, max_steps: int = 300, window: int = 10) -> Path:
    """Spike raster of every LIF layer (first ``max_steps`` steps) and the layers' spike rates.

    :param window: steps of the moving average of the spike rate.
    """
    if not episode.spikes:
        raise ValueError("the episode has no recorded spikes (fly it with a spiking actor)")
    plt = _plt()
    n = len(episode.spikes)
    fig, axes = plt.subplots(n + 1, 1, figsize=(9, 2.6 * (n + 1)), sharex=True)
    steps = min(max_steps, episode.length)
    t = np.arange(steps) * DT
    for i, (ax, s) in enumerate(zip(axes, episode.spikes)):
        tt, nn_ = np.nonzero(s[:steps])
        ax.scatter(tt * DT, nn_, s=0.5, marker="|", color="k")
        ax.set_ylabel(f"LIF layer {i + 1}\nneuron")
        ax.set_ylim(-0.5, s.shape[1] - 0.5)
        ax.set_title(f"layer {i + 1}: {s.shape[1]} neurons, mean rate {s.mean():.3f} spikes/step", fontsize=9)
    kernel = np.ones(window) / window
    for i, s in enumerate(episode.spikes):
        rate = np.convolve(s[:steps].mean(1), kernel, mode="same")
        axes[-1].plot(t, rate, label=f"layer {i + 1}")
    axes[-1].set_ylabel(f"spike rate\n({window}-step mean)")
    axes[-1].set_xlabel("time [s]")
    axes[-1].legend(fontsize=8)
    axes[-1].grid(alpha=0.3)
    fig.tight_layout()
    return _save(fig, path)


def _save(fig, path: str | Path) -> Path:
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def flight_pictures(model=None, out_dir: str | Path = "runs/pictures", seed: int = 0, max_episode_steps: int = 500) -> list[Path]:
    """Fly the spiking controller and the PD guide from the same initial state and draw everything.

    :param model: trained spiking controller (GuidedTD3 model / policy / actor, or a zip path).
        ``None``: an untrained 18-256-128-4 actor rides along on the guide's flight (its actions
        are not flown; the raster then shows how it responds to real flight data).
    :return: paths of ``flight.png``, ``path3d.png`` and ``spikes.png``.
    """
    import torch as th

    from sb3_spiking.neurons import SpikingMLP
    from sb3_spiking.tasks.drone.rollouts import fly, load_actor

    out = Path(out_dir)
    if isinstance(model, str):
        model = load_actor(model)
    (guide_ep,) = fly(None, pilot="guide", n_episodes=1, seed=seed, max_episode_steps=max_episode_steps)
    if model is None:
        th.manual_seed(seed)
        (rider,) = fly(SpikingMLP(18, 4, (256, 128)), pilot="guide", n_episodes=1, seed=seed, max_episode_steps=max_episode_steps)
        flights, spiking, title = {"PD guide": guide_ep}, rider, "PD guide (untrained SNN riding along: spikes only)"
    else:
        (snn_ep,) = fly(model, pilot="actor", n_episodes=1, seed=seed, max_episode_steps=max_episode_steps)
        flights, spiking, title = {"SNN": snn_ep, "PD guide": guide_ep}, snn_ep, "spiking controller vs PD guide"
    return [
        plot_flight(flights, out / "flight.png", title=title),
        plot_path_3d(flights, out / "path3d.png"),
        plot_spikes(spiking, out / "spikes.png"),
    ]


__all__: Sequence[str] = ["euler_angles", "flight_pictures", "plot_flight", "plot_path_3d", "plot_spikes"]
