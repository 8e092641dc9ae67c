"""Paste regenerated pixels back into the parent image, blended at the seam.

Only the pixels that should change are written: the hole (alpha 1) and, where a prediction
exists for it, a seam ring around the hole, blended with the parent with a weight that falls
with the distance from the hole (one weight per step of 8-neighbourhood distance), so that
the seam between kept and regenerated pixels does not show as an edge and the halo around a
digit (blur, shadow, compression ringing) is partly replaced. The original pipeline pasted
the whole generated box instead (``paste_whole``).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


def seam_distance(hole: np.ndarray, width: int) -> np.ndarray:
    """Per pixel, the 8-neighbourhood step (chessboard) distance 1..``width`` to ``hole``; 0 on
    the hole and beyond ``width``."""
    if not hole.any():
        return np.zeros(hole.shape, np.int32)
    dist = cv2.distanceTransform((~hole).astype(np.uint8), cv2.DIST_C, 3).astype(np.int32)
    dist[dist > width] = 0
    return dist


def seam_ring(hole: np.ndarray, width: int, allowed: np.ndarray | None = None) -> np.ndarray:
    """The pixels up to ``width`` steps outside ``hole`` (8-neighbourhood), within ``allowed``
    if given."""
    ring = seam_distance(hole, width) > 0
    return ring & allowed if allowed is not None else ring


def paste(parent: np.ndarray, top: int, left: int, patch: np.ndarray, hole: np.ndarray,
          ring: np.ndarray | None = None, ring_alphas: Sequence[float] = ()) -> np.ndarray:
    """Write ``patch`` (h, w, 3, 0..255) into ``parent`` at (top, left), in place.

    ``hole`` pixels are replaced; ``ring`` pixels are blended with the weight
    ``ring_alphas[d - 1]`` at step distance d from the hole. Returns the (h, w) bool mask of
    the pixels written.
    """
    h, w = hole.shape
    region = parent[top:top + h, left:left + w]
    alpha = hole.astype(np.float32)
    if ring is not None and len(ring_alphas):
        dist = seam_distance(hole, len(ring_alphas))
        for step, a in enumerate(ring_alphas, start=1):
            alpha[ring & ~hole & (dist == step)] = a
    touched = alpha > 0
    a = alpha[touched][:, None]  # the blend on the written pixels only
    out = region[touched].astype(np.float32) * (1 - a) + patch[touched] * a
    region[touched] = np.clip(np.round(out), 0, 255).astype(np.uint8)
    return touched


def paste_whole(parent: np.ndarray, top: int, left: int, patch: np.ndarray) -> np.ndarray:
    """Paste a whole generated crop over its box (the original's way); the written mask."""
    h, w = patch.shape[:2]
    parent[top:top + h, left:left + w] = patch
    return np.ones((h, w), bool)
