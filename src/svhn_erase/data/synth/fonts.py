"""The ten digit glyphs of a face, rendered once per process at ``GLYPH_SIZE`` pixels:
TrueType faces shipped with matplotlib, Pillow's default face, OpenCV's Hershey fonts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

GLYPH_SIZE = 96  # font size of the cached glyphs, in pixels
_CANVAS = GLYPH_SIZE * 2  # square canvas a glyph is drawn on
_PEN_X, _BASE_Y = GLYPH_SIZE // 2, int(GLYPH_SIZE * 1.4)  # where the pen starts, the baseline
_HERSHEY = {"simplex": cv2.FONT_HERSHEY_SIMPLEX, "duplex": cv2.FONT_HERSHEY_DUPLEX,
            "plain": cv2.FONT_HERSHEY_PLAIN, "complex": cv2.FONT_HERSHEY_COMPLEX,
            "triplex": cv2.FONT_HERSHEY_TRIPLEX}


@dataclass
class Glyph:
    """One digit of one face at cache resolution: ink alpha and metrics in cache pixels."""

    alpha: np.ndarray  # float32 (h, w) in [0, 1], cropped to the ink
    left: float  # ink left minus pen position
    top: float  # ink top minus baseline (negative: above the baseline)
    advance: float  # pen advance


@cache
def face_glyphs(kind: str, name: str) -> tuple[tuple[Glyph, ...], float]:
    """The ten digit glyphs of a face (cached per process) and its digit height.

    ``kind`` is ``"ttf"`` (``name`` a file in matplotlib's font folder), ``"pil"`` (Pillow's
    bundled default face) or ``"hershey"`` (``name`` is ``"face:italic"``)."""
    glyphs = _hershey_glyphs(name) if kind == "hershey" else _pil_glyphs(kind, name)
    heights = [g.alpha.shape[0] for g in glyphs]
    return tuple(glyphs), float(np.median(heights))


def _pil_glyphs(kind: str, name: str) -> list[Glyph]:
    from PIL import Image, ImageDraw, ImageFont

    if kind == "ttf":
        import matplotlib

        font = ImageFont.truetype(os.path.join(matplotlib.get_data_path(), "fonts", "ttf", name),
                                  GLYPH_SIZE)
    else:
        font = ImageFont.load_default(size=GLYPH_SIZE)
    glyphs = []
    for d in "0123456789":
        img = Image.new("L", (_CANVAS, _CANVAS))
        ImageDraw.Draw(img).text((_PEN_X, _BASE_Y), d, font=font, fill=255, anchor="ls")
        glyphs.append(_crop_glyph(np.asarray(img), _PEN_X, _BASE_Y, font.getlength(d)))
    return glyphs


def _hershey_glyphs(name: str) -> list[Glyph]:
    face_name, italic = name.split(":")
    face = _HERSHEY[face_name]
    if italic == "1":
        face |= cv2.FONT_ITALIC
    scale = cv2.getFontScaleFromHeight(face, int(GLYPH_SIZE * 0.72), 1)
    # one-pixel lines: Hershey faces build their weight from the glyph's own strokes
    # (duplex, complex and triplex draw two or three parallel lines); any thicker and
    # they merge into blobs 0.2-0.27 of the digit height across, beyond the boldest
    # TrueType face here (0.20). At 1 px they span 0.13-0.21, like regular to bold type.
    thickness = 1
    glyphs = []
    for d in "0123456789":
        # Hershey's zero is slashed; house numbers use a plain oval: a narrowed "O"
        text = "O" if d == "0" else d
        img = np.zeros((_CANVAS, _CANVAS), np.uint8)
        cv2.putText(img, text, (_PEN_X, _BASE_Y), face, scale, 255, thickness, cv2.LINE_AA)
        (w, _), _ = cv2.getTextSize(text, face, scale, thickness)
        if d == "0":
            img = cv2.resize(img, (int(_CANVAS * 0.8), _CANVAS), interpolation=cv2.INTER_AREA)
            w, pen = w * 0.8, int(_PEN_X * 0.8)
        else:
            pen = _PEN_X
        glyphs.append(_crop_glyph(img, pen, _BASE_Y, float(w) + thickness))
    return glyphs


def _crop_glyph(img: np.ndarray, pen_x: int, base_y: int, advance: float) -> Glyph:
    ys, xs = np.nonzero(img)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    alpha = img[y0:y1, x0:x1].astype(np.float32) / 255.0
    return Glyph(alpha, float(x0 - pen_x), float(y0 - base_y), float(advance))


@cache
def footless_one(kind: str, name: str) -> Glyph:
    """The face's "1" without its foot (the serif bar it stands on), as most house-number
    ones are: from the first row below the middle where the ink runs wider than 1.5 x the
    stem, every row is cut back to the stem's width around the stem's line (fitted on the
    middle rows, so oblique faces keep their slant). A "1" without a foot is unchanged."""
    one = face_glyphs(kind, name)[0][1]
    alpha = one.alpha.copy()
    h = alpha.shape[0]
    ink = alpha > 0.5
    rows = [r for r in range(int(0.3 * h), int(0.7 * h)) if ink[r].any()]
    if len(rows) < 3:
        return one
    centres = [np.flatnonzero(ink[r]).mean() for r in rows]
    stem = float(np.median([np.ptp(np.flatnonzero(ink[r])) + 1 for r in rows]))
    slope, offset = np.polyfit(rows, centres, 1)
    wide = [r for r in range(int(0.5 * h), h)
            if ink[r].any() and np.ptp(np.flatnonzero(ink[r])) + 1 > 1.5 * stem]
    for r in range(wide[0] - 1, h) if wide else ():  # from the foot's top to the bottom
        keep = np.abs(np.arange(alpha.shape[1]) - (slope * r + offset)) <= stem / 2 + 1
        alpha[r, ~keep] = 0.0
    ys, xs = np.nonzero(alpha > 0.02)
    y0, x0 = ys.min(), xs.min()
    return Glyph(alpha[y0:ys.max() + 1, x0:xs.max() + 1], one.left + float(x0),
                 one.top + float(y0), one.advance)
