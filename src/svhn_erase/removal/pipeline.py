"""The removal pipeline: classify each digit box, find its key pixels, regenerate, paste back.

``erase_images`` takes parents and their boxes and returns the erased parents. It batches
every step across all digits of all images given: one classifier forward, one batch of
feature maps, one batch of GRNN solves. Two methods:

- ``default``: key pixels from native-resolution feature maps and colour clustering with a
  context margin of ``CONTEXT_MARGIN`` pixels (``keypixels.default_background``); exact GRNN
  with per-crop sigma on the key pixels near the digit; only the digit pixels (and a blended
  one-pixel seam, inside the box) are replaced. The key pixels reported per box are the
  pixels left exactly as they were (background, not in the seam): the GRNN's node pool.
- ``seed``: the original 2018 pipeline (40 x 40 feature-map key pixels, Adagrad GRNN with
  grid augmentation, whole generated crop pasted over the box).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from svhn_erase.atomic_io import write_image, write_json
from svhn_erase.data.split import iter_parents, load_table, read_rgb, split_dir
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal import infill, keypixels, paste

METHODS = ("default", "seed")
CONTEXT_MARGIN = 2
_CLASSIFY_BATCH = 96  # CPU: batches of ~100 40 x 40 crops stay in cache (512 ran 1.4x slower)


@dataclass
class Erased:
    """One erased parent and what the method decided for each of its boxes."""

    image: np.ndarray  # (H, W, 3) uint8, the erased parent
    replaced: np.ndarray  # (H, W) bool, pixels that were written
    keypix: list[np.ndarray]  # per box, (h, w) bool: pixels kept untouched as background
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


def _pooled_block(block: torch.nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """One eval-mode conv block (Conv2d, BatchNorm2d, ReLU, MaxPool2d(2)) with the pooling
    moved right after the convolution, so batch norm and ReLU run on a quarter of the values.

    Exact: batch norm is per channel ``a x + b`` and ReLU is non-decreasing, so the 2 x 2
    maximum commutes with them where ``a >= 0``; where ``a < 0`` it turns into the minimum.
    """
    conv, norm, relu, pool = block
    y = conv(x)
    high = pool(y)
    if norm.weight is not None and bool((norm.weight < 0).any()):
        flip = (norm.weight < 0).view(1, -1, 1, 1)
        high = torch.where(flip, -pool(-y), high)
    return relu(norm(high))


def class_scores(model: ConvNet, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` in eval mode (dropout off), via ``_pooled_block`` for the conv blocks."""
    out = x
    for block in (model.layer1, model.layer2, model.layer3):
        out = _pooled_block(block, out)
    return model.head(out.flatten(1))


def classify(model: ConvNet, x40: torch.Tensor) -> np.ndarray:
    """Predicted class per 40 x 40 input (batched)."""
    device = next(model.parameters()).device
    preds = []
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model.to(memory_format=layout)  # channels-last convolutions are faster on the CPU
    with torch.inference_mode():
        for s in range(0, len(x40), _CLASSIFY_BATCH):
            batch = x40[s:s + _CLASSIFY_BATCH].to(device).contiguous(memory_format=layout)
            preds.append(class_scores(model, batch).argmax(1).cpu())
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
        ctx, inner, origin, others = [], [], [], []
        for i, j, (t, lft, b, r) in digits:
            h, w = images[i].shape[:2]
            ct, cl = max(0, t - CONTEXT_MARGIN), max(0, lft - CONTEXT_MARGIN)
            cb, cr = min(h, b + CONTEXT_MARGIN), min(w, r + CONTEXT_MARGIN)
            ctx.append(images[i][ct:cb, cl:cr])
            inner.append((slice(t - ct, b - ct), slice(lft - cl, r - cl)))
            origin.append((ct, cl))
            other = np.zeros((cb - ct, cr - cl), bool)
            for i2, j2, (t2, l2, b2, r2) in digits:
                if i2 == i and j2 != j:
                    other[max(0, t2 - ct):max(0, b2 - ct), max(0, l2 - cl):max(0, r2 - cl)] = True
            others.append(other)
        backgrounds = keypixels.default_background(model, ctx, inner, others)
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
            keypix[i][j] = (bg & ~ring)[rs, cs]  # the seam is regenerated too: not kept
            digit_mask[i][j] = hole[rs, cs]
    return [Erased(outputs[i], replaced[i], keypix[i], digit_mask[i], box_preds[i])
            for i in range(len(images))]


