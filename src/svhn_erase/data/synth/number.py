"""Stages 1-2 of the recipe: the number and where it goes.

``pick_number`` draws the digits, their height in final pixels, the face, width, weight and
spacing, the framing, and the work scale (about twice the final resolution). Sizes, shapes,
spacing, framing and which digits are drawn follow real SVHN train photos 1-1600
(``benchmarks/generated_vs_real.py``). ``lay_out`` sets the glyphs
side by side in a local frame (baseline at y = 0) at work resolution. ``place`` warps the
layout with one rotation + shear + perspective homography and sizes the canvas around it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svhn_erase.data.synth.fonts import Glyph, face_glyphs, footless_one
from svhn_erase.data.synth.sources import FONT_FAMILIES

WORK_SCALE = 2.0
MAX_WORK_WIDTH = 720
# digits per number as in real SVHN train photos 1-1600 (1: 14 %, 2: 55 %, 3: 26 %, 4+: 5 %)
DIGIT_COUNT_P = np.array([0.14, 0.55, 0.26, 0.04, 0.01])
# which digits (0..9), as in real SVHN train photos 1-1600: first digits follow Benford's law
# (a leading zero is rare), later ones are nearly uniform
FIRST_DIGIT_P = np.array([0.002, 0.279, 0.193, 0.126, 0.109, 0.092, 0.063, 0.05, 0.041, 0.045])
LATER_DIGIT_P = np.array([0.123, 0.127, 0.089, 0.112, 0.097, 0.107, 0.082, 0.09, 0.097, 0.076])
# the share of the parent's width the number takes: log-normal, median 0.26 (real: 0.18-0.41
# from the 10th to the 90th percentile; SVHN parents keep much context beside the number)
WIDTH_SHARE = (0.26, 0.3, 0.1, 0.9)  # median, log-sd, low, high
# most real house-number ones stand on no foot (a stem and a flag), but of the faces here
# only Pillow's (held out) draws its "1" so; a model that only saw ones on a foot reads real
# ones as 7 (the top confusion on real photos 1-1600 of recipe 3 and of recipe 4's draft)
FOOTLESS_ONE_P = 0.6


@dataclass(frozen=True, eq=False)
class Number:
    """The number to draw and the type it is set in."""

    digits: np.ndarray  # (k,) 0..9
    digit_h: float  # digit height in final pixels
    family: str
    glyphs: tuple[Glyph, ...]  # the face's ten glyphs
    face_h: float  # the face's digit height in glyph pixels
    aspect: float  # horizontal stretch
    wide_gaps: bool
    width_share: float  # the share of the parent's width the number takes
    bold: float  # thickens the strokes by this share of the digit height (0: as the face is)
    scale: float  # work pixels per final pixel

    @property
    def hw(self) -> float:
        """Digit height in work pixels."""
        return self.digit_h * self.scale

    @property
    def sc(self) -> float:
        """Work pixels per glyph pixel."""
        return self.hw / self.face_h


@dataclass(frozen=True, eq=False)
class Layout:
    """The glyphs set side by side: ``(alpha, x, y)`` per digit (top-left in the layout
    frame, baseline at y = 0) and the extent ``(x0, y0, x1, y1)`` of them all."""

    placed: list[tuple[np.ndarray, float, float]]
    box: tuple[float, float, float, float]


@dataclass(frozen=True, eq=False)
class Canvas:
    """The scene's sizes (final and work resolution) and the number's place in it."""

    out_w: int
    out_h: int
    work_w: int
    work_h: int
    number_m: np.ndarray  # 3 x 3 homography: layout frame -> work canvas
    number_extent: tuple[float, float, float, float]  # x0, y0, x1, y1 of the warped number


def pick_number(rng: np.random.Generator, families: list[str]) -> Number:
    """Digits (by ``FIRST_DIGIT_P`` / ``LATER_DIGIT_P``), size, face, stretch, the number's
    share of the parent's width, spacing, weight, work scale."""
    k = int(rng.choice(len(DIGIT_COUNT_P), p=DIGIT_COUNT_P)) + 1
    digits = np.concatenate([rng.choice(10, size=1, p=FIRST_DIGIT_P / FIRST_DIGIT_P.sum()),
                             rng.choice(10, size=k - 1, p=LATER_DIGIT_P / LATER_DIGIT_P.sum())])
    digit_h = float(np.clip(np.exp(rng.normal(np.log(25.5), 0.45)), 10, 80))  # final px
    family = families[int(rng.integers(len(families)))]
    kind, face = FONT_FAMILIES[family][int(rng.integers(len(FONT_FAMILIES[family])))]
    glyphs, face_h = face_glyphs(kind, face)
    if rng.random() < FOOTLESS_ONE_P:
        glyphs = (glyphs[0], footless_one(kind, face), *glyphs[2:])
    # real house numbers are narrow: SVHN's boxes are 0.48 as wide as high (median)
    aspect = float(np.clip(rng.normal(0.55, 0.1), 0.38, 0.95))
    wide_gaps = rng.random() < 0.1
    median, log_sd, low, high = WIDTH_SHARE
    share = float(np.clip(np.exp(rng.normal(np.log(median), log_sd)), low, high))
    # real digits are bolder than type: 40 % thickened; none thinned (recipe 3 thinned 20 %,
    # which wiped out the strokes of narrow digits in thin faces)
    bold = rng.uniform(0.02, 0.07) if rng.random() < 0.4 else 0.0
    # long numbers of big digits would not fit SVHN's widths (<= 500 px)
    digit_h = min(digit_h, 440 / (k * (1.2 if wide_gaps else 0.8) * aspect))
    # first guess of the final width, to choose the work scale
    number_w = digit_h * k * 0.7 * aspect * (1.4 if wide_gaps else 1.05)
    est_w = min(500.0, number_w / share)
    scale = min(WORK_SCALE, MAX_WORK_WIDTH / max(est_w, 1.0))
    return Number(digits, digit_h, family, glyphs, face_h, aspect, wide_gaps, share, bold,
                  scale)


