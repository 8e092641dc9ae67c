"""Read every digit box of a ``digitStruct.mat`` into a table, one row per digit.

``read_digitstruct`` loads the file into memory and follows its object references through
the direct HDF5 parser (``_hdf5.Hdf5Map``), checking its first and last image against h5py;
a file that parser does not know is read through h5py instead, one reference at a time
(``read_digitstruct_naive``, slow: the benchmark baseline and the tests' reference).

Memory is bounded by the file's real size: no dataset is read whose declared size exceeds
what the file can hold (its bytes, times deflate's largest ratio when it is compressed, at
most 64 MiB), and a file holds at most one digit per ``BYTES_PER_DIGIT`` of its bytes, so
a small damaged file cannot ask for gigabytes. Whatever h5py raises for a damaged file
becomes a ``DigitStructError`` naming it.
"""

from __future__ import annotations

import logging
import math
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from h5py import h5s, h5t

from svhn_erase.data.digitstruct._hdf5 import (
    REF,
    Hdf5Map,
    Unsupported,
    declared_limit,
)
from svhn_erase.data.digitstruct.layout import (
    BOX_FIELDS,
    INDEX_COLUMNS,
    TABLE_FIELDS,
    DigitStructError,
)

log = logging.getLogger(__name__)

# what h5py and libhdf5 raise for a damaged file (RuntimeError: e.g. "bad global heap
# collection signature", H5Tget_ebias)
_H5_ERRORS = (OSError, RuntimeError, ValueError, KeyError, TypeError, IndexError,
              AttributeError)


def _chars_to_name(values: np.ndarray) -> str:
    """An image name from its stored characters (UTF-16 code units or bytes); ValueError
    for values that are no characters."""
    if values.dtype.kind == "S":
        return b"".join(values.tolist()).rstrip(b"\x00").decode("utf-8", "replace")
    if values.dtype.kind not in "iu":
        raise ValueError(f"name characters of type {values.dtype}")
    return "".join(map(chr, np.asarray(values).astype(np.int64).tolist())).rstrip("\x00")


def check_declared(path: Path, what: str, ds: h5py.Dataset) -> None:
    """A ``DigitStructError`` when dataset ``ds`` declares more data than the file can hold
    (``declared_limit``), or chunks (which the library allocates whole to read them) larger
    than a compressed dataset could hold."""
    size = path.stat().st_size
    nbytes = int(ds.size or 0) * ds.dtype.itemsize
    if nbytes > declared_limit(size, False) and nbytes > declared_limit(
            size, ds.id.get_create_plist().get_nfilters() > 0):  # (asked only when it matters)
        raise DigitStructError(f"{path}: {what} declares {ds.size:,} values ({nbytes:,} bytes), "
                               f"more than this {size:,}-byte file can hold")
    chunk = math.prod(ds.chunks) * ds.dtype.itemsize if ds.chunks else 0
    if chunk > declared_limit(size, True):
        raise DigitStructError(f"{path}: {what} declares chunks of {chunk:,} bytes, more than "
                               f"this {size:,}-byte file can hold")


def _read_dataset(path: Path, what: str, ds: object) -> np.ndarray:
    """The values of dataset ``ds`` after ``check_declared``."""
    if not isinstance(ds, h5py.Dataset):
        raise DigitStructError(f"{path}: {what} is not a dataset")
    check_declared(path, what, ds)
    return np.asarray(ds[()])


BYTES_PER_DIGIT = 8  # a digit's five values take at least this much of any real file


