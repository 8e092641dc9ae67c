"""Removal metrics against ground truth (SPEC §3): plain functions over arrays.

- ``psnr_over_boxes``: PSNR (RGB, 0-255, MSE over all channels) over the union of the boxes;
  identical pixels give ``PSNR_CAP`` dB instead of infinity, so averages stay finite.
- ``ssim_over_boxes``: SSIM on the smallest rectangle holding all boxes.
- ``keypix_precision_recall``: of the pixels a method keeps as background in one box, the
  share that are truly background (``N_mask.png == 0``; a pixel of another digit inside the
  box is not background either); of the true background pixels in the box, the share kept.

The removal rate (the share of erased digits an independent judge calls "no digit") is in
``judge``. Boxes are ``(k, 4)`` arrays ``left, top, width, height`` in pixels, clipped to
the image by ``boxes``; a box wholly outside the image counts for nothing. A metric that has
nothing to measure (no box pixel, no kept pixel) is ``None``.
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import structural_similarity

from svhn_erase.boxes import bounding_rect, union_mask

PSNR_CAP = 100.0  # dB reported for identical pixels


def true_digit_mask(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of any digit (``N_mask.png > 0``) inside the union of the boxes."""
    return (np.asarray(mask) > 0) & union_mask(boxes, np.asarray(mask).shape)


def psnr_over_boxes(erased: np.ndarray, clean: np.ndarray, boxes: np.ndarray,
                    cap: float = PSNR_CAP) -> float | None:
    """PSNR in dB between ``erased`` and ``clean`` (H, W, 3 uint8) over the union of the boxes,
    MSE over all channels; at most ``cap`` (identical pixels give ``cap``)."""
    if erased.shape != clean.shape:
        raise ValueError(f"erased {erased.shape} and clean {clean.shape} differ in shape")
    region = union_mask(boxes, erased.shape)
    if not region.any():
        return None
    diff = erased[region].astype(np.float64) - clean[region].astype(np.float64)
    mse = float(np.mean(diff * diff))
    if mse == 0.0:
        return float(cap)
    return float(min(cap, 10.0 * np.log10(255.0**2 / mse)))


def _ssim_single_window(a: np.ndarray, b: np.ndarray, data_range: float) -> float:
    """SSIM of two tiny images as one window (the Wang et al. formula), averaged over channels;
    for rectangles too small for a sliding window."""
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    a = a.reshape(-1, a.shape[-1]).astype(np.float64)
    b = b.reshape(-1, b.shape[-1]).astype(np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    var_a, var_b = a.var(0), b.var(0)
    cov = ((a - mu_a) * (b - mu_b)).mean(0)
    num = (2 * mu_a * mu_b + c1) * (2 * cov + c2)
    s = num / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


def ssim_over_boxes(erased: np.ndarray, clean: np.ndarray, boxes: np.ndarray) -> float | None:
    """SSIM (scikit-image, data range 255, per channel averaged) on the smallest rectangle
    holding all boxes; the window shrinks to fit small rectangles (odd, 3..7), and a rectangle
    under 3 pixels on a side is scored as a single window."""
    if erased.shape != clean.shape:
        raise ValueError(f"erased {erased.shape} and clean {clean.shape} differ in shape")
    rect = bounding_rect(boxes, erased.shape)
    if rect is None:
        return None
    a, c = erased[rect.slices], clean[rect.slices]
    if a.ndim == 2:
        a, c = a[..., None], c[..., None]
    side = min(a.shape[0], a.shape[1])
    if side < 3:
        return _ssim_single_window(a, c, 255.0)
    win = min(7, side if side % 2 else side - 1)
    return float(structural_similarity(a, c, win_size=win, channel_axis=-1, data_range=255))


def keypix_precision_recall(keypix: np.ndarray, true_mask_crop: np.ndarray,
                            k: int) -> tuple[float | None, float | None]:
    """``(precision, recall)`` of one box's key pixels against the ground-truth mask.

    ``keypix`` (h, w) bool: the pixels the method keeps as background inside the box of
    digit ``k`` (1-based, the value of that digit in ``N_mask.png``); ``true_mask_crop`` the
    mask cut by the same (clipped) box. Background is ``mask == 0`` only: pixels of digit
    ``k`` and of any other digit reaching into the box are not. Precision is None when
    nothing is kept, recall None when the box has no background; both None when the shapes
    differ (a box outside the image).
    """
    keypix = np.asarray(keypix, bool)
    true_mask_crop = np.asarray(true_mask_crop)
    if k < 1:
        raise ValueError(f"digit index k is 1-based, got {k}")
    if keypix.shape != true_mask_crop.shape or keypix.size == 0:
        return None, None
    background = true_mask_crop == 0
    kept = int(keypix.sum())
    n_bg = int(background.sum())
    hit = int((keypix & background).sum())
    precision = hit / kept if kept else None
    recall = hit / n_bg if n_bg else None
    return precision, recall
