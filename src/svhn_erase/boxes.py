"""The one box type: a digit box as SPEC gives it, and the pixel rectangle it covers.

A ``Box`` is ``left, top, width, height`` in pixels (floats, as ``digitStruct.mat`` stores
them; they may reach past the image). A ``Rect`` is the integer ``top, left, bottom, right``
rectangle (bottom and right exclusive) of a box clipped to an image, ready for slicing.
Every stage clips, unites and bounds boxes through the functions here.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Rect(NamedTuple):
    """An integer pixel rectangle inside an image: rows ``top:bottom``, columns ``left:right``."""

    top: int
    left: int
    bottom: int
    right: int

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` to index an array with."""
        return slice(self.top, self.bottom), slice(self.left, self.right)

    def grown(self, pixels: int, shape: tuple[int, ...]) -> Rect:
        """This rectangle grown by ``pixels`` on every side, clipped to an image of ``shape``."""
        return Rect(max(0, self.top - pixels), max(0, self.left - pixels),
                    min(shape[0], self.bottom + pixels), min(shape[1], self.right + pixels))

    def as_box(self) -> Box:
        return Box(self.left, self.top, self.width, self.height)


@dataclass(frozen=True)
class Box:
    """A digit box: ``left, top, width, height`` in pixels, origin top-left."""

    left: float
    top: float
    width: float
    height: float

    @classmethod
    def of(cls, values: Sequence[float] | np.ndarray) -> Box:
        """A box from its first four values (``left, top, width, height``)."""
        left, top, width, height = (float(v) for v in list(values)[:4])
        return cls(left, top, width, height)

    def clip(self, shape: tuple[int, ...]) -> Rect | None:
        """The rectangle of this box inside an image of ``shape`` (each value rounded to the
        nearest pixel first), or None when nothing of the box is inside."""
        left, top, w, h = (int(round(v)) for v in (self.left, self.top, self.width, self.height))
        t, b = max(0, top), min(shape[0], top + h)
        lft, r = max(0, left), min(shape[1], left + w)
        if b <= t or r <= lft:
            return None
        return Rect(t, lft, b, r)

    def crop_rect(self, shape: tuple[int, ...], margin: float = 0.0) -> Rect:
        """The rectangle a digit crop takes: the box grown on every side by ``margin`` times
        its width / height, edges rounded, clipped to the image, at least 1 x 1 pixel."""
        h_img, w_img = shape[:2]
        x0 = int(round(self.left - margin * self.width))
        y0 = int(round(self.top - margin * self.height))
        x1 = int(round(self.left + self.width + margin * self.width))
        y1 = int(round(self.top + self.height + margin * self.height))
        x0, x1 = max(0, min(x0, w_img - 1)), max(1, min(x1, w_img))
        y0, y1 = max(0, min(y0, h_img - 1)), max(1, min(y1, h_img))
        return Rect(y0, x0, max(y1, y0 + 1), max(x1, x0 + 1))


def as_boxes(boxes: Iterable[Box] | np.ndarray) -> list[Box]:
    """Boxes from a ``(k, 4)`` array (or any sequence of 4-value rows, or of ``Box``)."""
    if isinstance(boxes, np.ndarray):
        return [Box.of(row) for row in np.asarray(boxes, dtype=float).reshape(-1, 4)]
    return [b if isinstance(b, Box) else Box.of(b) for b in boxes]


def clip_boxes(boxes: Iterable[Box] | np.ndarray, shape: tuple[int, ...]) -> list[Rect | None]:
    """Per box, its rectangle inside an image of ``shape``, or None when it lies outside."""
    return [b.clip(shape) for b in as_boxes(boxes)]


def union_mask(boxes: Iterable[Box] | np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: the union of the boxes, clipped to the image."""
    mask = np.zeros(shape[:2], bool)
    for rect in clip_boxes(boxes, shape):
        if rect is not None:
            mask[rect.slices] = True
    return mask


def bounding_rect(boxes: Iterable[Box] | np.ndarray, shape: tuple[int, ...],
                  margin: int = 0) -> Rect | None:
    """The smallest rectangle holding every (clipped) box, grown by ``margin`` pixels per side
    and clipped; None when no box is inside the image."""
    rects = [r for r in clip_boxes(boxes, shape) if r is not None]
    if not rects:
        return None
    arr = np.asarray(rects)
    whole = Rect(int(arr[:, 0].min()), int(arr[:, 1].min()), int(arr[:, 2].max()),
                 int(arr[:, 3].max()))
    return whole.grown(margin, shape)
