"""Read and write ``digitStruct.mat``, the box file of SVHN Format 1 (SPEC §1), and build a
split's digit index from it.

The file is MATLAB v7.3, i.e. HDF5 behind a 512-byte user block. ``digitStruct/name`` and
``digitStruct/bbox`` are N x 1 arrays of object references into ``#refs#``; a bbox group
holds ``height, label, left, top, width``, each 1 x 1 float64 for a one-digit image or a
k x 1 array of references to 1 x 1 float64 values for k digits.

- ``read_digitstruct(path)``: every box as stored, one row per digit (``file, digit_index,
  label, left, top, width, height``, label 10 already 0). Object references are HDF5 object
  header addresses, so the reader loads the file into memory and parses the small objects'
  headers itself (``_Hdf5Map``) instead of asking the library one reference at a time; a
  file using HDF5 features that parser does not know is read through h5py instead.
- ``read_digitstruct_naive(path)``: the same through h5py, one reference at a time (slow;
  the benchmark baseline and the tests' reference).
- ``load_index(split_dir)``: the table a split's consumers use: boxes clipped to the image
  (sizes from the PNG headers), boxes outside the image and bad labels dropped and
  reported, cached beside the split while ``digitStruct.mat`` is unchanged.
- ``write_digitstruct(path, names, boxes)``: a file in the real layout (for generated splits).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import struct
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from h5py import h5a, h5d, h5g, h5o, h5p, h5s, h5t

from svhn_erase import atomic_io
from svhn_erase.atomic_io import atomic_path
from svhn_erase.errors import SvhnEraseError

BOX_FIELDS = ("height", "label", "left", "top", "width")
INDEX_COLUMNS = ["file", "digit_index", "label", "left", "top", "width", "height"]
USERBLOCK_SIZE = 512
INDEX_CACHE_NAME = "digitStruct.index.csv"
INDEX_STAMP_NAME = "digitStruct.index.json"
_INDEX_CACHE_VERSION = 1


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
        yield s.encode("ascii")
        n += 1


def _matlab_header() -> bytes:
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
    columns = {"label": 0, "left": 1, "top": 2, "width": 3, "height": 4}
    f64, u16, ref = h5t.IEEE_F64LE, h5t.STD_U16LE, h5t.STD_REF_OBJ
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
                name_refs[i, 0] = w.dataset(refs, next(refname), chars.reshape(-1, 1), u16,
                                            b"char")
                box = np.asarray(box, dtype=np.float64).reshape(-1, 5)
                bbox_name = next(refname)
                bbox = h5g.create(refs, bbox_name)
                w.tag(bbox, b"struct")
                for field in BOX_FIELDS:
                    values = np.ascontiguousarray(box[:, columns[field]]).reshape(-1, 1)
                    if len(values) == 1:
                        w.dataset(bbox, field.encode(), values, f64, b"double")
                        continue
                    cell = np.empty((len(values), 1), dtype=np.uint64)
                    for j in range(len(values)):
                        cell[j, 0] = w.dataset(refs, next(refname), values[j:j + 1], f64,
                                               b"double")
                    w.dataset(bbox, field.encode(), cell, ref, b"cell", mem_type=ref)
                bbox_refs[i, 0] = h5o.get_info(bbox).addr
            for key, data in ((b"name", name_refs), (b"bbox", bbox_refs)):
                w.dataset(group, key, data, ref, b"cell", mem_type=ref)
        with open(tmp, "r+b") as fh:
            fh.write(_matlab_header())


# --------------------------------------------------------------------------- reading, fast


class _Unsupported(Exception):
    """The file uses an HDF5 feature the direct reader does not parse (the h5py path takes over)."""


_UNDEF = 0xFFFFFFFFFFFFFFFF
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_REF = "ref"  # marker dtype for old-style object references (8-byte header addresses)
_u8 = struct.Struct("<Q").unpack_from
_u4 = struct.Struct("<I").unpack_from
_u2 = struct.Struct("<H").unpack_from
_msg_v1 = struct.Struct("<HHB").unpack_from
_msg_v2 = struct.Struct("<BHB").unpack_from
_TEMPLATE_KEY = 48  # leading header bytes that pick the candidate templates


class _Hdf5Map:
    """Object headers of an HDF5 file held in memory, parsed directly (no per-object library call).

    Object references (H5R_OBJECT) are the addresses of object headers, so following one is a
    seek into the buffer. Supports what MATLAB and h5py write for small objects: object header
    versions 1 and 2, compact and contiguous layouts, chunked layout with a version 1 B-tree
    index (optionally deflated, as compressing writers such as MATLAB may store it), integer /
    float / reference / string datatypes, symbol-table groups and compact (link message)
    groups. Anything else raises ``_Unsupported``.
    """

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.base = self._find_base()
        self._templates: dict[bytes, list[tuple]] = {}

    def _find_base(self) -> int:
        buf, pos = self.buf, 0
        while pos + 64 <= len(buf):
            if buf[pos:pos + 8] == _HDF5_SIGNATURE:
                version = buf[pos + 8]
                if version in (0, 1):
                    if buf[pos + 13] != 8 or buf[pos + 14] != 8:
                        raise _Unsupported("offsets or lengths not 8 bytes")
                    return _u8(buf, pos + (24 if version == 0 else 28))[0]
                if version in (2, 3):
                    if buf[pos + 9] != 8 or buf[pos + 10] != 8:
                        raise _Unsupported("offsets or lengths not 8 bytes")
                    return _u8(buf, pos + 12)[0]
                raise _Unsupported(f"superblock version {version}")
            pos = 512 if pos == 0 else pos * 2
        raise _Unsupported("no HDF5 superblock")

    def _messages(self, addr: int) -> tuple[list[tuple[int, int, int]], tuple[int, int] | None]:
        """``(type, data offset, flags)`` of every header message of the object at ``addr``,
        and ``(end, checksum offset or -1)`` of the header when it is one block (else None)."""
        buf, base = self.buf, self.base
        p = addr + base
        out: list[tuple[int, int, int]] = []
        if buf[p] == 1:  # version 1 header: 16-byte prefix, 8-byte message headers
            blocks = [(p + 16, p + 16 + _u4(buf, p + 8)[0])]
            extent: tuple[int, int] | None = (blocks[0][1], -1)
            while blocks:
                pos, end = blocks.pop()
                while pos + 8 <= end:
                    mtype, size, flags = _msg_v1(buf, pos)
                    if mtype == 0x10:
                        caddr, clen = _u8(buf, pos + 8)[0], _u8(buf, pos + 16)[0]
                        blocks.append((caddr + base, caddr + base + clen))
                        extent = None
                    elif mtype:
                        out.append((mtype, pos + 8, flags))
                    pos += 8 + size
            return out, extent
        if buf[p:p + 4] != b"OHDR":
            raise _Unsupported(f"no object header at address {addr}")
        flags = buf[p + 5]
        pos = p + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 3)
        size0 = int.from_bytes(buf[pos:pos + width], "little")
        pos += width
        hdr = 6 if flags & 0x04 else 4
        blocks = [(pos, pos + size0)]
        extent = (pos + size0 + 4, pos + size0)
        while blocks:
            pos, end = blocks.pop()
            while pos + hdr <= end:
                mtype, size, mflags = _msg_v2(buf, pos)
                if mtype == 0x10:
                    caddr, clen = _u8(buf, pos + hdr)[0], _u8(buf, pos + hdr + 8)[0]
                    if buf[caddr + base:caddr + base + 4] != b"OCHK":
                        raise _Unsupported("bad continuation block")
                    blocks.append((caddr + base + 4, caddr + base + clen - 4))
                    extent = None
                elif mtype:
                    out.append((mtype, pos + hdr, mflags))
                pos += hdr + size
        return out, extent

    def _dtype(self, pos: int) -> np.dtype | str:
        buf = self.buf
        cls, bits, size = buf[pos] & 0x0F, buf[pos + 1], _u4(buf, pos + 4)[0]
        order = ">" if bits & 1 else "<"
        if cls == 0 and size in (1, 2, 4, 8):
            return np.dtype(f"{order}{'i' if bits & 0x08 else 'u'}{size}")
        if cls == 1 and size in (2, 4, 8) and not bits & 0x40:
            return np.dtype(f"{order}f{size}")
        if cls == 7 and (bits & 0x0F) == 0 and size == 8:
            return _REF
        if cls == 3:
            return np.dtype(f"S{size}")
        raise _Unsupported(f"datatype class {cls} size {size}")

    def dataset(self, addr: int) -> tuple[np.ndarray | None, np.dtype | str]:
        """The values of the dataset at ``addr``, raveled, and its dtype (``"ref"`` for
        object references, returned as uint64 header addresses); ``(None, "group")`` for a
        group.

        Most datasets of a file share one header layout that differs only in where the data
        is (and the checksum): after one full parse, such a header is recognized by comparing
        its fixed bytes with a template, which is much cheaper than parsing it again."""
        buf = self.buf
        p = addr + self.base
        key = buf[p:p + _TEMPLATE_KEY]
        for pieces, var_off, is_addr, dtype, count, nbytes in self._templates.get(key, ()):
            for a, b, piece in pieces:
                if buf[p + a:p + b] != piece:
                    break
            else:
                if is_addr:
                    start = _u8(buf, p + var_off)[0]
                    if start == _UNDEF or start + self.base + nbytes > len(buf):
                        break
                    start += self.base
                else:
                    start = p + var_off
                if dtype is _REF:
                    return np.frombuffer(buf, dtype="<u8", count=count, offset=start), _REF
                return np.frombuffer(buf, dtype=dtype, count=count, offset=start), dtype
        return self._dataset_parsed(addr, key)

    def _dataset_parsed(self, addr: int, key: bytes) -> tuple[np.ndarray | None,
                                                              np.dtype | str]:
        buf = self.buf
        p = addr + self.base
        count, dtype, data, window, shape, chunked, filters = 1, None, None, None, [], None, []
        messages, extent = self._messages(addr)
        for mtype, pos, flags in messages:
            if flags & 0x02 and mtype in (0x01, 0x03, 0x08):
                raise _Unsupported("shared (committed) header message")
            if mtype == 0x01:  # dataspace
                version, rank = buf[pos], buf[pos + 1]
                dims = pos + (8 if version == 1 else 4)
                if version == 2 and buf[pos + 3] == 2:
                    count = 0
                shape = [_u8(buf, dims + 8 * d)[0] for d in range(rank)]
                for n in shape:
                    count *= n
            elif mtype == 0x03:
                dtype = self._dtype(pos)
            elif mtype == 0x08:  # data layout
                version = buf[pos]
                if version >= 3:
                    cls = buf[pos + 1]
                    if cls == 0:
                        data = (pos + 4, _u2(buf, pos + 2)[0])
                        window = (pos + 4, pos + 4 + data[1], False)
                    elif cls == 1:
                        data = (_u8(buf, pos + 2)[0], _u8(buf, pos + 10)[0], "addr")
                        window = (pos + 2, pos + 10, True)
                    elif cls == 2 and version == 3:  # chunks indexed by a version 1 B-tree
                        ndim = buf[pos + 2]
                        chunk = [_u4(buf, pos + 11 + 4 * d)[0] for d in range(ndim)]
                        chunked = (_u8(buf, pos + 3)[0], chunk[:-1])
                    else:
                        raise _Unsupported("virtual dataset or new-style chunk index")
                else:
                    rank, cls = buf[pos + 1], buf[pos + 2]
                    if cls == 0:
                        at = pos + 8 + 4 * rank
                        data = (at + 4, _u4(buf, at)[0])
                        window = (at + 4, at + 4 + data[1], False)
                    elif cls == 1:
                        data = (_u8(buf, pos + 8)[0], None, "addr")
                        window = (pos + 8, pos + 16, True)
                    else:
                        raise _Unsupported("chunked dataset")
            elif mtype in (0x11, 0x02, 0x06):
                return None, "group"
            elif mtype == 0x0B:
                filters = self._filters(pos)
        if chunked is not None and dtype is not None:
            return self._chunked(addr, chunked, shape, dtype, filters), dtype
        if filters:
            raise _Unsupported("filters on a dataset that is not chunked")
        if dtype is None or data is None:
            raise _Unsupported(f"object at {addr} is neither a plain dataset nor a group")
        item = 8 if dtype is _REF else dtype.itemsize
        if len(data) == 3:
            if data[0] == _UNDEF:
                raise _Unsupported("dataset without storage")
            start = data[0] + self.base
        else:
            start = data[0]
        if count * item > len(buf) - start:
            raise _Unsupported("data past the end of the file")
        if extent is not None and window is not None:
            self._remember(p, key, extent, window, dtype, count, count * item)
        if dtype is _REF:
            return np.frombuffer(buf, dtype="<u8", count=count, offset=start), _REF
        return np.frombuffer(buf, dtype=dtype, count=count, offset=start), dtype

    def _filters(self, pos: int) -> list[int]:
        """Filter ids of a filter pipeline message; only deflate is supported."""
        buf = self.buf
        version, n = buf[pos], buf[pos + 1]
        at = pos + (8 if version == 1 else 2)
        ids = []
        for _ in range(n):
            fid = _u2(buf, at)[0]
            if version == 1 or fid >= 256:
                name_len = _u2(buf, at + 2)[0]
                at += 4
            else:
                name_len = 0
                at += 2
            nvalues = _u2(buf, at + 2)[0]
            at += 4
            at += ((name_len + 7) // 8 * 8 if version == 1 else name_len) + 4 * nvalues
            if version == 1 and nvalues % 2:
                at += 4
            if fid != 1:
                raise _Unsupported(f"filter {fid} (only deflate is read directly)")
            ids.append(fid)
        return ids

    def _chunked(self, addr: int, chunked: tuple[int, list[int]], shape: list[int],
                 dtype: np.dtype | str, filters: list[int]) -> np.ndarray:
        """A chunked dataset (version 1 B-tree chunk index, optional deflate), raveled."""
        btree, chunk = chunked
        buf, base = self.buf, self.base
        np_dtype = np.dtype("<u8") if dtype is _REF else dtype
        if len(chunk) != len(shape):
            raise _Unsupported("chunk rank differs from the dataspace")
        grid = [-(-n // c) * c for n, c in zip(shape, chunk, strict=True)]
        out = np.zeros(grid, dtype=np_dtype)
        if btree == _UNDEF:
            return out[tuple(slice(0, n) for n in shape)].ravel()
        stack = [btree + base]
        ndim = len(shape) + 1
        key_size = 8 + 8 * ndim
        nbytes = int(np.prod(chunk)) * np_dtype.itemsize
        while stack:
            node = stack.pop()
            if buf[node:node + 4] != b"TREE" or buf[node + 4] != 1:
                raise _Unsupported("bad chunk B-tree")
            level, used = buf[node + 5], _u2(buf, node + 6)[0]
            for i in range(used):
                k = node + 24 + i * (key_size + 8)
                child = _u8(buf, k + key_size)[0] + base
                if level:
                    stack.append(child)
                    continue
                size, mask = _u4(buf, k)[0], _u4(buf, k + 4)[0]
                offsets = [_u8(buf, k + 8 + 8 * d)[0] for d in range(ndim - 1)]
                raw = buf[child:child + size]
                if filters and not mask & 1:
                    raw = zlib.decompress(raw)
                if len(raw) != nbytes:
                    raise _Unsupported("chunk size does not match its shape")
                where = tuple(slice(o, o + c) for o, c in zip(offsets, chunk, strict=True))
                out[where] = np.frombuffer(raw, dtype=np_dtype).reshape(chunk)
        return out[tuple(slice(0, n) for n in shape)].ravel()

    def _remember(self, p: int, key: bytes, extent: tuple[int, int],
                  window: tuple[int, int, bool], dtype: np.dtype | str, count: int,
                  nbytes: int) -> None:
        """Keep this header as a template: its bytes outside the data window (and the
        checksum) must match for another header to be read the same way."""
        end, checksum = extent
        holes = sorted([(window[0] - p, window[1] - p)]
                       + ([(checksum - p, checksum - p + 4)] if checksum >= 0 else []))
        ranges, at = [], 0
        for a, b in holes:
            ranges.append((at, a))
            at = b
        ranges.append((at, end - p))
        if ranges[0][1] < _TEMPLATE_KEY:
            return  # the data (or checksum) lies inside the lookup key: no template
        pieces = tuple((a, b, self.buf[p + a:p + b]) for a, b in ranges if b > a)
        templates = self._templates.setdefault(key, [])
        templates.insert(0, (pieces, window[0] - p, window[2], dtype, count, nbytes))
        del templates[4:]

    def group_links(self, addr: int) -> dict[str, int]:
        """Name -> object header address of the hard links in the group at ``addr``."""
        buf, base = self.buf, self.base
        links: dict[str, int] = {}
        for mtype, pos, _flags in self._messages(addr)[0]:
            if mtype == 0x11:  # symbol table: v1 B-tree of symbol nodes + local heap
                btree, heap = _u8(buf, pos)[0] + base, _u8(buf, pos + 8)[0] + base
                if buf[heap:heap + 4] != b"HEAP":
                    raise _Unsupported("bad local heap")
                names_at = _u8(buf, heap + 24)[0] + base
                self._symbol_nodes(btree, names_at, links)
            elif mtype == 0x06:  # link message (compact new-style group)
                flags, p = buf[pos + 1], pos + 2
                if flags & 0x08:
                    if buf[p] != 0:
                        raise _Unsupported("soft or external link")
                    p += 1
                p += (8 if flags & 0x04 else 0) + (1 if flags & 0x10 else 0)
                width = 1 << (flags & 3)
                n = int.from_bytes(buf[p:p + width], "little")
                p += width
                links[buf[p:p + n].decode("utf-8")] = _u8(buf, p + n)[0]
            elif mtype == 0x02:  # link info: dense storage lives in a fractal heap
                p = pos + 2 + (8 if buf[pos + 1] & 1 else 0)
                if _u8(buf, p)[0] != _UNDEF:
                    raise _Unsupported("dense group storage")
        return links

    def _symbol_nodes(self, node: int, names_at: int, links: dict[str, int]) -> None:
        buf, base = self.buf, self.base
        if buf[node:node + 4] != b"TREE" or buf[node + 4] != 0:
            raise _Unsupported("bad group B-tree")
        level, used = buf[node + 5], _u2(buf, node + 6)[0]
        for i in range(used):
            child = _u8(buf, node + 24 + 8 + 16 * i)[0] + base
            if level:
                self._symbol_nodes(child, names_at, links)
                continue
            if buf[child:child + 4] != b"SNOD":
                raise _Unsupported("bad symbol node")
            for j in range(_u2(buf, child + 6)[0]):
                e = child + 8 + 40 * j
                name_at = names_at + _u8(buf, e)[0]
                name = buf[name_at:buf.find(b"\x00", name_at)].decode("utf-8")
                links[name] = _u8(buf, e + 8)[0]


def _chars_to_name(values: np.ndarray) -> str:
    if values.dtype.kind == "S":
        return b"".join(values.tolist()).rstrip(b"\x00").decode("utf-8", "replace")
    return "".join(map(chr, np.asarray(values).astype(np.int64).tolist())).rstrip("\x00")


class _RawTable:
    """Columns of the raw (unclipped) digit table while it is being read."""

    def __init__(self) -> None:
        self.files: list[str] = []
        self.counts: list[int] = []
        self.values: list[np.ndarray] = []  # per image: (k, 5) label, left, top, width, height

    def add(self, path: Path, index: int, name: str, fields: dict[str, np.ndarray]) -> None:
        lengths = {len(v) for v in fields.values()}
        if len(lengths) != 1:
            sizes = ", ".join(f"{k}={len(v)}" for k, v in fields.items())
            raise DigitStructError(f"{path}: image {index + 1} ({name}): box fields have "
                                   f"different lengths ({sizes})")
        self.files.append(name)
        self.counts.append(lengths.pop())
        self.values.append(np.column_stack([np.asarray(fields[k], dtype=np.float64) for k in
                                            ("label", "left", "top", "width", "height")]))

    def frame(self) -> pd.DataFrame:
        counts = np.asarray(self.counts, dtype=np.int64)
        values = (np.concatenate(self.values) if self.values
                  else np.empty((0, 5), dtype=np.float64))
        starts = np.repeat(np.cumsum(counts) - counts, counts)
        digit_index = np.arange(len(values), dtype=np.int64) - starts
        return pd.DataFrame({
            "file": np.repeat(np.asarray(self.files, dtype=object), counts),
            "digit_index": digit_index,
            "label": values[:, 0], "left": values[:, 1], "top": values[:, 2],
            "width": values[:, 3], "height": values[:, 4],
        }, columns=INDEX_COLUMNS)


def _open_h5(path: Path) -> h5py.File:
    if not path.is_file():
        raise DigitStructError(f"{path}: no such file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DigitStructError(
            f"{path}: not a readable MATLAB v7.3 / HDF5 file (truncated or corrupt?): {exc}"
        ) from exc


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
        addrs = np.empty(ds.shape, dtype=np.uint64)
        try:
            ds.id.read(h5s.ALL, h5s.ALL, addrs, mtype=h5t.STD_REF_OBJ)
        except (OSError, RuntimeError) as exc:
            raise DigitStructError(f"{path}: digitStruct/{key} does not read: {exc}") from exc
        out.append(addrs.ravel())
    if len(out[0]) != len(out[1]):
        raise DigitStructError(f"{path}: {len(out[0])} names but {len(out[1])} bbox entries")
    return out[0], out[1]


def _read_raw_fast(path: Path, progress: bool = False) -> pd.DataFrame:
    """The raw table (labels as stored, float) through ``_Hdf5Map``; ``_Unsupported`` if the
    file needs the library."""
    with _open_h5(path) as f:
        name_addrs, bbox_addrs = _top_refs(path, f)
    buf = path.read_bytes()
    table = _RawTable()
    try:
        m = _Hdf5Map(buf)
        dataset, group_links = m.dataset, m.group_links
        iterator = zip(name_addrs.tolist(), bbox_addrs.tolist(), strict=True)
        if progress:
            from tqdm import tqdm

            iterator = tqdm(iterator, total=len(name_addrs), unit="img",
                            desc=f"reading {path.name}", disable=None)
        for i, (name_addr, bbox_addr) in enumerate(iterator):
            chars, _ = dataset(name_addr)
            if chars is None:
                raise _Unsupported(f"name {i + 1} is not a dataset")
            name = _chars_to_name(chars)
            links = group_links(bbox_addr)
            fields = {}
            for field in BOX_FIELDS:
                if field not in links:
                    raise DigitStructError(f"{path}: image {i + 1} ({name}): bbox has no "
                                           f"'{field}'")
                values, dtype = dataset(links[field])
                if dtype is _REF:
                    cell = []
                    for a in values.tolist():
                        v, vtype = dataset(a)
                        if v is None or vtype is _REF or len(v) != 1:
                            raise _Unsupported("a cell element is not one number")
                        cell.append(v[0])
                    values = np.asarray(cell, dtype=np.float64)
                elif values is None or dtype.kind not in "iuf":
                    raise _Unsupported(f"bbox field {field} of image {i + 1} is not numeric")
                fields[field] = values
            table.add(path, i, name, fields)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError, zlib.error) as exc:
        raise _Unsupported(f"unexpected structure ({exc})") from exc
    _cross_check(path, table)
    return table.frame()


def _read_image_h5py(path: Path, f: h5py.File, index: int, name_ref: h5py.Reference,
                     bbox_ref: h5py.Reference) -> tuple[str, dict[str, np.ndarray]]:
    """One image's name and box fields through h5py, one reference at a time."""
    try:
        name = _chars_to_name(f[name_ref][()].ravel())
        group = f[bbox_ref]
        fields = {}
        for key in BOX_FIELDS:
            ds = group[key]
            if ds.dtype == h5py.ref_dtype:
                fields[key] = np.array([f[r][()].ravel()[0] for r in ds[()].ravel()],
                                       dtype=np.float64)
            else:
                fields[key] = ds[()].ravel().astype(np.float64)
    except (KeyError, ValueError, TypeError, OSError, IndexError, AttributeError) as exc:
        raise DigitStructError(f"{path}: image {index + 1}: bad bbox entry ({exc})") from exc
    return name, fields


