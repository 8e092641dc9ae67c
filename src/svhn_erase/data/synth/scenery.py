"""Stage 3 of the recipe: the clean scene at work resolution, before any digit. A photo or a
painted wall, sometimes a door or window frame beside the number, sometimes a plate behind
it (warped with the number)."""

from __future__ import annotations

import cv2
import numpy as np

from svhn_erase.data.synth.backgrounds import RealBackgrounds
from svhn_erase.data.synth.difficulty import Difficulty
from svhn_erase.data.synth.number import Canvas
from svhn_erase.data.synth.palette import color_hsv, plate_color, wall_color
from svhn_erase.data.synth.photos import photo_background
from svhn_erase.data.synth.walls import pick_wall, wall


def paint_background(rng: np.random.Generator, canvas: Canvas, unit: float,
                     number_box: tuple[float, ...], photos: list[str], walls: list[str],
                     diff: Difficulty, real: RealBackgrounds | None = None,
                     style: str = "all") -> tuple[np.ndarray, str]:
    """The clean scene (float32 RGB 0..255 at work resolution) and the background's name.

    ``unit`` is the digit height in work pixels; ``number_box`` the number's extent in its
    layout frame (``canvas.number_m`` maps it onto the canvas). With ``real`` a share of the
    scenes (``real.share``) are a strip of a real photo (``style`` picks which strips)."""
    h, w = canvas.work_h, canvas.work_w
    if real is not None and rng.random() < real.share:
        background = "real"
        clean = real.background(rng, h, w, canvas.work_w / canvas.out_w, style)
    elif rng.random() < diff.photo_p and bool(photos):
        background = photos[int(rng.integers(len(photos)))]
        clean = photo_background(rng, background, h, w, diff)
    else:
        background = pick_wall(rng, walls, diff)
        clean = wall(rng, background, h, w, unit, diff)
    if rng.random() < 0.25:  # door / window edge in the context
        keep_out = canvas.number_extent if diff.edges_avoid_number else None
        clean = _edge_element(rng, clean, unit, keep_out, diff.palette)
    if rng.random() < diff.plaque_p:
        clean = _plaque(rng, clean, canvas.number_m, number_box, unit, walls, diff)
    return np.clip(clean, 0, 255).astype(np.float32), background


def _plaque(rng: np.random.Generator, clean: np.ndarray, m: np.ndarray,
            box: tuple[float, ...], unit: float, walls: list[str], diff: Difficulty
            ) -> np.ndarray:
    """A plate behind the number (warped with it), with a border, on the background."""
    x0, y0, x1, y1 = box
    pad_x, pad_y = rng.uniform(*diff.plaque_pad[0]) * unit, rng.uniform(*diff.plaque_pad[1]) * unit
    h, w = clean.shape[:2]
    plate = np.zeros((h, w), np.uint8)
    rounding = min(rng.uniform(0, 0.5) * unit, (x1 - x0) / 2 + pad_x, (y1 - y0) / 2 + pad_y)
    outline = _rounded_rect(x0 - pad_x, y0 - pad_y, x1 + pad_x, y1 + pad_y, rounding)
    pts = cv2.perspectiveTransform(outline.reshape(-1, 1, 2), m).reshape(-1, 2)
    # anti-aliased fill with 4 fractional bits of sub-pixel precision
    cv2.fillPoly(plate, [np.round(pts * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    plate = plate.astype(np.float32) / 255
    border = max(1, int(rng.uniform(0.02, 0.1) * unit))
    inner = cv2.erode(plate, np.ones((2 * border + 1,) * 2, np.float32))
    kind = walls[int(rng.integers(len(walls)))] if rng.random() < 0.3 else "flat"
    if diff.palette:  # plates in the colours real ones come in
        face = wall(rng, kind, h, w, unit * 0.5, diff, base=plate_color(rng))
        trim = plate_color(rng)
    else:
        face = wall(rng, kind, h, w, unit * 0.5, diff)
        trim = color_hsv(rng.uniform(0, 1), rng.uniform(0, 0.6), rng.uniform(0.05, 1.0))
    out = clean * (1 - plate[:, :, None]) + trim * plate[:, :, None]
    out = out * (1 - inner[:, :, None]) + face * inner[:, :, None]
    if rng.random() < 0.5:  # the plate's own shadow on the wall
        sh = cv2.GaussianBlur(plate, (0, 0), unit * 0.05 + 0.5)
        sh = np.roll(sh, (max(1, int(unit * 0.04)), max(1, int(unit * 0.04))), axis=(0, 1))
        out = out * (1 - 0.4 * sh[:, :, None] * (1 - plate[:, :, None]))
    return out


def _rounded_rect(x0: float, y0: float, x1: float, y1: float, r: float) -> np.ndarray:
    """Outline points of a rectangle with corners rounded by radius ``r``."""
    if r < 0.5:
        return np.float32([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    t = np.linspace(0, np.pi / 2, 8)
    arcs = []
    for cx, cy, start in ((x1 - r, y0 + r, -np.pi / 2), (x1 - r, y1 - r, 0.0),
                          (x0 + r, y1 - r, np.pi / 2), (x0 + r, y0 + r, np.pi)):
        arcs.append(np.stack([cx + r * np.cos(start + t), cy + r * np.sin(start + t)], axis=1))
    return np.concatenate(arcs).astype(np.float32)


def _edge_element(rng: np.random.Generator, clean: np.ndarray, unit: float,
                  keep_out: tuple[float, float, float, float] | None = None,
                  palette: bool = False) -> np.ndarray:
    """A door or window frame edge (a straight band of another colour) in the context.

    With ``keep_out`` (x0, y0, x1, y1, the number's extent in pixels) the
    band is cut back so that it stays clear of the number (numbers sit beside frames, not
    across them); a band with nothing left is not drawn.
    """
    h, w = clean.shape[:2]
    out = clean.copy()
    color = (wall_color(rng) if palette
             else color_hsv(rng.uniform(0, 1), rng.uniform(0, 0.5), rng.uniform(0.05, 0.95)))
    band = max(2, int(rng.uniform(0.1, 0.8) * unit))
    gap = 0.25 * unit
    kx0, ky0, kx1, ky1 = keep_out if keep_out is not None else (w, h, 0, 0)
    if rng.random() < 0.6:
        x = int(rng.choice([rng.uniform(0, 0.15), rng.uniform(0.85, 1.0)]) * w)
        xa, xb = _band_span(x, w, band, kx0 - gap, kx1 + gap)
        if xb <= xa:
            return out
        out[:, xa:xb] = color
        if rng.random() < 0.5:  # dark opening beyond the frame
            if x < w / 2:
                out[:, :xa] *= 0.25
            else:
                out[:, xb:] *= 0.25
    else:
        y = int(rng.choice([rng.uniform(0, 0.12), rng.uniform(0.88, 1.0)]) * h)
        ya, yb = _band_span(y, h, band, ky0 - gap, ky1 + gap)
        if yb <= ya:
            return out
        out[ya:yb, :] = color
    return out


def _band_span(pos: int, extent: int, band: int, keep_from: float,
               keep_to: float) -> tuple[int, int]:
    """[start, end) of a band ``band`` wide running inwards from ``pos`` (near the
    ``extent``'s start or end), stopped before the kept-out interval [keep_from, keep_to]."""
    if pos < extent / 2:
        return pos, min(extent, pos + band, int(keep_from))
    return max(0, pos - band, int(np.ceil(keep_to))), pos
