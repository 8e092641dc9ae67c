"""A direct reader of the small objects of an HDF5 file held in memory (private).

HDF5 object references are the addresses of object headers, so following one is a seek
into the buffer; asking the library one reference at a time is what makes naive
``digitStruct.mat`` readers take minutes. ``Hdf5Map`` parses object headers itself and
knows what MATLAB and h5py write for small objects; anything else raises ``Unsupported``
and the caller falls back to h5py. It knows nothing about digitStruct.

A damaged file cannot make it loop or allocate without bound: header continuations, B-tree
nodes and group nodes are each visited once, and a chunked dataset is allocated only when
its declared size fits what the file can hold (``declared_limit``).
"""

from __future__ import annotations

import math
import struct
import zlib

import numpy as np


class Unsupported(Exception):
    """The file uses an HDF5 feature the direct reader does not parse (the h5py path takes over)."""


_UNDEF = 0xFFFFFFFFFFFFFFFF
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
REF = "ref"  # marker dtype for old-style object references (8-byte header addresses)
_u8 = struct.Struct("<Q").unpack_from
_u4 = struct.Struct("<I").unpack_from
_u2 = struct.Struct("<H").unpack_from
_msg_v1 = struct.Struct("<HHB").unpack_from
_msg_v2 = struct.Struct("<BHB").unpack_from
_TEMPLATE_KEY = 48  # leading header bytes that pick the candidate templates
DEFLATE_MAX_RATIO = 1032  # deflate's largest expansion: the most a compressed byte can hold
MAX_DATASET_BYTES = 64 * 2**20  # far above any digitStruct dataset (extra's names: 1.6 MB)


def declared_limit(file_size: int, filtered: bool) -> int:
    """The most bytes a dataset of a ``file_size``-byte file can hold: the file's bytes
    (times ``DEFLATE_MAX_RATIO`` when the dataset is compressed), at most
    ``MAX_DATASET_BYTES``."""
    return min(file_size * (DEFLATE_MAX_RATIO if filtered else 1), MAX_DATASET_BYTES)


def _once(seen: set[int], at: int, what: str) -> None:
    """Note a visit of ``at``; ``Unsupported`` when it was visited before (a loop)."""
    if at in seen:
        raise Unsupported(f"{what} at {at} is visited twice (a loop)")
    seen.add(at)


