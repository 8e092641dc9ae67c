"""Write a ``digitStruct.mat`` in the layout of the real SVHN files (for generated splits).

MATLAB v7.3 is HDF5 behind a 512-byte user block holding MATLAB's text header.
``digitStruct/name`` and ``digitStruct/bbox`` are N x 1 arrays of object references into
``#refs#``; a bbox group holds ``height, label, left, top, width``, each 1 x 1 float64 for a
one-digit image or a k x 1 array of references to 1 x 1 float64 values for k digits.
Every object carries its ``MATLAB_class`` attribute, as MATLAB writes them.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np
from h5py import h5a, h5d, h5g, h5o, h5p, h5s, h5t

from svhn_erase.atomic_io import atomic_path
from svhn_erase.data.digitstruct.layout import BOX_FIELDS, TABLE_FIELDS, USERBLOCK_SIZE


def ref_names() -> Iterator[bytes]:
    """MATLAB-like names for objects under ``#refs#``: a, b, ..., z, aa, ab, ..."""
    n = 0
    while True:
        k, s = n, ""
        while True:
            s = chr(ord("a") + k % 26) + s
            k = k // 26 - 1
            if k < 0:
                break
        yield s.encode("ascii")
        n += 1


def matlab_header() -> bytes:
    """The 128-byte MATLAB 7.3 text header, padded with zeros to the user block size."""
    stamp = _dt.datetime(2000, 1, 1).strftime("%a %b %d %H:%M:%S %Y")
    text = f"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: {stamp} HDF5 schema 1.00 ."
    head = text.encode("ascii").ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    return head.ljust(USERBLOCK_SIZE, b"\x00")


class _LowLevelWriter:
    """Creates small datasets with the h5py low-level API (one type / space object reused for
    all, no high-level wrappers), tagging each with its ``MATLAB_class`` attribute."""

    def __init__(self, fid: h5py.h5f.FileID) -> None:
        self.fid = fid
        self.scalar_space = h5s.create(h5s.SCALAR)
        self.one_by_one = h5s.create_simple((1, 1))
        self.class_types: dict[bytes, tuple[h5t.TypeID, np.ndarray]] = {}
        # as h5py's create_dataset: no time stamps (files are reproducible)
        self.dcpl = h5p.create(h5p.DATASET_CREATE)
        self.dcpl.set_obj_track_times(False)

    def tag(self, obj: h5py.h5o.ObjectID, matlab_class: bytes) -> None:
        if matlab_class not in self.class_types:
            tid = h5t.C_S1.copy()
            tid.set_size(len(matlab_class))
            tid.set_strpad(h5t.STR_NULLPAD)
            self.class_types[matlab_class] = (tid, np.array(matlab_class))
        tid, value = self.class_types[matlab_class]
        attr = h5a.create(obj, b"MATLAB_class", tid, self.scalar_space)
        attr.write(value)

    def dataset(self, loc: h5g.GroupID, name: bytes, data: np.ndarray, file_type: h5t.TypeID,
                matlab_class: bytes, mem_type: h5t.TypeID | None = None) -> int:
        """Create ``loc/name`` holding ``data`` (2-D); return its object header address."""
        space = self.one_by_one if data.shape == (1, 1) else h5s.create_simple(data.shape)
        dset = h5d.create(loc, name, file_type, space, dcpl=self.dcpl)
        dset.write(h5s.ALL, h5s.ALL, data, mtype=mem_type)
        self.tag(dset, matlab_class)
        return h5o.get_info(dset).addr

    def bbox(self, refs: h5g.GroupID, refname: Iterator[bytes], box: np.ndarray) -> int:
        """One image's bbox group under ``#refs#``; returns its object header address."""
        box = np.asarray(box, dtype=np.float64).reshape(-1, 5)
        group = h5g.create(refs, next(refname))
        self.tag(group, b"struct")
        f64, ref = h5t.IEEE_F64LE, h5t.STD_REF_OBJ
        for field in BOX_FIELDS:
            values = np.ascontiguousarray(box[:, TABLE_FIELDS.index(field)]).reshape(-1, 1)
            if len(values) == 1:
                self.dataset(group, field.encode(), values, f64, b"double")
                continue
            cell = np.empty((len(values), 1), dtype=np.uint64)
            for j in range(len(values)):
                cell[j, 0] = self.dataset(refs, next(refname), values[j:j + 1], f64, b"double")
            self.dataset(group, field.encode(), cell, ref, b"cell", mem_type=ref)
        return h5o.get_info(group).addr


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
    refname = ref_names()
    ref = h5t.STD_REF_OBJ
    with atomic_path(path, suffix=".mat") as tmp:
        with h5py.File(tmp, "w", userblock_size=USERBLOCK_SIZE, libver="earliest") as f:
            w = _LowLevelWriter(f.id)
            refs = h5g.create(f.id, b"#refs#")
            group = h5g.create(f.id, b"digitStruct")
            w.tag(group, b"struct")
            name_refs = np.empty((len(names), 1), dtype=np.uint64)
            bbox_refs = np.empty((len(names), 1), dtype=np.uint64)
            for i, (name, box) in enumerate(zip(names, boxes, strict=True)):
                chars = np.frombuffer(name.encode("ascii"), dtype=np.uint8).astype(np.uint16)
                name_refs[i, 0] = w.dataset(refs, next(refname), chars.reshape(-1, 1),
                                            h5t.STD_U16LE, b"char")
                bbox_refs[i, 0] = w.bbox(refs, refname, box)
            for key, data in ((b"name", name_refs), (b"bbox", bbox_refs)):
                w.dataset(group, key, data, ref, b"cell", mem_type=ref)
        with open(tmp, "r+b") as fh:
            fh.write(matlab_header())
