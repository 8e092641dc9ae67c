"""Image formats beyond Pillow's own: HEIF/HEIC, the format phones save photos in.

Importing this module registers pillow-heif's reader and writer with Pillow when the ``heif``
extra is installed (``pip install "svhn-erase[heif]"``); every reader (``data.split``, the
header reader ``digitstruct.pngsize``, the web app) and the writer (``atomic_io``) import it.
Without the extra a HEIC photo is refused with a message that says how to read it
(``missing_reader_hint``).
"""

from __future__ import annotations

import os
from pathlib import Path

HEIF_SUFFIXES = (".heic", ".heif", ".hif")


def _register_heif() -> bool:
    """Register pillow-heif with Pillow; False when it is not installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    register_heif_opener()
    return True


HEIF_READY = _register_heif()


def missing_reader_hint(path: str | os.PathLike[str]) -> str:
    """What to add to the error for a photo Pillow cannot identify: for a HEIC photo without
    the ``heif`` extra, how to read it; else nothing."""
    if not HEIF_READY and Path(str(path)).suffix.lower() in HEIF_SUFFIXES:
        return ('; HEIC/HEIF photos need the heif extra: pip install "svhn-erase[heif]" '
                "(or save the photo as JPEG)")
    return ""