# --------------------------------------------------------------------------- commands

_IMAGES_PER_BATCH = 64


def _load_model(weights: str | os.PathLike[str] | None) -> ConvNet:
    from svhn_erase.model.classify import default_device

    return load_classifier(resolve_weights(weights), device=default_device())


def erase_split(data: str | os.PathLike[str], split_name: str, out: str | os.PathLike[str],
                weights: str | os.PathLike[str] | None = None, method: str = "default",
                limit: int | None = None, progress: bool = True) -> dict:
    """Erase every digit of a split: ``OUT/N.png``, ``OUT/masks/N.png``, ``OUT/timing.json``.

    The timing covers the erase stage alone (classifier, key pixels, infill, paste), not
    reading or writing files. Returns the timing dictionary.
    """
    if method not in METHODS:
        raise SvhnEraseError(f"unknown erase method {method!r}; choose one of {METHODS}")
    path = split_dir(data, split_name)
    model = _load_model(weights)
    out = Path(out)
    table = load_table(path)
    n_files = len(dict.fromkeys(table["file"]))
    total = n_files if limit is None else min(limit, n_files)
    digits, seconds = 0, 0.0
    bar = tqdm(total=total, unit="image", desc=f"erase ({method})",
               disable=not progress or not sys.stderr.isatty())
    batch: list = []

    def flush() -> None:
        nonlocal digits, seconds
        start = time.perf_counter()
        results = erase_images([p.image for p in batch], [p.boxes for p in batch], model, method)
        seconds += time.perf_counter() - start
        for parent, res in zip(batch, results, strict=True):
            digits += sum(m.size > 0 for m in res.digit_mask)
            write_image(out / parent.file, res.image)
            write_image(out / "masks" / parent.file, res.replaced.astype(np.uint8) * 255)
        bar.update(len(batch))
        batch.clear()

    for parent in iter_parents(path, table, limit):
        batch.append(parent)
        if len(batch) == _IMAGES_PER_BATCH:
            flush()
    if batch:
        flush()
    bar.close()
    timing = {"digits": int(digits), "seconds": round(seconds, 4)}
    write_json(out / "timing.json", timing)
    return timing


def parse_box(text: str) -> np.ndarray:
    """``LEFT,TOP,WIDTH,HEIGHT`` as an int array; a clear error if malformed."""
    parts = text.split(",")
    try:
        values = [int(round(float(p))) for p in parts]
    except ValueError:
        values = []
    if len(parts) != 4 or len(values) != 4:
        raise SvhnEraseError(f"box {text!r}: expected LEFT,TOP,WIDTH,HEIGHT (four numbers)")
    if values[2] <= 0 or values[3] <= 0:
        raise SvhnEraseError(f"box {text!r}: width and height must be positive")
    return np.array(values, int)


def erase_image_file(image: str | os.PathLike[str], boxes: list[np.ndarray],
                     out: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None,
                     method: str = "default") -> Erased:
    """Erase the given boxes from one photo and write the result to ``out``."""
    if not boxes:
        raise SvhnEraseError("give at least one --box LEFT,TOP,WIDTH,HEIGHT")
    rgb = read_rgb(image)
    h, w = rgb.shape[:2]
    for box in boxes:
        if clip_box(box, h, w) is None:
            left, top, bw, bh = (int(v) for v in box)
            raise SvhnEraseError(f"{image}: box {left},{top},{bw},{bh} lies outside the "
                                 f"{w}x{h} image")
    model = _load_model(weights)
    result = erase_images([rgb], [np.stack(boxes)], model, method)[0]
    write_image(out, result.image)
    return result
