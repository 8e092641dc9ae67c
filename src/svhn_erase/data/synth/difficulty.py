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
    palette: bool  # walls, plates and digits in the colours real ones come in (palette.py)
    sensor_p: float  # share of scenes captured below the final size and scaled up
    sensor_share: tuple[float, float]  # the capture's size over the final size
    blur_p: float  # share of scenes blurred (Gaussian, at capture size; sigma in final px)
    blur_sigma: tuple[float, float]
    haze: tuple[float, float]  # share of the way every pixel goes to one grey (low contrast)
    colour_cast: float  # the camera's per-channel gain is drawn from 1 +- this


DIFFICULTIES = {
    # recipe 4: tuned against real SVHN train photos 1-1600 (box sizes, framing, contrast,
    # colours, blur, noise, JPEG: benchmarks/generated_vs_real.py prints the comparison);
    # recipe 3 was calibrated on SPEC §3's reference figures (benchmarks/synth_realism.py)
    "realistic": Difficulty(
        noise_sigma=(1.5, 3.0), jpeg_quality=(60, 96), photo_p=0.3, photo_zoom=(1.5, 4.0),
        photo_contrast=(0.3, 0.8), smooth_weight=2.0, emboss=(0.03, 0.1), plaque_p=0.5,
        plaque_pad=((0.2, 0.7), (0.12, 0.4)), edges_avoid_number=True, low_contrast_p=0.03,
        mask_threshold=0.03, box_threshold=0.1, box_grow=(0, 2), halo_px=2, palette=True,
        sensor_p=0.7, sensor_share=(0.4, 0.9), blur_p=0.8, blur_sigma=(0.2, 1.0),
        haze=(0.0, 0.3), colour_cast=0.06),
    # the first recipe: heavy noise and JPEG, busy photos and reliefs, frames across
    # numbers, tight plates, faint numbers; a stress test well beyond real SVHN
    "hard": Difficulty(
        noise_sigma=(1.0, 7.0), jpeg_quality=(35, 96), photo_p=0.45, photo_zoom=(0.6, 3.0),
        photo_contrast=(0.5, 1.1), smooth_weight=1.0, emboss=(0.1, 0.3), plaque_p=0.35,
        plaque_pad=((0.15, 0.6), (0.12, 0.4)), edges_avoid_number=False, low_contrast_p=0.2,
        mask_threshold=0.1, box_threshold=0.1, box_grow=(0, 3), halo_px=4, palette=False,
        sensor_p=0.35, sensor_share=(0.35, 0.8), blur_p=0.7, blur_sigma=(0.0, 1.3),
        haze=(0.0, 0.0), colour_cast=0.15),
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
