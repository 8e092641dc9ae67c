"""Paste regenerated pixels back into the parent image, blended at the seam.

Only the pixels that should change are written: the hole (alpha 1) and, where a prediction
exists for it, a one-pixel ring around the hole blended half and half with the parent, so
that the seam between kept and regenerated pixels does not show as an edge.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def seam_ring(hole: np.ndarray, allowed: np.ndarray | None = None) -> np.ndarray:
    """The pixels one step outside ``hole`` (8-neighbourhood), within ``allowed`` if given."""
    ring = ndimage.binary_dilation(hole, structure=np.ones((3, 3), bool)) & ~hole
    return ring & allowed if allowed is not None else ring


def paste(parent: np.ndarray, top: int, left: int, patch: np.ndarray, hole: np.ndarray,
          ring: np.ndarray | None = None, ring_alpha: float = 0.5) -> np.ndarray:
    """Write ``patch`` (h, w, 3, 0..255) into ``parent`` at (top, left), in place.

    ``hole`` pixels are replaced; ``ring`` pixels are blended with weight ``ring_alpha``.
    Returns the (h, w) bool mask of the pixels written.
    """
    h, w = hole.shape
    region = parent[top:top + h, left:left + w]
    alpha = hole.astype(np.float32)
    if ring is not None:
        alpha = np.where(ring & ~hole, np.float32(ring_alpha), alpha)
    out = region.astype(np.float32) * (1 - alpha[..., None]) + patch * alpha[..., None]
    touched = alpha > 0
    region[touched] = np.clip(np.round(out[touched]), 0, 255).astype(np.uint8)
    return touched


def paste_whole(parent: np.ndarray, top: int, left: int, patch: np.ndarray) -> np.ndarray:
    """Paste a whole generated crop over its box (the original's way); the written mask."""
    h, w = patch.shape[:2]
    parent[top:top + h, left:left + w] = patch
    return np.ones((h, w), bool)
