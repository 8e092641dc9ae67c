"""Key pixels of the original 2018 pipeline, and the helpers every key-pixel method shares.

Key pixels are the pixels inside a digit box that show the background; the GRNN regenerates
the box from them. The original found them from by-products of the digit classifier
(SPEC §2), both on the classifier's 40 x 40 input:

- ``seed_fmap``, the method it used: the first conv layer's 48 maps reduced per pixel to
  mean - std, histogrammed into equal-width buckets; the pixels strictly inside the most
  populated bucket are "quiet" (background), resized back to the crop (Pillow's nearest);
  the GRNN's pattern pixels are the quiet pixels on a grid plus the 4 corners.
- ``seed_grad``, its first try: the gradient of the predicted class score with respect to
  the input, min-max normalized; its lowest band is background.

This project's own method is in ``segment``. Masks are at the crop's own resolution
(True = background).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from PIL import Image

from svhn_erase.data.crops import normalize
from svhn_erase.model.inference import model_device
from svhn_erase.model.nets import ConvNet

INPUT_SIZE = 40  # the classifier's input side (SPEC §2)

_SQUARE = np.ones((3, 3), np.uint8)
_CROSS = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]], np.uint8)


@dataclass
class KeyPixels:
    """Key pixels of one crop: the background mask and the GRNN pattern pixels, both (h, w)."""

    background: np.ndarray  # bool: pixels judged background
    pattern: np.ndarray  # bool: the pixels used as GRNN pattern nodes (a subset)


def dilate(mask: np.ndarray, iterations: int = 1, cross: bool = False) -> np.ndarray:
    """Binary dilation by a 3 x 3 square (or cross), as scipy.ndimage.binary_dilation with
    zero borders, but through OpenCV: this runs once per digit, where scipy's overhead
    dominates."""
    out = cv2.dilate(mask.astype(np.uint8), _CROSS if cross else _SQUARE, iterations=iterations)
    return out.astype(bool)


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """(h, w) bool ``mask`` with its enclosed holes filled: every pixel not joined to the
    border through unmasked pixels (4-neighbourhood), as ``scipy.ndimage.binary_fill_holes``
    gives, by one OpenCV flood fill (about 3x faster on the small masks of boxes)."""
    h, w = mask.shape
    canvas = np.zeros((h + 2, w + 2), np.uint8)
    canvas[1:-1, 1:-1] = mask
    cv2.floodFill(canvas, None, (0, 0), 2, flags=4)
    return canvas[1:-1, 1:-1] != 2


def fill_holes_like(mask: np.ndarray, like: np.ndarray, max_px: float = np.inf) -> np.ndarray:
    """``mask`` with the holes it encloses made True where most of a hole's pixels are
    ``like`` (a hole: a 4-connected group of at most ``max_px`` False pixels not touching
    the mask's edge)."""
    n, label, stats, _ = cv2.connectedComponentsWithStats((~mask).view(np.uint8),
                                                           connectivity=4)
    if n <= 1:
        return mask
    h, w = mask.shape
    left, top, width, height, area = stats.T
    hole = (left > 0) & (top > 0) & (left + width < w) & (top + height < h) & (area <= max_px)
    hole &= np.bincount(label.ravel(), like.ravel(), n) * 2 > area
    hole[0] = False  # label 0: the mask's own pixels
    return mask | hole[label]


def classifier_input(crops: list[np.ndarray]) -> torch.Tensor:
    """Digit crops (each (h, w, 3) uint8) as the classifier's (n, 1, 40, 40) input in [-1, 1]:
    the training preprocessing (``crops.crop_digit`` of the whole crop, ``crops.normalize``)."""
    if not crops:
        return torch.zeros(0, 1, INPUT_SIZE, INPUT_SIZE)
    return normalize(np.stack([whole_crop_digit(c) for c in crops]))


def whole_crop_digit(crop: np.ndarray) -> np.ndarray:
    """``crops.crop_digit`` of a whole (h, w, 3) uint8 crop at the classifier's size, without
    its box arithmetic and the copies of the crop it makes (the same pixels: PIL's luma,
    then its bilinear resize)."""
    gray = Image.fromarray(np.ascontiguousarray(crop)).convert("L")
    return np.asarray(gray.resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR), dtype=np.uint8)


def resize_nearest(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resize of a 2-D bool mask to (h, w): Pillow's ``NEAREST``, as the
    original (its ties fall a pixel differently from other libraries')."""
    small = Image.fromarray(np.asarray(mask, np.uint8))
    return np.asarray(small.resize((w, h), Image.NEAREST)) == 1


def grid_pattern(background: np.ndarray, spacing: int) -> np.ndarray:
    """The background pixels on a ``spacing`` grid, plus the 4 corners (always)."""
    h, w = background.shape
    pattern = np.zeros_like(background, dtype=bool)
    pattern[::spacing, ::spacing] = background[::spacing, ::spacing]
    pattern[0, 0] = pattern[0, w - 1] = pattern[h - 1, 0] = pattern[h - 1, w - 1] = True
    return pattern


def quiet_bucket(values: np.ndarray, buckets: int) -> np.ndarray:
    """Pixels of ``values`` strictly inside the edges of the most populated of ``buckets``
    equal-width buckets (``np.histogram``'s; the first of equally populated ones), as the
    original: a pixel on a bucket's edge is never quiet."""
    counts, edges = np.histogram(values, bins=buckets)
    k = int(np.argmax(counts))
    return (values > edges[k]) & (values < edges[k + 1])


def mean_minus_std(model: ConvNet, x: torch.Tensor) -> torch.Tensor:
    """First-layer feature maps of ``x`` reduced per pixel to mean - std over the maps."""
    with torch.no_grad():
        maps = model.first_conv(x)
    return maps.mean(1) - maps.std(1)


def seed_fmap(model: ConvNet, x40: torch.Tensor, sizes: list[tuple[int, int]],
              buckets: int, spacing: int) -> list[KeyPixels]:
    """The original key-pixel method on a batch of 40 x 40 inputs; masks at each crop size."""
    reduced = mean_minus_std(model, x40.to(model_device(model))).cpu().numpy()
    out = []
    for r, (h, w) in zip(reduced, sizes, strict=True):
        background = resize_nearest(quiet_bucket(r, buckets), h, w)
        out.append(KeyPixels(background, grid_pattern(background, spacing)))
    return out


def input_gradient(model: ConvNet, x40: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(|d score_pred / d input|, predicted class)`` for a batch of 40 x 40 inputs."""
    x = x40.to(model_device(model)).clone().requires_grad_(True)
    with torch.enable_grad():
        scores = model(x)
        preds = scores.argmax(1)
        scores.gather(1, preds[:, None]).sum().backward()
    return x.grad.abs()[:, 0].cpu().numpy(), preds.cpu().numpy()


def seed_grad(model: ConvNet, x40: torch.Tensor, sizes: list[tuple[int, int]],
              band: float, spacing: int) -> list[KeyPixels]:
    """The original's first try: the lowest ``band`` (0-1) of the min-max normalized input
    gradient is background."""
    grads, _ = input_gradient(model, x40)
    out = []
    for g, (h, w) in zip(grads, sizes, strict=True):
        span = g.max() - g.min()
        norm = (g - g.min()) / span if span > 0 else np.zeros_like(g)
        background = resize_nearest(norm <= band, h, w)
        out.append(KeyPixels(background, grid_pattern(background, spacing)))
    return out
