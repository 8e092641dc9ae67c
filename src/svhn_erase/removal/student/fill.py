"""The student's fill and paste: normalized convolution batched across crops, then each box's
hole and seam written back into its image.

Normalized convolution at a few scales: blur the known pixels (weight 1, the hole weight 0)
and the weights with the same Gaussian; their ratio is a kernel-weighted mean of the known
pixels near each pixel, the GRNN of the ``default`` method with a fixed sigma. The known
pixels are the background's ring right around the digit (``known_weights``: past a guard
band where the digit's colour bleeds, not in a neighbouring digit's box). Small scales
decide where enough known pixels lie close by (the hole's rim), larger ones fill deeper, as
the default's onion peel does; a few Jacobi steps of Laplace's equation then smooth the
fill between its rims (``relax``). A Gaussian blur of the square crops is two matrix
products (``G @ X @ G.T``), so the whole batch is a handful of batched matrix products.

``paste_box`` resizes a crop's mask probability and fill back to its box, writes the hole
(mask > threshold) and blends a one-pixel seam around it, as the default's paste does.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from svhn_erase.removal.student.crops import Window, back

_SQUARE = np.ones((3, 3), np.uint8)
TINY = 1e-4  # every pixel's weight floor: a crop with no known pixel gets its own mean


@lru_cache(maxsize=32)
def gaussian_matrix(size: int, sigma: float) -> torch.Tensor:
    """(size, size) float: row i holds the Gaussian of ``sigma`` centred on pixel i."""
    idx = torch.arange(size, dtype=torch.float32)
    return torch.exp(-((idx[:, None] - idx[None, :]) ** 2) / (2.0 * sigma * sigma))


def _grown(mask: torch.Tensor, pixels: int) -> torch.Tensor:
    """``mask`` (n, 1, s, s) grown by ``pixels`` (square neighbourhood)."""
    return F.max_pool2d(mask, 2 * pixels + 1, stride=1, padding=pixels) if pixels > 0 else mask


def known_weights(prob: torch.Tensor, others: torch.Tensor, threshold: float, guard: int,
                  rim: int) -> torch.Tensor:
    """(n, 1, s, s): 1 where a pixel may feed the fill, else 0: not digit, nor within
    ``guard`` pixels of it (digit colour bleeds there), nor inside another digit's box
    (``others``), but within ``guard + rim`` pixels of the digit (the background right
    around it, as the default's GRNN nodes; ``rim`` 0: any distance)."""
    hole = (prob > threshold).float()
    known = (1.0 - _grown(hole, guard)) * (1.0 - others)
    return known * _grown(hole, guard + rim) if rim > 0 else known


def normalized_fill(x: torch.Tensor, known: torch.Tensor, sigmas: Sequence[float],
                    cover: float) -> torch.Tensor:
    """(n, c, s, s): every pixel as the Gaussian-weighted mean of the ``known`` pixels of
    ``x``, the finest of ``sigmas`` (ascending) where its known share reaches ``cover``, blended
    towards coarser ones below that."""
    size = x.shape[-1]
    w = known + TINY
    stacked = torch.cat([x * w, w], dim=1)
    fill = None
    for sigma in sorted(sigmas, reverse=True):  # coarse to fine
        g = gaussian_matrix(size, float(sigma)).to(x.device, x.dtype)
        blurred = g @ stacked @ g.T
        value = blurred[:, :-1] / blurred[:, -1:]
        if fill is None:
            fill = value
            continue
        full = g.sum(1)[:, None] * g.sum(1)[None, :]  # the blurred weight of all-known pixels
        alpha = (blurred[:, -1:] / full / cover).clamp(0.0, 1.0)
        fill = alpha * value + (1.0 - alpha) * fill
    return fill


def paste_box(image: np.ndarray, win: Window, prob: np.ndarray, fill: np.ndarray,
              threshold: float, seam_alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Write one box's fill into ``image`` (in place). ``prob`` (s, s) and ``fill`` (s, s, 3)
    are the crop's digit probability and fill. Returns box-sized bool masks: the hole (digit
    pixels, replaced) and the written pixels (hole and seam)."""
    both = back(np.dstack([prob, fill]).astype(np.float32), win)
    hole = both[..., 0] > threshold
    written = cv2.dilate(hole.astype(np.uint8), _SQUARE) > 0 if seam_alpha > 0 else hole
    if written.any():
        alpha = np.where(hole, np.float32(1.0), np.float32(seam_alpha))[written][:, None]
        region = image[win.box.slices]
        old = region[written].astype(np.float32)
        region[written] = np.clip(old + alpha * (both[..., 1:][written] - old) + 0.5,
                                  0, 255).astype(np.uint8)
    return hole, written
