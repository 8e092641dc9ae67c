"""Checking what a web request brings, before any work: photos, boxes, method, batches.

Every check raises ``RequestError`` with the HTTP status and a one-line reason naming the
upload and the problem: 413 for an upload over a size limit, 415 for a file that is not an
image, 422 for anything else wrong (a damaged image, malformed boxes, a box outside the
photo, too many boxes, an unknown method). Nothing here writes a file.
"""

from __future__ import annotations

import io
import json
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np
from PIL import Image, UnidentifiedImageError

from svhn_erase import image_formats
from svhn_erase.apps.erase import parse_box
from svhn_erase.apps.web.settings import WebSettings
from svhn_erase.boxes import Box
from svhn_erase.data.split import Photo, UnsupportedPixels, profile_of, upright_rgba
from svhn_erase.errors import SvhnEraseError
from svhn_erase.removal.methods import method_names

BOX_MAP_NAME = "boxes.json"  # in a batch: {"photo.jpg": [[left, top, width, height], ...]}


class RequestError(Exception):
    """A request the server refuses: ``status`` (4xx) and a one-line ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass(frozen=True)
class Upload:
    """One uploaded file: its name as the client gave it, and its bytes."""

    name: str
    data: bytes


def _megabytes(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def check_size(upload: Upload, settings: WebSettings) -> None:
    """413 when the file is over ``max_upload_bytes``; 422 when it is empty."""
    if len(upload.data) > settings.max_upload_bytes:
        raise RequestError(413, f"{upload.name}: {_megabytes(len(upload.data))}, over the "
                           f"limit of {_megabytes(settings.max_upload_bytes)} per photo")
    if not upload.data:
        raise RequestError(422, f"{upload.name}: the file is empty")


def decode_image(upload: Upload, settings: WebSettings) -> np.ndarray:
    """The upload as (H, W, 3) uint8 RGB, turned upright as its EXIF says (as a browser shows
    it, so that the page's boxes fit). The pixel limit is checked from the header."""
    return decode_photo(upload, settings)[0]


def decode_photo(upload: Upload, settings: WebSettings) -> Photo:
    """``decode_image``'s pixels with the upload's RGB colour profile (``split.profile_of``)
    and its (H, W) alpha channel, None for an opaque photo (``split.upright_rgba``), from one
    decoding: an erased photo is written from all three."""
    check_size(upload, settings)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(upload.data))
    except UnidentifiedImageError:
        raise RequestError(415, f"{upload.name}: not an image (Pillow does not recognise "
                           "the format); upload a PNG, JPEG, ..."
                           f"{image_formats.missing_reader_hint(upload.name)}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise RequestError(413, f"{upload.name}: image is over the limit of "
                           f"{settings.max_pixels / 1e6:g} megapixels") from None
    except Exception as exc:  # Pillow raises many types for a damaged header
        raise RequestError(422, f"{upload.name}: image does not decode ({exc})") from None
    with im:
        width, height = im.size
        if width * height > settings.max_pixels:
            raise RequestError(413, f"{upload.name}: image is {width}x{height} "
                               f"({width * height / 1e6:.1f} megapixels), over the limit of "
                               f"{settings.max_pixels / 1e6:g} megapixels")
        try:
            pixels, alpha = upright_rgba(im)
            return Photo(pixels, profile_of(im), alpha)
        except UnsupportedPixels as exc:
            raise RequestError(415, f"{upload.name}: {exc}") from None
        except Exception as exc:  # truncated data, bad checksums, decoder errors ...
            raise RequestError(422, f"{upload.name}: image does not decode "
                               f"({type(exc).__name__}: {exc})") from None


def parse_boxes(text: str | None, image: np.ndarray, settings: WebSettings,
                name: str = "image", required: bool = True) -> np.ndarray:
    """``boxes`` (JSON: ``[[left, top, width, height], ...]`` or a list of objects with those
    keys) as a (k, 4) int array; each box must have pixels inside ``image``."""
    if text is None or not text.strip():
        if required:
            raise RequestError(422, "boxes: missing; give at least one box as JSON, e.g. "
                               "[[10, 5, 20, 30]] (left, top, width, height in pixels)")
        return np.zeros((0, 4), np.int64)
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise RequestError(422, f"boxes: not valid JSON ({exc})") from None
    return check_boxes(raw, image, settings, name)


def _box_values(item: object) -> list:
    if isinstance(item, dict):
        try:
            return [item[k] for k in ("left", "top", "width", "height")]
        except KeyError as exc:
            raise RequestError(422, f"boxes: a box object lacks {exc}") from None
    if isinstance(item, list | tuple):
        return list(item)
    raise RequestError(422, f"boxes: {item!r} is not a box; give [left, top, width, height]")


