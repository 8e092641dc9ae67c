"""Painted walls at work resolution: flat, gradient, plaster, stucco, concrete, siding, wood,
bricks, tiles and metal, each a luminance pattern times a base colour."""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from svhn_erase.data.synth.difficulty import Difficulty
from svhn_erase.data.synth.palette import color_hsv, wall_color
from svhn_erase.data.synth.sources import SMOOTH_WALLS


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a coarse random grid upsampled bicubically."""
    gh = max(2, int(round(h / max(h, w) * cells)) + 1)
    gw = max(2, int(round(w / max(h, w) * cells)) + 1)
    grid = rng.uniform(-1, 1, size=(gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def fine_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.standard_normal((h, w), dtype=np.float32)


# Each painter takes (rng, lum, base, unit, diff, kind), adds its pattern to the luminance
# ``lum`` (h, w) and may replace the ``base`` colour; it returns both.
_Painter = Callable[..., tuple[np.ndarray, np.ndarray]]


def _flat(rng, lum, base, unit, diff, kind):
    h, w = lum.shape
    lum += 0.04 * smooth_noise(rng, h, w, 3) + 0.02 * fine_noise(rng, h, w)
    return lum, base


def _plaster(rng, lum, base, unit, diff, kind):  # smooth, gently mottled render
    h, w = lum.shape
    lum += (0.05 * smooth_noise(rng, h, w, 2) + 0.025 * smooth_noise(rng, h, w, 9)
            + 0.01 * fine_noise(rng, h, w))
    return lum, base


def _gradient(rng, lum, base, unit, diff, kind):
    h, w = lum.shape
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    a, b = rng.uniform(-0.25, 0.25, size=2)
    lum += a * yy + b * xx + 0.015 * fine_noise(rng, h, w)
    return lum, base


def _relief(rng, lum, base, unit, diff, kind):  # stucco; concrete adds grey and pits
    h, w = lum.shape
    fine = cv2.GaussianBlur(fine_noise(rng, h, w), (0, 0), rng.uniform(0.6, 1.5))
    emboss = fine - np.roll(fine, 1, axis=0)
    lum += 0.08 * smooth_noise(rng, h, w, 4) + rng.uniform(*diff.emboss) * emboss
    if kind == "concrete":
        base = np.full(3, rng.uniform(90, 200), np.float32) * rng.uniform(0.95, 1.05, 3)
        pits = rng.random((h, w)) < 0.004
        lum -= 0.35 * cv2.GaussianBlur(pits.astype(np.float32), (0, 0), 0.8) * 4
        lum += 0.12 * smooth_noise(rng, h, w, 7)
    return lum, base


def _boards(rng, lum, base, unit, diff, kind):  # siding; wood adds its colour and grain
    h, w = lum.shape
    period = unit * rng.uniform(0.35, 1.0) if kind == "siding" else unit * rng.uniform(0.6, 2)
    yy = np.arange(h, dtype=np.float32)[:, None]
    if kind == "wood":
        sat = rng.uniform(0.3, 0.6) if diff.palette else rng.uniform(0.4, 0.8)
        base = color_hsv(rng.uniform(0.04, 0.1), sat, rng.uniform(0.3, 0.8))
        wobble = (unit * 0.1) * smooth_noise(rng, h, w, 6)
        grain = np.sin((yy + wobble) * rng.uniform(0.8, 2.0) / max(unit * 0.05, 1.0))
        lum += 0.08 * grain + 0.03 * fine_noise(rng, h, w)
    phase = (yy + rng.uniform(0, period)) % period / period  # straight board seams
    lum = lum * (1 - 0.2 * phase) - 0.35 * (phase > 0.93)
    return lum, base


def _courses(rng, lum, base, unit, diff, kind):  # bricks (coloured, offset rows) or tiles
    h, w = lum.shape
    bh = unit * (rng.uniform(0.3, 0.6) if kind == "bricks" else rng.uniform(0.5, 1.5))
    bw = bh * (rng.uniform(2.0, 3.2) if kind == "bricks" else rng.uniform(0.8, 1.3))
    if kind == "bricks":
        sat = rng.uniform(0.3, 0.6) if diff.palette else rng.uniform(0.35, 0.75)
        base = color_hsv(rng.uniform(0.0, 0.07), sat, rng.uniform(0.35, 0.75))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    row = np.floor(yy / bh)
    shift = (row % 2) * 0.5 * bw if kind == "bricks" else 0.0
    col = np.floor((xx + shift) / bw)
    cell_rand = np.sin(row * 12.9898 + col * 78.233 + rng.uniform(0, 100)) * 43758.5453
    cell_rand = (cell_rand - np.floor(cell_rand)) - 0.5
    mortar_w = max(1.0, bh * 0.08)
    mortar = ((yy % bh) < mortar_w) | (((xx + shift) % bw) < mortar_w)
    lum += 0.18 * cell_rand + 0.05 * fine_noise(rng, h, w)
    lum = np.where(mortar, rng.uniform(0.5, 1.4), lum)
    return lum, base


def _metal(rng, lum, base, unit, diff, kind):  # brushed sheet
    h, w = lum.shape
    base = np.full(3, rng.uniform(110, 220), np.float32) * rng.uniform(0.93, 1.07, 3)
    streak = cv2.GaussianBlur(fine_noise(rng, h, w), (0, 0), sigmaX=unit * 0.5, sigmaY=0.5)
    yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
    lum += 0.6 * streak + 0.25 * np.sin(yy * rng.uniform(2, 6) + rng.uniform(0, 6))
    return lum, base


_PAINTERS: dict[str, _Painter] = {
    "flat": _flat, "plaster": _plaster, "gradient": _gradient, "stucco": _relief,
    "concrete": _relief, "siding": _boards, "wood": _boards, "bricks": _courses,
    "tiles": _courses, "metal": _metal,
}


def wall(rng: np.random.Generator, kind: str, h: int, w: int, unit: float,
         diff: Difficulty, base: np.ndarray | None = None) -> np.ndarray:
    """A painted wall of ``kind`` at (h, w), float RGB 0..255; ``unit`` is the digit height
    in pixels; ``base`` its colour (default: drawn; a kind with a colour of its own, such as
    bricks or wood, replaces it)."""
    if base is None and diff.palette:
        base = wall_color(rng)
    elif base is None:
        base = color_hsv(rng.uniform(0, 1), rng.uniform(0, 0.5) ** 1.3, rng.uniform(0.25, 0.95))
    lum = np.ones((h, w), np.float32)
    lum, base = _PAINTERS[kind](rng, lum, base, unit, diff, kind)
    return lum[:, :, None] * base[None, None, :]


def pick_wall(rng: np.random.Generator, walls: list[str], diff: Difficulty) -> str:
    """One wall kind; smooth kinds are ``diff.smooth_weight`` times as likely as others."""
    weight = np.array([diff.smooth_weight if w in SMOOTH_WALLS else 1.0 for w in walls])
    return walls[int(rng.choice(len(walls), p=weight / weight.sum()))]
