import os

# one torch thread: the machine has 2 cores and the l2f simulator's OpenMP threads fight torch's
os.environ.setdefault("OMP_NUM_THREADS", "1")

import gymnasium as gym  # noqa: E402
import pytest  # noqa: E402
import torch as th  # noqa: E402

th.set_num_threads(1)


@pytest.fixture
def pendulum():
    return gym.make("Pendulum-v1")


@pytest.fixture
def pendulum_novel():
    """Pendulum whose actor sees (cos θ, sin θ) only; critic and guide see the full state."""
    from sb3_spiking.envs.wrappers import PrivilegedSplit

    return PrivilegedSplit(gym.make("Pendulum-v1"), actor_indices=[0, 1])
