"""Fuzz targets: the inputs a user hands the program, mutated, through the code that reads them.

Shared by ``tests/test_fuzz.py`` (bounded, in every test run) and ``benchmarks/fuzz_inputs.py``
(the same strategies and targets for as long as asked). Each target takes one generated
input; an input may be refused with the project's own ``SvhnEraseError`` and nothing else:
any other exception escaping is a finding, and so is an input that makes a reader ask for
more than ``MEMORY_MB`` of new memory or take longer than ``SECONDS`` (``bounded``). The
targets:

- ``mat``: a small ``digitStruct.mat`` with bytes set, bits flipped, 8-byte little-endian
  values (HDF5 addresses and sizes) written over it and the end cut off, indexed as a split
  (the reader, names and image sizes);
- ``png``: a small PNG mutated the same way (4-byte big-endian values: PNG sizes), decoded
  by ``split.read_rgb`` and sized by ``digitstruct.image_size``;
- ``box``: any text as an ``erase-image --box``;
- ``safetensors``: a small classifier's file with any metadata and its JSON header mutated,
  loaded by ``load_classifier``.
"""

from __future__ import annotations

import contextlib
import functools
import io
import resource
import signal
import struct
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from safetensors.torch import save_file

from svhn_erase.apps.erase import parse_box
from svhn_erase.data import digitstruct
from svhn_erase.data.digitstruct.layout import USERBLOCK_SIZE
from svhn_erase.data.split import read_rgb
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ARCHITECTURES, ConvNet
from svhn_erase.model.weights import load_classifier

MEMORY_MB = 2048  # more new address space than this for one input is unbounded memory
SECONDS = 20  # longer than this for one input is a hang
INTERESTING = [0, 1, 7, 8, 255, 256, 4096, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**48,
               2**63 - 1, 2**63, 2**64 - 1]
_NAMES = ["1.png", "2.png", "3.png"]


# --------------------------------------------------------------------------- seeds


@functools.cache
def seed_mat() -> bytes:
    """A three-image digitStruct.mat in the real layout (1, 2 and 3 digits)."""
    boxes = [np.array([[1, 2, 3, 8, 12]], float),
             np.array([[10, 1, 1, 7, 11], [4, 9, 2, 6, 10]], float),
             np.array([[5, 0, 0, 5, 9], [6, 6, 0, 5, 9], [7, 12, 1, 5, 9]], float)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "digitStruct.mat"
        digitstruct.write_digitstruct(path, _NAMES, boxes)
        return path.read_bytes()


@functools.cache
def seed_png() -> bytes:
    """A small RGB PNG with a text chunk."""
    pixels = np.random.default_rng(0).integers(0, 256, (9, 12, 3), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "svhn-erase fuzz seed")
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


@functools.cache
def seed_state() -> dict[str, torch.Tensor]:
    """The state dict of a small untrained network (ConvNet32)."""
    torch.manual_seed(0)
    return {k: v.contiguous() for k, v in ConvNet("ConvNet32").state_dict().items()}


# --------------------------------------------------------------------------- mutations


def edits(size: int, low: int = 0) -> st.SearchStrategy:
    """Up to six edits of a ``size``-byte input at offsets from ``low``: (offset, kind,
    value) with kind 0 set a byte, 1 flip a bit, 2 write a little-endian u64, 3 write a
    big-endian u32."""
    one = st.tuples(st.integers(low, size - 1), st.integers(0, 3),
                    st.one_of(st.sampled_from(INTERESTING), st.integers(0, 2**64 - 1)))
    return st.lists(one, min_size=1, max_size=6)


def cuts(size: int) -> st.SearchStrategy:
    """Mostly no cut; sometimes the input cut to this many bytes."""
    return st.one_of(st.none(), st.none(), st.integers(0, size - 1))


def mutate(data: bytes, changes: list[tuple[int, int, int]], cut: int | None) -> bytes:
    """``data`` with ``changes`` (see ``edits``) applied, then cut to ``cut`` bytes."""
    out = bytearray(data)
    for at, kind, value in changes:
        if kind == 0:
            out[at] = value & 0xFF
        elif kind == 1:
            out[at] ^= 1 << (value % 8)
        elif kind == 2:
            out[at:at + 8] = struct.pack("<Q", value % 2**64)[:len(out) - at]
        else:
            out[at:at + 4] = struct.pack(">I", value % 2**32)[:len(out) - at]
    return bytes(out[:cut] if cut is not None else out)


def mat_inputs() -> st.SearchStrategy:
    size = len(seed_mat())
    return st.tuples(edits(size, USERBLOCK_SIZE), cuts(size))


def png_inputs() -> st.SearchStrategy:
    size = len(seed_png())
    return st.tuples(edits(size), cuts(size))


def box_inputs() -> st.SearchStrategy:
    number = st.one_of(st.integers(-10**12, 10**12).map(str),
                       st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.sampled_from(["", "-", "1e400", "0x10", "1_0", " 5 ", "nan", "-0"]))
    return st.one_of(st.lists(number, min_size=0, max_size=6).map(",".join), st.text())


def safetensors_inputs() -> st.SearchStrategy:
    text = st.text(max_size=20)
    meta = st.fixed_dictionaries({}, optional={
        "net": st.one_of(st.sampled_from(list(ARCHITECTURES)), text),
        "image_size": st.one_of(st.integers(-10, 10**6).map(str), text),
        "num_classes": st.one_of(st.integers(-1, 12).map(str), text),
        "extra": text})
    return st.tuples(meta, st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                    max_size=4))


