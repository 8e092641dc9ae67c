"""The colours real house numbers come in (the ``realistic`` preset's palette).

Read off real SVHN train photos 1-1600 (``benchmarks/generated_vs_real.py`` prints the
comparison): walls are mostly white, grey, beige or brick, seldom strongly coloured;
plates are white, blue, black, brass, green, wood or stone; digits are black, white,
navy, brass, bronze or silver, seldom red or green, and contrast with what is behind them.
The ``hard`` preset keeps the earlier free draw of any hue (``color_hsv``).
"""

from __future__ import annotations

import cv2
import numpy as np


def color_hsv(h: float, s: float, v: float) -> np.ndarray:
    """An RGB colour (float32, 0..255) from hue, saturation and value in 0..1."""
    hsv = np.array([[[h * 179.0, s * 255.0, v * 255.0]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


# name: (RGB 0..255, weight)
PLATES = {
    "white": ((236, 233, 224), 0.38), "blue": ((28, 62, 140), 0.15), "black": ((32, 32, 34), 0.09),
    "brass": ((176, 146, 74), 0.07), "green": ((34, 92, 62), 0.06), "wood": ((118, 80, 46), 0.08),
    "stone": ((150, 147, 138), 0.13), "maroon": ((118, 34, 32), 0.04),
}
INKS = {
    "black": ((26, 26, 28), 0.32), "grey": ((72, 72, 74), 0.08), "white": ((236, 236, 234), 0.18),
    "cream": ((226, 214, 184), 0.05), "navy": ((32, 42, 100), 0.08),
    "brass": ((176, 146, 70), 0.12), "bronze": ((98, 70, 42), 0.07),
    "silver": ((172, 172, 176), 0.05), "red": ((150, 34, 32), 0.03),
    "green": ((32, 82, 48), 0.02),
}
MIN_INK_CONTRAST = 60.0  # luma between ink and what is behind it, unless "low contrast"


def _luma(rgb: np.ndarray) -> float:
    return float(rgb @ np.array([0.299, 0.587, 0.114]))


def _jitter(rng: np.random.Generator, rgb: tuple[int, int, int]) -> np.ndarray:
    """A shade of ``rgb``: brightness x U(0.82, 1.15) and a little noise per channel."""
    col = np.asarray(rgb, np.float32) * rng.uniform(0.82, 1.15) + rng.normal(0, 7, 3)
    return np.clip(col, 0, 255).astype(np.float32)


def wall_color(rng: np.random.Generator) -> np.ndarray:
    """A wall's base colour: neutral (60 %), brick or tan (25 %), or a muted colour."""
    u = rng.random()
    if u < 0.6:
        return color_hsv(rng.uniform(0, 1), rng.uniform(0, 0.08), rng.uniform(0.45, 0.97))
    if u < 0.85:
        return color_hsv(rng.uniform(0.0, 0.1), rng.uniform(0.2, 0.55), rng.uniform(0.3, 0.85))
    return color_hsv(rng.uniform(0, 1), rng.uniform(0.1, 0.35), rng.uniform(0.25, 0.9))


def plate_color(rng: np.random.Generator) -> np.ndarray:
    """A plate's face colour."""
    names = list(PLATES)
    weights = np.array([PLATES[n][1] for n in names])
    return _jitter(rng, PLATES[names[int(rng.choice(len(names), p=weights / weights.sum()))]][0])


def ink_color(rng: np.random.Generator, behind: np.ndarray, low_contrast: bool) -> np.ndarray:
    """The digits' colour: one of ``INKS`` (by weight) that stands at least
    ``MIN_INK_CONTRAST`` luma from ``behind`` (or, ``low_contrast``, 15-60 from it); black or
    white when none does."""
    bg = _luma(np.asarray(behind, np.float64))
    names = list(INKS)
    gap = np.array([abs(_luma(np.asarray(INKS[n][0], np.float64)) - bg) for n in names])
    ok = (gap >= 15) & (gap < MIN_INK_CONTRAST) if low_contrast else gap >= MIN_INK_CONTRAST
    weights = np.array([INKS[n][1] for n in names]) * ok
    if weights.sum() == 0:
        weights = (gap == gap.max()).astype(float)
    return _jitter(rng, INKS[names[int(rng.choice(len(names), p=weights / weights.sum()))]][0])
