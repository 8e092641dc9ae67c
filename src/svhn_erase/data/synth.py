"""Generate realistic SVHN-like Format 1 splits with ground truth for removal (SPEC §1, §3).

One image is made from one ``numpy`` Generator seeded with ``(seed, index)``, so a split
is byte-identical for a given seed whatever the number of worker processes. The recipe:

1. pick the number (1-5 digits, mostly 2-3), its digit height in final pixels (10-80),
   a font (TrueType faces shipped with matplotlib, Pillow's default face, OpenCV's
   Hershey stroke fonts), weight, width, spacing, colours, outline and drop shadow;
2. lay the glyphs out at about twice the final resolution ("work" resolution) and warp
   them with one rotation + shear + perspective homography;
3. render the background at work resolution: a random crop of a scikit-image photo
   (scaled, tinted, flipped) or a painted wall (flat, gradient, plaster, stucco, siding,
   bricks, metal, wood, tiles, concrete), sometimes with a plaque (warped with the number)
   and door/window edges;
4. composite the digits over it with their alpha (shadow, outline, fill; a later digit
   is painted over an earlier one, so where two digits overlap the later one wins in
   both the image and the mask);
5. apply the *same* lighting, colour grading, resize to the final size, optional
   low-resolution round trip, blur, sensor-noise array and JPEG quality to the composite
   and to the clean background, and the same geometric ops to every digit's alpha.

Ground truth: ``clean`` is the degraded background; ``mask`` holds k (1-based, digitStruct
order) where the k-th digit's degraded alpha (fill, outline and shadow) exceeds
``mask_threshold`` (the pixels the digit touched). Outside the mask dilated by ``halo_px``
pixels (square kernel) the image equals ``clean`` exactly: the faint blur and JPEG tail
there is dropped, feathered over the last two pixels. Boxes are the tight box of each
digit's alpha > ``box_threshold`` (the visible ink) grown by 0-2 px per side like a human
annotator, clipped to the image.

``difficulty`` picks the ranges the recipe draws from (``DIFFICULTIES``): ``"realistic"``
(the default) is calibrated against SPEC §3's reference set; ``"hard"`` is a stress test.

``style`` partitions fonts and background sources: ``"train"`` and ``"heldout"`` use
disjoint font families, photos and wall styles; ``"all"`` uses everything.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from svhn_erase import __version__
from svhn_erase.atomic_io import write_bytes, write_json
from svhn_erase.errors import SvhnEraseError

STYLES = ("all", "train", "heldout")
WORK_SCALE = 2.0
MAX_WORK_WIDTH = 720
RECIPE_VERSION = 3


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


# digits per number, close to SVHN train (1: 15 %, 2: 54 %, 3: 26 %, 4: 4 %, 5: rare)
DIGIT_COUNT_P = np.array([0.15, 0.50, 0.27, 0.065, 0.015])

# --------------------------------------------------------------------------- sources

# font families: name -> list of faces; a face is ("ttf", file name) under matplotlib's
# font folder, ("pil", "") for Pillow's bundled default face, or ("hershey", "id:italic")
FONT_FAMILIES: dict[str, list[tuple[str, str]]] = {
    "dejavu_sans": [("ttf", "DejaVuSans.ttf"), ("ttf", "DejaVuSans-Bold.ttf"),
                    ("ttf", "DejaVuSans-Oblique.ttf"), ("ttf", "DejaVuSans-BoldOblique.ttf")],
    "dejavu_mono": [("ttf", "DejaVuSansMono.ttf"), ("ttf", "DejaVuSansMono-Bold.ttf"),
                    ("ttf", "DejaVuSansMono-Oblique.ttf")],
    "stix": [("ttf", "STIXGeneral.ttf"), ("ttf", "STIXGeneralBol.ttf"),
             ("ttf", "STIXGeneralItalic.ttf")],
    "cm_roman": [("ttf", "cmr10.ttf"), ("ttf", "cmb10.ttf")],
    "cm_mono": [("ttf", "cmtt10.ttf")],
    "hershey": [("hershey", "simplex:0"), ("hershey", "duplex:0"), ("hershey", "plain:0"),
                ("hershey", "simplex:1")],
    # held out
    "dejavu_serif": [("ttf", "DejaVuSerif.ttf"), ("ttf", "DejaVuSerif-Bold.ttf"),
                     ("ttf", "DejaVuSerif-Italic.ttf")],
    "cm_sans": [("ttf", "cmss10.ttf")],
    "aileron": [("pil", "")],
    "hershey_serif": [("hershey", "complex:0"), ("hershey", "triplex:0")],
}
HELDOUT_FONTS = ("dejavu_serif", "cm_sans", "aileron", "hershey_serif")

PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coins", "grass", "moon", "page", "text",
          "stereo_motorcycle", "rocket", "coffee", "gravel", "clock")
HELDOUT_PHOTOS = ("rocket", "coffee", "gravel", "clock")

WALLS = ("flat", "stucco", "siding", "bricks", "metal", "gradient", "plaster", "wood", "tiles",
         "concrete")
HELDOUT_WALLS = ("gradient", "plaster", "wood", "tiles", "concrete")
SMOOTH_WALLS = ("flat", "gradient", "plaster")  # drawn SMOOTH_WEIGHT times as often


def style_sources(style: str) -> tuple[list[str], list[str], list[str]]:
    """Font families, photo names and wall styles used by ``style`` ("all"/"train"/"heldout")."""
    if style not in STYLES:
        raise SvhnEraseError(f"unknown synth style {style!r}; expected one of {STYLES}")

    def pick(names, held):
        if style == "all":
            return list(names)
        return [n for n in names if (n in held) == (style == "heldout")]

    return pick(FONT_FAMILIES, HELDOUT_FONTS), pick(PHOTOS, HELDOUT_PHOTOS), pick(WALLS,
                                                                                  HELDOUT_WALLS)


@dataclass
class Glyph:
    """One digit of one face at cache resolution: ink alpha and metrics in cache pixels."""

    alpha: np.ndarray  # float32 (h, w) in [0, 1], cropped to the ink
    left: float  # ink left minus pen position
    top: float  # ink top minus baseline (negative: above the baseline)
    advance: float  # pen advance


GLYPH_SIZE = 96  # font size of the cached glyphs, in pixels


@cache
def _face_glyphs(kind: str, name: str) -> tuple[tuple[Glyph, ...], float]:
    """The ten digit glyphs of a face (cached per process) and its digit height."""
    from PIL import Image, ImageDraw, ImageFont

    size = GLYPH_SIZE
    canvas_w, canvas_h, pen_x, base_y = size * 2, size * 2, size // 2, int(size * 1.4)
    glyphs = []
    if kind in ("ttf", "pil"):
        if kind == "ttf":
            import matplotlib

            font = ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf",
                                                   name), size)
        else:
            font = ImageFont.load_default(size=size)
        for d in "0123456789":
            img = Image.new("L", (canvas_w, canvas_h))
            ImageDraw.Draw(img).text((pen_x, base_y), d, font=font, fill=255, anchor="ls")
            glyphs.append(_crop_glyph(np.asarray(img), pen_x, base_y, font.getlength(d)))
    else:
        face_name, italic = name.split(":")
        face = {"simplex": cv2.FONT_HERSHEY_SIMPLEX, "duplex": cv2.FONT_HERSHEY_DUPLEX,
                "plain": cv2.FONT_HERSHEY_PLAIN, "complex": cv2.FONT_HERSHEY_COMPLEX,
                "triplex": cv2.FONT_HERSHEY_TRIPLEX}[face_name]
        if italic == "1":
            face |= cv2.FONT_ITALIC
        scale = cv2.getFontScaleFromHeight(face, int(size * 0.72), 1)
        # one-pixel lines: Hershey faces build their weight from the glyph's own strokes
        # (duplex, complex and triplex draw two or three parallel lines); any thicker and
        # they merge into blobs 0.2-0.27 of the digit height across, beyond the boldest
        # TrueType face here (0.20). At 1 px they span 0.13-0.21, like regular to bold type.
        thickness = 1
        for d in "0123456789":
            # Hershey's zero is slashed; house numbers use a plain oval: a narrowed "O"
            text = "O" if d == "0" else d
            img = np.zeros((canvas_h, canvas_w), np.uint8)
            cv2.putText(img, text, (pen_x, base_y), face, scale, 255, thickness, cv2.LINE_AA)
            (w, _), _ = cv2.getTextSize(text, face, scale, thickness)
            if d == "0":
                img = cv2.resize(img, (int(canvas_w * 0.8), canvas_h), interpolation=cv2.INTER_AREA)
                w, pen = w * 0.8, int(pen_x * 0.8)
            else:
                pen = pen_x
            glyphs.append(_crop_glyph(img, pen, base_y, float(w) + thickness))
    heights = [g.alpha.shape[0] for g in glyphs]
    return tuple(glyphs), float(np.median(heights))


def _crop_glyph(img: np.ndarray, pen_x: int, base_y: int, advance: float) -> Glyph:
    ys, xs = np.nonzero(img)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = img[y0:y1, x0:x1].astype(np.float32) / 255.0
    return Glyph(alpha, float(x0 - pen_x), float(y0 - base_y), float(advance))


@cache
def _photo(name: str) -> np.ndarray:
    """A scikit-image sample photo as float32 RGB 0..255 (cached per process; no download)."""
    import skimage.data

    img = getattr(skimage.data, name)()
    if isinstance(img, tuple):  # stereo_motorcycle: (left, right, disparity)
        img = img[0]
    img = np.asarray(img)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3]).astype(np.float32)


@cache
def _is_gray_photo(name: str) -> bool:
    return _photo(name).std(axis=2).mean() < 1.0


# --------------------------------------------------------------------------- sample


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


def _color_hsv(h: float, s: float, v: float) -> np.ndarray:
    hsv = np.array([[[h * 179.0, s * 255.0, v * 255.0]]], np.float32)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _smooth_noise(rng: np.random.Generator, h: int, w: int, cells: float) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a coarse random grid upsampled bicubically."""
    gh = max(2, int(round(h / max(h, w) * cells)) + 1)
    gw = max(2, int(round(w / max(h, w) * cells)) + 1)
    grid = rng.uniform(-1, 1, size=(gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _fine_noise(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    return rng.standard_normal((h, w), dtype=np.float32)


def _wall(rng: np.random.Generator, kind: str, h: int, w: int, unit: float,
          diff: Difficulty) -> np.ndarray:
    """A painted wall of ``kind`` at (h, w); ``unit`` is the digit height in pixels."""
    base = _color_hsv(rng.uniform(0, 1), rng.uniform(0, 0.5) ** 1.3, rng.uniform(0.25, 0.95))
    lum = np.ones((h, w), np.float32)
    if kind == "flat":
        lum += 0.04 * _smooth_noise(rng, h, w, 3) + 0.02 * _fine_noise(rng, h, w)
    elif kind == "plaster":  # smooth, gently mottled render
        lum += (0.05 * _smooth_noise(rng, h, w, 2) + 0.025 * _smooth_noise(rng, h, w, 9)
                + 0.01 * _fine_noise(rng, h, w))
    elif kind == "gradient":
        yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
        xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
        a, b = rng.uniform(-0.25, 0.25, size=2)
        lum += a * yy + b * xx + 0.015 * _fine_noise(rng, h, w)
    elif kind in ("stucco", "concrete"):
        fine = cv2.GaussianBlur(_fine_noise(rng, h, w), (0, 0), rng.uniform(0.6, 1.5))
        emboss = fine - np.roll(fine, 1, axis=0)
        lum += 0.08 * _smooth_noise(rng, h, w, 4) + rng.uniform(*diff.emboss) * emboss
        if kind == "concrete":
            base = np.full(3, rng.uniform(90, 200), np.float32) * rng.uniform(0.95, 1.05, 3)
            pits = rng.random((h, w)) < 0.004
            lum -= 0.35 * cv2.GaussianBlur(pits.astype(np.float32), (0, 0), 0.8) * 4
            lum += 0.12 * _smooth_noise(rng, h, w, 7)
    elif kind in ("siding", "wood"):
        period = unit * rng.uniform(0.35, 1.0) if kind == "siding" else unit * rng.uniform(0.6, 2)
        yy = np.arange(h, dtype=np.float32)[:, None]
        wobble = 0.0
        if kind == "wood":
            base = _color_hsv(rng.uniform(0.04, 0.1), rng.uniform(0.4, 0.8), rng.uniform(0.3, 0.8))
            wobble = (unit * 0.1) * _smooth_noise(rng, h, w, 6)
            grain = np.sin((yy + wobble) * rng.uniform(0.8, 2.0) / max(unit * 0.05, 1.0))
            lum += 0.08 * grain + 0.03 * _fine_noise(rng, h, w)
        phase = (yy + rng.uniform(0, period)) % period / period  # straight board seams
        lum = lum * (1 - 0.2 * phase) - 0.35 * (phase > 0.93)
    elif kind in ("bricks", "tiles"):
        bh = unit * (rng.uniform(0.3, 0.6) if kind == "bricks" else rng.uniform(0.5, 1.5))
        bw = bh * (rng.uniform(2.0, 3.2) if kind == "bricks" else rng.uniform(0.8, 1.3))
        if kind == "bricks":
            base = _color_hsv(rng.uniform(0.0, 0.07), rng.uniform(0.35, 0.75),
                              rng.uniform(0.35, 0.75))
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        row = np.floor(yy / bh)
        shift = (row % 2) * 0.5 * bw if kind == "bricks" else 0.0
        col = np.floor((xx + shift) / bw)
        cell_rand = np.sin(row * 12.9898 + col * 78.233 + rng.uniform(0, 100)) * 43758.5453
        cell_rand = (cell_rand - np.floor(cell_rand)) - 0.5
        mortar_w = max(1.0, bh * 0.08)
        mortar = ((yy % bh) < mortar_w) | (((xx + shift) % bw) < mortar_w)
        lum += 0.18 * cell_rand + 0.05 * _fine_noise(rng, h, w)
        lum = np.where(mortar, rng.uniform(0.5, 1.4), lum)
    elif kind == "metal":
        base = np.full(3, rng.uniform(110, 220), np.float32) * rng.uniform(0.93, 1.07, 3)
        streak = cv2.GaussianBlur(_fine_noise(rng, h, w), (0, 0), sigmaX=unit * 0.5, sigmaY=0.5)
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None]
        lum += 0.6 * streak + 0.25 * np.sin(yy * rng.uniform(2, 6) + rng.uniform(0, 6))
    return lum[:, :, None] * base[None, None, :]


def _pick_wall(rng: np.random.Generator, walls: list[str], diff: Difficulty) -> str:
    """One wall kind; smooth kinds are ``diff.smooth_weight`` times as likely as others."""
    weight = np.array([diff.smooth_weight if w in SMOOTH_WALLS else 1.0 for w in walls])
    return walls[int(rng.choice(len(walls), p=weight / weight.sum()))]


def _photo_background(rng: np.random.Generator, name: str, h: int, w: int,
                      diff: Difficulty) -> np.ndarray:
    src = _photo(name)
    sh, sw = src.shape[:2]
    zoom = rng.uniform(*diff.photo_zoom)  # output pixels per source pixel
    ch, cw = min(sh, h / zoom), min(sw, w / zoom)
    if ch * w > cw * h:  # keep the output's aspect ratio
        ch = cw * h / w
    else:
        cw = ch * w / h
    y0 = rng.uniform(0, sh - ch)
    x0 = rng.uniform(0, sw - cw)
    m = np.array([[w / cw, 0, -x0 * w / cw], [0, h / ch, -y0 * h / ch]], np.float32)
    interp = cv2.INTER_AREA if w < cw else cv2.INTER_LINEAR
    if interp == cv2.INTER_AREA:
        crop = src[int(y0):int(np.ceil(y0 + ch)), int(x0):int(np.ceil(x0 + cw))]
        img = cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    else:
        img = cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REFLECT)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if _is_gray_photo(name) or rng.random() < 0.25:
        lum = img.mean(axis=2, keepdims=True)
        tint = _color_hsv(rng.uniform(0, 1), rng.uniform(0, 0.6), 1.0) / 255.0
        img = lum * tint[None, None, :] * rng.uniform(0.8, 1.2)
    gain = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    contrast = rng.uniform(*diff.photo_contrast)
    mean = img.mean()
    img = (img - mean) * contrast + mean * rng.uniform(0.7, 1.3)
    return np.ascontiguousarray(img * gain[None, None, :], dtype=np.float32)


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


def _digit_colors(rng: np.random.Generator, bg_rgb: np.ndarray,
                  diff: Difficulty) -> tuple[np.ndarray, str]:
    """A fill colour for the digits given the mean background colour, and a finish."""
    bg_l = float(bg_rgb.mean())
    finish = rng.choice(["paint", "metal", "paint", "paint", "texture"])
    if finish == "metal":
        if rng.random() < 0.6:  # brass
            col = _color_hsv(rng.uniform(0.1, 0.15), rng.uniform(0.4, 0.8), rng.uniform(0.5, 0.9))
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
    col = _color_hsv(rng.uniform(0, 1), sat, 1.0)
    col = col / max(float(col.mean()), 1.0) * target
    return np.clip(col, 0, 255).astype(np.float32), "paint-low" if low_contrast else str(finish)


def _warp_into(alpha: np.ndarray, m: np.ndarray, roi: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = roi
    t = np.array([[1, 0, -x0], [0, 1, -y0], [0, 0, 1]], np.float64)
    return cv2.warpPerspective(alpha, t @ m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _as_rng(rng_or_seed: np.random.Generator | int, index: int) -> np.random.Generator:
    if isinstance(rng_or_seed, np.random.Generator):
        return rng_or_seed
    return np.random.default_rng([int(rng_or_seed), int(index)])


def render_sample(rng_or_seed: np.random.Generator | int, index: int = 0,
                  style: str = "all", difficulty: str | Difficulty = DEFAULT_DIFFICULTY
                  ) -> Sample:
    """Render one parent image with its clean scene, digit mask and boxes, in memory.

    With an integer seed the image depends only on ``(seed, index, style, difficulty)``; a
    Generator is used as given (``index`` is then ignored).
    """
    families, photos, walls = style_sources(style)
    diff = difficulty_of(difficulty)
    rng = _as_rng(rng_or_seed, index)

    # ---- the number and its size
    k = int(rng.choice(len(DIGIT_COUNT_P), p=DIGIT_COUNT_P)) + 1
    digits = rng.integers(0, 10, size=k)
    if k > 1 and digits[0] == 0 and rng.random() < 0.9:
        digits[0] = rng.integers(1, 10)
    digit_h = float(np.clip(np.exp(rng.normal(np.log(27), 0.42)), 10, 72))  # final px
    family = families[int(rng.integers(len(families)))]
    kind, face = FONT_FAMILIES[family][int(rng.integers(len(FONT_FAMILIES[family])))]
    glyphs, face_h = _face_glyphs(kind, face)
    aspect = float(np.clip(rng.normal(1.0, 0.15), 0.65, 1.4))
    wide_gaps = rng.random() < 0.35
    bold = rng.choice([0.0, 0.0, 0.0, rng.uniform(0.02, 0.07), -rng.uniform(0.01, 0.025)])

    # long numbers of big digits would not fit SVHN's widths (<= 500 px)
    digit_h = min(digit_h, 440 / (k * (1.35 if wide_gaps else 0.9) * aspect))
    # first guess of the final width, to choose the work scale
    est_w = digit_h * k * 0.75 * aspect * (1.6 if wide_gaps else 1.1) + digit_h * 1.5
    scale = min(WORK_SCALE, MAX_WORK_WIDTH / max(est_w, 1.0))
    hw = digit_h * scale  # digit height in work pixels
    sc = hw / face_h

    # ---- glyph layout in a local frame (baseline at y = 0)
    placed = []  # (alpha_small, x, y) per digit, top-left in the layout frame
    pen = 0.0
    hand_placed = rng.random() < 0.1
    for d in digits:
        g = glyphs[int(d)]
        gw = max(1, int(round(g.alpha.shape[1] * sc * aspect)))
        gh = max(1, int(round(g.alpha.shape[0] * sc)))
        interp = cv2.INTER_AREA if gh < g.alpha.shape[0] else cv2.INTER_LINEAR
        small = cv2.resize(g.alpha, (gw, gh), interpolation=interp)
        r = int(round(abs(bold) * hw))
        if r > 0:
            pad = r + 1
            small = cv2.copyMakeBorder(small, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            small = (cv2.dilate if bold > 0 else cv2.erode)(small, kernel)
        else:
            pad = 0
        x = pen + g.left * sc * aspect - pad
        y = g.top * sc - pad + (rng.normal(0, 0.03 * hw) if hand_placed else 0.0)
        placed.append((small, x, y))
        gap = rng.uniform(0.1, 0.6) if wide_gaps else rng.uniform(-0.04, 0.12)
        pen += g.advance * sc * aspect + gap * hw
    lx0 = min(x for _, x, _ in placed)
    ly0 = min(y for _, _, y in placed)
    lx1 = max(x + a.shape[1] for a, x, _ in placed)
    ly1 = max(y + a.shape[0] for a, _, y in placed)
    lw, lh = lx1 - lx0, ly1 - ly0

    # ---- warp of the whole number: layout frame -> canvas
    quad = _quad(rng, lw, lh)
    qx0, qy0 = quad.min(axis=0)
    qx1, qy1 = quad.max(axis=0)
    number_w, number_h = (qx1 - qx0) / scale, (qy1 - qy0) / scale  # final px
    out_h = int(np.clip(round(max(number_h, digit_h) / rng.uniform(0.45, 0.85)), 30, 200))
    out_h = max(out_h, int(np.ceil(number_h)) + 2)
    margin_l, margin_r = rng.uniform(0.1, 1.0, size=2) * digit_h
    out_w = int(np.clip(round(number_w + margin_l + margin_r), 30, 500))
    out_w = max(out_w, int(np.ceil(number_w)) + 2)
    work_w, work_h = int(round(out_w * scale)), int(round(out_h * scale))
    # position of the number's bounding box inside the canvas
    free_x, free_y = work_w - (qx1 - qx0), work_h - (qy1 - qy0)
    px = free_x * float(np.clip(margin_l / (margin_l + margin_r), 0, 1)) - qx0
    py = free_y * rng.uniform(0.2, 0.8) - qy0
    src = np.array([[lx0, ly0], [lx1, ly0], [lx1, ly1], [lx0, ly1]], np.float32)
    number_m = cv2.getPerspectiveTransform(src, quad + np.array([px, py], np.float32))

    # ---- background
    use_photo = rng.random() < diff.photo_p and bool(photos)
    if use_photo:
        background = photos[int(rng.integers(len(photos)))]
        clean = _photo_background(rng, background, work_h, work_w, diff)
    else:
        background = _pick_wall(rng, walls, diff)
        clean = _wall(rng, background, work_h, work_w, hw, diff)
    if rng.random() < 0.25:  # door / window edge in the context
        number_box = (qx0 + px, qy0 + py, qx1 + px, qy1 + py)
        clean = _edge_element(rng, clean, hw, number_box if diff.edges_avoid_number else None)
    if rng.random() < diff.plaque_p:
        clean = _plaque(rng, clean, number_m, (lx0, ly0, lx1, ly1), hw, walls, diff)
    clean = np.clip(clean, 0, 255).astype(np.float32)

    # ---- digits: warp, colour, composite
    local = _local_mean(clean, number_m, (lx0, ly0, lx1, ly1))
    fill_col, finish = _digit_colors(rng, local, diff)
    outline = rng.random() < 0.15
    shadow = rng.random() < 0.25
    out_col = (np.clip(255 - fill_col + rng.normal(0, 30, 3), 0, 255).astype(np.float32)
               if rng.random() < 0.6 else np.full(3, rng.choice([15.0, 240.0]), np.float32))
    out_r = max(1, int(round(rng.uniform(0.03, 0.08) * hw)))
    sh_dx, sh_dy = rng.uniform(0.02, 0.08, size=2) * hw * rng.choice([-1, 1], size=2)
    sh_dy = abs(sh_dy)
    sh_strength, sh_blur = rng.uniform(0.35, 0.8), rng.uniform(0.01, 0.05) * hw + 0.5
    grad = rng.uniform(0.2, 0.5) * rng.choice([-1, 1])
    tex_amount = rng.uniform(0.4, 1.0)
    grow = (out_r if outline else 0) + (int(abs(sh_dx) + abs(sh_dy) + 3 * sh_blur) if shadow
                                        else 0) + 2
    image = clean.copy()
    covers = []
    for small, x, y in placed:
        m = number_m @ np.array([[1, 0, x], [0, 1, y], [0, 0, 1]], np.float64)
        corners = np.array([[0, 0], [small.shape[1], 0], [small.shape[1], small.shape[0]],
                            [0, small.shape[0]]], np.float32).reshape(-1, 1, 2)
        pts = cv2.perspectiveTransform(corners, m).reshape(-1, 2)
        rx0 = max(0, int(np.floor(pts[:, 0].min())) - grow)
        ry0 = max(0, int(np.floor(pts[:, 1].min())) - grow)
        rx1 = min(work_w, int(np.ceil(pts[:, 0].max())) + grow + 1)
        ry1 = min(work_h, int(np.ceil(pts[:, 1].max())) + grow + 1)
        cover = np.zeros((work_h, work_w), np.float32)
        if rx1 <= rx0 or ry1 <= ry0:
            covers.append(cover)
            continue
        fill = _warp_into(small, m, (rx0, ry0, rx1, ry1))
        region = image[ry0:ry1, rx0:rx1]
        cov = fill.copy()
        if outline:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * out_r + 1, 2 * out_r + 1))
            ring = cv2.dilate(fill, kernel)
            cov = ring
        if shadow:
            shifted = cv2.warpAffine(cov, np.float32([[1, 0, sh_dx], [0, 1, sh_dy]]),
                                     (cov.shape[1], cov.shape[0]))
            sh = cv2.GaussianBlur(shifted, (0, 0), sh_blur) * sh_strength
            region *= 1 - sh[:, :, None]
            cov = np.maximum(cov, sh)
        if outline:
            region += (out_col[None, None, :] - region) * ring[:, :, None]
        color = np.broadcast_to(fill_col, region.shape).copy()
        if finish == "metal":
            yy = np.linspace(-1, 1, ry1 - ry0, dtype=np.float32)[:, None, None]
            color *= 1 + grad * yy
        elif finish == "texture":
            bg_l = clean[ry0:ry1, rx0:rx1].mean(axis=2, keepdims=True)
            color *= (bg_l / max(float(bg_l.mean()), 1.0)) ** tex_amount
        region += (np.clip(color, 0, 255) - region) * fill[:, :, None]
        cover[ry0:ry1, rx0:rx1] = cov
        covers.append(cover)

    # ---- scene-wide effects, identical for the image and the clean scene
    light = _lighting(rng, out_h, out_w)
    grade_gain = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    desat = rng.uniform(0.0, 0.5)
    gamma = rng.uniform(0.8, 1.25)
    lowres = rng.uniform(0.35, 0.8) if rng.random() < 0.35 else 1.0
    blur_sigma = rng.uniform(0.0, 1.3) if rng.random() < 0.7 else 0.0
    motion = _motion_kernel(rng) if rng.random() < 0.15 else None
    noise_sigma = rng.uniform(*diff.noise_sigma)
    jpeg_q = int(rng.integers(*diff.jpeg_quality)) if rng.random() < 0.85 else 0
    noise = rng.standard_normal((out_h, out_w, 3), dtype=np.float32)
    noise = noise_sigma * (0.6 * noise + 0.8 * noise.mean(axis=2, keepdims=True))

    def finish_scene(img: np.ndarray) -> np.ndarray:
        img = _geometry(img, out_w, out_h, lowres, blur_sigma, motion) * light
        gray = img.mean(axis=2, keepdims=True)
        img = (img + (gray - img) * desat) * grade_gain
        img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** gamma
        img = np.clip(img + noise, 0, 255).round().astype(np.uint8)
        if jpeg_q:
            ok, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, jpeg_q])
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
        return np.ascontiguousarray(img)

    image_u8 = finish_scene(image)
    clean_u8 = finish_scene(clean)
    mask = np.zeros((out_h, out_w), np.uint8)
    boxes = np.zeros((k, 5), np.float64)
    for j, cover in enumerate(covers):
        alpha = _geometry(cover, out_w, out_h, lowres, blur_sigma, motion)
        mask[alpha > diff.mask_threshold] = j + 1  # a later digit wins where two overlap
        # the visible ink; a thin stroke blurred below the threshold is boxed by its peak
        visible = alpha > min(diff.box_threshold, 0.5 * float(alpha.max()))
        boxes[j] = _box(rng, visible, int(digits[j]), diff.box_grow)
    # keep the composite near the digits, the clean scene beyond halo_px, feathered between
    dist = cv2.distanceTransform((mask == 0).astype(np.uint8), cv2.DIST_C, 3)
    weight = np.clip((diff.halo_px + 1 - dist) / 2, 0, 1)[:, :, None]
    image_u8 = np.where(weight >= 1, image_u8,
                        (clean_u8 + weight * (image_u8.astype(np.float32) - clean_u8)).round()
                        .astype(np.uint8))
    info = {"background": background, "font": family, "finish": finish, "digit_h": digit_h,
            "noise_sigma": noise_sigma, "jpeg_q": jpeg_q, "blur_sigma": blur_sigma,
            "lowres": lowres}
    return Sample(image=image_u8, clean=clean_u8, mask=mask, boxes=boxes, info=info)