def _glyph_alpha(g: Glyph, number: Number) -> tuple[np.ndarray, int]:
    """A glyph's alpha at work size, thickened, and the padding that added."""
    sc, hw, bold = number.sc, number.hw, number.bold
    gw = max(1, int(round(g.alpha.shape[1] * sc * number.aspect)))
    gh = max(1, int(round(g.alpha.shape[0] * sc)))
    interp = cv2.INTER_AREA if gh < g.alpha.shape[0] else cv2.INTER_LINEAR
    small = cv2.resize(g.alpha, (gw, gh), interpolation=interp)
    r = int(round(bold * hw))
    if r <= 0:
        return small, 0
    pad = r + 1
    small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(small, kernel), pad


def lay_out(rng: np.random.Generator, number: Number) -> Layout:
    """The glyphs side by side at work resolution, sometimes each a little off the line."""
    sc, hw, aspect = number.sc, number.hw, number.aspect
    placed = []
    pen = 0.0
    hand_placed = rng.random() < 0.1
    for d in number.digits:
        g = number.glyphs[int(d)]
        small, pad = _glyph_alpha(g, number)
        x = pen + g.left * sc * aspect - pad
        y = g.top * sc - pad + (rng.normal(0, 0.03 * hw) if hand_placed else 0.0)
        placed.append((small, x, y))
        gap = rng.uniform(0.1, 0.4) if number.wide_gaps else rng.uniform(0.04, 0.12)
        pen += g.advance * sc * aspect + gap * hw
    lx0 = min(x for _, x, _ in placed)
    ly0 = min(y for _, _, y in placed)
    lx1 = max(x + a.shape[1] for a, x, _ in placed)
    ly1 = max(y + a.shape[0] for a, _, y in placed)
    return Layout(placed, (lx0, ly0, lx1, ly1))


def _quad(rng: np.random.Generator, w: float, h: float) -> np.ndarray:
    """Destination corners (TL, TR, BR, BL) of a w x h layout after rotation, shear and
    perspective, centred on the origin."""
    src = np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]],
                   np.float32)
    angle = np.deg2rad(rng.normal(0, 4) if rng.random() < 0.9 else rng.uniform(-15, 15))
    shear = rng.normal(0, 0.08)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    aff = rot @ np.array([[1, shear], [0, 1]])
    dst = src @ aff.T.astype(np.float32)
    # keystone: one vertical and one horizontal edge shorter
    kx, ky = rng.normal(0, 0.06), rng.normal(0, 0.04)
    dst[:, 1] *= 1 + kx * np.sign(src[:, 0])
    dst[:, 0] *= 1 + ky * np.sign(src[:, 1])
    dst += rng.normal(0, 0.015 * h, size=dst.shape)
    return dst.astype(np.float32)


def place(rng: np.random.Generator, number: Number, layout: Layout) -> Canvas:
    """Warp the layout, size the canvas around it with margins, and put it in."""
    lx0, ly0, lx1, ly1 = layout.box
    scale, digit_h = number.scale, number.digit_h
    quad = _quad(rng, lx1 - lx0, ly1 - ly0)
    qx0, qy0 = quad.min(axis=0)
    qx1, qy1 = quad.max(axis=0)
    number_w, number_h = (qx1 - qx0) / scale, (qy1 - qy0) / scale  # final px
    out_h = int(np.clip(round(max(number_h, digit_h) / rng.uniform(0.45, 0.85)), 20, 200))
    out_h = max(out_h, int(np.ceil(number_h)) + 2)
    out_w = int(np.clip(round(number_w / number.width_share), 30, 500))
    out_w = max(out_w, int(np.ceil(number_w)) + 2)
    left_share = rng.uniform(0.2, 0.8)  # of the room beside the number, on its left
    work_w, work_h = int(round(out_w * scale)), int(round(out_h * scale))
    # position of the number's bounding box inside the canvas
    free_x, free_y = work_w - (qx1 - qx0), work_h - (qy1 - qy0)
    px = free_x * left_share - qx0
    py = free_y * rng.uniform(0.2, 0.8) - qy0
    src = np.array([[lx0, ly0], [lx1, ly0], [lx1, ly1], [lx0, ly1]], np.float32)
    number_m = cv2.getPerspectiveTransform(src, quad + np.array([px, py], np.float32))
    return Canvas(out_w, out_h, work_w, work_h, number_m,
                  (qx0 + px, qy0 + py, qx1 + px, qy1 + py))