class _RawTable:
    """Columns of the raw (unclipped) digit table while it is being read; at most one digit
    per ``BYTES_PER_DIGIT`` bytes of the file (objects can be shared: a small file could
    otherwise repeat one large box field for every image)."""

    def __init__(self, path: Path) -> None:
        self.budget = max(1000, path.stat().st_size // BYTES_PER_DIGIT)
        self.files: list[str] = []
        self.counts: list[int] = []
        self.values: list[np.ndarray] = []  # per image: (k, 5) label, left, top, width, height

    def add(self, path: Path, index: int, name: str, fields: dict[str, np.ndarray]) -> None:
        lengths = {len(v) for v in fields.values()}
        if len(lengths) != 1:
            sizes = ", ".join(f"{k}={len(v)}" for k, v in fields.items())
            raise DigitStructError(f"{path}: image {index + 1} ({name}): box fields have "
                                   f"different lengths ({sizes})")
        count = lengths.pop()
        self.budget -= count
        if self.budget < 0:
            raise DigitStructError(f"{path}: image {index + 1} brings the digits past one per "
                                   f"{BYTES_PER_DIGIT} bytes of the file: more than it can hold")
        self.files.append(name)
        self.counts.append(count)
        self.values.append(np.column_stack([np.asarray(fields[k], dtype=np.float64)
                                            for k in TABLE_FIELDS]))

    def frame(self) -> pd.DataFrame:
        counts = np.asarray(self.counts, dtype=np.int64)
        values = (np.concatenate(self.values) if self.values
                  else np.empty((0, 5), dtype=np.float64))
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        digit_index = np.arange(len(values), dtype=np.int64) - starts
        return pd.DataFrame({
            # object, not pandas' str dtype: a name that is no valid UTF-8 (a surrogate) must
            # reach the index's checks to be reported, not fail here (pyarrow strings)
            "file": pd.Series(np.repeat(np.asarray(self.files, dtype=object), counts),
                              dtype=object),
            "digit_index": digit_index,
            "label": values[:, 0], "left": values[:, 1], "top": values[:, 2],
            "width": values[:, 3], "height": values[:, 4],
        }, columns=INDEX_COLUMNS)


def _open_h5(path: Path) -> h5py.File:
    if not path.is_file():
        raise DigitStructError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except _H5_ERRORS as exc:
        raise DigitStructError(
            f"{path}: not a readable MATLAB v7.3 / HDF5 file (truncated or corrupt?): {exc}"
        ) from exc


# --------------------------------------------------------------------------- direct


def _top_refs(path: Path, f: h5py.File) -> tuple[np.ndarray, np.ndarray]:
    """``digitStruct/name`` and ``digitStruct/bbox`` as uint64 object header addresses."""
    out = []
    for key in ("name", "bbox"):
        try:
            ds = f[f"digitStruct/{key}"]
        except KeyError as exc:
            raise DigitStructError(f"{path}: no digitStruct/{key} in the file") from exc
        if not isinstance(ds, h5py.Dataset) or ds.dtype != h5py.ref_dtype:
            raise DigitStructError(f"{path}: digitStruct/{key} is not an array of references")
        check_declared(path, f"digitStruct/{key}", ds)
        addrs = np.empty(ds.shape, dtype=np.uint64)
        try:
            ds.id.read(h5s.ALL, h5s.ALL, addrs, mtype=h5t.STD_REF_OBJ)
        except (OSError, RuntimeError) as exc:
            raise DigitStructError(f"{path}: digitStruct/{key} does not read: {exc}") from exc
        out.append(addrs.ravel())
    if len(out[0]) != len(out[1]):
        raise DigitStructError(f"{path}: {len(out[0])} names but {len(out[1])} bbox entries")
    return out[0], out[1]


def _field_direct(m: Hdf5Map, index: int, field: str, addr: int) -> np.ndarray:
    """One bbox field's values: a number array, or a cell of references to single numbers."""
    values, dtype = m.dataset(addr)
    if dtype is REF:
        cell = []
        for a in values.tolist():
            v, vtype = m.dataset(a)
            if v is None or vtype is REF or len(v) != 1:
                raise Unsupported("a cell element is not one number")
            cell.append(v[0])
        return np.asarray(cell, dtype=np.float64)
    if values is None or dtype.kind not in "iuf":
        raise Unsupported(f"bbox field {field} of image {index + 1} is not numeric")
    return values


def _read_image_direct(path: Path, m: Hdf5Map, index: int, name_addr: int,
                       bbox_addr: int) -> tuple[str, dict[str, np.ndarray]]:
    """One image's name and box fields through the direct parser."""
    chars, _ = m.dataset(name_addr)
    if chars is None:
        raise Unsupported(f"name {index + 1} is not a dataset")
    name = _chars_to_name(chars)
    links = m.group_links(bbox_addr)
    fields = {}
    for field in BOX_FIELDS:
        if field not in links:
            raise DigitStructError(f"{path}: image {index + 1} ({name}): bbox has no "
                                   f"'{field}'")
        fields[field] = _field_direct(m, index, field, links[field])
    return name, fields


def _with_progress(pairs: Iterable, total: int, path: Path, progress: bool) -> Iterable:
    if not progress:
        return pairs
    from tqdm import tqdm

    return tqdm(pairs, total=total, unit="img", desc=f"reading {path.name}", disable=None)


def _read_raw_fast(path: Path, progress: bool = False) -> pd.DataFrame:
    """The raw table (labels as stored, float) through ``Hdf5Map``; ``Unsupported`` if the
    file needs the library."""
    with _open_h5(path) as f:
        name_addrs, bbox_addrs = _top_refs(path, f)
    buf = path.read_bytes()
    table = _RawTable(path)
    try:
        m = Hdf5Map(buf)
        pairs = zip(name_addrs.tolist(), bbox_addrs.tolist(), strict=True)
        for i, (name_addr, bbox_addr) in enumerate(_with_progress(pairs, len(name_addrs), path,
                                                                  progress)):
            name, fields = _read_image_direct(path, m, i, name_addr, bbox_addr)
            table.add(path, i, name, fields)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError, zlib.error,
            ArithmeticError, TypeError, KeyError, RecursionError) as exc:
        raise Unsupported(f"unexpected structure ({type(exc).__name__}: {exc})") from exc
    _cross_check(path, table)
    return table.frame()


