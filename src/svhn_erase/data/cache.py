"""Where a split's caches live (beside the split while its folder is writable, else in a
cache folder of their own) and what keys them (``files_state``).

The index (``digitStruct.index.csv`` and ``.json``) and the crop caches can be rebuilt from
the split at any time. They go, in this order of choice:

1. under the folder given by ``set_cache_root`` (the command line's ``--cache-dir``) or by the
   ``SVHN_ERASE_CACHE_DIR`` environment variable, when one is given;
2. beside the split (the index in the split folder, the crops in ``SPLIT/.svhn_erase_cache``)
   when the split folder is writable;
3. under the user's cache folder, ``$XDG_CACHE_HOME/svhn-erase`` (``~/.cache/svhn-erase``).

Under a cache root each split has a folder named after it and a hash of its absolute path.
A folder without any write permission bit counts as read-only even for root (datasets are
often marked read-only that way), so nothing is ever written into it.

A cache is valid only for the files it was built from: ``files_state`` hashes every image's
name, size and modification time, so a replaced or touched image invalidates it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

ENV = "SVHN_ERASE_CACHE_DIR"
CROPS_DIR = ".svhn_erase_cache"
_configured: Path | None = None


def set_cache_root(path: str | os.PathLike[str] | None) -> None:
    """Put every split's caches under ``path`` from now on (None: the default choice)."""
    global _configured
    _configured = Path(path) if path is not None else None


def configured_root() -> Path | None:
    """The cache root set by ``set_cache_root`` or ``SVHN_ERASE_CACHE_DIR``, if any."""
    if _configured is not None:
        return _configured
    env = os.environ.get(ENV)
    return Path(env) if env else None


def user_cache_root() -> Path:
    """``$XDG_CACHE_HOME/svhn-erase``, or ``~/.cache/svhn-erase``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "svhn-erase"


def writable(folder: Path) -> bool:
    """Whether ``folder`` may be written into: the process may write there and the folder
    has at least one write permission bit."""
    try:
        mode = folder.stat().st_mode
    except OSError:
        return False
    return bool(mode & 0o222) and os.access(folder, os.W_OK)


def _own_folder(split: Path) -> Path | None:
    """The split's folder under a cache root, or None when its caches go beside it."""
    root = configured_root()
    if root is None:
        if writable(split):
            return None
        root = user_cache_root()
    absolute = split.resolve()
    key = hashlib.sha256(os.fsencode(absolute)).hexdigest()[:16]
    return root / f"{absolute.name}-{key}"


def index_folder(split: Path) -> Path:
    """The folder for the split's index cache (the split itself when beside it)."""
    own = _own_folder(split)
    return split if own is None else own


def crops_folder(split: Path) -> Path:
    """The folder for the split's crop caches."""
    own = _own_folder(split)
    return split / CROPS_DIR if own is None else own / "crops"


def files_state(split: Path, files: Iterable[str]) -> str:
    """A hash of each file's name, size and modification time (-1 when it is missing): it
    changes whenever one of the files is replaced, touched, removed or restored."""
    digest = hashlib.sha256()
    for file in files:
        try:
            st = (split / file).stat()
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except (OSError, ValueError):  # missing, or a name no file can have
            stamp = "-1"
        digest.update(file.encode("utf-8", "surrogatepass") + f"\x00{stamp}\x00".encode())
    return digest.hexdigest()
