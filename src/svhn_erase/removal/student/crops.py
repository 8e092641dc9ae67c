"""Boxes with their context, cut to the student's fixed square size and mapped back.

Every box is grown by ``margin`` of its own width and height on each side (the context the
network and the fill see), cut from its image with the image's edge pixels repeated where
the grown rectangle leaves it, and resized to ``size`` x ``size``. The way back resizes a
``size`` x ``size`` map to the grown rectangle and keeps the part over the box.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from svhn_erase.boxes import Rect


@dataclass(frozen=True)
class Window:
    """Where one box's crop lies in its image: the grown rectangle (may leave the image) and
    the box inside it, both in image pixels."""

    top: int
    left: int
    height: int
    width: int
    box: Rect  # the box (clipped to the image), in image coordinates

    @property
    def inner(self) -> tuple[slice, slice]:
        """The box inside the window."""
        t, lft = self.box.top - self.top, self.box.left - self.left
        return slice(t, t + self.box.height), slice(lft, lft + self.box.width)


def window(rect: Rect, margin: float) -> Window:
    """The window of a box: ``rect`` grown by ``margin`` x its height / width on each side
    (at least one pixel)."""
    dy = max(1, int(round(margin * rect.height)))
    dx = max(1, int(round(margin * rect.width)))
    return Window(rect.top - dy, rect.left - dx, rect.height + 2 * dy, rect.width + 2 * dx, rect)


def cut(image: np.ndarray, win: Window, size: int) -> np.ndarray:
    """(size, size, 3) uint8: the window's pixels (edges repeated outside the image), resized
    with area averaging when shrinking and bilinear otherwise."""
    h, w = image.shape[:2]
    top, left = max(0, win.top), max(0, win.left)
    bottom, right = min(h, win.top + win.height), min(w, win.left + win.width)
    piece = image[top:bottom, left:right]
    pads = (top - win.top, win.top + win.height - bottom, left - win.left,
            win.left + win.width - right)
    if any(pads):
        piece = cv2.copyMakeBorder(piece, *pads, cv2.BORDER_REPLICATE)
    shrink = win.height > size and win.width > size
    return cv2.resize(piece, (size, size),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def cut_all(images: list[np.ndarray], windows: list[Window], scene_of: list[int],
            size: int) -> np.ndarray:
    """(n, size, size, 3) uint8: ``cut`` of every window from its scene's image."""
    out = np.empty((len(windows), size, size, 3), np.uint8)
    for i, (win, scene) in enumerate(zip(windows, scene_of, strict=True)):
        out[i] = cut(images[scene], win, size)
    return out


def to_tensor(crops: np.ndarray) -> torch.Tensor:
    """uint8 (n, s, s, 3) crops as the network's float input (n, 3, s, s) in [-1, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(crops)).permute(0, 3, 1, 2).float()
    return x.div_(127.5).sub_(1.0)


def back(square: np.ndarray, win: Window) -> np.ndarray:
    """A (size, size[, c]) float map resized to the window (bilinear), the box part only."""
    full = cv2.resize(square, (win.width, win.height), interpolation=cv2.INTER_LINEAR)
    return full[win.inner]


def in_square(rect: Rect, win: Window, size: int) -> tuple[float, float, float, float]:
    """``rect``'s ``top, left, bottom, right`` in the ``size`` x ``size`` coordinates of the
    crop of ``win``."""
    sy, sx = size / win.height, size / win.width
    return ((rect.top - win.top) * sy, (rect.left - win.left) * sx,
            (rect.bottom - win.top) * sy, (rect.right - win.left) * sx)


def _rect_masks(edges: torch.Tensor, size: int) -> torch.Tensor:
    """(n, k, 4) rectangles in square coordinates to (n, 1, size, size): 1 on the pixels
    whose centre lies inside any of a crop's k rectangles."""
    centre = torch.arange(size, dtype=torch.float32) + 0.5
    rows = (centre >= edges[..., 0:1]) & (centre < edges[..., 2:3])  # (n, k, size)
    cols = (centre >= edges[..., 1:2]) & (centre < edges[..., 3:4])
    return (rows[..., :, None] & cols[..., None, :]).any(1, keepdim=True).float()


def box_masks(windows: list[Window], size: int) -> torch.Tensor:
    """(n, 1, size, size) float: 1 on the crop pixels whose centre lies inside the box."""
    if not windows:
        return torch.zeros(0, 1, size, size)
    edges = torch.tensor([[in_square(w.box, w, size)] for w in windows], dtype=torch.float32)
    return _rect_masks(edges, size)


def other_box_masks(windows: list[Window], scene_of: list[int], size: int) -> torch.Tensor:
    """(n, 1, size, size) float: 1 on the crop pixels inside another box of the same scene
    (a neighbouring digit: no background to fill from)."""
    by_scene: dict[int, list[int]] = {}
    for i, scene in enumerate(scene_of):
        by_scene.setdefault(scene, []).append(i)
    most = max((len(v) for v in by_scene.values()), default=1)
    edges = torch.zeros(len(windows), max(most - 1, 1), 4)
    for i, (win, scene) in enumerate(zip(windows, scene_of, strict=True)):
        others = [in_square(windows[j].box, win, size) for j in by_scene[scene] if j != i]
        if others:
            edges[i, :len(others)] = torch.tensor(others)
    return _rect_masks(edges, size)


def to_square(mask: np.ndarray, win: Window, size: int) -> np.ndarray:
    """A box-sized bool mask placed in its window (zeros around) and resized to (size, size)
    float in [0, 1]: how a box-sized label becomes the network's target."""
    full = np.zeros((win.height, win.width), np.float32)
    full[win.inner] = mask
    shrink = win.height > size and win.width > size
    return cv2.resize(full, (size, size),
                      interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