def _motion_kernel(rng: np.random.Generator) -> np.ndarray:
    """A normalised straight motion-blur kernel 2-5 px long at a random angle."""
    length, angle = rng.uniform(2.0, 5.0), rng.uniform(0, np.pi)
    n = 2 * int(np.ceil(length / 2)) + 1
    ss = 8
    big = np.zeros((n * ss, n * ss), np.float32)
    c = n * ss / 2
    dx, dy = np.cos(angle) * length * ss / 2, np.sin(angle) * length * ss / 2
    cv2.line(big, (int(c - dx), int(c - dy)), (int(c + dx), int(c + dy)), 1.0, ss)
    kernel = cv2.resize(big, (n, n), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def _geometry(img: np.ndarray, out_w: int, out_h: int, lowres: float,
              blur_sigma: float, motion: np.ndarray | None = None) -> np.ndarray:
    """The linear, shared geometric part of the degradation: resize, low-res, blur."""
    img = cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_AREA)
    if lowres < 1.0:
        lw, lh = max(8, int(round(out_w * lowres))), max(8, int(round(out_h * lowres)))
        img = cv2.resize(img, (lw, lh), interpolation=cv2.INTER_AREA)
        img = cv2.resize(img, (out_w, out_h), interpolation=cv2.INTER_LINEAR)
    if blur_sigma > 0.05:
        img = cv2.GaussianBlur(img, (0, 0), blur_sigma)
    if motion is not None:
        img = cv2.filter2D(img, -1, motion, borderType=cv2.BORDER_REFLECT)
    return img