def _read_raw_naive(path: Path) -> pd.DataFrame:
    """The raw table through h5py, following one reference at a time."""
    table = _RawTable()
    with _open_h5(path) as f:
        try:
            names = f["digitStruct/name"][()].ravel()
            bboxes = f["digitStruct/bbox"][()].ravel()
        except KeyError as exc:
            raise DigitStructError(f"{path}: no digitStruct/name or digitStruct/bbox") from exc
        for i, (name_ref, bbox_ref) in enumerate(zip(names, bboxes, strict=True)):
            name, fields = _read_image_h5py(path, f, i, name_ref, bbox_ref)
            table.add(path, i, name, fields)
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
            want = np.column_stack([fields[k] for k in ("label", "left", "top", "width",
                                                        "height")])
            if name != table.files[i] or not np.array_equal(want, table.values[i], equal_nan=True):
                raise _Unsupported(f"direct reading of image {i + 1} disagrees with h5py")


def _labels_to_digits(raw: pd.DataFrame) -> pd.DataFrame:
    """Labels 1..10 become digits 1..9, 0; any other label becomes -1."""
    out = raw.copy()
    label = raw["label"].to_numpy()
    valid = (label == np.round(label)) & (label >= 1) & (label <= 10)
    out["label"] = np.where(valid, np.round(label) % 10, -1).astype(np.int64)
    return out


