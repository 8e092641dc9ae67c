"""An image's size from its header alone (the index reads tens of thousands of them)."""

from __future__ import annotations

import os
import struct
from typing import BinaryIO

from svhn_erase import image_formats
from svhn_erase.errors import SvhnEraseError

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_ORIENTATION = 0x0112  # the EXIF tag
_SIDEWAYS = (5, 6, 7, 8)  # orientations turned a quarter


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of an image from its header only (PNG read directly, other formats
    through Pillow's lazy open), upright as its EXIF orientation says, as ``read_rgb`` reads
    it (a PNG's orientation is looked for before its pixels, where writers put it);
    ``SvhnEraseError`` naming the file if it is missing or not an image."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
            if len(head) == 24 and head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
                width, height = struct.unpack(">II", head[16:24])
                if not (width and height):
                    raise SvhnEraseError(f"{path}: PNG header gives an empty {width}x{height} "
                                         "image")
                fh.seek(9, os.SEEK_CUR)  # the rest of IHDR (5 bytes) and its checksum
                sideways = _png_orientation(fh) in _SIDEWAYS
                return (height, width) if sideways else (width, height)
    except FileNotFoundError as exc:
        raise SvhnEraseError(f"{path}: image file not found") from exc
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        raise SvhnEraseError(f"{path}: image does not read ({exc})") from exc
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
            if im.getexif().get(_ORIENTATION, 1) in _SIDEWAYS:  # read upright, as read_rgb
                width, height = height, width
    except Image.DecompressionBombError as exc:
        raise SvhnEraseError(f"{path}: image is too large to decode ({exc})") from exc
    except Exception as exc:  # Pillow raises many types for a damaged header
        raise SvhnEraseError(f"{path}: image does not decode ({type(exc).__name__}: "
                             f"{exc}){image_formats.missing_reader_hint(path)}") from exc
    if not (width and height):  # Pillow's stub formats (HDF5, FITS, ...) say 0 x 0
        raise SvhnEraseError(f"{path}: image does not decode (an empty {width}x{height} image)")
    return width, height


def _png_orientation(fh: BinaryIO) -> int:
    """The EXIF orientation of a PNG's ``eXIf`` chunk, read from just after ``IHDR`` up to the
    first ``IDAT``; 1 (upright) when there is none or it is unreadable."""
    while True:
        header = fh.read(8)
        if len(header) < 8:
            return 1
        length, kind = struct.unpack(">I", header[:4])[0], header[4:]
        if kind in (b"IDAT", b"IEND"):
            return 1
        if kind != b"eXIf":
            fh.seek(length + 4, os.SEEK_CUR)  # the chunk and its checksum
            continue
        from PIL import Image

        exif = Image.Exif()
        try:
            exif.load(fh.read(length))
        except Exception:  # a damaged eXIf chunk: read_rgb decides
            return 1
        return int(exif.get(_ORIENTATION, 1))
