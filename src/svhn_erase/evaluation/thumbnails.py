"""The report's gallery thumbnails: the rectangle around an image's boxes, as small PNGs.

Per benchmarked image: the original, the clean truth and the true digit mask, and per method
its erased image, the mask it filled and (key-pixel methods) its key pixels against the
truth (``thumbnails``). Per real photo: the original, and per method its erased image, its
mask and what it made of the decoy boxes (``real_thumbnails``). Small regions are enlarged
without smoothing so single pixels stay visible.
"""

from __future__ import annotations

import cv2
import numpy as np

from svhn_erase.boxes import Rect, bounding_rect, clip_boxes, union_mask
from svhn_erase.evaluation.metrics import true_digit_mask
from svhn_erase.removal.methods.base import Erased

THUMB_MIN_HEIGHT = 72  # small regions are enlarged (nearest, integer factor) to this height
THUMB_MAX_WIDTH = 128  # and no thumbnail gets wider or taller than this
THUMB_MAX_HEIGHT = 120
REAL_MAX_WIDTH = 200  # real photos: the number and its decoys side by side
KEPT_BACKGROUND = (40, 220, 70)  # key pixel that truly is background: green
KEPT_DIGIT = (255, 40, 40)  # key pixel that truly is digit: red


def thumb_geometry(shape: tuple[int, ...], boxes: np.ndarray, max_width: int = THUMB_MAX_WIDTH,
                   max_height: int = THUMB_MAX_HEIGHT) -> tuple[Rect, float]:
    """The rectangle to show (the boxes' bounding rectangle plus 30 % of its height, at
    least 4 px) and the scale that fits it to the thumbnail size."""
    rect = bounding_rect(boxes, shape) or Rect(0, 0, shape[0], shape[1])
    rect = rect.grown(max(4, int(0.3 * max(rect.height, 1))), shape)
    scale = max(1.0, float(np.ceil(THUMB_MIN_HEIGHT / rect.height)))
    return rect, min(scale, max_width / rect.width, max_height / rect.height)


def png(region: np.ndarray, scale: float) -> bytes:
    """``region`` (RGB or gray uint8) resized by ``scale`` and encoded as PNG."""
    h, w = region.shape[:2]
    size = (max(1, int(round(w * scale))), max(1, int(round(h * scale))))
    interp = cv2.INTER_NEAREST if scale >= 1 else cv2.INTER_AREA
    resized = cv2.resize(np.ascontiguousarray(region), size, interpolation=interp)
    if resized.ndim == 3:
        resized = cv2.cvtColor(resized, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", resized)
    return buf.tobytes() if ok else b""


def place_masks(box_masks: list[np.ndarray], boxes: np.ndarray,
                shape: tuple[int, ...]) -> np.ndarray:
    """(H, W) bool: the union of per-box masks (each at its clipped box's size) placed at their
    boxes; a mask whose size does not fit its clipped box is ignored."""
    out = np.zeros(shape[:2], bool)
    for m, rect in zip(box_masks, clip_boxes(boxes, shape), strict=True):
        m = np.asarray(m, bool)
        if rect is not None and m.shape == (rect.height, rect.width):
            out[rect.slices] |= m
    return out


def keypix_overlay(image: np.ndarray, digits: np.ndarray, keypix: list[np.ndarray],
                   boxes: np.ndarray) -> np.ndarray:
    """RGB: the image in dim grey; kept pixels green if truly background, red if truly digit
    (``digits``: ``N_mask.png``, any digit's pixel counts as digit)."""
    kept = place_masks(keypix, boxes, image.shape)
    dim = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) * 0.4
    out = np.repeat(dim.astype(np.uint8)[..., None], 3, axis=2)
    background = digits == 0
    out[kept & background] = KEPT_BACKGROUND
    out[kept & ~background] = KEPT_DIGIT
    return out


def mask_rgb(mask: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """White = mask, dark grey = inside a box but not in the mask, black elsewhere."""
    out = np.zeros((*mask.shape, 3), np.uint8)
    out[union_mask(boxes, mask.shape)] = 60
    out[mask] = 255
    return out


def thumbnails(image: np.ndarray, clean: np.ndarray, digits: np.ndarray, boxes: np.ndarray,
               erased: dict[str, Erased]) -> dict[str, bytes]:
    """PNG per panel: ``original``, ``clean``, ``true_mask`` and per method ``NAME:erased``,
    ``NAME:mask`` (when it filled any pixel) and ``NAME:keypix`` (when it has key pixels)."""
    panels = {"original": image, "clean": clean,
              "true_mask": mask_rgb(true_digit_mask(digits, boxes), boxes)}
    for name, e in erased.items():
        panels[f"{name}:erased"] = e.image
        if e.mask.any():
            panels[f"{name}:mask"] = mask_rgb(e.mask, boxes)
        if e.keypix is not None:
            panels[f"{name}:keypix"] = keypix_overlay(image, digits, e.keypix, boxes)
    rect, scale = thumb_geometry(image.shape, boxes)
    return {k: png(v[rect.slices], scale) for k, v in panels.items()}


def real_thumbnails(image: np.ndarray, boxes: np.ndarray, decoys: np.ndarray | None,
                    erased: dict[str, Erased], on_decoys: dict[str, Erased]) -> dict[str, bytes]:
    """PNG per panel of a real photo, around its boxes and decoys: ``original``, ``decoys``
    (the decoy boxes, white), and per method ``NAME:erased``, ``NAME:mask`` (when it filled
    any pixel) and ``NAME:decoys`` (the photo with its decoy boxes erased by the method)."""
    shown = boxes if decoys is None else np.concatenate([boxes, decoys])
    panels = {"original": image}
    if decoys is not None:
        panels["decoys"] = mask_rgb(union_mask(decoys, image.shape), boxes)
    for name, e in erased.items():
        panels[f"{name}:erased"] = e.image
        if e.mask.any():
            panels[f"{name}:mask"] = mask_rgb(e.mask, boxes)
        if name in on_decoys:
            panels[f"{name}:decoys"] = on_decoys[name].image
    rect, scale = thumb_geometry(image.shape, shown, REAL_MAX_WIDTH, THUMB_MAX_HEIGHT)
    return {k: png(v[rect.slices], scale) for k, v in panels.items()}