class Hdf5Map:
    """Object headers of an HDF5 file held in memory, parsed directly (no per-object library call).

    Object references (H5R_OBJECT) are the addresses of object headers, so following one is a
    seek into the buffer. Supports what MATLAB and h5py write for small objects: object header
    versions 1 and 2, compact and contiguous layouts, chunked layout with a version 1 B-tree
    index (optionally deflated, as compressing writers such as MATLAB may store it), integer /
    float / reference / string datatypes, symbol-table groups and compact (link message)
    groups. Anything else raises ``Unsupported``.
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
                        raise Unsupported("offsets or lengths not 8 bytes")
                    return _u8(buf, pos + (24 if version == 0 else 28))[0]
                if version in (2, 3):
                    if buf[pos + 9] != 8 or buf[pos + 10] != 8:
                        raise Unsupported("offsets or lengths not 8 bytes")
                    return _u8(buf, pos + 12)[0]
                raise Unsupported(f"superblock version {version}")
            pos = 512 if pos == 0 else pos * 2
        raise Unsupported("no HDF5 superblock")

    def _messages(self, addr: int) -> tuple[list[tuple[int, int, int]], tuple[int, int] | None]:
        """``(type, data offset, flags)`` of every header message of the object at ``addr``,
        and ``(end, checksum offset or -1)`` of the header when it is one block (else None)."""
        p = addr + self.base
        if self.buf[p] == 1:  # version 1 header: 16-byte prefix, 8-byte message headers
            return self._messages_v1(p)
        if self.buf[p:p + 4] != b"OHDR":
            raise Unsupported(f"no object header at address {addr}")
        return self._messages_v2(p)

    def _messages_v1(self, p: int) -> tuple[list[tuple[int, int, int]], tuple[int, int] | None]:
        buf, base = self.buf, self.base
        out: list[tuple[int, int, int]] = []
        blocks = [(p + 16, p + 16 + _u4(buf, p + 8)[0])]
        extent: tuple[int, int] | None = (blocks[0][1], -1)
        seen: set[int] = set()
        while blocks:
            pos, end = blocks.pop()
            _once(seen, pos, "a header block")
            while pos + 8 <= end:
                mtype, size, flags = _msg_v1(buf, pos)
                if mtype == 0x10:  # continuation
                    caddr, clen = _u8(buf, pos + 8)[0], _u8(buf, pos + 16)[0]
                    blocks.append((caddr + base, caddr + base + clen))
                    extent = None
                elif mtype:
                    out.append((mtype, pos + 8, flags))
                pos += 8 + size
        return out, extent

    def _messages_v2(self, p: int) -> tuple[list[tuple[int, int, int]], tuple[int, int] | None]:
        buf, base = self.buf, self.base
        out: list[tuple[int, int, int]] = []
        flags = buf[p + 5]
        pos = p + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 3)
        size0 = int.from_bytes(buf[pos:pos + width], "little")
        pos += width
        hdr = 6 if flags & 0x04 else 4
        blocks = [(pos, pos + size0)]
        extent: tuple[int, int] | None = (pos + size0 + 4, pos + size0)
        seen: set[int] = set()
        while blocks:
            pos, end = blocks.pop()
            _once(seen, pos, "a header block")
            while pos + hdr <= end:
                mtype, size, mflags = _msg_v2(buf, pos)
                if mtype == 0x10:  # continuation
                    caddr, clen = _u8(buf, pos + hdr)[0], _u8(buf, pos + hdr + 8)[0]
                    if buf[caddr + base:caddr + base + 4] != b"OCHK":
                        raise Unsupported("bad continuation block")
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
            return REF
        if cls == 3:
            return np.dtype(f"S{size}")
        raise Unsupported(f"datatype class {cls} size {size}")

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
                return self._values(start, dtype, count)
        return self._dataset_parsed(addr, key)

    def _dataset_parsed(self, addr: int, key: bytes) -> tuple[np.ndarray | None,
                                                              np.dtype | str]:
        """``dataset`` by a full parse of the header, kept as a template where it can be."""
        count, dtype, data, window, shape, chunked, filters = 1, None, None, None, [], None, []
        messages, extent = self._messages(addr)
        for mtype, pos, flags in messages:
            if flags & 0x02 and mtype in (0x01, 0x03, 0x08):
                raise Unsupported("shared (committed) header message")
            if mtype == 0x01:  # dataspace
                shape, null = self._dataspace(pos)
                if null:
                    count = 0
                for n in shape:
                    count *= n
            elif mtype == 0x03:
                dtype = self._dtype(pos)
            elif mtype == 0x08:
                data, window, chunked = self._layout(pos)
            elif mtype in (0x11, 0x02, 0x06):
                return None, "group"
            elif mtype == 0x0B:
                filters = self._filters(pos)
        if chunked is not None and dtype is not None:
            return self._chunked(addr, chunked, shape, dtype, filters), dtype
        if filters:
            raise Unsupported("filters on a dataset that is not chunked")
        if dtype is None or data is None:
            raise Unsupported(f"object at {addr} is neither a plain dataset nor a group")
        nbytes = count * (8 if dtype is REF else dtype.itemsize)
        start = self._data_start(data, nbytes)
        if extent is not None and window is not None:
            self._remember(addr + self.base, key, extent, window, dtype, count, nbytes)
        return self._values(start, dtype, count)

    def _values(self, start: int, dtype: np.dtype | str,
                count: int) -> tuple[np.ndarray, np.dtype | str]:
        """``count`` values of ``dtype`` from buffer offset ``start`` (references as uint64)."""
        if dtype is REF:
            return np.frombuffer(self.buf, dtype="<u8", count=count, offset=start), REF
        return np.frombuffer(self.buf, dtype=dtype, count=count, offset=start), dtype

    def _dataspace(self, pos: int) -> tuple[list[int], bool]:
        """The dimensions of a dataspace message, and whether it is the null space."""
        buf = self.buf
        version, rank = buf[pos], buf[pos + 1]
        dims = pos + (8 if version == 1 else 4)
        null = version == 2 and buf[pos + 3] == 2
        return [_u8(buf, dims + 8 * d)[0] for d in range(rank)], null

    def _layout(self, pos: int) -> tuple[tuple | None, tuple[int, int, bool] | None,
                                         tuple[int, list[int]] | None]:
        """A data layout message as ``(data, window, chunked)``: ``data`` is ``(offset,
        size)`` of compact data or ``(address, size, "addr")`` of contiguous data, ``window``
        the header bytes that vary with where the data is (and whether they hold an
        address), ``chunked`` the B-tree address and chunk shape of chunked data."""
        buf = self.buf
        version = buf[pos]
        if version >= 3:
            cls = buf[pos + 1]
            if cls == 0:
                size = _u2(buf, pos + 2)[0]
                return (pos + 4, size), (pos + 4, pos + 4 + size, False), None
            if cls == 1:
                return ((_u8(buf, pos + 2)[0], _u8(buf, pos + 10)[0], "addr"),
                        (pos + 2, pos + 10, True), None)
            if cls == 2 and version == 3:  # chunks indexed by a version 1 B-tree
                ndim = buf[pos + 2]
                chunk = [_u4(buf, pos + 11 + 4 * d)[0] for d in range(ndim)]
                return None, None, (_u8(buf, pos + 3)[0], chunk[:-1])
            raise Unsupported("virtual dataset or new-style chunk index")
        rank, cls = buf[pos + 1], buf[pos + 2]
        if cls == 0:
            at = pos + 8 + 4 * rank
            size = _u4(buf, at)[0]
            return (at + 4, size), (at + 4, at + 4 + size, False), None
        if cls == 1:
            return (_u8(buf, pos + 8)[0], None, "addr"), (pos + 8, pos + 16, True), None
        raise Unsupported("chunked dataset")

    def _data_start(self, data: tuple, nbytes: int) -> int:
        """Buffer offset of a plain dataset's ``nbytes`` of data (``data`` from ``_layout``)."""
        if len(data) == 3:
            if data[0] == _UNDEF:
                raise Unsupported("dataset without storage")
            start = data[0] + self.base
        else:
            start = data[0]
        if nbytes > len(self.buf) - start:
            raise Unsupported("data past the end of the file")
        return start

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
                raise Unsupported(f"filter {fid} (only deflate is read directly)")
            ids.append(fid)
        return ids

    def _chunked(self, addr: int, chunked: tuple[int, list[int]], shape: list[int],
                 dtype: np.dtype | str, filters: list[int]) -> np.ndarray:
        """A chunked dataset (version 1 B-tree chunk index, optional deflate), raveled."""
        btree, chunk = chunked
        buf, base = self.buf, self.base
        np_dtype = np.dtype("<u8") if dtype is REF else dtype
        if len(chunk) != len(shape) or 0 in chunk:
            raise Unsupported("chunk rank differs from the dataspace, or an empty chunk")
        grid = [-(-n // c) * c for n, c in zip(shape, chunk, strict=True)]
        if math.prod(grid) * np_dtype.itemsize > declared_limit(len(buf), bool(filters)):
            raise Unsupported("a chunked dataset declares more data than the file can hold")
        out = np.zeros(grid, dtype=np_dtype)
        if btree == _UNDEF:
            return out[tuple(slice(0, n) for n in shape)].ravel()
        stack = [btree + base]
        ndim = len(shape) + 1
        key_size = 8 + 8 * ndim
        nbytes = math.prod(chunk) * np_dtype.itemsize
        seen: set[int] = set()
        while stack:
            node = stack.pop()
            _once(seen, node, "a chunk B-tree node")
            if buf[node:node + 4] != b"TREE" or buf[node + 4] != 1:
                raise Unsupported("bad chunk B-tree")
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
                    raw = zlib.decompressobj().decompress(raw, nbytes + 1)
                if len(raw) != nbytes:
                    raise Unsupported("chunk size does not match its shape")
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
                    raise Unsupported("bad local heap")
                names_at = _u8(buf, heap + 24)[0] + base
                self._symbol_nodes(btree, names_at, links)
            elif mtype == 0x06:  # link message (compact new-style group)
                flags, p = buf[pos + 1], pos + 2
                if flags & 0x08:
                    if buf[p] != 0:
                        raise Unsupported("soft or external link")
                    p += 1
                p += (8 if flags & 0x04 else 0) + (1 if flags & 0x10 else 0)
                width = 1 << (flags & 3)
                n = int.from_bytes(buf[p:p + width], "little")
                p += width
                links[buf[p:p + n].decode("utf-8")] = _u8(buf, p + n)[0]
            elif mtype == 0x02:  # link info: dense storage lives in a fractal heap
                p = pos + 2 + (8 if buf[pos + 1] & 1 else 0)
                if _u8(buf, p)[0] != _UNDEF:
                    raise Unsupported("dense group storage")
        return links

    def _symbol_nodes(self, root: int, names_at: int, links: dict[str, int]) -> None:
        """The links of a symbol-table group's B-tree (each node visited once)."""
        buf, base = self.buf, self.base
        stack, seen = [root], set()
        while stack:
            node = stack.pop()
            _once(seen, node, "a group B-tree node")
            if buf[node:node + 4] != b"TREE" or buf[node + 4] != 0:
                raise Unsupported("bad group B-tree")
            level, used = buf[node + 5], _u2(buf, node + 6)[0]
            for i in range(used):
                child = _u8(buf, node + 24 + 8 + 16 * i)[0] + base
                if level:
                    stack.append(child)
                    continue
                if buf[child:child + 4] != b"SNOD":
                    raise Unsupported("bad symbol node")
                for j in range(_u2(buf, child + 6)[0]):
                    e = child + 8 + 40 * j
                    name_at = names_at + _u8(buf, e)[0]
                    name = buf[name_at:buf.find(b"\x00", name_at)].decode("utf-8")
                    links[name] = _u8(buf, e + 8)[0]
