"""Keep l2f's OpenMP loops at a fixed thread count without touching torch's setting.

l2f and torch both link ``libgomp.so.1``; the dynamic loader resolves the shared soname to a single
runtime, so ``torch.set_num_threads(k)`` (which calls ``omp_set_num_threads``) also sizes every
``#pragma omp parallel for`` inside l2f. On a small or busy machine a team of 2 OpenMP threads
stalls at each barrier whenever one core is taken by another process: measured 5.8x slower
stepping (N=64) with one competing busy process. :class:`OmpThreads` sets the calling thread's
``nthreads`` ICV for the duration of the simulator calls and restores it afterwards, so torch keeps
its own thread count. Without a loadable libgomp (other OpenMP runtimes) it is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util


def _load_libgomp() -> ctypes.CDLL | None:
    # dlopen of an already loaded soname returns that same instance (the one l2f uses)
    for name in ("libgomp.so.1", ctypes.util.find_library("gomp")):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            lib.omp_get_max_threads.restype = ctypes.c_int
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            return lib
        except (OSError, AttributeError):
            continue
    return None


_GOMP = _load_libgomp()


class OmpThreads:
    """Set the OpenMP thread count of the calling thread around a block of simulator calls.

    :param n_threads: threads for l2f's parallel loops; ``None`` leaves the process setting alone.

    Use :meth:`enter` / :meth:`exit` (two cheap ctypes calls) rather than ``with`` in hot loops.
    """

    def __init__(self, n_threads: int | None) -> None:
        if n_threads is not None and n_threads < 1:
            raise ValueError(f"sim_threads must be >= 1 or None, got {n_threads}")
        self.n_threads = n_threads if _GOMP is not None else None
        self._saved = 0

    def enter(self) -> None:
        if self.n_threads is not None:
            self._saved = _GOMP.omp_get_max_threads()
            if self._saved != self.n_threads:
                _GOMP.omp_set_num_threads(self.n_threads)

    def exit(self) -> None:
        if self.n_threads is not None and self._saved != self.n_threads:
            _GOMP.omp_set_num_threads(self._saved)

    def __enter__(self) -> OmpThreads:
        self.enter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.exit()


def omp_max_threads() -> int | None:
    """Current ``omp_get_max_threads()`` of the calling thread (``None`` without libgomp)."""
    return None if _GOMP is None else int(_GOMP.omp_get_max_threads())
