"""Photo backgrounds: a random crop of a scikit-image sample photo (no download), scaled,
sometimes flipped or tinted, with its contrast and colour balance redrawn."""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from svhn_erase.data.synth.difficulty import Difficulty
from svhn_erase.data.synth.palette import color_hsv


@cache
def photo(name: str) -> np.ndarray:
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
    return photo(name).std(axis=2).mean() < 1.0


def _crop_scaled(src: np.ndarray, rng: np.random.Generator, h: int, w: int,
                 diff: Difficulty) -> np.ndarray:
    """A random window of ``src`` with the output's aspect ratio, scaled to (h, w)."""
    sh, sw = src.shape[:2]
    zoom = rng.uniform(*diff.photo_zoom)  # output pixels per source pixel
    ch, cw = min(sh, h / zoom), min(sw, w / zoom)
    if ch * w > cw * h:  # keep the output's aspect ratio
        ch = cw * h / w
    else:
        cw = ch * w / h
    y0 = rng.uniform(0, sh - ch)
    x0 = rng.uniform(0, sw - cw)
    if w < cw:
        crop = src[int(y0):int(np.ceil(y0 + ch)), int(x0):int(np.ceil(x0 + cw))]
        return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA)
    m = np.array([[w / cw, 0, -x0 * w / cw], [0, h / ch, -y0 * h / ch]], np.float32)
    return cv2.warpAffine(src, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def photo_background(rng: np.random.Generator, name: str, h: int, w: int,
                     diff: Difficulty) -> np.ndarray:
    """Photo ``name`` as an (h, w) float32 RGB background."""
    img = _crop_scaled(photo(name), rng, h, w, diff)
    if rng.random() < 0.5:
        img = img[:, ::-1]
    if _is_gray_photo(name) or rng.random() < 0.25:
        lum = img.mean(axis=2, keepdims=True)
        tint_sat = rng.uniform(0, 0.3 if diff.palette else 0.6)
        tint = color_hsv(rng.uniform(0, 1), tint_sat, 1.0) / 255.0
        img = lum * tint[None, None, :] * rng.uniform(0.8, 1.2)
    gain = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    contrast = rng.uniform(*diff.photo_contrast)
    mean = img.mean()
    img = (img - mean) * contrast + mean * rng.uniform(0.7, 1.3)
    return np.ascontiguousarray(img * gain[None, None, :], dtype=np.float32)
