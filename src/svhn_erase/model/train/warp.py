"""Geometric warps of a real digit's signal, for the real-shape composites (issue 13).

Simard, Steinkraus and Platt (2003) grew MNIST's training set with small affine distortions
and with elastic ones (uniform random displacements smoothed by a Gaussian). ``draw`` picks
one such warp for a crop: a rotation, a scale per axis, a shear (a slant, as italic digits
have) about the crop's centre, a shift, and optionally a smooth displacement field. ``apply``
resamples any number of same-sized arrays (a digit's signal and its mask) through that one
warp, bilinearly, with zero where the warp reaches past the crop, so they move together.

``strength`` scales every part but the shift: at 1 the rotation is up to 8 degrees, each axis
scales by up to 10 % (in log), the slant is up to 0.15 pixels per row and the field moves
pixels by 1 pixel rms (at crop size 40; scaled with the size). Everything is drawn from the
caller's generator, so a warp is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

ROTATE = 8.0  # degrees, at strength 1
SCALE = 0.1  # per-axis log-scale, at strength 1 (x 0.905 .. x 1.105)
SHEAR = 0.15  # horizontal slant per row, at strength 1
ELASTIC = 1.0  # rms displacement of the elastic field, pixels at crop size 40 and strength 1
ELASTIC_SIGMA = 5.0  # Gaussian smoothing of the field, pixels at crop size 40


@dataclass(frozen=True)
class Warp:
    """Where each output pixel ``p`` (row, column) samples its input:
    ``centre + matrix @ (p - centre - shift) + field[:, p]``."""

    matrix: np.ndarray  # (2, 2): the inverse of the rotation, scale and shear
    shift: np.ndarray  # (2,) pixels the content moves
    field: np.ndarray | None  # (2, size, size) elastic displacements, pixels; None: none


def draw(size: int, shift: np.ndarray, strength: float, rng: np.random.Generator,
         elastic: bool = True) -> Warp:
    """A random warp of a ``size`` x ``size`` crop moved by ``shift`` (row, column)."""
    angle = np.radians(ROTATE * strength * rng.uniform(-1, 1))
    scale = np.exp(SCALE * strength * rng.uniform(-1, 1, 2))  # rows, columns
    slant = SHEAR * strength * rng.uniform(-1, 1)
    cos, sin = np.cos(angle), np.sin(angle)
    rotate = np.array([[cos, -sin], [sin, cos]])
    forward = rotate @ np.diag(scale) @ np.array([[1.0, 0.0], [slant, 1.0]])
    field = None
    if elastic:
        sigma = ELASTIC_SIGMA * size / 40
        field = np.stack([ndimage.gaussian_filter(rng.uniform(-1, 1, (size, size)), sigma)
                          for _ in range(2)])
        rms = float(np.sqrt((field ** 2).sum(axis=0).mean()))
        field *= ELASTIC * strength * (size / 40) / max(rms, 1e-12)
    return Warp(np.linalg.inv(forward), np.asarray(shift, float), field)


def apply(warp: Warp, *arrays: np.ndarray) -> list[np.ndarray]:
    """Each (size, size) array resampled through ``warp`` (bilinear, zero outside)."""
    size = arrays[0].shape[-1]
    centre = (size - 1) / 2
    grid = np.indices((size, size), dtype=float).reshape(2, -1)
    where = centre + warp.matrix @ (grid - centre - warp.shift[:, None])
    if warp.field is not None:
        where += warp.field.reshape(2, -1)
    return [ndimage.map_coordinates(np.asarray(a, float), where, order=1, mode="constant",
                                    cval=0.0).reshape(a.shape) for a in arrays]