def _cross_check(path: Path, table: _RawTable) -> None:
    """Compare the first and last image the direct reader produced with h5py's reading."""
    if not table.files:
        return
    with _open_h5(path) as f:
        names = f["digitStruct/name"]
        bboxes = f["digitStruct/bbox"]
        flat = names.shape[0] == 1 and len(names.shape) == 2 and names.shape[1] > 1
        for i in {0, len(table.files) - 1}:
            at = (0, i) if flat else (i,) + (0,) * (len(names.shape) - 1)
            name, fields = _read_image_h5py(path, f, i, names[at], bboxes[at])
            want = np.column_stack([fields[k] for k in TABLE_FIELDS])
            if name != table.files[i] or not np.array_equal(want, table.values[i], equal_nan=True):
                raise Unsupported(f"direct reading of image {i + 1} disagrees with h5py")


# --------------------------------------------------------------------------- through h5py


def _read_image_h5py(path: Path, f: h5py.File, index: int, name_ref: h5py.Reference,
                     bbox_ref: h5py.Reference) -> tuple[str, dict[str, np.ndarray]]:
    """One image's name and box fields through h5py, one reference at a time."""
    what = f"image {index + 1}"
    try:
        name = _chars_to_name(_read_dataset(path, f"the name of {what}", f[name_ref]).ravel())
        group = f[bbox_ref]
        fields = {}
        for key in BOX_FIELDS:
            ds = group[key]
            values = _read_dataset(path, f"{key} of {what}", ds).ravel()
            if isinstance(ds, h5py.Dataset) and h5py.check_ref_dtype(ds.dtype) is not None:
                values = np.array([_read_dataset(path, f"{key} of {what}", f[r]).ravel()[0]
                                   for r in values], dtype=np.float64)
            fields[key] = values.astype(np.float64)
    except _H5_ERRORS as exc:
        raise DigitStructError(f"{path}: {what}: bad bbox entry ({type(exc).__name__}: "
                               f"{exc})") from exc
    return name, fields


def _read_raw_naive(path: Path) -> pd.DataFrame:
    """The raw table through h5py, following one reference at a time."""
    table = _RawTable(path)
    with _open_h5(path) as f:
        try:
            names = _read_dataset(path, "digitStruct/name", f["digitStruct/name"]).ravel()
            bboxes = _read_dataset(path, "digitStruct/bbox", f["digitStruct/bbox"]).ravel()
        except KeyError as exc:
            raise DigitStructError(f"{path}: no digitStruct/name or digitStruct/bbox") from exc
        if len(names) != len(bboxes):
            raise DigitStructError(f"{path}: {len(names)} names but {len(bboxes)} bbox entries")
        for i, (name_ref, bbox_ref) in enumerate(zip(names, bboxes, strict=True)):
            name, fields = _read_image_h5py(path, f, i, name_ref, bbox_ref)
            table.add(path, i, name, fields)
    return table.frame()


# --------------------------------------------------------------------------- public


def read_raw(path: Path, progress: bool = False) -> pd.DataFrame:
    """Every box as stored (labels and boxes as floats, not clipped): the direct reader,
    or h5py where the file needs the library (noted in the log)."""
    try:
        try:
            return _read_raw_fast(path, progress=progress)
        except Unsupported as exc:
            log.info("note: %s: %s; reading it through h5py (slower)", path, exc)
        return _read_raw_naive(path)
    except DigitStructError:
        raise
    except _H5_ERRORS as exc:
        raise DigitStructError(f"{path}: not a readable digitStruct.mat ({type(exc).__name__}: "
                               f"{exc})") from exc


def _labels_to_digits(raw: pd.DataFrame) -> pd.DataFrame:
    """Labels 1..10 become digits 1..9, 0; any other label becomes -1."""
    out = raw.copy()
    label = raw["label"].to_numpy()
    valid = (label == np.round(label)) & (label >= 1) & (label <= 10)
    out["label"] = np.where(valid, np.round(label) % 10, -1).astype(np.int64)
    return out


def read_digitstruct(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read every digit box of a ``digitStruct.mat`` into a table (one row per digit).

    Columns: ``file, digit_index, label, left, top, width, height``; label 10 becomes 0 and
    a label outside 1..10 becomes -1. Boxes are returned as stored (float, not clipped).
    """
    return _labels_to_digits(read_raw(Path(path)))


def read_digitstruct_naive(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``read_digitstruct`` through h5py one reference at a time (slow; the baseline)."""
    return _labels_to_digits(_read_raw_naive(Path(path)))
