"""What kind of background each digit sits on: flat, gradient, textured or plaque.

The benchmark breaks its figures down by these kinds (``bench`` tables, ``summary.json``'s
``by_kind``, the ``background`` columns of ``results.csv`` / ``digits.csv``, the reports).
A digit's kind is decided on a window: its box grown by a quarter of its larger side (at
least ``MIN_MARGIN`` px), in luma (0-255), from the pixels that show background:

- with ground truth, the **clean** scene in the whole window (no digit there);
- on real photos, the window **outside every box** (the ring round the number), since the
  pixels under the boxes show the digits.

Measured on those pixels (``WindowStats``):

- ``texture``: the robust RMS (1.4826 x the median absolute value) of the luma less its
  Gaussian blur (sigma ``TEXTURE_SIGMA``), away (3 px) from strong steps: the fine detail a
  smooth fill cannot restore (a plaque's border does not make it); when under
  ``EDGE_FREE`` of the window is away from steps, over the whole window.
  Above ``TEXTURED`` levels: **textured** (brick, wood, foliage, grain, rough plaster);
- ``edge_share``: the share of the ring (the window outside the box grown by a pixel) on a
  strong step (gradient magnitude of the blurred luma over ``EDGE`` levels per pixel), and
  ``contrast``, the ring's luma spread (90th less 10th percentile). A strong step between
  box and window border along a good part of the ring (``edge_share >= PLAQUE_SHARE``) with
  a spread over ``PLAQUE_CONTRAST``: **plaque** (the number on a plate, a frame or a sign
  border inside the context);
- ``slope``: the change of a least-squares plane fit over the window's diagonal. Over
  ``GRADIENT`` levels: **gradient** (lighting, vignette, shading);
- otherwise **flat**.

The tests are taken in that order (textured first: a brick wall has edges everywhere but is
not a plaque). The thresholds were set by looking at the generated tuning split (train
style, seed 21), never at the evaluation splits.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svhn_erase.boxes import Rect

KINDS = ("flat", "gradient", "textured", "plaque")
MIN_MARGIN = 3  # px of context at least
TEXTURE_SIGMA = 1.5
TEXTURED = 2.5  # robust RMS of the high-pass luma, 0-255 levels
EDGE = 6.0  # levels per pixel: a strong step
EDGE_FREE = 0.25  # share of the window away from steps under which it is all texture
PLAQUE_SHARE = 0.25  # share of the ring's pixels on a strong step
PLAQUE_CONTRAST = 30.0  # levels: the ring's luma spread, 90th less 10th percentile
GRADIENT = 18.0  # levels of plane change across the window's diagonal


@dataclass(frozen=True)
class WindowStats:
    """The measures a kind is decided on (see the module docstring)."""

    texture: float
    edge_share: float
    contrast: float
    slope: float

    @property
    def kind(self) -> str:
        """``flat``, ``gradient``, ``textured`` or ``plaque``."""
        if self.texture > TEXTURED:
            return "textured"
        if self.edge_share >= PLAQUE_SHARE and self.contrast > PLAQUE_CONTRAST:
            return "plaque"
        if self.slope > GRADIENT:
            return "gradient"
        return "flat"


def luma(rgb: np.ndarray) -> np.ndarray:
    """(h, w) float32 luma, 0-255, of an (h, w, 3) uint8 image."""
    rgb = rgb.astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def window_of(rect: Rect, shape: tuple[int, ...]) -> Rect:
    """The window a box's kind is decided on: the box grown by a quarter of its larger side
    (at least ``MIN_MARGIN`` px), clipped to the image."""
    return rect.grown(max(MIN_MARGIN, max(rect.height, rect.width) // 4), shape)


def _blur_known(values: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``values`` over the ``known`` pixels only (normalized convolution)."""
    k = known.astype(np.float32)
    num = cv2.GaussianBlur(values * k, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(k, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return num / np.maximum(den, 1e-6)


def _plane_slope(lum: np.ndarray, known: np.ndarray) -> float:
    """Change of the least-squares plane through the known pixels across the diagonal."""
    ys, xs = np.nonzero(known)
    if len(ys) < 3:
        return 0.0
    a = np.stack([np.ones(len(ys)), ys, xs], 1).astype(np.float64)
    coef = np.linalg.lstsq(a, lum[ys, xs].astype(np.float64), rcond=None)[0]
    h, w = lum.shape
    return float(np.hypot(coef[1] * h, coef[2] * w))


def _grown(mask: np.ndarray, side: int) -> np.ndarray:
    return cv2.dilate(mask.astype(np.uint8), np.ones((side, side), np.uint8)).astype(bool)


def window_stats(lum: np.ndarray, known: np.ndarray, box: np.ndarray) -> WindowStats:
    """The measures of one window: ``lum`` (h, w) luma, ``known`` the pixels that show
    background, ``box`` the digit's box inside the window (both (h, w) bool)."""
    if known.sum() < 4:
        return WindowStats(0.0, 0.0, 0.0, 0.0)
    smooth = _blur_known(lum, known, TEXTURE_SIGMA)
    inner = cv2.erode(known.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    inner = inner if inner.any() else known
    gy, gx = np.gradient(smooth)
    strong = (np.hypot(gx, gy) > EDGE) & inner
    away = inner & ~_grown(strong, 7)
    if away.sum() < EDGE_FREE * inner.sum():  # steps nearly everywhere: measure them all
        away = inner
    texture = float(np.median(np.abs(lum - smooth)[away])) * 1.4826  # robust RMS
    ring = known & ~_grown(box, 3)
    band = ring & inner
    edge_share = float(strong[band].mean()) if band.any() else 0.0
    spread = lum[ring] if ring.any() else lum[known]
    contrast = float(np.percentile(spread, 90) - np.percentile(spread, 10))
    return WindowStats(texture, edge_share, contrast, _plane_slope(smooth, known))


def kind_of(image: np.ndarray, rect: Rect, occupied: np.ndarray | None = None) -> str:
    """The background kind of the digit boxed by ``rect`` in ``image`` (H, W, 3 uint8):
    ``image`` is the clean scene (ground truth; ``occupied`` None) or the photo itself, with
    ``occupied`` (H, W) bool marking the pixels under any box, which are left out."""
    win = window_of(rect, image.shape)
    lum = luma(image[win.slices])
    box = np.zeros(lum.shape, bool)
    box[rect.top - win.top:rect.bottom - win.top, rect.left - win.left:rect.right - win.left] = True
    known = np.ones(lum.shape, bool) if occupied is None else ~occupied[win.slices]
    return window_stats(lum, known, box).kind