def _box(rng: np.random.Generator, pixels: np.ndarray, digit: int,
         grow_range: tuple[int, int]) -> np.ndarray:
    """label, left, top, width, height: the tight box of ``pixels`` grown 0-2 px per side."""
    label = digit if digit else 10
    ys, xs = np.nonzero(pixels)
    grow = rng.integers(*grow_range, size=4)
    if len(xs) == 0:
        return np.array([label, 0, 0, 1, 1], np.float64)
    h, w = pixels.shape
    x0 = max(0, int(xs.min()) - int(grow[0]))
    y0 = max(0, int(ys.min()) - int(grow[1]))
    x1 = min(w - 1, int(xs.max()) + int(grow[2]))
    y1 = min(h - 1, int(ys.max()) + int(grow[3]))
    return np.array([label, x0, y0, x1 - x0 + 1, y1 - y0 + 1], np.float64)


def _lighting(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Multiplicative illumination: a soft gradient, vignette, sometimes a cast shadow."""
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    a, b = rng.normal(0, 0.12, size=2)
    light = 1 + a * xx + b * yy - rng.uniform(0, 0.2) * (xx**2 + yy**2) / 2
    light = light * rng.uniform(0.75, 1.2)
    if rng.random() < 0.15:  # a soft cast shadow edge across the scene
        t = rng.uniform(0, np.pi)
        off = rng.uniform(-0.8, 0.8)
        edge = (np.cos(t) * xx + np.sin(t) * yy - off) / rng.uniform(0.03, 0.2)
        light = light * (1 - rng.uniform(0.3, 0.6) / (1 + np.exp(-np.clip(edge, -30, 30))))
    return light[:, :, None].astype(np.float32)


def _local_mean(clean: np.ndarray, m: np.ndarray, box: tuple[float, ...]) -> np.ndarray:
    x0, y0, x1, y1 = box
    pts = cv2.perspectiveTransform(np.float32([[[x0, y0]], [[x1, y1]]]), m).reshape(-1, 2)
    h, w = clean.shape[:2]
    ax0, ay0 = np.clip(np.floor(pts.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    ax1, ay1 = np.clip(np.ceil(pts.max(axis=0)).astype(int), [ax0 + 1, ay0 + 1], [w, h])
    return clean[ay0:ay1, ax0:ax1].reshape(-1, 3).mean(axis=0)


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
    wall = walls[int(rng.integers(len(walls)))] if rng.random() < 0.3 else "flat"
    face = _wall(rng, wall, h, w, unit * 0.5, diff)
    trim = _color_hsv(rng.uniform(0, 1), rng.uniform(0, 0.6), rng.uniform(0.05, 1.0))
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
                  keep_out: tuple[float, float, float, float] | None = None) -> np.ndarray:
    """A door or window frame edge (a straight band of another colour) in the context.

    With ``keep_out`` (x0, y0, x1, y1, the number's extent in pixels) the
    band is cut back so that it stays clear of the number (numbers sit beside frames, not
    across them); a band with nothing left is not drawn.
    """
    h, w = clean.shape[:2]
    out = clean.copy()
    color = _color_hsv(rng.uniform(0, 1), rng.uniform(0, 0.5), rng.uniform(0.05, 0.95))
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


# --------------------------------------------------------------------------- splits


def _encode_png(img: np.ndarray) -> bytes:
    arr = img[:, :, ::-1] if img.ndim == 3 else img
    ok, buf = cv2.imencode(".png", np.ascontiguousarray(arr), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()


def _make_one(job: tuple[str, int, int, str, str]) -> np.ndarray:
    folder, seed, index, style, difficulty = job
    sample = render_sample(seed, index, style, difficulty)
    out = Path(folder)
    number = index + 1
    write_bytes(out / f"{number}.png", _encode_png(sample.image))
    write_bytes(out / "groundtruth" / f"{number}_clean.png", _encode_png(sample.clean))
    write_bytes(out / "groundtruth" / f"{number}_mask.png", _encode_png(sample.mask))
    h, w = sample.mask.shape
    stats = np.array([[w, h]], np.float64)
    return np.concatenate([sample.boxes, np.repeat(stats, len(sample.boxes), axis=0)], axis=1)


_GENERATED_NAME = re.compile(r"^(\d+)(\.png|_clean\.png|_mask\.png)$")


def _prepare_folder(folder: Path, count: int) -> None:
    """Create ``folder``; an earlier synth split there is replaced (its images numbered
    above ``count`` are removed), any other non-empty folder is refused."""
    if folder.exists() and not folder.is_dir():
        raise SvhnEraseError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()):
        try:
            earlier = json.loads((folder / "summary.json").read_text())
        except (OSError, ValueError):
            earlier = {}
        if earlier.get("generator") != "svhn_erase.synth":
            raise SvhnEraseError(f"{folder}: exists, is not empty and is not a generated split; "
                                 "choose another split name or remove it")
        for path in [*folder.glob("*.png"), *folder.glob("groundtruth/*.png")]:
            match = _GENERATED_NAME.match(path.name)
            if match and int(match.group(1)) > count:
                path.unlink()
    (folder / "groundtruth").mkdir(parents=True, exist_ok=True)


def generate_split(root: str | os.PathLike[str], split: str, count: int, seed: int = 0,
                   style: str = "all", workers: int | None = None,
                   progress: bool = True, difficulty: str = DEFAULT_DIFFICULTY) -> Path:
    """Write ``root/split`` in Format 1 (``1.png..N.png``, ``digitStruct.mat``) plus
    ``groundtruth/N_clean.png``, ``groundtruth/N_mask.png`` and ``summary.json``.

    Image ``i`` (0-based) is ``render_sample(seed, i, style, difficulty)``; the output does
    not depend on ``workers`` (default: the CPU count). Prints a one-line summary; returns
    the folder.
    """
    from tqdm import tqdm

    from svhn_erase.data.digitstruct import write_digitstruct

    style_sources(style)
    diff = difficulty_of(difficulty)
    if count < 1:
        raise SvhnEraseError(f"synth: --count must be at least 1, got {count}")
    if not split or Path(split).name != split:
        raise SvhnEraseError(f"synth: split name {split!r} must be a plain folder name")
    folder = Path(root) / split
    _prepare_folder(folder, count)
    workers = max(1, int(workers or os.cpu_count() or 1))
    recipe = {"generator": "svhn_erase.synth", "version": __version__,
              "recipe_version": RECIPE_VERSION, "seed": int(seed), "style": style,
              "difficulty": difficulty, "count": count}
    # written first so that an interrupted run can be regenerated in place
    write_json(folder / "summary.json", {**recipe, "complete": False})
    jobs = [(str(folder), int(seed), i, style, difficulty) for i in range(count)]
    started = time.perf_counter()
    bar = tqdm(total=count, desc=f"synth {split}", unit="img",
               disable=not progress or None)
    results: list[np.ndarray] = []
    if workers == 1 or count < 8:
        for job in jobs:
            results.append(_make_one(job))
            bar.update()
    else:
        import multiprocessing as mp

        ctx = mp.get_context("fork") if "fork" in mp.get_all_start_methods() else mp
        with ctx.Pool(workers) as pool:
            for res in pool.imap(_make_one, jobs, chunksize=max(1, min(32, count // workers // 8))):
                results.append(res)
                bar.update()
    bar.close()
    names = [f"{i + 1}.png" for i in range(count)]
    boxes = [r[:, :5] for r in results]
    mat_started = time.perf_counter()
    write_digitstruct(folder / "digitStruct.mat", names, boxes)
    mat_seconds = time.perf_counter() - mat_started
    seconds = time.perf_counter() - started

    per_image = Counter(len(b) for b in boxes)
    sizes = np.array([r[0, 5:7] for r in results])
    digit_h = np.concatenate([b[:, 4] for b in boxes])
    summary = {
        **recipe, "complete": True, "digits": int(len(digit_h)),
        "digits_per_image": {str(n): per_image[n] for n in sorted(per_image)},
        "width_range": [int(sizes[:, 0].min()), int(sizes[:, 0].max())],
        "height_range": [int(sizes[:, 1].min()), int(sizes[:, 1].max())],
        "digit_height_range": [int(digit_h.min()), int(digit_h.max())],
        "mask_threshold": diff.mask_threshold, "box_threshold": diff.box_threshold,
        "halo_px": diff.halo_px,
        "fonts": style_sources(style)[0], "photos": style_sources(style)[1],
        "walls": style_sources(style)[2],
        "seconds": round(seconds, 2), "digitstruct_seconds": round(mat_seconds, 2),
        "workers": workers,
    }
    write_json(folder / "summary.json", summary)
    hist = " ".join(f"{n}:{per_image[n]}" for n in sorted(per_image))
    print(f"synth {folder}: {count} images, {len(digit_h)} digits, digits/image {hist}, "
          f"width {summary['width_range'][0]}-{summary['width_range'][1]} px, "
          f"height {summary['height_range'][0]}-{summary['height_range'][1]} px, "
          f"digit height {summary['digit_height_range'][0]}-{summary['digit_height_range'][1]}"
          f" px, style {style}, difficulty {difficulty}, seed {seed}, {seconds:.1f} s")
    return folder


# --------------------------------------------------------------------------- preview


def preview_sheet(split_dir: str | os.PathLike[str], out_png: str | os.PathLike[str],
                  n: int = 12, cell_h: int = 96) -> Path:
    """Write a PNG grid of the first ``n`` images of a split: the image with its boxes,
    the clean scene and the mask (coloured), one row per image, each scaled to ``cell_h``."""
    from svhn_erase.atomic_io import write_image
    from svhn_erase.data.digitstruct import read_digitstruct

    split_dir = Path(split_dir)
    table = read_digitstruct(split_dir / "digitStruct.mat")
    palette = np.array([[0, 0, 0], [230, 25, 75], [60, 180, 75], [255, 225, 25],
                        [0, 130, 200], [245, 130, 48], [145, 30, 180]], np.uint8)
    rows = []
    for number in range(1, n + 1):
        name = f"{number}.png"
        image = cv2.imread(str(split_dir / name), cv2.IMREAD_COLOR)
        if image is None:
            break
        image = image[:, :, ::-1].copy()
        clean = cv2.imread(str(split_dir / "groundtruth" / f"{number}_clean.png"))[:, :, ::-1]
        mask = cv2.imread(str(split_dir / "groundtruth" / f"{number}_mask.png"),
                          cv2.IMREAD_UNCHANGED)
        h, w = mask.shape
        f = cell_h / h
        size = (max(1, int(round(w * f))), cell_h)
        boxed = cv2.resize(image, size, interpolation=cv2.INTER_NEAREST)
        for _, r in table[table.file == name].iterrows():
            p0 = (int(r.left * f), int(r.top * f))
            p1 = (int((r.left + r.width) * f) - 1, int((r.top + r.height) * f) - 1)
            cv2.rectangle(boxed, p0, p1, (0, 255, 0), 1)
            cv2.putText(boxed, str(int(r.label)), (p0[0] + 1, p0[1] + 10),
                        cv2.FONT_HERSHEY_PLAIN, 0.8, (255, 255, 0), 1)
        plain = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
        cl = cv2.resize(np.ascontiguousarray(clean), size, interpolation=cv2.INTER_LINEAR)
        mk = cv2.resize(palette[np.minimum(mask, 6)], size, interpolation=cv2.INTER_NEAREST)
        gap = np.full((cell_h, 4, 3), 255, np.uint8)
        rows.append(np.concatenate([plain, gap, boxed, gap, cl, gap, mk], axis=1))
    if not rows:
        raise SvhnEraseError(f"{split_dir}: no images to preview")
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255)
            for r in rows]
    # two columns of rows so the sheet stays roughly square
    half = (len(rows) + 1) // 2
    left, right = np.concatenate(rows[:half]), np.concatenate(rows[half:] or [rows[0] * 0])
    hmax = max(left.shape[0], right.shape[0])
    left = np.pad(left, ((0, hmax - left.shape[0]), (0, 8), (0, 0)), constant_values=255)
    right = np.pad(right, ((0, hmax - right.shape[0]), (0, 0), (0, 0)), constant_values=255)
    sheet = np.concatenate([left, right], axis=1)
    write_image(out_png, sheet)
    return Path(out_png)


def summary_of(split_dir: str | os.PathLike[str]) -> dict:
    """The ``summary.json`` of a generated split."""
    path = Path(split_dir) / "summary.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise SvhnEraseError(f"{path}: cannot read the synth summary ({exc})") from exc
