"""The package version: from the installed distribution's metadata, else from the source tree's ``pyproject.toml``.

One place for it, imported by the package and by :mod:`sb3_spiking.save_compat` (which records it in saved files).
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

#: the distribution name in ``pyproject.toml``
DISTRIBUTION = "sb3_spiking"


def _source_tree_version() -> str:
    """``[project] version`` of the checkout this package lies in (no metadata: never installed); ``0+unknown``
    when there is none to read."""
    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        text = pyproject.read_text()
    except OSError:
        return "0+unknown"
    # a regular expression rather than tomllib: Python 3.10 has no TOML reader
    found = re.search(r'^\[project\][^\[]*?^version\s*=\s*"([^"]+)"', text, re.MULTILINE | re.DOTALL)
    return found.group(1) if found else "0+unknown"


def read_version() -> str:
    """The installed version (``importlib.metadata``), or the source tree's for a checkout without metadata."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return _source_tree_version()


__version__ = read_version()

__all__ = ["DISTRIBUTION", "__version__", "read_version"]