# --------------------------------------------------------------------------- targets


class Hang(Exception):
    """One input took longer than ``SECONDS``."""


def _address_space() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmSize")


@contextlib.contextmanager
def bounded(memory_mb: int = MEMORY_MB, seconds: int = SECONDS) -> Iterator[None]:
    """Cap the address space at what the process has now plus ``memory_mb`` (a bigger
    allocation raises MemoryError) and raise ``Hang`` after ``seconds`` (Linux; elsewhere
    no cap)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = _address_space() + memory_mb * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (min(cap, hard) if hard > 0 else cap, hard))
    except (OSError, ValueError):
        soft = None

    def _alarm(signum, frame):
        raise Hang(f"one input took over {seconds} s")

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        if soft is not None:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def only_project_errors(call, *args) -> bool:
    """Run ``call(*args)``: True if it succeeded, False if it raised ``SvhnEraseError``;
    any other exception propagates (a finding)."""
    try:
        with bounded():
            call(*args)
    except SvhnEraseError:
        return False
    return True


def run_mat(folder: Path, changes: list, cut: int | None) -> bool:
    """Index a split whose digitStruct.mat is the seed mutated (its images are fine)."""
    split = folder / "split"
    split.mkdir(exist_ok=True)
    png = seed_png()
    for name in _NAMES:
        (split / name).write_bytes(png)
    (split / "digitStruct.mat").write_bytes(mutate(seed_mat(), changes, cut))
    return only_project_errors(digitstruct.load_index, split, False, False)


def run_png(folder: Path, changes: list, cut: int | None) -> bool:
    """Size and decode the seed PNG mutated."""
    path = folder / "image.png"
    path.write_bytes(mutate(seed_png(), changes, cut))
    sized = only_project_errors(digitstruct.image_size, path)
    return only_project_errors(read_rgb, path) and sized


def run_box(text: str) -> bool:
    """Parse ``text`` as a box; a parsed box has four integers and a positive size."""
    try:
        box = parse_box(text)
    except SvhnEraseError:
        return False
    assert box.shape == (4,) and box[2] > 0 and box[3] > 0
    return True


def run_safetensors(folder: Path, meta: dict[str, str], changes: list) -> bool:
    """Load a small classifier saved with ``meta``, its JSON header then mutated."""
    path = folder / "model.safetensors"
    save_file(seed_state(), str(path), metadata=meta)
    data = bytearray(path.read_bytes())
    header_end = 8 + struct.unpack("<Q", bytes(data[:8]))[0]
    for at, value in changes:
        data[at % header_end] = value
    path.write_bytes(bytes(data))
    return only_project_errors(load_classifier, path)
