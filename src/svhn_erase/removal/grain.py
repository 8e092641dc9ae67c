"""Grain: the fill given the fine noise of the background it replaces.

The GRNN (``fill``) predicts each hole pixel as a weighted mean of key pixels: the best guess
in squared error, and perfectly smooth. Real background is not: sensor noise, JPEG blocks,
paper and paint grain. On real photos a smooth, featureless box is what the independent
reader takes for a "1": on photos 1-1600 it reads 96.7 % of the default's erased 1-boxes as
1 but 84 % of the digit-free 1-boxes beside the numbers, whose luma high-pass RMS is 0.80 of
the ring's around them (median) against 0.41-0.53 for the erased boxes. ``add_grain``
puts back noise of the background's own level: per crop, the robust spread (1.4826 x the
median absolute deviation) of the luma high-pass (luma less its blur by ``grain_sigma``,
over key pixels only) of the key pixels within ``grain_ring`` px of the hole; white luma
noise, scaled so that its own high-pass has that spread times ``grain``, added to every
channel of the hole (edges and other surfaces in the ring barely move a median).

Independent noise cannot lower the squared error against a clean scene: it costs PSNR on
generated data in proportion to ``grain`` squared (the trade-off is in ``RemovalConfig``'s
comment, measured by ``benchmarks/grain_tradeoff.py``; off by default). Deterministic: the
noise is seeded by the crop's own bytes (the same crop gets the same grain in any batch).
"""

from __future__ import annotations

import zlib
from functools import lru_cache

import cv2
import numpy as np

from svhn_erase.data.crops import luma
from svhn_erase.removal.config import RemovalConfig


@lru_cache(maxsize=8)
def white_high_pass_std(sigma: float) -> float:
    """The standard deviation of the high-pass (the image less its Gaussian blur by
    ``sigma``, OpenCV's kernel) of unit white noise: sqrt(1 - 2 k0 + sum k^2)."""
    k1 = cv2.getGaussianKernel(2 * int(np.ceil(4 * sigma)) + 1, sigma, cv2.CV_64F)
    k = k1 @ k1.T
    centre = k[k.shape[0] // 2, k.shape[1] // 2]
    return float(np.sqrt(1.0 - 2.0 * centre + float((k**2).sum())))


def grain_level(crop: np.ndarray, known: np.ndarray, near: np.ndarray, sigma: float) -> float:
    """The robust spread (1.4826 x MAD, 0-255 units) of the luma high-pass of ``crop`` at the
    ``near`` pixels, the blur taken over the ``known`` pixels only; 0 with under 8 of them."""
    if near.sum() < 8:
        return 0.0
    gray = luma(crop).astype(np.float32)
    k = known.astype(np.float32)
    blur = cv2.GaussianBlur(gray * k, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    den = cv2.GaussianBlur(k, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    high = (gray - blur / np.maximum(den, 1e-6))[near]
    return float(1.4826 * np.median(np.abs(high - np.median(high))))


def add_grain(crop: np.ndarray, background: np.ndarray, hole: np.ndarray,
              config: RemovalConfig) -> np.ndarray:
    """The grain for one context crop's ``hole`` (h, w, 3 float32, 0 outside the hole), from
    its key pixels ``background``; zeros when ``config.grain`` is 0 or no level is found."""
    added = np.zeros((*hole.shape, 3), np.float32)
    if config.grain <= 0 or not hole.any():
        return added
    known = background & ~hole
    ring = cv2.dilate(hole.astype(np.uint8), np.ones((3, 3), np.uint8),
                      iterations=config.grain_ring).astype(bool)
    level = grain_level(crop, known, known & ring, config.grain_sigma)
    if level <= 0:
        return added
    rng = np.random.default_rng(zlib.crc32(np.ascontiguousarray(crop).tobytes()))
    noise = rng.standard_normal(hole.shape, dtype=np.float32)
    scale = config.grain * level / white_high_pass_std(config.grain_sigma)
    added[hole] = (scale * noise[hole])[:, None]
    return added
