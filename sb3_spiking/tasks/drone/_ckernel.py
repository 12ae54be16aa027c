"""Compile and load the C task kernel (``_task_kernel.c``) with the system C compiler, via ctypes.

The per-step task logic costs about 45 numpy calls (~1 us each), as much as simulating 64 drones;
in C it is one call. The shared library is built once per source version into
``$SB3_SPIKING_CACHE`` (default ``~/.cache/sb3_spiking``) with ``$CC`` (default ``cc``; l2f itself
needs a C++ compiler to install), see :mod:`sb3_spiking._cbuild`. Without a compiler, or with
``SB3_SPIKING_NO_CKERNEL=1``, the task falls back to its numpy implementation (same semantics;
rewards can differ in the last bits).
"""

from __future__ import annotations

import ctypes
import functools
from pathlib import Path

from sb3_spiking._cbuild import load

SOURCE = Path(__file__).with_name("_task_kernel.c")

_P = ctypes.c_void_p


class TaskStruct(ctypes.Structure):
    """Mirror of ``Task`` in ``_task_kernel.c``."""

    _fields_ = [
        ("n_rows", ctypes.c_int64),
        ("n_real", ctypes.c_int64),
        ("priv_dim", ctypes.c_int64),
        ("actor_dim", ctypes.c_int64),
        ("history", ctypes.c_int64),
        ("actor_history", ctypes.c_int64),
        ("max_steps", ctypes.c_int64),
        ("obs82", _P),
        ("actions", _P),
        ("rpm", _P),
        ("decay_rise", _P),
        ("decay_fall", _P),
        ("hover", _P),
        ("priv", _P),
        ("actor", _P),
        ("reward", _P),
        ("terminated", _P),
        ("truncated", _P),
        ("done", _P),
        ("diverged", _P),
        ("warned", _P),
        ("steps", _P),
        ("ep_return", _P),
        ("ep_length", _P),
        ("limits", ctypes.c_float * 18),
        ("offset", ctypes.c_float * 18),
        ("c_rs", ctypes.c_double),
        ("c_rp", ctypes.c_double),
        ("c_rv", ctypes.c_double),
        ("c_rq", ctypes.c_double),
        ("c_ra", ctypes.c_double),
    ]


DIVERGED_FLAG = 1 << 40


@functools.lru_cache(maxsize=1)
def load_kernel() -> ctypes.CDLL | None:
    """The compiled kernel, or ``None`` (disabled, or no working compiler: logged once)."""
    lib = load(SOURCE, "task_kernel", "drone env task")
    if lib is None:
        return None
    ptr = ctypes.POINTER(TaskStruct)
    lib.task_pre.argtypes, lib.task_pre.restype = [ptr], ctypes.c_int64
    lib.task_post.argtypes, lib.task_post.restype = [ptr], ctypes.c_int64
    lib.task_reset.argtypes, lib.task_reset.restype = [ptr, _P], None
    return lib
