"""Decoy boxes: a photo's digit boxes moved beside the number, onto digit-free background.

Real photos have no digit-free version, so what a method does to real texture is measured
on boxes that hold no digit: the number's boxes moved as one group (same sizes, same layout)
left, right, up or down by the smallest shift that puts the whole group inside the image
with at least ``GAP`` pixels between it and every box of the photo. Of the four directions
the smallest shift wins; on a tie the order is left, right, up, down. Deterministic; None
when no shift fits (the photo has no room for decoys).

The benchmark's real-photo mode reads them with the reader (the floor: how often a
digit-free box is "read" as the true digit) and erases them as if they held digits (decoy
fidelity: PSNR against the untouched photo over those boxes).
"""

from __future__ import annotations

import numpy as np

from svhn_erase.boxes import Rect, clip_boxes

GAP = 2  # pixels between the moved group and any box (digit edges spill past tight boxes)
DIRECTIONS = ((0, -1), (0, 1), (-1, 0), (1, 0))  # (rows, columns): left, right, up, down


def _group(rects: list[Rect]) -> Rect:
    arr = np.asarray(rects)
    return Rect(int(arr[:, 0].min()), int(arr[:, 1].min()), int(arr[:, 2].max()),
                int(arr[:, 3].max()))


def _shift_along(group: Rect, rects: np.ndarray, shape: tuple[int, ...], dy: int, dx: int,
                 gap: int) -> int | None:
    """The smallest shift ``s >= 1`` in direction ``(dy, dx)`` that keeps the group inside the
    image and ``gap`` pixels clear of every rectangle (rows of ``rects``), or None."""
    h, w = shape[:2]
    # rectangles grown by the gap: the moved group must not meet any of them
    top, left = rects[:, 0] - gap, rects[:, 1] - gap
    bottom, right = rects[:, 2] + gap, rects[:, 3] + gap
    room = {(0, -1): group.left, (0, 1): w - group.right,
            (-1, 0): group.top, (1, 0): h - group.bottom}[(dy, dx)]
    for s in range(1, room + 1):
        t, lf = group.top + dy * s, group.left + dx * s
        b, r = group.bottom + dy * s, group.right + dx * s
        if not np.any((t < bottom) & (top < b) & (lf < right) & (left < r)):
            return s
    return None


def decoy_boxes(boxes: np.ndarray, shape: tuple[int, ...],
                gap: int = GAP) -> tuple[np.ndarray, np.ndarray] | None:
    """The decoys of a photo's boxes: ``(decoys, index)``, ``decoys`` (k', 4) int ``left, top,
    width, height``, one per box inside the image (``index``: which box), the group of them
    moved as the module says; None when the photo has no box inside it or no room."""
    clipped = clip_boxes(boxes, shape)
    index = np.array([i for i, r in enumerate(clipped) if r is not None], int)
    if len(index) == 0:
        return None
    rects = [clipped[i] for i in index]
    arr = np.asarray(rects, int)
    group = _group(rects)
    found = []
    for order, (dy, dx) in enumerate(DIRECTIONS):
        s = _shift_along(group, arr, shape, dy, dx, gap)
        if s is not None:
            found.append((s, order, dy * s, dx * s))
    if not found:
        return None
    _, _, oy, ox = min(found)
    decoys = np.stack([arr[:, 1] + ox, arr[:, 0] + oy, arr[:, 3] - arr[:, 1],
                       arr[:, 2] - arr[:, 0]], axis=1)
    return decoys.astype(int), index
