"""Scoped replacement of a module-level name of rl-zoo (or of a library it calls).

rl-zoo has no hook for some of what the CLI changes (the experiment manager class its ``train``
builds, the ``make_vec_env`` and ``optuna`` its manager calls, ``subprocess.call`` in
``record_training``, ``plt.show`` in its plots). Those names are swapped for one call only and put
back afterwards, also when the call raises; ``tests/test_zoo_canary.py`` fails when rl-zoo renames
one of them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def swapped(owner: Any, name: str, value: Any) -> Iterator[Any]:
    """Set ``owner.name`` to ``value`` inside the ``with`` block and restore it on the way out.

    :param owner: a module, class or object whose attribute is replaced.
    :param name: the attribute; it must exist (a renamed attribute fails here, not silently).
    :param value: the stand-in.
    :return: (as the ``with`` target) the original value.
    """
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield original
    finally:
        setattr(owner, name, original)


__all__ = ["swapped"]
