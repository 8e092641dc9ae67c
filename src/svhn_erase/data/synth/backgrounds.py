"""Real backgrounds (``data synth --real-backgrounds DIR``): digit-free strips of real photos.

A user who has real SVHN photos can let the generator paint its scenes on real street
texture. From each photo of a Format 1 split in a range of file numbers (default 1-1600,
so that the project's real validation photos 1601-2000 stay unseen), ``free_strips`` cuts
the strips left of, right of, above and below the union of all the photo's official boxes
grown by a margin: no strip overlaps any box. ``RealBackgrounds.background`` mirror-tiles a
strip to the scene's size at about the camera's scale (the generated number, plate and
camera come on top, as on any other background).

The strips follow ``--style``: ``heldout`` scenes use the strips of photos whose number is
a multiple of ``HELDOUT_EVERY``, ``train`` scenes those of the other photos, ``all`` every
strip; so the two styles stay disjoint with real backgrounds too.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from svhn_erase.boxes import Rect
from svhn_erase.errors import SvhnEraseError

log = logging.getLogger(__name__)

DEFAULT_RANGE = (1, 1600)
MARGIN = 0.25  # strips keep this share of the tallest box (plus 2 px) away from the boxes
MIN_SIDE = 8  # pixels: a strip at least this high and wide
REAL_SHARE = 0.6  # share of scenes painted on a real strip (the rest: photos and walls)
HELDOUT_EVERY = 5


def parse_range(text: str) -> tuple[int, int]:
    """``"A-B"`` (file numbers, 1-based, inclusive) as ``(A, B)``; a user error otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*-\s*(\d+)\s*", str(text))
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise SvhnEraseError(f"--real-range {text!r}: expected FIRST-LAST file numbers, "
                             "e.g. 1-1600")
    return int(match.group(1)), int(match.group(2))


def free_strips(shape: tuple[int, ...], boxes: np.ndarray, margin: float = MARGIN) -> list[Rect]:
    """The strips of an image of ``shape`` left of, right of, above and below every box
    (rows of ``left, top, width, height``, possibly past the border) grown by ``margin`` x
    the tallest box's height + 2 px; those at least ``MIN_SIDE`` high and wide."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    h, w = shape[:2]
    if len(boxes) == 0:
        return [Rect(0, 0, h, w)] if min(h, w) >= MIN_SIDE else []
    m = margin * float(boxes[:, 3].max()) + 2
    x0 = int(np.floor(boxes[:, 0].min() - m))
    y0 = int(np.floor(boxes[:, 1].min() - m))
    x1 = int(np.ceil((boxes[:, 0] + boxes[:, 2]).max() + m))
    y1 = int(np.ceil((boxes[:, 1] + boxes[:, 3]).max() + m))
    candidates = [Rect(0, 0, h, min(w, x0)), Rect(0, max(0, x1), h, w),
                  Rect(0, 0, min(h, y0), w), Rect(max(0, y1), 0, h, w)]
    return [r for r in candidates if r.height >= MIN_SIDE and r.width >= MIN_SIDE]


@dataclass(frozen=True, eq=False)
class RealBackgrounds:
    """Strips (uint8 RGB) cut from real photos, with the photo number each came from."""

    folder: str
    photo_range: tuple[int, int]
    strips: tuple[np.ndarray, ...]
    photo_numbers: np.ndarray  # (n,) int
    share: float = REAL_SHARE
    _pools: dict = field(default_factory=dict, repr=False)

    def recipe(self) -> dict:
        """What ``summary.json`` records of them."""
        return {"folder": self.folder, "photos": f"{self.photo_range[0]}-{self.photo_range[1]}",
                "photos_used": int(len(np.unique(self.photo_numbers))),
                "strips": len(self.strips), "margin": MARGIN, "share": self.share,
                "heldout_photos": f"file number divisible by {HELDOUT_EVERY}"}

    def pool(self, style: str) -> np.ndarray:
        """Indices of the strips ``style`` may use (see the module docstring)."""
        if style not in self._pools:
            held = self.photo_numbers % HELDOUT_EVERY == 0
            keep = {"all": np.ones_like(held), "heldout": held, "train": ~held}[style]
            self._pools[style] = np.flatnonzero(keep)
        return self._pools[style]

    def background(self, rng: np.random.Generator, h: int, w: int, zoom: float,
                   style: str = "all") -> np.ndarray:
        """An (h, w) float32 RGB scene from one strip: ``zoom`` scene pixels per strip pixel
        times U(1, 1.5), mirror-tiled where the strip is too small, randomly placed and
        flipped."""
        pool = self.pool(style)
        if len(pool) == 0:
            raise SvhnEraseError(f"{self.folder}: no real background strips for style {style!r}")
        strip = self.strips[int(pool[int(rng.integers(len(pool)))])]
        z = zoom * rng.uniform(1.0, 1.5)
        need_h, need_w = max(1, int(np.ceil(h / z))), max(1, int(np.ceil(w / z)))
        sh, sw = strip.shape[:2]
        tiled = np.pad(strip, ((0, max(0, need_h - sh)), (0, max(0, need_w - sw)), (0, 0)),
                       mode="symmetric")
        y = int(rng.integers(0, tiled.shape[0] - need_h + 1))
        x = int(rng.integers(0, tiled.shape[1] - need_w + 1))
        piece = tiled[y:y + need_h, x:x + need_w]
        if rng.random() < 0.5:
            piece = piece[:, ::-1]
        out = cv2.resize(np.ascontiguousarray(piece), (w, h), interpolation=cv2.INTER_LINEAR)
        return out.astype(np.float32)


def _cut(folder: Path, file: str, boxes: np.ndarray) -> list[np.ndarray]:
    try:
        with Image.open(folder / file) as im:
            image = np.asarray(im.convert("RGB"))
    except (OSError, ValueError) as exc:
        log.info("real backgrounds: skipping %s (%s)", folder / file, exc)
        return []
    return [image[r.slices].copy() for r in free_strips(image.shape, boxes)]


@cache
def load_backgrounds(folder: str | os.PathLike[str],
                     photo_range: tuple[int, int] = DEFAULT_RANGE) -> RealBackgrounds:
    """The strips of the photos numbered ``photo_range`` (inclusive) of the Format 1 split in
    ``folder`` (cached per process, so forked workers share them)."""
    from svhn_erase.data.digitstruct import read_digitstruct

    path = Path(folder)
    if not (path / "digitStruct.mat").is_file():
        raise SvhnEraseError(f"{path}: --real-backgrounds needs a Format 1 split folder "
                             "(N.png and digitStruct.mat)")
    table = read_digitstruct(path / "digitStruct.mat")
    number = table["file"].str.extract(r"^(\d+)\.png$")[0].astype(float)
    table = table[(number >= photo_range[0]) & (number <= photo_range[1])]
    strips, numbers = [], []
    for file, rows in table.groupby("file", sort=False):
        for strip in _cut(path, file, rows[["left", "top", "width", "height"]].to_numpy()):
            strips.append(strip)
            numbers.append(int(Path(file).stem))
    if not strips:
        raise SvhnEraseError(f"{path}: no digit-free strips in photos {photo_range[0]}-"
                             f"{photo_range[1]}")
    order = np.argsort(numbers, kind="stable")  # deterministic whatever the table's order
    log.info("real backgrounds: %d strips from %d photos of %s", len(strips),
             len(set(numbers)), path)
    return RealBackgrounds(str(path), tuple(photo_range), tuple(strips[i] for i in order),
                           np.asarray(numbers)[order])
