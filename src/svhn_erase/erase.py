"""The removal pipeline: classify each digit box, find its key pixels, regenerate, paste back.

``erase_images`` takes parents and their boxes and returns the erased parents. It batches
every step across all digits of all images given: one classifier forward, one batch of
feature maps, one batch of GRNN solves. Two methods:

- ``default``: key pixels from native-resolution feature maps and colour clustering with a
  context margin (``keypixels.default_background``), the digit grown by a pixel; exact GRNN
  with per-crop sigma on the key pixels near the digit; only the digit pixels (and a blended
  one-pixel seam, inside the box) are replaced.
- ``seed``: the original 2018 pipeline (40 x 40 feature-map key pixels, Adagrad GRNN with
  grid augmentation, whole generated crop pasted over the box).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from svhn_erase import infill, keypixels, paste
from svhn_erase.errors import SvhnEraseError
from svhn_erase.nets import ConvNet

METHODS = ("default", "seed")
CONTEXT_MARGIN = 3
_CLASSIFY_BATCH = 512


@dataclass
class Erased:
    """One erased parent and what the method decided for each of its boxes."""

    image: np.ndarray  # (H, W, 3) uint8, the erased parent
    replaced: np.ndarray  # (H, W) bool, pixels that were written
    keypix: list[np.ndarray]  # per box, (h, w) bool: pixels kept as background key pixels
    digit_mask: list[np.ndarray]  # per box, (h, w) bool: pixels judged digit (filled)
    preds: np.ndarray  # (k,) predicted class per box


def clip_box(box: np.ndarray, height: int, width: int) -> tuple[int, int, int, int] | None:
    """``(top, left, bottom, right)`` of a ``left, top, width, height`` box inside the image,
    or None when nothing of it is inside."""
    left, top, w, h = (int(round(float(v))) for v in box[:4])
    t, b = max(0, top), min(height, top + h)
    lft, r = max(0, left), min(width, left + w)
    if b <= t or r <= lft:
        return None
    return t, lft, b, r


def classify(model: ConvNet, x40: torch.Tensor) -> np.ndarray:
    """Predicted class per 40 x 40 input (batched)."""
    device = next(model.parameters()).device
    preds = []
    with torch.no_grad():
        for s in range(0, len(x40), _CLASSIFY_BATCH):
            preds.append(model(x40[s:s + _CLASSIFY_BATCH].to(device)).argmax(1).cpu())
    return torch.cat(preds).numpy() if preds else np.zeros(0, int)


def erase_images(images: list[np.ndarray], boxes: list[np.ndarray], model: ConvNet,
                 method: str = "default", progress: bool = False) -> list[Erased]:
    """Erase the digits in ``boxes[i]`` (k, 4: left, top, width, height) from ``images[i]``.

    Boxes are clipped to the image; a box entirely outside gets empty masks and class -1.
    """
    if method not in METHODS:
        raise SvhnEraseError(f"unknown erase method {method!r}; choose one of {METHODS}")
    if len(images) != len(boxes):
        raise ValueError("images and boxes must have the same length")
    model.eval()
    device = next(model.parameters()).device
    digits: list[tuple[int, int, tuple[int, int, int, int]]] = []  # (image, box index, clip)
    for i, (img, bx) in enumerate(zip(images, boxes, strict=True)):
        for j, box in enumerate(np.asarray(bx).reshape(-1, 4)):
            clipped = clip_box(box, img.shape[0], img.shape[1])
            if clipped is not None:
                digits.append((i, j, clipped))
    crops = [images[i][t:b, lft:r] for i, _, (t, lft, b, r) in digits]
    x40 = keypixels.classifier_input(crops)
    preds = classify(model, x40)

    outputs = [img.copy() for img in images]
    replaced = [np.zeros(img.shape[:2], bool) for img in images]
    keypix = [[np.zeros((0, 0), bool)] * len(np.asarray(bx).reshape(-1, 4)) for bx in boxes]
    digit_mask = [list(k) for k in keypix]
    box_preds = [np.full(len(k), -1, int) for k in keypix]
    for n, (i, j, _) in enumerate(digits):
        box_preds[i][j] = preds[n]

    if method == "seed":
        sizes = [c.shape[:2] for c in crops]
        kps = keypixels.seed_fmap(model, x40, sizes)
        generated = infill.fill_seed(crops, [k.pattern for k in kps], device=device)
        for (i, j, (t, lft, _, _)), kp, gen in zip(digits, kps, generated, strict=True):
            replaced[i][t:t + gen.shape[0], lft:lft + gen.shape[1]] |= paste.paste_whole(
                outputs[i], t, lft, gen)
            keypix[i][j] = kp.background
            digit_mask[i][j] = ~kp.background
    else:
        ctx, inner, origin = [], [], []
        for i, _, (t, lft, b, r) in digits:
            h, w = images[i].shape[:2]
            ct, cl = max(0, t - CONTEXT_MARGIN), max(0, lft - CONTEXT_MARGIN)
            cb, cr = min(h, b + CONTEXT_MARGIN), min(w, r + CONTEXT_MARGIN)
            ctx.append(images[i][ct:cb, cl:cr])
            inner.append((slice(t - ct, b - ct), slice(lft - cl, r - cl)))
            origin.append((ct, cl))
        backgrounds = keypixels.default_background(model, ctx, inner)
        holes, rings = [], []
        for bg, (rs, cs) in zip(backgrounds, inner, strict=True):
            in_box = np.zeros(bg.shape, bool)
            in_box[rs, cs] = True
            hole = ~bg & in_box
            holes.append(hole)
            rings.append(paste.seam_ring(hole, in_box))
        fills = infill.fill_default(ctx, backgrounds, [h | r for h, r in
                                                       zip(holes, rings, strict=True)],
                                    device=device)
        for (i, j, _), (ct, cl), (rs, cs), bg, hole, ring, fill in zip(
                digits, origin, inner, backgrounds, holes, rings, fills, strict=True):
            written = paste.paste(outputs[i], ct, cl, fill, hole, ring)
            replaced[i][ct:ct + hole.shape[0], cl:cl + hole.shape[1]] |= written
            keypix[i][j] = bg[rs, cs]
            digit_mask[i][j] = hole[rs, cs]
    return [Erased(outputs[i], replaced[i], keypix[i], digit_mask[i], box_preds[i])
            for i in range(len(images))]