def _read_raw(path: Path, progress: bool = False) -> pd.DataFrame:
    try:
        return _read_raw_fast(path, progress=progress)
    except _Unsupported as exc:
        print(f"svhn-erase: note: {path}: {exc}; reading it through h5py (slower)",
              file=sys.stderr)
        return _read_raw_naive(path)


def read_digitstruct(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read every digit box of a ``digitStruct.mat`` into a table (one row per digit).

    Columns: ``file, digit_index, label, left, top, width, height``; label 10 becomes 0 and
    a label outside 1..10 becomes -1. Boxes are returned as stored (float, not clipped).
    """
    return _labels_to_digits(_read_raw(Path(path)))


def read_digitstruct_naive(path: str | os.PathLike[str]) -> pd.DataFrame:
    """``read_digitstruct`` through h5py one reference at a time (slow; the baseline)."""
    return _labels_to_digits(_read_raw_naive(Path(path)))


# --------------------------------------------------------------------------- the split's index

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MAX_PROBLEM_LINES = 10


def image_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(width, height)`` of an image from its header only (PNG read directly, other formats
    through Pillow's lazy open); ``SvhnEraseError`` naming the file if it is missing or not
    an image."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(24)
    except FileNotFoundError as exc:
        raise SvhnEraseError(f"{path}: image file not found") from exc
    except OSError as exc:
        raise SvhnEraseError(f"{path}: image does not read ({exc})") from exc
    if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR":
        width, height = struct.unpack(">II", head[16:24])
        if width and height:
            return width, height
        raise SvhnEraseError(f"{path}: PNG header gives an empty {width}x{height} image")
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise SvhnEraseError(f"{path}: image does not decode ({exc})") from exc


def _mat_stamp(mat: Path) -> dict[str, object]:
    """Size, mtime and a hash of the first and last 64 KiB: changes whenever the file does."""
    st = mat.stat()
    digest = hashlib.sha256()
    with open(mat, "rb") as fh:
        digest.update(fh.read(65536))
        if st.st_size > 65536:
            fh.seek(max(65536, st.st_size - 65536))
            digest.update(fh.read())
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "head_tail_sha256": digest.hexdigest()}


def _skipped_state(split: Path, files: Sequence[str]) -> dict[str, int]:
    """Current size (-1: absent) of the images skipped last time, to notice them reappear."""
    out = {}
    for file in files:
        try:
            out[file] = (split / file).stat().st_size
        except OSError:
            out[file] = -1
    return out


def clip_boxes(raw: pd.DataFrame, sizes: dict[str, tuple[int, int]],
               split: Path | None = None) -> tuple[pd.DataFrame, dict[str, object]]:
    """Clip a raw table's boxes to their images; drop what cannot be used, and say why.

    ``raw`` as from ``_read_raw`` (labels as stored); ``sizes`` maps file -> (width,
    height) for the images that decode (rows of other files are dropped). Returns the index
    table (labels 0..9, integer boxes) and a report: counts plus one line per dropped row.
    """
    problems: list[str] = []
    where = (lambda f: str(split / f)) if split is not None else str
    files = raw["file"].to_numpy()
    label = raw["label"].to_numpy(dtype=np.float64)
    box = np.rint(raw[["left", "top", "width", "height"]].to_numpy(dtype=np.float64))
    known = np.fromiter((f in sizes for f in files), dtype=bool, count=len(files))
    wh = np.array([sizes.get(f, (0, 0)) for f in files], dtype=np.float64).reshape(-1, 2)
    x0, y0 = np.maximum(box[:, 0], 0), np.maximum(box[:, 1], 0)
    x1 = np.minimum(box[:, 0] + box[:, 2], wh[:, 0])
    y1 = np.minimum(box[:, 1] + box[:, 3], wh[:, 1])
    inside = (x1 > x0) & (y1 > y0)
    good_label = (label == np.round(label)) & (label >= 1) & (label <= 10)
    keep = known & inside & good_label
    clipped = keep & ((x0 != box[:, 0]) | (y0 != box[:, 1]) | (x1 - x0 != box[:, 2])
                      | (y1 - y0 != box[:, 3]))
    digit_index = raw["digit_index"].to_numpy()
    for i in np.flatnonzero(~keep):
        what = f"{where(files[i])} digit {digit_index[i]}"
        if not known[i]:
            continue  # reported once per image by the caller
        if not good_label[i]:
            problems.append(f"{what}: label {label[i]:g} outside 1..10")
        elif box[i, 2] <= 0 or box[i, 3] <= 0:
            problems.append(f"{what}: empty box (width {box[i, 2]:g}, height {box[i, 3]:g})")
        else:
            problems.append(f"{what}: box ({box[i, 0]:g}, {box[i, 1]:g}, {box[i, 2]:g}, "
                            f"{box[i, 3]:g}) lies entirely outside the "
                            f"{wh[i, 0]:g}x{wh[i, 1]:g} image")
    table = pd.DataFrame({
        "file": files[keep],
        "digit_index": digit_index[keep].astype(np.int64),
        "label": (np.round(label[keep]) % 10).astype(np.int64),
        "left": x0[keep].astype(np.int64), "top": y0[keep].astype(np.int64),
        "width": (x1 - x0)[keep].astype(np.int64), "height": (y1 - y0)[keep].astype(np.int64),
    }, columns=INDEX_COLUMNS)
    report = {
        "digits_read": len(raw),
        "digits": len(table),
        "clipped": int(clipped.sum()),
        "dropped_outside": int((known & good_label & ~inside).sum()),
        "bad_labels": int((known & ~good_label).sum()),
        "digits_of_skipped_images": int((~known).sum()),
        "problems": problems,
    }
    return table.reset_index(drop=True), report


def _print_report(mat: Path, report: dict, cached: bool) -> None:
    print(f"svhn-erase: index of {mat}{' (cached)' if cached else ''}: {report['digits']} "
          f"digits in {report['images'] - len(report['skipped_images'])} images; "
          f"{report['clipped']} boxes clipped to the image, {report['dropped_outside']} "
          f"dropped (outside the image or empty), {report['bad_labels']} dropped (label "
          f"outside 1..10), {len(report['skipped_images'])} images skipped", file=sys.stderr)
    problems = report["problems"]
    for line in problems[:_MAX_PROBLEM_LINES]:
        print(f"svhn-erase: skipped: {line}", file=sys.stderr)
    if len(problems) > _MAX_PROBLEM_LINES:
        print(f"svhn-erase: ... and {len(problems) - _MAX_PROBLEM_LINES} more skipped "
              "(all listed in the index report)", file=sys.stderr)


def _read_cached(split: Path, stamp: dict) -> pd.DataFrame | None:
    stamp_path, csv_path = split / INDEX_STAMP_NAME, split / INDEX_CACHE_NAME
    try:
        saved = json.loads(stamp_path.read_text())
        data = csv_path.read_bytes()
    except (OSError, ValueError):
        return None
    if (saved.get("version") != _INDEX_CACHE_VERSION or saved.get("mat") != stamp
            or saved.get("csv_sha256") != hashlib.sha256(data).hexdigest()):
        return None
    report = saved.get("report", {})
    skipped = report.get("skipped_images", [])
    if saved.get("skipped_state") != _skipped_state(split, skipped):
        return None
    try:
        table = pd.read_csv(csv_path, dtype={"file": str}, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError):
        return None
    if list(table.columns) != INDEX_COLUMNS:
        return None
    try:
        table = table.astype({c: np.int64 for c in INDEX_COLUMNS[1:]})
    except (ValueError, TypeError):
        return None
    table.attrs["index_report"] = report
    return table


def _write_cache(split: Path, stamp: dict, table: pd.DataFrame, report: dict) -> None:
    data = table[INDEX_COLUMNS].to_csv(index=False).encode("utf-8")
    try:
        atomic_io.write_bytes(split / INDEX_CACHE_NAME, data)
        atomic_io.write_json(split / INDEX_STAMP_NAME, {
            "version": _INDEX_CACHE_VERSION, "mat": stamp,
            "csv_sha256": hashlib.sha256(data).hexdigest(),
            "skipped_state": _skipped_state(split, report["skipped_images"]),
            "report": report,
        })
    except OSError as exc:
        print(f"svhn-erase: note: cannot cache the index in {split} ({exc}); continuing",
              file=sys.stderr)


def load_index(split_dir: str | os.PathLike[str], use_cache: bool = True,
               progress: bool = True) -> pd.DataFrame:
    """The digit table of a Format 1 split: one row per usable digit.

    Columns exactly ``file, digit_index, label, left, top, width, height``: label 0..9,
    boxes in integer pixels clipped to the image (sizes read from the image headers).
    Dropped, each named on stderr and in ``table.attrs["index_report"]["problems"]``: boxes
    entirely outside their image (or empty), labels outside 1..10, and every digit of an
    image that is missing or does not decode. One summary line with the counts goes to
    stderr. The table is cached beside the split (``digitStruct.index.csv`` and
    ``digitStruct.index.json``) and reused while ``digitStruct.mat`` is unchanged.
    """
    split = Path(split_dir)
    if not split.is_dir():
        raise SvhnEraseError(f"{split}: split folder not found")
    mat = split / "digitStruct.mat"
    if not mat.is_file():
        raise SvhnEraseError(f"{mat}: missing (is this a Format 1 split?)")
    stamp = _mat_stamp(mat)
    if use_cache:
        cached = _read_cached(split, stamp)
        if cached is not None:
            _print_report(mat, cached.attrs["index_report"], cached=True)
            return cached
    raw = _read_raw(mat, progress=progress)
    files = list(dict.fromkeys(raw["file"]))
    sizes: dict[str, tuple[int, int]] = {}
    skipped: list[str] = []
    problems: list[str] = []
    for file in files:
        try:
            if Path(file).name != file or file in ("", ".", ".."):
                raise SvhnEraseError(f"{split}: image name {file!r} in digitStruct.mat is not "
                                     "a plain file name")
            sizes[file] = image_size(split / file)
        except SvhnEraseError as exc:
            skipped.append(file)
            problems.append(f"{exc} (all its digits)")
    table, report = clip_boxes(raw, sizes, split)
    report = {"mat": str(mat), "images": len(files), **report, "skipped_images": skipped,
              "problems": problems + report["problems"]}
    table.attrs["index_report"] = report
    if use_cache:
        _write_cache(split, stamp, table, report)
    _print_report(mat, report, cached=False)
    return table


def write_index_csv(table: pd.DataFrame, path: str | os.PathLike[str] | None) -> None:
    """Write the index as CSV with exactly the columns ``INDEX_COLUMNS`` (stdout if ``path``
    is None; otherwise atomically)."""
    text = table[INDEX_COLUMNS].to_csv(index=False)
    if path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        atomic_io.write_text(path, text)
