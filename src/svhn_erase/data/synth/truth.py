"""Stage 6 of the recipe: the ground truth. ``mask`` holds k (1-based, digitStruct order)
where the k-th digit's degraded cover exceeds ``mask_threshold`` (a later digit wins where
two overlap); each box is the tight box of the digit's visible ink (cover above
``box_threshold``) grown by a few pixels per side like a human annotator, clipped to the
image. Beyond the mask grown by ``halo_px`` the image is made equal to the clean scene.
``digit_mask`` draws the mask at any threshold (``data synth --mask-threshold``)."""

from __future__ import annotations

import cv2
import numpy as np

from svhn_erase.data.synth.difficulty import Difficulty


def _box(rng: np.random.Generator, pixels: np.ndarray, digit: int,
         grow_range: tuple[int, int]) -> np.ndarray:
    """label, left, top, width, height: the tight box of ``pixels`` grown 0-2 px per side."""
    label = digit if digit else 10
    ys, xs = np.nonzero(pixels)
    grow = rng.integers(*grow_range, size=4)
    if len(xs) == 0:
        return np.array([label, 0, 0, 1, 1], np.float64)
    h, w = pixels.shape
    x0 = max(0, int(xs.min()) - int(grow[0]))
    y0 = max(0, int(ys.min()) - int(grow[1]))
    x1 = min(w - 1, int(xs.max()) + int(grow[2]))
    y1 = min(h - 1, int(ys.max()) + int(grow[3]))
    return np.array([label, x0, y0, x1 - x0 + 1, y1 - y0 + 1], np.float64)


def ground_truth(rng: np.random.Generator, alphas: list[np.ndarray], digits: np.ndarray,
                 diff: Difficulty) -> tuple[np.ndarray, np.ndarray]:
    """``(mask, boxes)`` from each digit's degraded cover (``alphas``, the camera's
    ``geometry`` of it): the (h, w) uint8 digit mask and the (k, 5) float64 boxes
    ``label, left, top, width, height`` (label 10 for digit 0)."""
    boxes = np.zeros((len(alphas), 5), np.float64)
    for j, alpha in enumerate(alphas):
        # the visible ink; a thin stroke blurred below the threshold is boxed by its peak
        visible = alpha > min(diff.box_threshold, 0.5 * float(alpha.max()))
        boxes[j] = _box(rng, visible, int(digits[j]), diff.box_grow)
    return digit_mask(alphas, diff.mask_threshold), boxes


def digit_mask(alphas: list[np.ndarray], threshold: float) -> np.ndarray:
    """The (h, w) uint8 mask: k where the k-th digit's degraded cover exceeds ``threshold``
    (a later digit wins where two overlap)."""
    mask = np.zeros(alphas[0].shape[:2], np.uint8)
    for j, alpha in enumerate(alphas):
        mask[alpha > threshold] = j + 1
    return mask


def keep_clean_beyond_halo(image: np.ndarray, clean: np.ndarray, mask: np.ndarray,
                           halo_px: int) -> np.ndarray:
    """``image`` near the digits, ``clean`` beyond ``halo_px`` of the mask (square
    neighbourhood), feathered over the last two pixels between."""
    dist = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_C, 3)
    weight = np.clip((halo_px + 1 - dist) / 2, 0, 1)[:, :, None]
    return np.where(weight >= 1, image,
                    (clean + weight * (image.astype(np.float32) - clean)).round()
                    .astype(np.uint8))
