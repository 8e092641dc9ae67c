"""One generated parent image with its ground truth, in memory: the recipe's stages in order.

All draws of one image come from one ``numpy`` Generator seeded with ``(seed, index)``, in
the order the stages below make them; changing that order, or any draw, changes the data
and needs a new ``RECIPE_VERSION``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from svhn_erase.data.synth.backgrounds import RealBackgrounds
from svhn_erase.data.synth.degrade import pick_degradation
from svhn_erase.data.synth.difficulty import DEFAULT_DIFFICULTY, Difficulty, difficulty_of
from svhn_erase.data.synth.digits import composite, pick_paint
from svhn_erase.data.synth.number import lay_out, pick_number, place
from svhn_erase.data.synth.scenery import paint_background
from svhn_erase.data.synth.sources import style_sources
from svhn_erase.data.synth.truth import digit_mask, ground_truth, keep_clean_beyond_halo

RECIPE_VERSION = 4


@dataclass
class Sample:
    """One generated parent image with its ground truth.

    ``image`` and ``clean`` are (H, W, 3) uint8 RGB; ``mask`` is (H, W) uint8 with k on the
    pixels of the k-th digit (1-based), 0 elsewhere; ``boxes`` is (k, 5) float64 of
    ``label, left, top, width, height`` with label 10 for digit 0.
    """

    image: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    boxes: np.ndarray
    info: dict = field(default_factory=dict)  # the recipe's main choices, for analysis


def _as_rng(rng_or_seed: np.random.Generator | int, index: int) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng([int(rng_or_seed), int(index)])


def render_sample(rng_or_seed: np.random.Generator | int, index: int = 0,
                  style: str = "all", difficulty: str | Difficulty = DEFAULT_DIFFICULTY,
                  backgrounds: RealBackgrounds | None = None,
                  mask_threshold: float | None = None) -> Sample:
    """Render one parent image with its clean scene, digit mask and boxes, in memory.

    With an integer seed the image depends only on ``(seed, index, style, difficulty)`` (and
    ``backgrounds``, real background strips, when given); a Generator is used as given
    (``index`` is then ignored). ``mask_threshold`` (default: the difficulty's) changes the
    mask alone: the digit's alpha a pixel needs to count as "touched"; image, clean scene
    and boxes stay the same.
    """
    families, photos, walls = style_sources(style)
    diff = difficulty_of(difficulty)
    rng = _as_rng(rng_or_seed, index)
    number = pick_number(rng, families)  # 1. the number, its size and type
    layout = lay_out(rng, number)  # 2. glyphs side by side, warped onto the canvas
    canvas = place(rng, number, layout)
    clean, background = paint_background(rng, canvas, number.hw, layout.box, photos, walls,
                                         diff, backgrounds, style)  # 3. the scene, no number
    paint = pick_paint(rng, clean, canvas, layout, number.hw, diff)  # 4. the digits on it
    image, covers = composite(clean, canvas, layout, paint)
    camera = pick_degradation(rng, canvas.out_w, canvas.out_h, diff)  # 5. the same camera
    image_u8, clean_u8 = camera.apply(image), camera.apply(clean)
    alphas = [camera.geometry(cover) for cover in covers]
    mask, boxes = ground_truth(rng, alphas, number.digits, diff)  # 6. ground truth
    image_u8 = keep_clean_beyond_halo(image_u8, clean_u8, mask, diff.halo_px)
    if mask_threshold is not None:
        mask = digit_mask(alphas, mask_threshold)
    info = {"background": background, "font": number.family, "finish": paint.finish,
            "digit_h": number.digit_h, "noise_sigma": camera.noise_sigma,
            "jpeg_q": camera.jpeg_q, "blur_sigma": camera.blur_sigma, "lowres": camera.lowres}
    return Sample(image=image_u8, clean=clean_u8, mask=mask, boxes=boxes, info=info)
