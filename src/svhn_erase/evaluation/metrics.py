"""Removal metrics against ground truth (SPEC §3): plain functions over arrays.

- ``psnr_over_boxes``: PSNR (RGB, 0-255, MSE over all channels) over the union of the boxes;
  identical pixels give ``PSNR_CAP`` dB instead of infinity, so averages stay finite.
- ``ssim_over_boxes``: SSIM on the smallest rectangle holding all boxes.
- ``keypix_precision_recall``: of the pixels a method keeps as background in one box, the
  share that are truly background (``N_mask.png == 0``; a pixel of another digit inside the
  box is not background either); of the true background pixels in the box, the share kept.
- ``removal_rate``: the share of erased digit crops an 11-class judge calls "no digit".

Boxes are ``(k, 4)`` arrays ``left, top, width, height`` in pixels; they are clipped to the
image here, and a box wholly outside the image counts for nothing. A metric that has nothing
to measure (no box pixel, no kept pixel, no crop) is ``None``.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import structural_similarity

from svhn_erase.model.nets import ConvNet

PSNR_CAP = 100.0  # dB reported for identical pixels
NO_DIGIT = 10  # the judge's "no digit" class
JUDGE_SIZE = 40


def box_rects(boxes: np.ndarray, shape: tuple[int, ...]) -> list[tuple[int, int, int, int] | None]:
    """Per box, ``(top, left, bottom, right)`` clipped to an image of ``shape``, or None when
    nothing of the box is inside."""
    height, width = shape[:2]
    rects: list[tuple[int, int, int, int] | None] = []
    for box in np.asarray(boxes, dtype=float).reshape(-1, 4):
        left, top, w, h = (int(round(v)) for v in box)
        t, b = max(0, top), min(height, top + h)
        lft, r = max(0, left), min(width, left + w)
        rects.append((t, lft, b, r) if b > t and r > lft else None)
    return rects


def union_mask(boxes: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: the union of the boxes, clipped to the image."""
    mask = np.zeros(shape[:2], bool)
    for rect in box_rects(boxes, shape):
        if rect is not None:
            t, lft, b, r = rect
            mask[t:b, lft:r] = True
    return mask


def bounding_rect(boxes: np.ndarray, shape: tuple[int, ...],
                  margin: int = 0) -> tuple[int, int, int, int] | None:
    """``(top, left, bottom, right)`` of the smallest rectangle holding every (clipped) box,
    grown by ``margin`` pixels per side and clipped; None when no box is inside the image."""
    rects = [r for r in box_rects(boxes, shape) if r is not None]
    if not rects:
        return None
    arr = np.asarray(rects)
    t, lft = arr[:, 0].min() - margin, arr[:, 1].min() - margin
    b, r = arr[:, 2].max() + margin, arr[:, 3].max() + margin
    return max(0, int(t)), max(0, int(lft)), min(shape[0], int(b)), min(shape[1], int(r))


def true_digit_mask(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels of any digit (``N_mask.png > 0``) inside the union of the boxes."""
    return (np.asarray(mask) > 0) & union_mask(boxes, np.asarray(mask).shape)


def place_masks(box_masks: list[np.ndarray], boxes: np.ndarray,
                shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: the union of per-box masks (each at its clipped box's size) placed at their
    boxes; a mask whose size does not fit its clipped box is ignored."""
    out = np.zeros(shape[:2], bool)
    for m, rect in zip(box_masks, box_rects(boxes, shape), strict=True):
        if rect is None:
            continue
        t, lft, b, r = rect
        m = np.asarray(m, bool)
        if m.shape == (b - t, r - lft):
            out[t:b, lft:r] |= m
    return out


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
    t, lft, b, r = rect
    a, c = erased[t:b, lft:r], clean[t:b, lft:r]
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


def judge_crops(image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """(k', 40, 40) uint8 gray crops of the boxes inside the image, as the judge reads them
    (``crops.crop_digit``: box crop, gray, resize, no margin); boxes outside are left out."""
    from svhn_erase.data.crops import crop_digit

    out = []
    for rect in box_rects(boxes, image.shape):
        if rect is not None:
            t, lft, b, r = rect
            out.append(crop_digit(image, (lft, t, r - lft, b - t), size=JUDGE_SIZE, gray=True))
    return np.stack(out) if out else np.zeros((0, JUDGE_SIZE, JUDGE_SIZE), np.uint8)


@torch.no_grad()
def judge_no_digit(judge: ConvNet, crops: np.ndarray, batch: int = 512) -> np.ndarray:
    """(N,) bool: the judge's arg-max is "no digit" (class 10) for each uint8 gray crop
    (N, 40, 40), normalized ``(x / 255 - 0.5) / 0.5`` as in training."""
    crops = np.asarray(crops, np.uint8)
    if len(crops) == 0:
        return np.zeros(0, bool)
    device = next(judge.parameters()).device
    judge.eval()
    x = torch.from_numpy(crops).float().div_(255.0).sub_(0.5).div_(0.5).unsqueeze(1)
    preds = [judge(x[s:s + batch].to(device)).argmax(1).cpu() for s in range(0, len(x), batch)]
    return torch.cat(preds).numpy() == NO_DIGIT


def removal_rate(judge: ConvNet, crops: np.ndarray) -> float | None:
    """Share of erased digit crops (N, 40, 40 uint8 gray) the 11-class judge calls "no
    digit"; None when there is no crop."""
    if judge.num_classes != NO_DIGIT + 1:
        raise ValueError(f"the judge must have {NO_DIGIT + 1} classes, not {judge.num_classes}")
    verdict = judge_no_digit(judge, crops)
    return float(verdict.mean()) if len(verdict) else None
