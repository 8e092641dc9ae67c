"""Real digit crops for training: a Format 1 split (e.g. SVHN train) restricted to a range
of photo numbers, as ``CropSet``s through ``data.crops.build_crop_cache``.

SVHN's photos are ``1.png`` ... ``N.png``; ``--real-range 1-1400`` takes the digits of
photos 1 to 1400 for training and ``--real-val-range 1401-1600`` those of photos 1401 to
1600 for validation (choosing the best epoch), so a real validation set (here photos
1601-2000) stays untouched. The crops are cached as any split's crops are (in the user's
cache folder when the split is read-only).

For the 11-class judge, ``real_none_crops`` cuts extra "no digit" crops out of the same
photos' digit-free areas (``--real-none N`` per photo, seeded): the cache's one per ten digits
is too few for a judge to learn real walls, doors and plates.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from svhn_erase.data import crops as crops_mod
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.paths import PathLike

_RANGE = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def parse_range(text: str) -> tuple[int, int]:
    """``"1-1400"`` to ``(1, 1400)``; a clear error for anything else."""
    match = _RANGE.match(text or "")
    if not match or int(match.group(1)) > int(match.group(2)):
        raise SvhnEraseError(f"a photo range is FIRST-LAST, e.g. 1-1400, not {text!r}")
    return int(match.group(1)), int(match.group(2))


def photo_table(table: pd.DataFrame, photo_range: str | None) -> pd.DataFrame:
    """The rows of a split's digit table whose photo number (file stem) is in the range
    (all rows for None)."""
    if not photo_range:
        return table
    first, last = parse_range(photo_range)
    stems = table["file"].map(lambda f: Path(str(f)).stem)
    if not stems.str.fullmatch(r"\d+").all():
        raise SvhnEraseError("a photo range needs numbered photos (1.png, 2.png, ...)")
    number = stems.astype(int)
    return table[(number >= first) & (number <= last)].reset_index(drop=True)


def real_crop_set(split_dir: PathLike, photo_range: str | None, size: int, margin: float,
                  classes: int, progress: bool = True,
                  shape: str = "stretch") -> crops_mod.CropSet:
    """The (cached) crops of the split's photos in ``photo_range``, cut as ``shape`` says
    (``crops.CROP_SHAPES``)."""
    path = Path(split_dir)
    table = photo_table(crops_mod.load_split_table(path), photo_range)
    if len(table) == 0:
        raise SvhnEraseError(f"{path}: no digits in photos {photo_range}")
    return crops_mod.build_crop_cache(path, size=size, margin=margin, gray=True,
                                      classes=classes, progress=progress, table=table,
                                      shape=shape)


def real_none_crops(split_dir: PathLike, photo_range: str | None, per_photo: int, size: int,
                    margin: float, seed: int, progress: bool = True,
                    shape: str = "stretch") -> crops_mod.CropSet:
    """Up to ``per_photo`` "no digit" crops (label ``NO_DIGIT``) per photo in ``photo_range``:
    boxes sized like the split's digit boxes, placed at seeded random spots where the box
    grown by ``margin`` touches no digit box, cut with ``margin`` at ``size`` pixels."""
    path = Path(split_dir)
    table = photo_table(crops_mod.load_split_table(path), photo_range)
    sizes = table[["width", "height"]].to_numpy(dtype=float) * (1 + 2 * margin)
    rng = np.random.default_rng(seed)
    crops, parents = [], []
    files = list(dict.fromkeys(table["file"]))
    for index, parent in enumerate(tqdm(split_mod.iter_parents(path, table), total=len(files),
                                        unit="img", desc="digit-free crops", leave=False,
                                        disable=None if progress else True)):
        for left, top, width, height in crops_mod.background_boxes(
                parent.image.shape, parent.boxes, sizes, per_photo, rng):
            inner = (left + width * margin / (1 + 2 * margin),
                     top + height * margin / (1 + 2 * margin),
                     width / (1 + 2 * margin), height / (1 + 2 * margin))
            crops.append(crops_mod.crop_digit(parent.image, inner, size, margin, shape=shape))
            parents.append(index)
    count = len(crops)
    return crops_mod.CropSet(
        crops=np.stack(crops) if crops else np.zeros((0, size, size), np.uint8),
        labels=np.full(count, crops_mod.NO_DIGIT, np.int64),
        table_row=np.full(count, -1, np.int64), parent=np.asarray(parents, np.int64),
        files=files, fingerprint=f"none{per_photo}-{seed}-{crops_mod.table_fingerprint(table)}",
        params={"size": size, "margin": margin, "per_photo": per_photo, "seed": seed,
                "crop_shape": shape})
