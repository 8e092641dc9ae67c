"""A Format 1 split on disk: its digit table, its parent images and, if present, ground truth.

A split is a folder ``ROOT/NAME/`` holding ``1.png ... N.png`` and ``digitStruct.mat``; a
split with ground truth also has ``groundtruth/N_clean.png`` and ``groundtruth/N_mask.png``
(SPEC §3). Every command that takes ``--data DIR --split NAME`` goes through here.

Every image is decoded through ``open_image``: an image over the pixel limit
(``max_pixels``: 50 megapixels unless ``SVHN_ERASE_MAX_PIXELS`` says otherwise) is refused
from its header, before any pixel is decoded, and whatever Pillow raises for a damaged file
becomes a ``SvhnEraseError`` naming it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, NamedTuple

import numpy as np
import pandas as pd
from PIL import Image, ImageOps

from svhn_erase import image_formats
from svhn_erase.errors import SvhnEraseError

log = logging.getLogger(__name__)

MAX_PIXELS_ENV = "SVHN_ERASE_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 50_000_000
_ORIENTATION = 0x0112  # the EXIF tag


@dataclass
class Parent:
    """One parent image with its digit boxes (clipped, ``left, top, width, height``)."""

    file: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    boxes: np.ndarray  # (k, 4) int: left, top, width, height
    labels: np.ndarray  # (k,) int, 0..9
    profile: bytes | None = None  # the photo's RGB colour profile, for its outputs (rgb_profile)
    alpha: np.ndarray | None = None  # (H, W) uint8 transparency, for its outputs (upright_rgba)


class Photo(NamedTuple):
    """A photo as ``read_photo`` reads it: the pixels the removal sees and what its outputs
    carry on (``atomic_io.write_image(..., icc_profile=, alpha=)``)."""

    pixels: np.ndarray  # (H, W, 3) uint8 RGB
    profile: bytes | None  # its RGB colour profile (rgb_profile)
    alpha: np.ndarray | None  # (H, W) uint8 transparency; None for an opaque photo


def split_dir(root: str | os.PathLike[str], name: str) -> Path:
    """``root/name``, or a clear error if that folder or its digitStruct.mat is missing."""
    path = Path(root) / name
    if not path.is_dir():
        raise SvhnEraseError(f"{path}: split folder not found")
    if not (path / "digitStruct.mat").is_file():
        raise SvhnEraseError(f"{path / 'digitStruct.mat'}: missing (is this a Format 1 split?)")
    return path


def max_pixels() -> int:
    """The most pixels an image may have: ``SVHN_ERASE_MAX_PIXELS``, else 50 megapixels."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    if not (text.isascii() and text.isdigit()) or int(text) < 1:
        raise SvhnEraseError(f"{MAX_PIXELS_ENV}={text!r}: expected a whole number of pixels, "
                             f"e.g. {DEFAULT_MAX_PIXELS}")
    return int(text)


@contextlib.contextmanager
def open_image(path: str | os.PathLike[str], limit: int | None = None) -> Iterator[Image.Image]:
    """The image at ``path`` opened by Pillow (not yet decoded), or a ``SvhnEraseError``
    naming it: missing, not an image, empty, or over ``limit`` pixels (``max_pixels()``)."""
    limit = max_pixels() if limit is None else limit
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except FileNotFoundError as exc:
        raise SvhnEraseError(f"{path}: image file not found") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SvhnEraseError(_too_big(path, limit, exc)) from exc
    except Exception as exc:  # Pillow raises many types for a damaged file
        raise SvhnEraseError(f"{path}: image does not decode ({_reason(exc)})"
                             f"{image_formats.missing_reader_hint(path)}") from exc
    with im:
        width, height = im.size
        if width * height > limit:
            raise SvhnEraseError(_too_big(path, limit, (width, height)))
        if width * height == 0:
            raise SvhnEraseError(f"{path}: image does not decode (an empty {width}x{height} "
                                 "image)")
        yield im


