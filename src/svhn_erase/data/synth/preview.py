"""A contact sheet of a generated split: each image with its boxes, clean scene and mask."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from svhn_erase.atomic_io import write_image
from svhn_erase.data.digitstruct import read_digitstruct
from svhn_erase.errors import SvhnEraseError

_PALETTE = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25],
                     [0, 130, 200], [245, 130, 48], [145, 30, 180]], np.uint8)  # mask values
MAX_CELL_ASPECT = 3.0  # a cell is at most this many times as wide as high


def _preview_row(split_dir: Path, number: int, table: pd.DataFrame,
                 cell_h: int) -> np.ndarray | None:
    """Image, image with boxes and labels, clean scene, coloured mask, side by side; None
    when image ``number`` does not exist."""
    name = f"{number}.png"
    image = cv2.imread(str(split_dir / name), cv2.IMREAD_COLOR)
    if image is None:
        return None
    image = image[:, :, ::-1].copy()
    clean = cv2.imread(str(split_dir / "groundtruth" / f"{number}_clean.png"))[:, :, ::-1]
    mask = cv2.imread(str(split_dir / "groundtruth" / f"{number}_mask.png"),
                      cv2.IMREAD_UNCHANGED)
    h, w = mask.shape
    f = min(cell_h / h, MAX_CELL_ASPECT * cell_h / w)  # wide parents are scaled to fit
    size = (max(1, int(round(w * f))), max(1, int(round(h * f))))
    boxed = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
    for _, r in table[table.file == name].iterrows():
        p0 = (int(r.left * f), int(r.top * f))
        p1 = (int((r.left + r.width) * f) - 1, int((r.top + r.height) * f) - 1)
        cv2.rectangle(boxed, p0, p1, (0, 255, 0), 1)
        cv2.putText(boxed, str(int(r.label)), (p0[0] + 1, p0[1] + 10),
                    cv2.FONT_HERSHEY_PLAIN, 0.8, (255, 255, 0), 1)
    plain = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    cl = cv2.resize(np.ascontiguousarray(clean), size, interpolation=cv2.INTER_LINEAR)
    mk = cv2.resize(_PALETTE[np.minimum(mask, 6)], size, interpolation=cv2.INTER_NEAREST)
    gap = np.full((size[1], 4, 3), 255, np.uint8)
    row = np.concatenate([plain, gap, boxed, gap, cl, gap, mk], axis=1)
    return np.pad(row, ((0, cell_h - size[1]), (0, 0), (0, 0)), constant_values=255)


def _two_columns(rows: list[np.ndarray]) -> np.ndarray:
    """Rows stacked in two columns (so the sheet stays roughly square), white between."""
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    half = (len(rows) + 1) // 2
    left, right = np.concatenate(rows[:half]), np.concatenate(rows[half:] or [rows[0] * 0])
    hmax = max(left.shape[0], right.shape[0])
    left = np.pad(left, ((0, hmax - left.shape[0]), (0, 8), (0, 0)), constant_values=255)
    right = np.pad(right, ((0, hmax - right.shape[0]), (0, 0), (0, 0)), constant_values=255)
    return np.concatenate([left, right], axis=1)


def preview_sheet(split_dir: str | os.PathLike[str], out_png: str | os.PathLike[str],
                  n: int = 12, cell_h: int = 96) -> Path:
    """Write a PNG grid of the first ``n`` images of a split: the image with its boxes,
    the clean scene and the mask (coloured), one row per image, each scaled to ``cell_h``
    high (or to ``MAX_CELL_ASPECT`` x ``cell_h`` wide, whichever is smaller)."""
    split_dir = Path(split_dir)
    table = read_digitstruct(split_dir / "digitStruct.mat")
    rows = []
    for number in range(1, n + 1):
        row = _preview_row(split_dir, number, table, cell_h)
        if row is None:
            break
        rows.append(row)
    if not rows:
        raise SvhnEraseError(f"{split_dir}: no images to preview")
    write_image(out_png, _two_columns(rows))
    return Path(out_png)
