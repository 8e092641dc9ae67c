"""Paste regenerated pixels back into the parent image, blended at the seam.

Only the pixels that should change are written: the hole (alpha 1) and, where a prediction
exists for it, a seam ring around the hole, blended with the parent with a weight that falls
with the distance from the hole (``SEAM_ALPHAS``: one weight per step of 8-neighbourhood
distance), so that the seam between kept and regenerated pixels does not show as an edge and
the halo around a digit (blur, shadow, compression ringing) is partly replaced.
"""

from __future__ import annotations

import numpy as np

from svhn_erase.removal.keypixels import dilate

SEAM_ALPHAS = (0.8,)


def seam_distance(hole: np.ndarray, width: int) -> np.ndarray:
    """Per pixel, the 8-neighbourhood step distance (1..``width``) to ``hole``; 0 on the hole
    and beyond ``width``."""
    dist = np.zeros(hole.shape, np.int32)
    reached = hole.copy()
    for step in range(1, width + 1):
        grown = dilate(reached)
        dist[grown & ~reached] = step
        reached = grown
    return dist


def seam_ring(hole: np.ndarray, allowed: np.ndarray | None = None,
              width: int | None = None) -> np.ndarray:
    """The pixels up to ``width`` steps (default ``len(SEAM_ALPHAS)``) outside ``hole``
    (8-neighbourhood), within ``allowed`` if given."""
    width = len(SEAM_ALPHAS) if width is None else width
    ring = seam_distance(hole, width) > 0
    return ring & allowed if allowed is not None else ring


def paste(parent: np.ndarray, top: int, left: int, patch: np.ndarray, hole: np.ndarray,
          ring: np.ndarray | None = None,
          ring_alpha: float | tuple[float, ...] | None = None) -> np.ndarray:
    """Write ``patch`` (h, w, 3, 0..255) into ``parent`` at (top, left), in place.

    ``hole`` pixels are replaced; ``ring`` pixels are blended with weight ``ring_alpha``: one
    number for the whole ring, or one per step of distance from the hole (default
    ``SEAM_ALPHAS``). Returns the (h, w) bool mask of the pixels written.
    """
    h, w = hole.shape
    region = parent[top:top + h, left:left + w]
    alpha = hole.astype(np.float32)
    if ring is not None:
        alphas = SEAM_ALPHAS if ring_alpha is None else ring_alpha
        alphas = (alphas,) if np.isscalar(alphas) else tuple(alphas)
        dist = seam_distance(hole, len(alphas))
        for step, a in enumerate(alphas, start=1):
            alpha = np.where(ring & ~hole & (dist == step), np.float32(a), alpha)
    out = region.astype(np.float32) * (1 - alpha[..., None]) + patch * alpha[..., None]
    touched = alpha > 0
    region[touched] = np.clip(np.round(out[touched]), 0, 255).astype(np.uint8)
    return touched


def paste_whole(parent: np.ndarray, top: int, left: int, patch: np.ndarray) -> np.ndarray:
    """Paste a whole generated crop over its box (the original's way); the written mask."""
    h, w = patch.shape[:2]
    parent[top:top + h, left:left + w] = patch
    return np.ones((h, w), bool)