def _too_big(path: str | os.PathLike[str], limit: int,
             size: tuple[int, int] | Exception) -> str:
    """The message for an image over the pixel limit (``size``, or Pillow's own refusal)."""
    if isinstance(size, Exception):
        from svhn_erase.data.digitstruct.pngsize import image_size

        try:
            size = image_size(path)
        except SvhnEraseError:
            return f"{path}: image is over the limit of {limit / 1e6:g} megapixels ({size})"
    width, height = size
    return (f"{path}: image is {width}x{height} ({width * height / 1e6:.1f} megapixels), over "
            f"the limit of {limit / 1e6:g} megapixels ({MAX_PIXELS_ENV} changes it)")


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def read_rgb(path: str | os.PathLike[str], limit: int | None = None) -> np.ndarray:
    """Decode an image file as (H, W, 3) uint8 RGB, upright as its EXIF orientation says
    (``upright_rgba``); a clear error if it does not decode or has more than ``limit`` pixels
    (``max_pixels()``)."""
    return read_photo(path, limit)[0]


def read_photo(path: str | os.PathLike[str] | IO[bytes], limit: int | None = None) -> Photo:
    """``read_rgb``'s pixels with the photo's RGB colour profile (``rgb_profile``) and its
    alpha channel (``upright_rgba``), all from one opening of the file: what an erased photo
    is written from."""
    with open_image(path, limit) as im:
        profile = profile_of(im)
        try:
            pixels, alpha = upright_rgba(im)
            return Photo(pixels, profile, alpha)
        except UnsupportedPixels as exc:
            raise SvhnEraseError(f"{path}: {exc}") from exc
        except Exception as exc:  # truncated data, bad checksums, decoder errors ...
            raise SvhnEraseError(f"{path}: image does not decode ({_reason(exc)})") from exc


def rgb_profile(source: str | os.PathLike[str] | IO[bytes]) -> bytes | None:
    """The ICC colour profile embedded in the image at ``source`` (a path or a binary file)
    when it describes RGB pixels, else None; never raises.

    Phones write photos in wider spaces than sRGB (Display P3); the pixels read are in that
    space, and an output written without its profile is shown as sRGB, every colour of the
    photo shifted. Outputs carry it on (``atomic_io.write_image(..., icc_profile=)``). A
    grey or CMYK profile does not fit the RGB pixels read, and is left out."""
    try:
        with Image.open(source) as im:
            return profile_of(im)
    except Exception:  # an unreadable photo has no profile to carry; reading it reports it
        return None
    finally:
        if hasattr(source, "seek"):
            source.seek(0)


def profile_of(im: Image.Image) -> bytes | None:
    """An opened image's ICC profile if it describes RGB pixels (``rgb_profile``)."""
    profile = im.info.get("icc_profile")
    return profile if isinstance(profile, bytes) and profile[16:20] == b"RGB " else None


class UnsupportedPixels(ValueError):
    """Pixels with no fixed range to read as 8 bits (floating point)."""


def upright_rgba(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """A decoded Pillow image as (H, W, 3) uint8 RGB, as a photo viewer shows it, and its
    (H, W) uint8 alpha channel (None when the image has no transparency).

    - Turned upright as its EXIF orientation says (phones store portrait photos sideways), so
      that boxes read off a viewer fit.
    - Transparency (an alpha channel, as in RGBA, LA or a WebP with alpha, or a PNG's
      transparent palette entry or colour) comes apart from the RGB: ``convert("RGBA")``,
      then split. The RGB is the colour the file stores, also under transparent pixels (not
      composited on any background), so the removal sees the same RGB as for the photo
      without its alpha; the outputs write the alpha back unchanged (``atomic_io``).
    - 16-bit grey (Pillow's ``I;16`` modes, and ``I`` holding values up to 65535) scaled to 8
      bits; Pillow's own conversion would clip it to white. 16-bit RGB Pillow reads as 8-bit.
    - Floating-point pixels (mode ``F``) raise ``UnsupportedPixels``: they have no fixed range.
    """
    if im.getexif().get(_ORIENTATION, 1) != 1:
        im = ImageOps.exif_transpose(im)
    if im.mode == "F":
        raise UnsupportedPixels("floating-point pixels (mode F) have no fixed range to read as "
                                "8 bits; save the image as 8- or 16-bit first")
    if im.mode.startswith("I"):
        return _grey_16(np.asarray(im).astype(np.int64), im.mode), None
    if im.mode in _ALPHA_MODES or "transparency" in im.info:
        rgba = np.asarray(im.convert("RGBA"))
        return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])
    return np.asarray(im if im.mode == "RGB" else im.convert("RGB")), None


