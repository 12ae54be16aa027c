"""Load the package's C kernel (the LIF layer's, a plain shared library called through ctypes).

An installed package has it built by ``pip install`` (``setup.py``; a compiler error fails the
install): :func:`installed` finds it next to its source. A source checkout used without installing
(``PYTHONPATH``) has none: :func:`load` then compiles it once per source version into
``$SB3_SPIKING_CACHE`` (default ``~/.cache/sb3_spiking``) with ``$CC`` (default ``cc``). The caller
has a pure torch fallback, used with ``SB3_SPIKING_NO_CKERNEL=1`` or when that first-use build fails
(logged as a warning).
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.machinery
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

#: no FMA contraction and no fast-math: the kernels repeat torch's / numpy's roundings exactly
FLAGS = ("-O2", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math")


def cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "sb3_spiking"
    return Path(os.environ.get("SB3_SPIKING_CACHE", default))


def kernels_disabled() -> bool:
    """``True`` when ``SB3_SPIKING_NO_CKERNEL`` is set (to anything but ``0``)."""
    return os.environ.get("SB3_SPIKING_NO_CKERNEL", "") not in ("", "0")


def build(source: Path, stem: str, cc: str | None = None, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile ``source`` into a cached shared library (keyed by source, compiler and flags)."""
    cc = cc or os.environ.get("CC", "cc")
    flags = (*FLAGS, *extra_flags)
    src = source.read_bytes()
    key = hashlib.sha1(src + " ".join((cc, *flags, sys.platform)).encode()).hexdigest()[:16]
    folder = cache_dir()
    lib = folder / f"{stem}_{key}.so"
    if not lib.exists():
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=folder)
        os.close(fd)
        try:
            subprocess.run([cc, *flags, "-o", tmp, str(source), "-lm"], check=True, capture_output=True, timeout=120)
            os.replace(tmp, lib)  # atomic: concurrent builders are safe
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return lib


def installed(source: Path) -> Path | None:
    """The library ``pip install`` built from ``source`` (``<stem><extension suffix>`` beside it), if any."""
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        lib = source.with_name(source.stem + suffix)
        if lib.is_file():
            return lib
    return None


def source_abi(source: Path) -> int | None:
    """``KERNEL_ABI`` as the C source defines it (``None`` if it does not)."""
    match = re.search(r"#define KERNEL_ABI (\d+)", source.read_text())
    return int(match.group(1)) if match else None


def _abi(lib: ctypes.CDLL) -> int | None:
    try:
        fn = lib.kernel_abi
    except AttributeError:  # built before the ABI number existed
        return None
    fn.restype = ctypes.c_int
    return int(fn())


def load(source: Path, stem: str, what: str, extra_flags: tuple[str, ...] = ()) -> ctypes.CDLL | None:
    """Load a kernel: the installed one, else built on first use; ``None`` when disabled or when that
    build fails (logged)."""
    if kernels_disabled():
        return None
    lib = installed(source)
    if lib is not None:
        loaded = ctypes.CDLL(str(lib))  # a broken installed library is an error, not a fallback
        if _abi(loaded) == source_abi(source):
            return loaded
        # e.g. an editable install whose source changed since `pip install`: its functions may take
        # other arguments now, so build the current source instead of calling it
        logger.warning("%s: the installed kernel %s is older than its source; building the source (reinstall to "
                       "update it)", what, lib)
    try:
        return ctypes.CDLL(str(build(source, stem, extra_flags=extra_flags)))
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "stderr", b"") or b""
        logger.warning(
            "%s: C kernel unavailable (%s %s); using the slower fallback", what, e, detail.decode(errors="replace")[:500]
        )
        return None
