"""Texture-aware fill: high-frequency detail from the best-matching places of the context.

The GRNN (``fill``) restores the low frequencies of a hole: on brick, siding, wood or grain
it leaves a smooth blob. Where the background is textured, ``add_detail`` adds the detail
back, exemplar-based (the idea of Criminisi et al. 2004 and of PatchMatch's nearest-neighbour
fields, reduced to what a whole hole can use): around the box, in a window of the parent
image, it looks for the translations of the hole's surroundings that best match them
(``cv2.matchTemplate``, squared differences of the high-pass image over the known pixels
within ``texture_ring`` of the hole), among those that put the whole hole onto known
background (other boxes and the hole itself are not background). The ``texture_k`` best
are averaged with weights falling with their mismatch, and their high-pass image is added
to the fill with the gain that best predicts the surroundings, shrunk by how much of the
surroundings' detail it explains (R^2): a texture that repeats (siding, tiles, bricks) comes
back, a random one adds little (an unpredictable texture only adds error).

Per crop it runs only when the surroundings' detail carries at least
``texture_min_energy`` (mean squared high-pass, 0-255 units): flat and smooth crops keep
the GRNN fill as it is. Deterministic: no random choice anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svhn_erase.boxes import Rect
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.keypixels import dilate

_OFF = 1.0e4  # high-pass value of pixels that are not background: no match lands on them


@dataclass
class Detail:
    """The detail added to one crop's hole (h, w, 3 float32, 0 outside the hole), its gain
    and the surroundings' fit R^2 (None where the crop was not textured enough)."""

    added: np.ndarray
    gain: float = 0.0
    r2: float | None = None


def blur_known(image: np.ndarray, known: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur of ``image`` (h, w, c) over the ``known`` pixels only."""
    k = known.astype(np.float32)
    num = cv2.GaussianBlur(image * k[..., None], (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(k, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return num / np.maximum(den, 1e-6)[..., None]


def _window(context: Rect, shape: tuple[int, ...], grow: float) -> Rect:
    g = int(round(grow * max(context.height, context.width)))
    return context.grown(g, shape)


def _matches(high: np.ndarray, known: np.ndarray, hole: np.ndarray, around: np.ndarray,
             rows: slice, cols: slice) -> np.ndarray:
    """Per translation of the template (``rows``, ``cols`` of the window), the mean squared
    high-pass mismatch over ``around``; inf where the hole would land off the background."""
    source = np.where(known[..., None], high, _OFF).astype(np.float32)
    template = high[rows, cols]
    weight = np.repeat(around[rows, cols, None].astype(np.float32), 3, -1)
    ssd = cv2.matchTemplate(source, template, cv2.TM_SQDIFF, mask=weight)
    blocked = cv2.matchTemplate((~known).astype(np.float32),
                                hole[rows, cols].astype(np.float32), cv2.TM_CCORR)
    ssd = np.where(blocked > 0.5, np.inf, ssd / max(float(weight.sum()), 1.0))
    return np.nan_to_num(ssd, nan=np.inf, posinf=np.inf)


def crop_energy(crop: np.ndarray, hole: np.ndarray, config: RemovalConfig) -> float:
    """The detail the crop's own key pixels around the hole carry: mean squared high-pass
    (0-255 units) from 2 to ``texture_ring`` px off the hole (the first pixel may be the
    digit's rim); the gate of ``add_detail``."""
    known = ~hole
    around = dilate(hole, config.texture_ring) & ~dilate(hole)
    if not around.any():
        return 0.0
    image = crop.astype(np.float32)
    high = image - blur_known(image, known, config.texture_sigma)
    return float((high[around] ** 2).mean())


def add_detail(parent: np.ndarray, context: Rect, hole: np.ndarray, occupied: np.ndarray,
               fill: np.ndarray, config: RemovalConfig) -> Detail:
    """The detail for one crop: ``parent`` the image, ``context`` the crop's rectangle in it,
    ``hole`` (h, w) the pixels the fill predicted, ``occupied`` (H, W) the pixels under any
    box, ``fill`` the GRNN's crop. ``fill`` is not changed: add ``Detail.added`` to it."""
    none = Detail(np.zeros(fill.shape, np.float32))
    if not hole.any() or config.texture_k < 1 or \
            crop_energy(parent[context.slices], hole, config) < config.texture_min_energy:
        return none
    win = _window(context, parent.shape, config.texture_window)
    oy, ox = context.top - win.top, context.left - win.left
    h, w = hole.shape
    in_win = np.zeros((win.height, win.width), bool)
    in_win[oy:oy + h, ox:ox + w] = hole
    known = ~occupied[win.slices]
    known[oy:oy + h, ox:ox + w] |= ~hole  # the crop's own key pixels
    known &= ~in_win
    around = dilate(in_win, config.texture_ring) & known
    image = parent[win.slices].astype(np.float32)
    high = image - blur_known(image, known, config.texture_sigma)
    energy = float((high[around] ** 2).mean()) if around.any() else 0.0
    ys, xs = np.nonzero(dilate(in_win, config.texture_ring))
    rows, cols = slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1)
    if around.sum() < 8 or rows.stop - rows.start >= win.height \
            or cols.stop - cols.start >= win.width:
        return none
    ssd = _matches(high, known, in_win, around, rows, cols)
    flat = ssd.ravel()
    order = np.argsort(flat, kind="stable")[:config.texture_k]
    order = order[np.isfinite(flat[order])]
    if not len(order):
        return none
    weights = np.exp(-(flat[order] - flat[order[0]]) / max(energy, 1.0))
    weights /= weights.sum()
    th, tw = rows.stop - rows.start, cols.stop - cols.start
    detail = np.zeros((th, tw, 3), np.float32)
    for wt, (y, x) in zip(weights, zip(*np.unravel_index(order, ssd.shape), strict=True),
                          strict=True):
        detail += wt * high[y:y + th, x:x + tw]
    target, guess = high[rows, cols][around[rows, cols]], detail[around[rows, cols]]
    gain = float(np.clip(np.sum(target * guess) / max(float(np.sum(guess**2)), 1e-6), 0, 1))
    r2 = 1.0 - float(np.sum((target - gain * guess) ** 2)) / max(float(np.sum(target**2)),
                                                                   1e-6)
    placed = np.zeros((win.height, win.width, 3), np.float32)
    placed[rows, cols] = detail * (gain * max(r2, 0.0))
    added = placed[oy:oy + h, ox:ox + w] * hole[..., None]
    return Detail(added, gain * max(r2, 0.0), r2)
