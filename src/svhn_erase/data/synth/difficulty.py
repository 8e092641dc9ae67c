"""How hard the generated scenes are: the ``Difficulty`` presets the recipe draws from."""

from __future__ import annotations

from dataclasses import dataclass

from svhn_erase.errors import SvhnEraseError


@dataclass(frozen=True)
class Difficulty:
    """How hard the scenes are: the ranges (uniform) and shares the recipe draws from."""

    noise_sigma: tuple[float, float]  # sensor noise, 0..255 units
    jpeg_quality: tuple[int, int]  # integers in [low, high)
    photo_p: float  # share of photo backgrounds (the rest: painted walls)
    photo_zoom: tuple[float, float]  # output pixels per source pixel of a photo
    photo_contrast: tuple[float, float]
    smooth_weight: float  # smooth walls (flat, gradient, plaster) are drawn this much more often
    emboss: tuple[float, float]  # stucco and concrete relief
    plaque_p: float  # share of numbers on a plate
    plaque_pad: tuple[tuple[float, float], tuple[float, float]]  # plate margin x, y (digit h)
    edges_avoid_number: bool  # door / window frames stay clear of the number
    low_contrast_p: float  # share of painted numbers close to the wall's brightness
    mask_threshold: float  # a pixel is "touched" by a digit where its alpha exceeds this
    box_threshold: float  # the ink an annotator boxes
    box_grow: tuple[int, int]  # px added per box side, integers in [low, high)
    halo_px: int  # beyond the mask grown by this, the image equals the clean scene


DIFFICULTIES = {
    # calibrated so that the classical baselines and the original checkpoint score on a
    # held-out-style split what SPEC §3 reports for its reference set (real-SVHN
    # backgrounds, unseen fonts): benchmarks/synth_realism.py prints the comparison
    "realistic": Difficulty(
        noise_sigma=(0.5, 3.5), jpeg_quality=(60, 96), photo_p=0.3, photo_zoom=(1.5, 4.0),
        photo_contrast=(0.3, 0.8), smooth_weight=3.0, emboss=(0.03, 0.1), plaque_p=0.5,
        plaque_pad=((0.2, 0.7), (0.18, 0.45)), edges_avoid_number=True, low_contrast_p=0.05,
        mask_threshold=0.03, box_threshold=0.1, box_grow=(0, 3), halo_px=2),
    # the first recipe: heavy noise and JPEG, busy photos and reliefs, frames across
    # numbers, tight plates, faint numbers; a stress test well beyond real SVHN
    "hard": Difficulty(
        noise_sigma=(1.0, 7.0), jpeg_quality=(35, 96), photo_p=0.45, photo_zoom=(0.6, 3.0),
        photo_contrast=(0.5, 1.1), smooth_weight=1.0, emboss=(0.1, 0.3), plaque_p=0.35,
        plaque_pad=((0.15, 0.6), (0.12, 0.4)), edges_avoid_number=False, low_contrast_p=0.2,
        mask_threshold=0.1, box_threshold=0.1, box_grow=(0, 3), halo_px=4),
}
DEFAULT_DIFFICULTY = "realistic"


def difficulty_of(name: str | Difficulty) -> Difficulty:
    """The ``Difficulty`` preset called ``name`` (or ``name`` itself when it is one)."""
    if isinstance(name, Difficulty):
        return name
    if name not in DIFFICULTIES:
        raise SvhnEraseError(f"unknown synth difficulty {name!r}; expected one of "
                             f"{tuple(DIFFICULTIES)}")
    return DIFFICULTIES[name]
