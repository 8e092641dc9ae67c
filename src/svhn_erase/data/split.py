"""A Format 1 split on disk: its digit table, its parent images and, if present, ground truth.

A split is a folder ``ROOT/NAME/`` holding ``1.png ... N.png`` and ``digitStruct.mat``; a
split with ground truth also has ``groundtruth/N_clean.png`` and ``groundtruth/N_mask.png``
(SPEC §3). Every command that takes ``--data DIR --split NAME`` goes through here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, UnidentifiedImageError

from svhn_erase.errors import SvhnEraseError

log = logging.getLogger(__name__)


@dataclass
class Parent:
    """One parent image with its digit boxes (clipped, ``left, top, width, height``)."""

    file: str
    image: np.ndarray  # (H, W, 3) uint8 RGB
    boxes: np.ndarray  # (k, 4) int: left, top, width, height
    labels: np.ndarray  # (k,) int, 0..9


def split_dir(root: str | os.PathLike[str], name: str) -> Path:
    """``root/name``, or a clear error if that folder or its digitStruct.mat is missing."""
    path = Path(root) / name
    if not path.is_dir():
        raise SvhnEraseError(f"{path}: split folder not found")
    if not (path / "digitStruct.mat").is_file():
        raise SvhnEraseError(f"{path / 'digitStruct.mat'}: missing (is this a Format 1 split?)")
    return path


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Decode an image file as (H, W, 3) uint8 RGB; a clear error if it does not decode."""
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError as exc:
        raise SvhnEraseError(f"{path}: image file not found") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SvhnEraseError(f"{path}: image does not decode ({exc})") from exc


def load_table(path: Path) -> pd.DataFrame:
    """The split's digit table (one row per digit, boxes clipped to the image, unusable rows
    dropped and reported; cached beside the split): ``digitstruct.load_index``."""
    from svhn_erase.data import digitstruct

    return digitstruct.load_index(path)


def iter_parents(path: Path, table: pd.DataFrame | None = None,
                 limit: int | None = None) -> Iterator[Parent]:
    """Yield the split's parents in table order (the first ``limit`` only, if given); an
    image that fails to decode is logged and skipped."""
    if table is None:
        table = load_table(path)
    files = list(dict.fromkeys(table["file"]))
    if limit is not None:
        files = files[:limit]
    groups = table.groupby("file", sort=False)
    for file in files:
        rows = groups.get_group(file)
        try:
            image = read_rgb(path / file)
        except SvhnEraseError as exc:
            log.warning("skipped: %s", exc)
            continue
        boxes = rows[["left", "top", "width", "height"]].to_numpy().round().astype(int)
        yield Parent(file, image, boxes, rows["label"].to_numpy().astype(int))


def has_groundtruth(path: Path) -> bool:
    """Whether the split has a ``groundtruth/`` folder (SPEC §3)."""
    return (path / "groundtruth").is_dir()


def read_groundtruth(path: Path, file: str) -> tuple[np.ndarray, np.ndarray]:
    """``(clean RGB uint8, mask uint8)`` for parent ``file`` (mask value k = k-th digit)."""
    stem = Path(file).stem
    clean = read_rgb(path / "groundtruth" / f"{stem}_clean.png")
    mask_path = path / "groundtruth" / f"{stem}_mask.png"
    try:
        with Image.open(mask_path) as im:
            mask = np.asarray(im)
    except (FileNotFoundError, UnidentifiedImageError, OSError) as exc:
        raise SvhnEraseError(f"{mask_path}: ground-truth mask missing or unreadable") from exc
    if mask.ndim != 2:
        raise SvhnEraseError(f"{mask_path}: ground-truth mask must be 8-bit single channel")
    if mask.shape != clean.shape[:2]:
        raise SvhnEraseError(f"{mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but the "
                             f"clean image is {clean.shape[1]}x{clean.shape[0]}")
    return clean, mask
