"""Stage 4 of the recipe: the digits painted onto the clean scene at work resolution.

``pick_paint`` draws the fill colour against the wall behind the number (paint, metal or
textured finish; sometimes close to the wall's brightness; with ``Difficulty.palette`` a
colour from ``palette.INKS``), an optional outline and drop shadow. ``composite`` warps each
glyph onto the canvas and paints shadow, outline and fill over the scene by their alpha; a
later digit is painted over an earlier one. Each digit's cover (fill, outline and shadow
alpha) is kept for the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svhn_erase.data.synth.difficulty import Difficulty
from svhn_erase.data.synth.number import Canvas, Layout
from svhn_erase.data.synth.palette import color_hsv, ink_color


@dataclass(frozen=True, eq=False)
class Paint:
    """How the digits are painted (lengths in work pixels)."""

    fill_col: np.ndarray  # RGB 0..255
    finish: str  # "paint", "paint-low" (low contrast), "metal" or "texture"
    outline: bool
    shadow: bool
    out_col: np.ndarray  # outline colour
    out_r: int  # outline width
    sh_dx: float  # shadow offset
    sh_dy: float
    sh_strength: float
    sh_blur: float
    grad: float  # metal: vertical brightness gradient
    tex_amount: float  # texture: how much of the wall's texture shows through

    @property
    def grow(self) -> int:
        """How far outline and shadow reach beyond a glyph's warped corners, plus 2."""
        return (self.out_r if self.outline else 0) + (
            int(abs(self.sh_dx) + abs(self.sh_dy) + 3 * self.sh_blur) if self.shadow else 0) + 2


