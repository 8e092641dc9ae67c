"""The onion peel's rings: the hole's pixels in the order the peel fills them, and a Gaussian
blur read at just one ring's pixels. Both peels (``fill``'s weighted mean and
``linear_peel``'s local planes) walk the hole this way."""

from __future__ import annotations

from collections.abc import Iterator

import cv2
import numpy as np


def rings(known: np.ndarray, hole: np.ndarray, step: int
          ) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """The hole's pixels ring by ring from the outside in, each ring the pixels within
    ``step`` pixels (8-neighbourhood) of the known ones (``known``: bool, not changed) or,
    when none are, all that is left: per ring its rows, its columns and whether more rings
    follow."""
    kernel = np.ones((3, 3), np.uint8)
    reached = known.astype(np.uint8)
    remaining = hole.copy()
    while remaining.any():
        layer = remaining & cv2.dilate(reached, kernel, iterations=step).view(bool)
        if not layer.any():
            layer = remaining
        remaining &= ~layer
        ys, xs = np.nonzero(layer)
        yield ys, xs, bool(remaining.any())
        reached |= layer.view(np.uint8)


def blur_at(array: np.ndarray, ys: np.ndarray, xs: np.ndarray, blur: dict) -> np.ndarray:
    """``cv2.GaussianBlur(array, **blur)`` (``blur`` with ``ksize`` and a constant border) at
    the pixels ``(ys, xs)`` only, taken over the window they need: their bounding box grown
    by the kernel's reach, where OpenCV gives the same values as over the whole array."""
    h, w = array.shape[:2]
    rx, ry = blur["ksize"][0] // 2, blur["ksize"][1] // 2
    top, left = max(int(ys.min()) - ry, 0), max(int(xs.min()) - rx, 0)
    window = array[top:min(int(ys.max()) + ry + 1, h), left:min(int(xs.max()) + rx + 1, w)]
    return cv2.GaussianBlur(np.ascontiguousarray(window), **blur)[ys - top, xs - left]
