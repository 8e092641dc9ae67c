"""Read SVHN Format 2 (cropped 32 x 32 digits, ``*_32x32.mat``; SPEC §1).

The files are MATLAB v5 (scipy.io.loadmat): ``X`` is 32 x 32 x 3 x N uint8 and ``y`` is
N x 1 with 10 for digit 0. ``read_cropped`` returns ``X`` as (N, 32, 32, 3) and ``y`` as
digits 0..9; ``SVHNCropped`` wraps that as a torchvision-style dataset;
``summarize_cropped`` counts the digits per class (the ``data format2`` command).
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np

from svhn_erase.errors import SvhnEraseError


def read_cropped(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)`` of a Format 2 file: X uint8 (N, 32, 32, 3) RGB, y int64 (N,) in 0..9
    (label 10 -> 0). ``SvhnEraseError`` naming the file for a missing, corrupt or
    wrongly shaped file."""
    import scipy.io
    from scipy.io.matlab import MatReadError

    path = Path(path)
    if not path.is_file():
        raise SvhnEraseError(f"{path}: no such file")
    try:
        mat = scipy.io.loadmat(path, variable_names=["X", "y"])
    except NotImplementedError as exc:  # a v7.3 (HDF5) file
        raise SvhnEraseError(f"{path}: not a MATLAB v5 file ({exc})") from exc
    except (MatReadError, ValueError, TypeError, OSError, EOFError, zlib.error) as exc:
        raise SvhnEraseError(f"{path}: not a readable MATLAB file (truncated or corrupt?): "
                             f"{exc}") from exc
    for key in ("X", "y"):
        if key not in mat:
            raise SvhnEraseError(f"{path}: no variable '{key}' (is this a *_32x32.mat file?)")
    x, y = mat["X"], np.asarray(mat["y"])
    if x.ndim != 4 or x.shape[:3] != (32, 32, 3):
        raise SvhnEraseError(f"{path}: X has shape {x.shape}, expected 32 x 32 x 3 x N")
    y = y.reshape(-1)
    if y.shape[0] != x.shape[3]:
        raise SvhnEraseError(f"{path}: {x.shape[3]} images in X but {y.shape[0]} labels in y")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.number) or x.min() < 0 or x.max() > 255:
            raise SvhnEraseError(f"{path}: X is {x.dtype}, expected uint8 pixel values")
        x = x.astype(np.uint8)
    if not np.issubdtype(y.dtype, np.number) or not np.all(np.isin(y, np.arange(0, 11))):
        bad = y[~np.isin(y, np.arange(0, 11))][:3] if np.issubdtype(y.dtype, np.number) else []
        raise SvhnEraseError(f"{path}: labels must be 1..10 (10 = digit 0); found {list(bad)}")
    images = np.ascontiguousarray(np.transpose(x, (3, 0, 1, 2)))
    return images, (y.astype(np.int64) % 10)


def summarize_cropped(path: str | os.PathLike[str]) -> dict[str, object]:
    """Number of images and of each digit in a Format 2 file."""
    images, labels = read_cropped(path)
    counts = np.bincount(labels, minlength=10)
    return {"file": str(path), "images": int(len(images)), "shape": list(images.shape[1:]),
            "per_digit": {str(d): int(c) for d, c in enumerate(counts)}}


try:  # a Dataset when torch is there (it is a dependency; the guard keeps this module light)
    from torch.utils.data import Dataset as _Dataset
except ImportError:  # pragma: no cover
    _Dataset = object


class SVHNCropped(_Dataset):
    """The digits of a Format 2 file: item ``i`` is ``(image, label)``, the image a
    (32, 32, 3) uint8 array (or ``transform(image)``), the label an int 0..9."""

    def __init__(self, path: str | os.PathLike[str],
                 transform: Callable | None = None) -> None:
        self.path = Path(path)
        self.images, self.labels = read_cropped(self.path)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[object, int]:
        image = self.images[index]
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.labels[index])