def _local_mean(clean: np.ndarray, m: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    """Mean colour of the scene under the warped layout extent ``box``."""
    x0, y0, x1, y1 = box
    pts = cv2.perspectiveTransform(np.float32([[[x0, y0]], [[x1, y1]]]), m).reshape(-1, 2)
    h, w = clean.shape[:2]
    ax0, ay0 = np.clip(np.floor(pts.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    ax1, ay1 = np.clip(np.ceil(pts.max(axis=0)).astype(int), [ax0 + 1, ay0 + 1], [w, h])
    return clean[ay0:ay1, ax0:ax1].reshape(-1, 3).mean(axis=0)


def _digit_colors(rng: np.random.Generator, bg_rgb: np.ndarray,
                  diff: Difficulty) -> tuple[np.ndarray, str]:
    """A fill colour for the digits given the mean background colour, and a finish."""
    bg_l = float(bg_rgb.mean())
    finish = rng.choice(["paint", "metal", "paint", "paint", "texture"])
    if diff.palette:  # a colour real digits come in, standing out from what is behind
        low_contrast = rng.random() < diff.low_contrast_p
        col = ink_color(rng, bg_rgb, low_contrast)
        return col, "paint-low" if low_contrast else str(finish)
    if finish == "metal":
        if rng.random() < 0.6:  # brass
            col = color_hsv(rng.uniform(0.1, 0.15), rng.uniform(0.4, 0.8), rng.uniform(0.5, 0.9))
        else:  # steel / black iron
            col = np.full(3, rng.choice([rng.uniform(20, 60), rng.uniform(150, 230)]), np.float32)
        return col, "metal"
    low_contrast = rng.random() < diff.low_contrast_p
    if low_contrast:
        delta = rng.uniform(18, 50) * rng.choice([-1, 1])
    else:
        delta = rng.uniform(70, 200) * (-1 if bg_l > 128 else 1)
        if rng.random() < 0.15:
            delta = -delta
    target = float(np.clip(bg_l + delta, 5, 250))
    sat = rng.uniform(0, 0.9) if rng.random() < 0.4 else rng.uniform(0, 0.15)
    col = color_hsv(rng.uniform(0, 1), sat, 1.0)
    col = col / max(float(col.mean()), 1.0) * target
    return np.clip(col, 0, 255).astype(np.float32), "paint-low" if low_contrast else str(finish)


def pick_paint(rng: np.random.Generator, clean: np.ndarray, canvas: Canvas, layout: Layout,
               unit: float, diff: Difficulty) -> Paint:
    """The digits' paint, chosen against the scene behind them (``unit``: digit height)."""
    local = _local_mean(clean, canvas.number_m, layout.box)
    fill_col, finish = _digit_colors(rng, local, diff)
    outline = rng.random() < 0.15
    shadow = rng.random() < 0.25
    out_col = (np.clip(255 - fill_col + rng.normal(0, 30, 3), 0, 255).astype(np.float32)
               if rng.random() < 0.6 else np.full(3, rng.choice([15.0, 240.0]), np.float32))
    out_r = max(1, int(round(rng.uniform(0.03, 0.08) * unit)))
    sh_dx, sh_dy = rng.uniform(0.02, 0.08, size=2) * unit * rng.choice([-1, 1], size=2)
    sh_dy = abs(sh_dy)
    sh_strength, sh_blur = rng.uniform(0.35, 0.8), rng.uniform(0.01, 0.05) * unit + 0.5
    grad = rng.uniform(0.2, 0.5) * rng.choice([-1, 1])
    tex_amount = rng.uniform(0.4, 1.0)
    return Paint(fill_col, finish, outline, shadow, out_col, out_r, sh_dx, sh_dy, sh_strength,
                 sh_blur, grad, tex_amount)


def _roi(small: np.ndarray, m: np.ndarray, grow: int, work_w: int,
         work_h: int) -> tuple[int, int, int, int] | None:
    """``(x0, y0, x1, y1)`` on the canvas a warped glyph (plus ``grow``) can touch, or None."""
    corners = np.array([[0, 0], [small.shape[1], 0], [small.shape[1], small.shape[0]],
                        [0, small.shape[0]]], np.float32).reshape(-1, 1, 2)
    pts = cv2.perspectiveTransform(corners, m).reshape(-1, 2)
    rx0 = max(0, int(np.floor(pts[:, 0].min())) - grow)
    ry0 = max(0, int(np.floor(pts[:, 1].min())) - grow)
    rx1 = min(work_w, int(np.ceil(pts[:, 0].max())) + grow + 1)
    ry1 = min(work_h, int(np.ceil(pts[:, 1].max())) + grow + 1)
    if rx1 <= rx0 or ry1 <= ry0:
        return None
    return rx0, ry0, rx1, ry1


def _warp_into(alpha: np.ndarray, m: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = roi
    t = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    return cv2.warpPerspective(alpha, t @ m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _fill_color(paint: Paint, clean: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    """The fill colour over ``roi``: flat, a metal gradient or the wall's texture."""
    x0, y0, x1, y1 = roi
    color = np.broadcast_to(paint.fill_col, (y1 - y0, x1 - x0, 3)).copy()
    if paint.finish == "metal":
        yy = np.linspace(-1, 1, y1 - y0, dtype=np.float32)[:, None, None]
        color *= 1 + paint.grad * yy
    elif paint.finish == "texture":
        bg_l = clean[y0:y1, x0:x1].mean(axis=2, keepdims=True)
        color *= (bg_l / max(float(bg_l.mean()), 1.0)) ** paint.tex_amount
    return color


def _paint_digit(image: np.ndarray, clean: np.ndarray, fill: np.ndarray,
                 roi: tuple[int, int, int, int], paint: Paint) -> np.ndarray:
    """Paint one digit (alpha ``fill`` over ``roi``) into ``image``; returns its cover."""
    x0, y0, x1, y1 = roi
    region = image[y0:y1, x0:x1]  # a view: painted in place
    cov = fill.copy()
    if paint.outline:
        r = paint.out_r
        ring = cv2.dilate(fill, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
        cov = ring
    if paint.shadow:
        shifted = cv2.warpAffine(cov, np.float32([[1, 0, paint.sh_dx], [0, 1, paint.sh_dy]]),
                                 (cov.shape[1], cov.shape[0]))
        sh = cv2.GaussianBlur(shifted, (0, 0), paint.sh_blur) * paint.sh_strength
        region *= 1 - sh[:, :, None]
        cov = np.maximum(cov, sh)
    if paint.outline:
        region += (paint.out_col[None, None, :] - region) * ring[:, :, None]
    region += (np.clip(_fill_color(paint, clean, roi), 0, 255) - region) * fill[:, :, None]
    return cov


def composite(clean: np.ndarray, canvas: Canvas, layout: Layout,
              paint: Paint) -> tuple[np.ndarray, list[np.ndarray]]:
    """The scene with the digits painted in order, and each digit's cover on the canvas."""
    image = clean.copy()
    covers = []
    for small, x, y in layout.placed:
        m = canvas.number_m @ np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], np.float64)
        cover = np.zeros((canvas.work_h, canvas.work_w), np.float32)
        roi = _roi(small, m, paint.grow, canvas.work_w, canvas.work_h)
        if roi is not None:
            x0, y0, x1, y1 = roi
            cover[y0:y1, x0:x1] = _paint_digit(image, clean, _warp_into(small, m, roi), roi,
                                               paint)
        covers.append(cover)
    return image, covers
