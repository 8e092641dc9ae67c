"""Digit crops: cut each digit out of its parent by its box, gray and resize, and cache them.

The original preprocessing (SPEC §2): crop by the box, grayscale (PIL ``"L"``, i.e.
ITU-R 601-2 luma, as torchvision's ``Grayscale``), resize to ``size x size`` without keeping
the aspect ratio (PIL bilinear, as torchvision's ``Resize`` on a PIL image), then normalize
``(x / 255 - 0.5) / 0.5``. ``crop_digit`` does one crop and returns uint8; the normalization
is done on the fly by ``normalize``. ``luma`` is the package's one grayscale.

Crop shapes (``CROP_SHAPES``): "stretch", the original above and the default, stretches the
box to the square crop; "square" (an option, SVHN's own Format 2 cropping) first grows the
box's shorter side to its longer one about the box's centre, then adds the margin, and pads
by repeating the image's edge pixels where that square leaves the image
(``square_window``), so a digit keeps its aspect. A classifier file records the shape it was
trained on (``crop_shape_of``); every crop it reads is cut that way.

``build_crop_cache`` decodes every parent of a split once and stores all crops as one
uint8 ``.npy`` array in ``SPLIT/.svhn_erase_cache/`` (or the split's own cache folder when
the split is read-only, ``data.cache``), keyed by a fingerprint of the split's digit table,
the crop parameters and every image's size and modification time (a replaced image is never
read from stale crops), so training never decodes a PNG per item per epoch.
With ``classes=11`` it adds a "no digit" class (label ``NO_DIGIT`` = 10): crops cut from the
parents away from every digit box, with sizes drawn from the split's digit boxes (seeded).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from tqdm import tqdm

from svhn_erase import atomic_io
from svhn_erase.boxes import Box
from svhn_erase.data import cache
from svhn_erase.errors import SvhnEraseError

NO_DIGIT = 10
CACHE_DIR = cache.CROPS_DIR
CACHE_VERSION = 1
MIN_SIZE, MAX_SIZE = 8, 128  # crop sizes the networks take (a 128 crop is 16 KiB)
MAX_MARGIN = 2.0
BACKGROUND_SEED = 11
CROP_SHAPES = ("stretch", "square")


def luma(image: np.ndarray | Image.Image) -> np.ndarray:
    """(H, W) uint8 gray of an RGB image: PIL's ``"L"`` conversion, the ITU-R 601-2 luma
    ``L = R * 299/1000 + G * 587/1000 + B * 114/1000`` in PIL's integer arithmetic (what
    torchvision's ``Grayscale`` does). The package's one grayscale."""
    return np.asarray(_as_rgb(image).convert("L"))


def _as_rgb(image: np.ndarray | Image.Image) -> Image.Image:
    pil = image if isinstance(image, Image.Image) else Image.fromarray(np.asarray(image))
    return pil if pil.mode == "RGB" else pil.convert("RGB")


def check_crop_shape(shape: str) -> str:
    """``shape`` if it is one of ``CROP_SHAPES``, else a clear error."""
    if shape not in CROP_SHAPES:
        raise SvhnEraseError(f"unknown crop shape {shape!r}; choose one of "
                             f"{', '.join(CROP_SHAPES)}")
    return shape


def crop_shape_of(model: object) -> str:
    """The crop shape a classifier reads (its file's ``crop_shape``; "stretch" if none)."""
    return getattr(model, "crop_shape", "stretch")


def square_window(image: np.ndarray, box: np.ndarray | tuple | Box,
                  margin: float = 0.0) -> np.ndarray:
    """The pixels of ``image`` (H, W[, C]) under the box made square about its centre (its
    shorter side grown to its longer one) and grown by ``margin`` times that side on every
    side; rows and columns outside the image repeat its edge pixels (never stretched)."""
    b = box if isinstance(box, Box) else Box.of(box)
    side = max(1, int(round(max(b.width, b.height) * (1 + 2 * margin))))
    x0 = int(round(b.left + b.width / 2 - side / 2))
    y0 = int(round(b.top + b.height / 2 - side / 2))
    rows = np.clip(np.arange(y0, y0 + side), 0, image.shape[0] - 1)
    cols = np.clip(np.arange(x0, x0 + side), 0, image.shape[1] - 1)
    return image[np.ix_(rows, cols)]


def crop_digit(image: np.ndarray | Image.Image, box: np.ndarray | tuple, size: int = 40,
               margin: float = 0.0, gray: bool = True, shape: str = "stretch") -> np.ndarray:
    """One digit crop as uint8: ``(size, size)`` if ``gray`` else ``(size, size, 3)``.

    ``image`` is the (H, W, 3) uint8 RGB parent (or a PIL image); ``box`` is left, top,
    width, height in pixels, grown by ``margin`` and clipped as ``Box.crop_rect`` says
    (``shape`` "square": the square window of ``square_window`` instead).
    The crop is grayed (``luma``) before resizing, as the original did.
    """
    if shape == "square":
        window = square_window(_rgb_array(image), box, margin)
        piece = Image.fromarray(luma(window) if gray else np.ascontiguousarray(window))
        return np.asarray(piece.resize((size, size), Image.BILINEAR), dtype=np.uint8)
    check_crop_shape(shape)
    pil = _as_rgb(image)
    rect = Box.of(box).crop_rect((pil.height, pil.width), margin)
    piece = pil.crop((rect.left, rect.top, rect.right, rect.bottom))
    if gray:
        piece = Image.fromarray(luma(piece))
    piece = piece.resize((size, size), Image.BILINEAR)
    return np.asarray(piece, dtype=np.uint8)


def _rgb_array(image: np.ndarray | Image.Image) -> np.ndarray:
    """``image`` as an (H, W, 3) uint8 array (not copied when it is one already)."""
    if isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3 \
            and image.dtype == np.uint8:
        return image
    return np.asarray(_as_rgb(image))


def normalize(crops: np.ndarray | torch.Tensor, gray: bool = True) -> torch.Tensor:
    """uint8 crops to float tensors ``(x / 255 - 0.5) / 0.5`` in [-1, 1], channels first.

    Gray: ``(H, W) -> (1, H, W)``, ``(N, H, W) -> (N, 1, H, W)``; RGB: ``(H, W, 3) ->
    (3, H, W)``, ``(N, H, W, 3) -> (N, 3, H, W)``.
    """
    # a read-only array (a PIL image's buffer, a memory map) is copied first: torch warns
    # on tensors over memory it may not write
    x = crops if isinstance(crops, torch.Tensor) else torch.from_numpy(
        np.require(crops, requirements="W"))
    if x.dtype != torch.uint8:
        raise ValueError(f"expected uint8 crops, got {x.dtype}")
    x = x.float().div_(255.0).sub_(0.5).div_(0.5)
    if gray:
        return x.unsqueeze(0) if x.ndim == 2 else x.unsqueeze(1)
    return x.permute(2, 0, 1) if x.ndim == 3 else x.permute(0, 3, 1, 2)


# --------------------------------------------------------------------------- the split's table


def load_split_table(path: Path) -> pd.DataFrame:
    """The split's digit table (clipped boxes), through ``split.load_table``."""
    from svhn_erase.data import split

    return split.load_table(path)


def table_fingerprint(table: pd.DataFrame) -> str:
    """A short hash of a digit table's contents (files, labels and boxes)."""
    cols = ["file", "digit_index", "label", "left", "top", "width", "height"]
    hashed = pd.util.hash_pandas_object(table[cols], index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()[:16]


# --------------------------------------------------------------------------- the cache


@dataclass
class CropSet:
    """Every crop of a split: ``crops`` uint8 (N, S, S[, 3]), ``labels`` int64 (N,) with 10 =
    no digit, and where each came from: ``table_row`` (row of the digit table, -1 for a
    no-digit crop) and ``parent`` (row of ``files``)."""

    crops: np.ndarray
    labels: np.ndarray
    table_row: np.ndarray
    parent: np.ndarray
    files: list[str]
    fingerprint: str
    params: dict
    skipped: list[str] = field(default_factory=list)  # parents that did not decode

    def __len__(self) -> int:
        return len(self.labels)


def check_size(size: int, margin: float = 0.0) -> None:
    """A clear error unless ``size`` is a crop size the networks take and ``margin`` a
    finite fraction in 0..MAX_MARGIN."""
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise SvhnEraseError(f"crop size must be {MIN_SIZE}..{MAX_SIZE} pixels, not {size}")
    if not (math.isfinite(margin) and 0 <= margin <= MAX_MARGIN):
        raise SvhnEraseError(f"margin must be 0..{MAX_MARGIN:g}, not {margin}")


def _params(size: int, margin: float, gray: bool, classes: int, shape: str) -> dict:
    if classes not in (10, 11):
        raise SvhnEraseError(f"classes must be 10 or 11, not {classes}")
    check_size(size, margin)
    params = {"size": int(size), "margin": float(margin), "gray": bool(gray),
              "classes": int(classes), "version": CACHE_VERSION,
              "background_seed": BACKGROUND_SEED if classes == 11 else None}
    if check_crop_shape(shape) != "stretch":  # stretch keeps the keys of earlier caches
        params["crop_shape"] = shape
    return params


def _cache_stem(fingerprint: str, params: dict, images: str) -> str:
    """``crops-<size>-<gray|rgb>-c<classes>-<key of the params>-<key of the sources>``."""
    params_key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()
    source_key = hashlib.sha256(f"{fingerprint}:{images}".encode()).hexdigest()
    return f"crops-{params['size']}-{'gray' if params['gray'] else 'rgb'}-" \
        f"c{params['classes']}-{params_key[:8]}-{source_key[:16]}"


def _remove_outdated(stem: Path) -> None:
    """Remove the caches of the same parameters built from an earlier state of the split."""
    prefix = stem.name[: stem.name.rindex("-") + 1]
    for old in stem.parent.glob(f"{prefix}*"):
        if not old.name.startswith(stem.name):
            old.unlink(missing_ok=True)


def _overlaps(x0: int, y0: int, w: int, h: int, boxes: np.ndarray) -> bool:
    if len(boxes) == 0:
        return False
    bx0, by0 = boxes[:, 0], boxes[:, 1]
    bx1, by1 = bx0 + boxes[:, 2], by0 + boxes[:, 3]
    return bool(np.any((x0 < bx1) & (bx0 < x0 + w) & (y0 < by1) & (by0 < y0 + h)))


def background_boxes(image_shape: tuple[int, ...], digit_boxes: np.ndarray,
                     sizes: np.ndarray, count: int, rng: np.random.Generator,
                     tries: int = 20) -> list[tuple[int, int, int, int]]:
    """Up to ``count`` boxes (left, top, width, height) inside the image that touch no digit
    box; each size is drawn from ``sizes`` (M, 2: width, height), shrunk to fit if needed."""
    h_img, w_img = image_shape[:2]
    found: list[tuple[int, int, int, int]] = []
    for _ in range(count * tries):
        if len(found) == count:
            break
        w, h = sizes[rng.integers(len(sizes))]
        scale = min(1.0, (w_img - 1) / max(w, 1), (h_img - 1) / max(h, 1))
        w, h = max(4, int(w * scale)), max(4, int(h * scale))
        if w >= w_img or h >= h_img:
            break
        x0 = int(rng.integers(0, w_img - w + 1))
        y0 = int(rng.integers(0, h_img - h + 1))
        if not _overlaps(x0, y0, w, h, digit_boxes):
            found.append((x0, y0, w, h))
    return found


def _extract(path: Path, table: pd.DataFrame, params: dict, progress: bool,
             skipped: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                          list[str]]:
    from svhn_erase.data import split

    size, margin, gray = params["size"], params["margin"], params["gray"]
    crop_shape = params.get("crop_shape", "stretch")
    files = list(dict.fromkeys(table["file"]))
    file_pos = {f: i for i, f in enumerate(files)}
    rows_of = table.groupby("file", sort=False).indices
    sizes = table[["width", "height"]].to_numpy(dtype=float)
    want_bg = params["classes"] == 11
    # one "no digit" crop per 10 digits, i.e. about as many as an average digit class
    bg_per_parent = len(table) / 10 / max(len(files), 1)
    rng = np.random.default_rng(params["background_seed"] or 0)
    crops, labels, table_rows, parents = [], [], [], []
    owed = 0.0
    for parent in tqdm(split.iter_parents(path, table, skipped=skipped), total=len(files),
                       unit="img",
                       desc=f"crops {path.name}", disable=None if progress else True,
                       leave=False):
        rows = rows_of[parent.file]
        for row, box, label in zip(rows, parent.boxes, parent.labels, strict=True):
            crops.append(crop_digit(parent.image, box, size, margin, gray, crop_shape))
            labels.append(int(label))
            table_rows.append(int(row))
            parents.append(file_pos[parent.file])
        if want_bg:
            owed += bg_per_parent
            n = int(owed)
            if n > 0:
                found = background_boxes(parent.image.shape, parent.boxes, sizes, n, rng)
                owed -= len(found)
                for box in found:
                    crops.append(crop_digit(parent.image, box, size, 0.0, gray, crop_shape))
                    labels.append(NO_DIGIT)
                    table_rows.append(-1)
                    parents.append(file_pos[parent.file])
    shape = (size, size) if gray else (size, size, 3)
    crops_arr = np.stack(crops) if crops else np.zeros((0, *shape), np.uint8)
    return (crops_arr, np.asarray(labels, np.int64), np.asarray(table_rows, np.int64),
            np.asarray(parents, np.int64), files)


def build_crop_cache(split_dir: str | os.PathLike[str], size: int = 40, margin: float = 0.0,
                     gray: bool = True, classes: int = 10, progress: bool = True,
                     table: pd.DataFrame | None = None, shape: str = "stretch") -> CropSet:
    """Every digit crop of a split (and no-digit crops for ``classes=11``), cut as ``shape``
    says (``CROP_SHAPES``), built once and then read from the cache as long as the split's
    table and images are unchanged.

    Parents that fail to decode are reported, listed in ``CropSet.skipped`` and left out
    (their digits too).
    """
    path = Path(split_dir)
    params = _params(size, margin, gray, classes, shape)
    if table is None:
        table = load_split_table(path)
    fingerprint = table_fingerprint(table)
    images = cache.files_state(path, dict.fromkeys(table["file"]))
    stem = cache.crops_folder(path) / _cache_stem(fingerprint, params, images)
    crops_file = stem.with_name(stem.name + ".npy")
    meta_file = stem.with_name(stem.name + ".json")
    cached = _read_cache(crops_file, meta_file, fingerprint, images, params)
    if cached is not None:
        return cached
    skipped: list[str] = []
    crops, labels, rows, parents, files = _extract(path, table, params, progress, skipped)
    try:
        atomic_io.write_npy(crops_file, crops)
        atomic_io.write_text(meta_file, json.dumps({
            "fingerprint": fingerprint, "images": images, "params": params,
            "labels": labels.tolist(), "table_row": rows.tolist(), "parent": parents.tolist(),
            "files": files, "skipped": skipped}))
        _remove_outdated(stem)
    except (OSError, SvhnEraseError):
        pass  # a cache folder that cannot be written: it still works, just without the cache
    return CropSet(crops, labels, rows, parents, files, fingerprint, params, skipped)


def _read_cache(crops_file: Path, meta_file: Path, fingerprint: str, images: str,
                params: dict) -> CropSet | None:
    """The cached crops if they were built from this table and these images, else None."""
    if not (crops_file.is_file() and meta_file.is_file()):
        return None
    try:
        meta = json.loads(meta_file.read_text())
        if meta.get("fingerprint") != fingerprint or meta.get("images") != images:
            return None
        crops = np.load(crops_file, allow_pickle=False, mmap_mode=None)
        if len(crops) != len(meta["labels"]):
            return None
        return CropSet(crops, np.asarray(meta["labels"], np.int64),
                       np.asarray(meta["table_row"], np.int64),
                       np.asarray(meta["parent"], np.int64), meta["files"], fingerprint,
                       params, list(meta.get("skipped", [])))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged cache is rebuilt
