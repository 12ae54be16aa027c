"""Keep freed memory in the process (glibc ``mallopt``), so sequence updates stop page-faulting.

A full-graph sequence update allocates tens of MB of (time × batch × neurons) tensors and frees
them again. With glibc's defaults, blocks that size are returned to the OS on free (``munmap`` or
heap trimming) and every update maps and zero-fills them afresh: tens of thousands of page faults
per update, measured at ~30 % of a full-graph actor update on this project's CPU machine
(docs/performance.md). Raising the mmap and trim thresholds keeps that memory mapped for reuse.

The setting is process-wide: the process keeps up to ``trim_threshold`` bytes of freed memory
instead of returning it (its peak memory is unchanged). It is therefore opt-in, and a setting of the
process rather than of a model: call :func:`keep_freed_memory` in a training script, or set
``SB3_SPIKING_KEEP_FREED_MEMORY=1`` (:data:`SWITCH`) for the zoo, which applies it on CPU
(:func:`keep_freed_memory_if_requested`; ``sb3-spiking train --keep-freed-memory`` and a zoo
config's ``keep_freed_memory: true`` set the same switch; the drone configs do). Never when
``SB3_SPIKING_NO_MALLOPT=1``; elsewhere (musl, macOS, Windows) it does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: environment variable that asks for :func:`keep_freed_memory` ("1"); the zoo applies it on CPU
SWITCH = "SB3_SPIKING_KEEP_FREED_MEMORY"
_applied = False


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Serve allocations below ``mmap_threshold`` bytes from the heap and return freed heap memory
    to the OS only beyond ``trim_threshold`` bytes. Idempotent. (glibc caps ``mmap_threshold`` at
    32 MiB on 64-bit systems: a (100 × 256 × 256) float32 sequence tensor is 26 MB.)

    :return: ``True`` if glibc accepted the settings (now or before), else ``False``.
    """
    global _applied
    if _applied:
        return True
    if os.environ.get("SB3_SPIKING_NO_MALLOPT", "") not in ("", "0") or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    _applied = bool(mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))) and bool(mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    return _applied


def requested() -> bool:
    """Whether the process asked for :func:`keep_freed_memory` (``SB3_SPIKING_KEEP_FREED_MEMORY=1``)."""
    return os.environ.get(SWITCH, "") not in ("", "0")


def request_keep_freed_memory() -> None:
    """Turn the switch on for this process and the processes it starts (what the zoo's CLI flag and config key do)."""
    os.environ[SWITCH] = "1"


def keep_freed_memory_if_requested() -> bool:
    """Apply :func:`keep_freed_memory` when :func:`requested`; returns whether the setting is in force."""
    return keep_freed_memory() if requested() else _applied


__all__ = ["SWITCH", "keep_freed_memory", "keep_freed_memory_if_requested", "request_keep_freed_memory", "requested"]
