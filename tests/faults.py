"""Ways to damage an image file, for the tests of damaged inputs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from PIL import Image


def truncated(data: bytes) -> bytes:
    """The first half of the file."""
    return data[: len(data) // 2]


def bit_flipped(data: bytes) -> bytes:
    """One bit of a PNG's zlib header flipped: the header check fails."""
    at = data.index(b"IDAT") + 4
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def bomb_header(data: bytes, width: int = 20000, height: int = 20000) -> bytes:
    """A PNG whose header says ``width`` x ``height`` (checksum fixed): 400 megapixels to
    decode by default."""
    head = bytearray(data)
    head[16:24] = struct.pack(">II", width, height)
    head[29:33] = struct.pack(">I", zlib.crc32(bytes(head[12:29])))
    return bytes(head)


def bomb_png(path: Path) -> Path:
    """Write a tiny PNG whose header says 20000 x 20000 to ``path``."""
    Image.new("RGB", (8, 8)).save(path)
    path.write_bytes(bomb_header(path.read_bytes()))
    return path


CORRUPTIONS = {
    "truncated": truncated,
    "bit-flipped": bit_flipped,
    "bomb header": bomb_header,
    "zero bytes": lambda data: b"",
    "not an image": lambda data: b"this is not an image\n" * 10,
}
