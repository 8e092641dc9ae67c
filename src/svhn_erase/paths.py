"""Paths: the one type alias for a path argument (a ``str`` or anything ``os.fspath``
takes) and ``make_folder``, an output folder made ready before a command's work."""

from __future__ import annotations

import os
from pathlib import Path

from svhn_erase.atomic_io import probe_folder
from svhn_erase.errors import SvhnEraseError

PathLike = str | os.PathLike[str]


def make_folder(folder: PathLike) -> Path:
    """``folder`` created (with its parents) if missing and checked to take a new file, as a
    Path; otherwise a ``SvhnEraseError`` naming it (a file in the way, no permission, a
    read-only disk), so that a command refuses at its start in one line, not at its end with
    a traceback. The check's file has no name and leaves nothing behind."""
    folder = Path(folder)
    for path in (folder, *folder.parents):
        if path.exists():
            if not path.is_dir():
                where = "" if path == folder else f"{path} "
                raise SvhnEraseError(f"{folder}: {where}is a file, not a folder")
            break
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe_folder(folder)
    except OSError as exc:
        raise SvhnEraseError(f"{folder}: cannot make or write in this folder "
                             f"({exc.strerror or exc})") from exc
    return folder
