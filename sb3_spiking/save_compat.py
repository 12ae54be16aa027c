"""Version records in saved models, and a clear refusal of files this version cannot read.

Every model sb3_spiking saves records, in the zip's ``data`` entry, the package version that wrote
it (``sb3_spiking_version``) and the *format version* (``sb3_spiking_format``): an integer bumped
only when what a saved model contains changes incompatibly (renamed attributes, new buffers without
defaults, …). Before ``load`` unpickles anything it reads these two plain JSON fields and refuses a
format outside :data:`READABLE_FORMATS` with :class:`IncompatibleModelError`, naming both versions
and what to do. Files saved before versions were recorded (sb3_spiking 0.1.0) are format 1.

Trust: SB3 stores most of ``data`` (schedules, spaces, action noise, the policy class) as
cloudpickle, and replay buffers as pickle, so ``load`` / ``load_replay_buffer`` run code from the
file. Load only files you made. SB3 (≥ 2.3) already reads the tensors (``*.pth``) with
``torch.load(weights_only=True)``; :func:`load_weights_only` loads *only* those into a model you
build yourself, which never unpickles the file's ``data``.
"""

from __future__ import annotations

import io
import json
import os
import pathlib
import zipfile
from typing import IO, Any, TypeVar

from sb3_spiking._version import __version__

#: format written by this version
FORMAT_VERSION = 1
#: formats this version reads (extend when a migration for an older format exists)
READABLE_FORMATS = range(1, FORMAT_VERSION + 1)
#: keys added to a saved model's ``data``
VERSION_KEY, FORMAT_KEY = "sb3_spiking_version", "sb3_spiking_format"
#: what a file without version records was written by
UNVERSIONED = "0.1.0 or earlier (no version recorded)"

SelfVersioned = TypeVar("SelfVersioned", bound="VersionedSaveMixin")


class IncompatibleModelError(ValueError):
    """A saved model was written in a format this sb3_spiking version cannot read."""


def package_version() -> str:
    """The installed sb3_spiking version (:mod:`sb3_spiking._version`)."""
    return __version__


def _open_zip_source(path: str | os.PathLike | IO[bytes]) -> IO[bytes] | str:
    """What SB3's ``load`` would open: a file object as is, a path with ``.zip`` appended if needed."""
    if isinstance(path, (io.BufferedIOBase, io.RawIOBase)) or hasattr(path, "read"):
        return path  # type: ignore[return-value]
    text = os.fspath(path)
    if not os.path.exists(text) and os.path.exists(text + ".zip"):
        text += ".zip"
    return text


def read_saved_versions(path: str | os.PathLike | IO[bytes]) -> tuple[str | None, int | None]:
    """``(package version, format version)`` recorded in a saved model, ``None`` where absent.

    Reads the ``data`` entry as plain JSON without deserialising any pickled value. A file
    object is rewound to where it was.
    """
    source = _open_zip_source(path)
    start = source.tell() if not isinstance(source, str) else None
    try:
        with zipfile.ZipFile(source) as archive:
            if "data" not in archive.namelist():
                return None, None
            data = json.loads(archive.read("data").decode())
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path} is not a saved model (not a zip file)") from e
    finally:
        if start is not None:
            source.seek(start)  # type: ignore[union-attr]
    version, fmt = data.get(VERSION_KEY), data.get(FORMAT_KEY)
    return (str(version) if version is not None else None), (int(fmt) if fmt is not None else None)


def check_saved_version(path: str | os.PathLike | IO[bytes], what: str = "model") -> None:
    """Raise :class:`IncompatibleModelError` if ``path`` was saved in a format this version cannot read.

    :param path: a saved model zip (path, path without ``.zip``, or binary file object).
    :param what: name used in the message.
    """
    saved_version, saved_format = read_saved_versions(path)
    check_format(saved_version, saved_format, f"{what} {path}" if isinstance(path, (str, os.PathLike)) else what)


def check_format(saved_version: str | None, saved_format: int | None, what: str) -> None:
    """The check behind :func:`check_saved_version`, for version records read elsewhere (checkpoints)."""
    fmt = 1 if saved_format is None else saved_format
    if fmt in READABLE_FORMATS:
        return
    first, last = READABLE_FORMATS.start, READABLE_FORMATS.stop - 1
    ours = f"sb3_spiking {package_version()} (reads format {first if first == last else f'{first}–{last}'})"
    theirs = f"sb3_spiking {saved_version or UNVERSIONED} (format {fmt})"
    if fmt > FORMAT_VERSION:
        advice = f"upgrade: pip install 'sb3_spiking>={saved_version}'" if saved_version else "upgrade sb3_spiking"
    else:
        advice = (
            f"load it with the version that wrote it (pip install 'sb3_spiking=={saved_version}') and retrain, "
            "or build the model from its config and copy the weights with sb3_spiking.save_compat.load_weights_only"
        )
    raise IncompatibleModelError(f"{what} was saved by {theirs}; this is {ours}: {advice}")


class VersionedSaveMixin:
    """Records the version in ``save`` and checks it in ``load`` (put it before the SB3 base class).

    ``class GuidedTD3(VersionedSaveMixin, TD3)`` is all an algorithm needs.
    """

    def save(self, path: str | pathlib.Path | io.BufferedIOBase, exclude: Any = None, include: Any = None) -> None:
        # instance attributes end up in the zip's ``data`` (SB3 saves ``__dict__``)
        setattr(self, VERSION_KEY, package_version())
        setattr(self, FORMAT_KEY, FORMAT_VERSION)
        super().save(path, exclude=exclude, include=include)  # type: ignore[misc]

    @classmethod
    def load(cls: type[SelfVersioned], path: str | pathlib.Path | io.BufferedIOBase, *args: Any, **kwargs: Any) -> SelfVersioned:
        check_saved_version(path)  # before anything in the file is unpickled
        model = super().load(path, *args, **kwargs)  # type: ignore[misc]
        # the loaded object is now this version's: a later save records this version
        setattr(model, VERSION_KEY, package_version())
        setattr(model, FORMAT_KEY, FORMAT_VERSION)
        return model


def load_weights_only(model: Any, path: str | os.PathLike | IO[bytes], exact_match: bool = True) -> Any:
    """Copy the weights of a saved zip into ``model`` without unpickling the file's ``data``.

    For files you did not make: build ``model`` from its config, then call this. Only the
    ``*.pth`` entries are read, with ``torch.load(weights_only=True)`` (SB3's ``set_parameters``),
    which refuses anything but tensors and plain containers.

    :param model: an SB3 algorithm with the same architecture as the saved one.
    :param path: the saved zip.
    :param exact_match: every module of ``model`` must be in the file (SB3's meaning).
    :return: ``model``.
    """
    model.set_parameters(_open_zip_source(path), exact_match=exact_match)
    return model


__all__ = [
    "FORMAT_KEY",
    "FORMAT_VERSION",
    "READABLE_FORMATS",
    "VERSION_KEY",
    "IncompatibleModelError",
    "VersionedSaveMixin",
    "check_format",
    "check_saved_version",
    "load_weights_only",
    "package_version",
    "read_saved_versions",
]