def check_boxes(raw: object, image: np.ndarray, settings: WebSettings,
                name: str = "image") -> np.ndarray:
    """Decoded JSON boxes as a (k, 4) int array, checked against ``image`` and the limits."""
    if not isinstance(raw, list) or not raw:
        raise RequestError(422, "boxes: expected a non-empty list of [left, top, width, "
                           "height] boxes")
    if len(raw) > settings.max_boxes:
        raise RequestError(422, f"boxes: {len(raw)} boxes, over the limit of "
                           f"{settings.max_boxes} per photo")
    height, width = image.shape[:2]
    boxes = []
    for item in raw:
        values = _box_values(item)
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            raise RequestError(422, f"boxes: {values!r}: expected four numbers")
        try:
            box = parse_box(",".join(repr(v) for v in values))
        except SvhnEraseError as exc:
            raise RequestError(422, str(exc)) from None
        if Box.of(box).clip(image.shape) is None:
            left, top, bw, bh = (int(v) for v in box)
            raise RequestError(422, f"{name}: box {left},{top},{bw},{bh} lies outside the "
                               f"{width}x{height} image")
        boxes.append(box)
    return np.stack(boxes)


def check_method(name: str) -> str:
    """``name`` if it is a registered method that can erase a photo (422 otherwise)."""
    usable = method_names(with_truth=False)
    if name not in method_names():
        raise RequestError(422, f"unknown removal method {name!r}; choose one of "
                           f"{', '.join(usable)}")
    if name not in usable:
        raise RequestError(422, f"the {name} method needs ground truth; it cannot erase a "
                           "photo")
    return name


# --------------------------------------------------------------------------- batches


def output_name(name: str, taken: set[str]) -> str:
    """A safe, unique ``.png`` name for ``name`` inside the result zip (no folders)."""
    stem = PurePosixPath(name.replace("\\", "/")).stem or "image"
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "image"
    candidate, n = f"{stem}.png", 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}.png"
    taken.add(candidate)
    return candidate


def _zip_members(upload: Upload, settings: WebSettings) -> list[Upload]:
    """The files of a zip upload (folders, hidden files and macOS resource forks left out);
    a member over the size limit is refused by its declared and its read size."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(upload.data))
    except (zipfile.BadZipFile, ValueError) as exc:
        raise RequestError(422, f"{upload.name}: not a readable zip ({exc})") from None
    members = []
    with archive:
        for info in archive.infolist():
            path = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir() or path.name.startswith(".") or "__MACOSX" in path.parts:
                continue
            if info.file_size > settings.max_upload_bytes:
                raise RequestError(413, f"{upload.name}: {info.filename} is "
                                   f"{_megabytes(info.file_size)}, over the limit of "
                                   f"{_megabytes(settings.max_upload_bytes)} per photo")
            try:
                with archive.open(info) as fh:
                    data = fh.read(settings.max_upload_bytes + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as exc:
                raise RequestError(422, f"{upload.name}: {info.filename} does not unpack "
                                   f"({exc})") from None
            members.append(Upload(f"{upload.name}/{info.filename}", data))
    return members


def expand_batch(uploads: list[Upload], settings: WebSettings) -> tuple[list[Upload], dict]:
    """The batch's photos (zip uploads unpacked) and its box map (``boxes.json``, a file
    uploaded or inside a zip, keyed by the photo's file name)."""
    photos, box_map = [], {}
    for upload in uploads:
        is_zip = upload.name.lower().endswith(".zip") or upload.data[:4] == b"PK\x03\x04"
        for item in _zip_members(upload, settings) if is_zip else [upload]:
            if PurePosixPath(item.name).name == BOX_MAP_NAME:
                box_map.update(parse_box_map(item.data.decode("utf-8", "replace"), item.name))
            else:
                photos.append(item)
    if not photos:
        raise RequestError(422, "batch: no photos in the upload")
    if len(photos) > settings.max_batch_files:
        raise RequestError(422, f"batch: {len(photos)} photos, over the limit of "
                           f"{settings.max_batch_files} per batch")
    return photos, box_map


def parse_box_map(text: str, source: str = "boxes") -> dict:
    """``{"file name": [[left, top, width, height], ...]}`` (checked per photo later)."""
    try:
        raw = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise RequestError(422, f"{source}: not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise RequestError(422, f"{source}: expected an object mapping file names to boxes")
    return {PurePosixPath(str(k).replace("\\", "/")).name: v for k, v in raw.items()}