_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def _grey_16(grey: np.ndarray, mode: str) -> np.ndarray:
    """Integer grey pixels (Pillow's ``I`` modes) as RGB, 16 bits scaled to 8."""
    if grey.min() < 0 or grey.max() > 65535:
        raise UnsupportedPixels(f"32-bit pixels from {grey.min()} to {grey.max()} do not fit "
                                "16 bits; save the image as 8- or 16-bit first")
    if mode.startswith("I;16") or grey.max() > 255:
        grey = (grey * 255 + 32767) // 65535  # round(v / 257)
    return np.repeat(grey.astype(np.uint8)[:, :, None], 3, axis=2)


def load_table(path: Path) -> pd.DataFrame:
    """The split's digit table (one row per digit, boxes clipped to the image, unusable rows
    dropped and reported; cached beside the split): ``digitstruct.load_index``."""
    from svhn_erase.data import digitstruct

    return digitstruct.load_index(path)


def index_skipped(table: pd.DataFrame) -> list[str]:
    """The images the split's index left out (missing, not an image, a bad name), one line
    each naming the file and the problem."""
    return list(table.attrs.get("index_report", {}).get("image_problems", []))


def iter_parents(path: Path, table: pd.DataFrame | None = None, limit: int | None = None,
                 skipped: list[str] | None = None) -> Iterator[Parent]:
    """Yield the split's parents in table order (the first ``limit`` only, if given); an
    image that fails to decode is logged, added to ``skipped`` (one line naming the file and
    the problem) and left out."""
    if table is None:
        table = load_table(path)
    files = list(dict.fromkeys(table["file"]))
    if limit is not None:
        files = files[:limit]
    # each file's row positions, found in one pass (a get_group per file costs seconds on
    # tens of thousands of images)
    rows_of = table.groupby("file", sort=False).indices
    all_boxes = table[["left", "top", "width", "height"]].to_numpy().round().astype(int)
    all_labels = table["label"].to_numpy().astype(int)
    for file in files:
        rows = rows_of[file]
        photo = read_or_skip(path / file, skipped)
        if photo is not None:
            yield Parent(file, photo.pixels, all_boxes[rows], all_labels[rows], photo.profile,
                         photo.alpha)


def read_or_skip(path: Path, skipped: list[str] | None = None) -> Photo | None:
    """``read_photo(path)`` (pixels, colour profile and alpha), or None for an image that does not
    decode: logged and added to ``skipped`` (one line naming the file and the problem).
    Every batch reads through here."""
    try:
        return read_photo(path)
    except SvhnEraseError as exc:
        log.warning("skipped: %s", exc)
        if skipped is not None:
            skipped.append(str(exc))
        return None


def has_groundtruth(path: Path) -> bool:
    """Whether the split has a ``groundtruth/`` folder (SPEC §3)."""
    return (path / "groundtruth").is_dir()


def read_groundtruth(path: Path, file: str) -> tuple[np.ndarray, np.ndarray]:
    """``(clean RGB uint8, mask uint8)`` for parent ``file`` (mask value k = k-th digit)."""
    stem = Path(file).stem
    clean = read_rgb(path / "groundtruth" / f"{stem}_clean.png")
    mask_path = path / "groundtruth" / f"{stem}_mask.png"
    with open_image(mask_path) as im:
        try:
            mask = np.asarray(im)
        except Exception as exc:  # as in read_rgb
            raise SvhnEraseError(f"{mask_path}: ground-truth mask does not decode "
                                 f"({_reason(exc)})") from exc
    if mask.ndim != 2:
        raise SvhnEraseError(f"{mask_path}: ground-truth mask must be 8-bit single channel")
    if mask.shape != clean.shape[:2]:
        raise SvhnEraseError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but the "
                             f"clean image is {clean.shape[1]}x{clean.shape[0]}")
    return clean, mask
