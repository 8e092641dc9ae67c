"""Read and write ``digitStruct.mat``, the box file of SVHN Format 1 (SPEC §1).

The file is MATLAB v7.3, i.e. HDF5 behind a 512-byte user block. ``digitStruct/name`` and
``digitStruct/bbox`` are N x 1 arrays of object references into ``#refs#``; a bbox group
holds ``height, label, left, top, width``, each 1 x 1 float64 for a one-digit image or a
k x 1 array of references to 1 x 1 float64 values for k digits.

The reader returns one row per digit: ``file, digit_index, label, left, top, width,
height`` with label 10 already mapped to 0.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from svhn_erase.atomic_io import atomic_path
from svhn_erase.errors import SvhnEraseError

BOX_FIELDS = ("height", "label", "left", "top", "width")
INDEX_COLUMNS = ["file", "digit_index", "label", "left", "top", "width", "height"]
USERBLOCK_SIZE = 512


class DigitStructError(SvhnEraseError):
    """A digitStruct.mat that cannot be read; the message names the file and the problem."""


# --------------------------------------------------------------------------- writing


def _ref_names():
    """MATLAB-like names for objects under ``#refs#``: a, b, ..., z, aa, ab, ..."""
    n = 0
    while True:
        k, s = n, ""
        while True:
            s = chr(ord("a") + k % 26) + s
            k = k // 26 - 1
            if k < 0:
                break
        yield s
        n += 1


def _matlab_header() -> bytes:
    """The 128-byte MATLAB 7.3 text header, padded with zeros to the user block size."""
    stamp = _dt.datetime(2000, 1, 1).strftime("%a %b %d %H:%M:%S %Y")
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {stamp} HDF5 schema 1.00 ."
    head = text.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    return head.ljust(USERBLOCK_SIZE, b"\x00")


def write_digitstruct(
    path: str | os.PathLike[str],
    names: Sequence[str],
    boxes: Sequence[np.ndarray],
) -> None:
    """Write a MATLAB v7.3 ``digitStruct.mat`` in the layout of the real SVHN files.

    ``names[i]`` is the image file name (``"1.png"``); ``boxes[i]`` is a (k, 5) array of
    ``label, left, top, width, height`` per digit, labels in 1..10 (10 = digit 0).
    The file is written atomically.
    """
    if len(names) != len(boxes):
        raise ValueError(f"{len(names)} names but {len(boxes)} box arrays")
    path = Path(path)
    refname = _ref_names()
    with atomic_path(path, suffix=".mat") as tmp:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK_SIZE, libver="earliest") as f:
            refs = f.create_group("#refs#")
            group = f.create_group("digitStruct")
            group.attrs["MATLAB_class"] = np.bytes_("struct")
            name_refs = np.empty((len(names), 1), dtype=h5py.ref_dtype)
            bbox_refs = np.empty((len(names), 1), dtype=h5py.ref_dtype)
            for i, (name, box) in enumerate(zip(names, boxes, strict=True)):
                chars = np.frombuffer(name.encode("ascii"), dtype=np.uint8).astype(np.uint16)
                ds = refs.create_dataset(next(refname), data=chars.reshape(-1, 1))
                ds.attrs["MATLAB_class"] = np.bytes_("char")
                name_refs[i, 0] = ds.ref

                box = np.asarray(box, dtype=np.float64).reshape(-1, 5)
                bbox = refs.create_group(next(refname))
                bbox.attrs["MATLAB_class"] = np.bytes_("struct")
                columns = {"label": 0, "left": 1, "top": 2, "width": 3, "height": 4}
                for field in BOX_FIELDS:
                    values = box[:, columns[field]]
                    if len(values) == 1:
                        ds = bbox.create_dataset(field, data=values.reshape(1, 1))
                        ds.attrs["MATLAB_class"] = np.bytes_("double")
                    else:
                        cell = np.empty((len(values), 1), dtype=h5py.ref_dtype)
                        for j, v in enumerate(values):
                            vds = refs.create_dataset(next(refname), data=np.array([[v]]))
                            vds.attrs["MATLAB_class"] = np.bytes_("double")
                            cell[j, 0] = vds.ref
                        ds = bbox.create_dataset(field, data=cell)
                        ds.attrs["MATLAB_class"] = np.bytes_("cell")
                bbox_refs[i, 0] = bbox.ref
            for key, data in (("name", name_refs), ("bbox", bbox_refs)):
                ds = group.create_dataset(key, data=data)
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
        with open(tmp, "r+b") as fh:
            fh.write(_matlab_header())


# --------------------------------------------------------------------------- reading


def _scalar_or_cell(f: h5py.File, ds: h5py.Dataset) -> list[float]:
    if ds.dtype == h5py.ref_dtype:
        return [float(f[r][()].ravel()[0]) for r in ds[()].ravel()]
    return [float(v) for v in ds[()].ravel()]


def read_digitstruct(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read every digit box of a ``digitStruct.mat`` into a table (one row per digit).

    Columns: ``file, digit_index, label, left, top, width, height``; label 10 becomes 0.
    Boxes are returned as stored (not clipped).
    """
    path = Path(path)
    if not path.is_file():
        raise DigitStructError(f"{path}: no such file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DigitStructError(f"{path}: not a readable MATLAB v7.3 / HDF5 file ({exc})") from exc
    rows: list[tuple] = []
    with f:
        try:
            names = f["digitStruct/name"][()].ravel()
            bboxes = f["digitStruct/bbox"][()].ravel()
        except KeyError as exc:
            raise DigitStructError(f"{path}: no digitStruct/name or digitStruct/bbox") from exc
        for name_ref, bbox_ref in zip(names, bboxes, strict=True):
            name = "".join(map(chr, f[name_ref][()].ravel()))
            group = f[bbox_ref]
            fields = {k: _scalar_or_cell(f, group[k]) for k in BOX_FIELDS}
            for j in range(len(fields["label"])):
                label = int(round(fields["label"][j])) % 10
                rows.append((name, j, label, fields["left"][j], fields["top"][j],
                             fields["width"][j], fields["height"][j]))
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)
