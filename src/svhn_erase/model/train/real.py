"""Real digit crops for training: a Format 1 split (e.g. SVHN train) restricted to a range
of photo numbers, as ``CropSet``s through ``data.crops.build_crop_cache``.

SVHN's photos are ``1.png`` ... ``N.png``; ``--real-range 1-1400`` takes the digits of
photos 1 to 1400 for training and ``--real-val-range 1401-1600`` those of photos 1401 to
1600 for validation (choosing the best epoch), so a real validation set (here photos
1601-2000) stays untouched. The crops are cached as any split's crops are (in the user's
cache folder when the split is read-only).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from svhn_erase.data import crops as crops_mod
from svhn_erase.errors import SvhnEraseError

PathLike = str | os.PathLike[str]
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
                  classes: int, progress: bool = True) -> crops_mod.CropSet:
    """The (cached) crops of the split's photos in ``photo_range``."""
    path = Path(split_dir)
    table = photo_table(crops_mod.load_split_table(path), photo_range)
    if len(table) == 0:
        raise SvhnEraseError(f"{path}: no digits in photos {photo_range}")
    return crops_mod.build_crop_cache(path, size=size, margin=margin, gray=True,
                                      classes=classes, progress=progress, table=table)
