"""digitStruct.mat: the writer's layout read back exactly, the fast reader against the naive
one (also on files laid out by other writers), bad files, and the split's cached index."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from svhn_erase import cli
from svhn_erase.data import digitstruct
from svhn_erase.data.digitstruct import (
    INDEX_COLUMNS,
    DigitStructError,
    image_size,
    load_index,
    read_digitstruct,
    read_digitstruct_naive,
    write_digitstruct,
    write_index_csv,
)
from svhn_erase.errors import SvhnEraseError

pytestmark = pytest.mark.usefixtures("cli_logging")  # log records on stderr, as the CLI shows


def _expected(names: list[str], boxes: list[np.ndarray]) -> pd.DataFrame:
    rows = []
    for name, box in zip(names, boxes, strict=True):
        for j, (label, left, top, width, height) in enumerate(np.asarray(box, float)):
            rows.append((name, j, int(label) % 10, left, top, width, height))
    return pd.DataFrame(rows, columns=INDEX_COLUMNS)


def _assert_table(got: pd.DataFrame, names: list[str], boxes: list[np.ndarray]) -> None:
    want = _expected(names, boxes)
    assert list(got.columns) == INDEX_COLUMNS
    assert got["file"].tolist() == want["file"].tolist()
    assert got["digit_index"].tolist() == want["digit_index"].tolist()
    assert got["label"].tolist() == want["label"].tolist()
    for col in ("left", "top", "width", "height"):
        assert got[col].tolist() == want[col].tolist(), col


def write_other_layout(path: Path, names: list[str], boxes: list[np.ndarray], *,
                       libver: str = "earliest", row_vectors: bool = False,
                       value_dtype: str = "f8", name_dtype: str = "u2", userblock: int = 512,
                       singleton_as_cell: bool = False, chunked: str | None = None) -> None:
    """A digitStruct.mat as another MATLAB-layout writer might lay it out (high-level h5py):
    other HDF5 format versions, 1 x N instead of N x 1, other numeric types, no user
    block, one-digit values as cells, or chunked + compressed datasets."""
    shape = (lambda n: (1, n)) if row_vectors else (lambda n: (n, 1))
    extra = {"chunks": (1, 1)} if chunked else {}
    if chunked and chunked != "none":
        extra["compression"] = chunked
    counter = iter(range(10**9))
    with h5py.File(path, "w", libver=libver, userblock_size=userblock or 0) as f:
        refs = f.create_group("#refs#")
        name_refs, bbox_refs = [], []
        for name, box in zip(names, boxes, strict=True):
            chars = np.frombuffer(name.encode(), np.uint8).astype(name_dtype)
            ds = refs.create_dataset(f"n{next(counter)}", data=chars.reshape(shape(len(chars))),
                                     **extra)
            name_refs.append(ds.ref)
            group = refs.create_group(f"g{next(counter)}")
            box = np.asarray(box, float).reshape(-1, 5)
            for field, col in (("label", 0), ("left", 1), ("top", 2), ("width", 3),
                               ("height", 4)):
                values = box[:, col].astype(value_dtype)
                if len(values) == 1 and not singleton_as_cell:
                    group.create_dataset(field, data=values.reshape(1, 1), **extra)
                    continue
                cell = [refs.create_dataset(f"v{next(counter)}", data=v.reshape(1, 1)).ref
                        for v in values]
                group.create_dataset(field, data=np.array(cell, dtype=h5py.ref_dtype)
                                     .reshape(shape(len(cell))))
            bbox_refs.append(group.ref)
        top = f.create_group("digitStruct")
        for key, refs_ in (("name", name_refs), ("bbox", bbox_refs)):
            top.create_dataset(key, data=np.array(refs_, dtype=h5py.ref_dtype)
                               .reshape(shape(len(refs_))))


SAMPLE_NAMES = ["1.png", "2.png", "3.png", "10.png"]
SAMPLE_BOXES = [
    np.array([[1, 5, 6, 10, 20]]),
    np.array([[10, 0, 1, 8, 16], [2, 9, 1, 8, 16], [3, 18, 2, 7, 15]]),
    np.array([[5, -3, -2, 12, 30], [6, 40, 5, 90, 12.0]]),
    np.array([[9, 1.5, 2.25, 3, 4]]),
]


def test_round_trip_both_layouts(tmp_path: Path) -> None:
    path = tmp_path / "digitStruct.mat"
    write_digitstruct(path, SAMPLE_NAMES, SAMPLE_BOXES)
    assert path.read_bytes()[:10] == b"MATLAB 7.3"
    with h5py.File(path, "r") as f:  # the layout of SPEC §1
        assert f.userblock_size == 512
        bbox1 = f[f["digitStruct/bbox"][0, 0]]
        assert bbox1["label"].dtype == np.float64 and bbox1["label"].shape == (1, 1)
        bbox2 = f[f["digitStruct/bbox"][1, 0]]
        assert bbox2["label"].dtype == h5py.ref_dtype and bbox2["label"].shape == (3, 1)
        assert f[f["digitStruct/name"][0, 0]].dtype == np.uint16
    for reader in (read_digitstruct, read_digitstruct_naive):
        _assert_table(reader(path), SAMPLE_NAMES, SAMPLE_BOXES)


def test_writer_is_reproducible(tmp_path: Path) -> None:
    write_digitstruct(tmp_path / "a.mat", SAMPLE_NAMES, SAMPLE_BOXES)
    write_digitstruct(tmp_path / "b.mat", SAMPLE_NAMES, SAMPLE_BOXES)
    assert (tmp_path / "a.mat").read_bytes() == (tmp_path / "b.mat").read_bytes()


def test_writer_rejects_mismatched_lengths(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_digitstruct(tmp_path / "x.mat", ["1.png"], [])


box_rows = st.tuples(
    st.integers(1, 10), st.integers(-50, 400), st.integers(-50, 300),
    st.integers(-5, 200), st.integers(-5, 200),
)
image_tables = st.lists(st.lists(box_rows, min_size=1, max_size=5), min_size=1, max_size=6)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tables=image_tables, fractional=st.booleans())
def test_fast_reader_equals_naive_on_random_files(tmp_path: Path, tables, fractional) -> None:
    names = [f"{i + 1}.png" for i in range(len(tables))]
    boxes = [np.asarray(t, float) + (0.5 if fractional else 0.0) * np.array([0, 1, 1, 1, 1])
             for t in tables]
    path = tmp_path / "digitStruct.mat"
    write_digitstruct(path, names, boxes)
    fast = read_digitstruct(path)
    pd.testing.assert_frame_equal(fast, read_digitstruct_naive(path))
    _assert_table(fast, names, boxes)


OTHER_LAYOUTS = {
    "hdf5-latest": {"libver": "latest"},
    "1xN": {"row_vectors": True},
    "int-values": {"value_dtype": "i4"},
    "float32-values": {"value_dtype": "f4"},
    "uint8-names": {"name_dtype": "u1"},
    "no-userblock": {"userblock": 0},
    "big-userblock": {"userblock": 2048},
    "singletons-as-cells": {"singleton_as_cell": True},
    "latest-1xN-int": {"libver": "latest", "row_vectors": True, "value_dtype": "i2"},
    "chunked-deflate": {"chunked": "gzip"},
    "chunked-deflate-1xN": {"chunked": "gzip", "row_vectors": True},
    "chunked-uncompressed": {"chunked": "none"},
}


@pytest.mark.parametrize("layout", OTHER_LAYOUTS, ids=list(OTHER_LAYOUTS))
def test_other_writers_read_directly(tmp_path: Path, layout: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "digitStruct.mat"
    write_other_layout(path, SAMPLE_NAMES[:3], SAMPLE_BOXES[:3], **OTHER_LAYOUTS[layout])
    fast = read_digitstruct(path)
    assert "through h5py" not in capsys.readouterr().err  # no fallback needed
    _assert_table(fast, SAMPLE_NAMES[:3], SAMPLE_BOXES[:3])
    pd.testing.assert_frame_equal(fast, read_digitstruct_naive(path))


def test_many_links_in_one_group_read_directly(tmp_path: Path) -> None:
    # hundreds of objects under #refs#: the symbol-table B-tree has several levels / nodes
    rng = np.random.default_rng(3)
    names = [f"{i + 1}.png" for i in range(150)]
    boxes = [np.column_stack([rng.integers(1, 11, k), rng.integers(-9, 99, (k, 4))])
             for k in rng.integers(1, 6, len(names))]
    for kwargs in ({}, {"libver": "latest"}):
        path = tmp_path / f"d{len(kwargs)}.mat"
        write_other_layout(path, names, boxes, **kwargs)
        _assert_table(read_digitstruct(path), names, boxes)


def test_unsupported_storage_falls_back_to_h5py(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for n, kwargs in enumerate([{"chunked": "lzf"}, {"chunked": "gzip", "libver": "latest"}]):
        write_other_layout(tmp_path / f"{n}.mat", SAMPLE_NAMES[:3], SAMPLE_BOXES[:3], **kwargs)
        _assert_table(read_digitstruct(tmp_path / f"{n}.mat"), SAMPLE_NAMES[:3],
                      SAMPLE_BOXES[:3])
        assert "through h5py" in capsys.readouterr().err


def test_bad_labels_are_minus_one_in_the_raw_table(tmp_path: Path) -> None:
    path = tmp_path / "digitStruct.mat"
    write_digitstruct(path, ["1.png"], [np.array([[0, 1, 1, 5, 5], [11, 1, 1, 5, 5],
                                                   [10, 1, 1, 5, 5]])])
    assert read_digitstruct(path)["label"].tolist() == [-1, -1, 0]


# --------------------------------------------------------------------------- bad files


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DigitStructError, match="no such file"):
        read_digitstruct(tmp_path / "digitStruct.mat")


@pytest.mark.parametrize("keep", [0, 100, 0.5])
def test_truncated_or_garbage_file(tmp_path: Path, keep: float) -> None:
    path = tmp_path / "digitStruct.mat"
    write_digitstruct(path, SAMPLE_NAMES, SAMPLE_BOXES)
    data = path.read_bytes()
    path.write_bytes(data[: int(keep * len(data)) if keep < 1 else keep])
    for reader in (read_digitstruct, read_digitstruct_naive):
        with pytest.raises(DigitStructError) as exc:
            reader(path)
        assert str(path) in str(exc.value)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)),
                      min_size=1, max_size=3))
def test_corrupt_bytes_give_a_table_or_a_named_error(tmp_path: Path, flips) -> None:
    path = tmp_path / "digitStruct.mat"
    write_digitstruct(path, SAMPLE_NAMES, SAMPLE_BOXES)
    data = bytearray(path.read_bytes())
    for where, value in flips:  # anywhere past MATLAB's text header
        data[512 + int(where * (len(data) - 512))] = value
    path.write_bytes(bytes(data))
    try:
        table = read_digitstruct(path)
    except DigitStructError as exc:
        assert str(path) in str(exc)
    else:
        assert list(table.columns) == INDEX_COLUMNS


def test_not_a_digitstruct(tmp_path: Path) -> None:
    path = tmp_path / "digitStruct.mat"
    with h5py.File(path, "w") as f:
        f["something"] = np.zeros(3)
    with pytest.raises(DigitStructError, match="digitStruct/name"):
        read_digitstruct(path)


def test_bbox_without_a_field(tmp_path: Path) -> None:
    path = tmp_path / "digitStruct.mat"
    write_digitstruct(path, SAMPLE_NAMES[:2], SAMPLE_BOXES[:2])
    with h5py.File(path, "r+") as f:
        del f[f["digitStruct/bbox"][1, 0]]["width"]
    for reader in (read_digitstruct, read_digitstruct_naive):
        with pytest.raises(DigitStructError, match="image 2"):
            reader(path)


# --------------------------------------------------------------------------- the index


def _make_split(root: Path, sizes: dict[str, tuple[int, int]], names: list[str],
                boxes: list[np.ndarray]) -> Path:
    split = root / "train"
    split.mkdir(parents=True)
    for name, (w, h) in sizes.items():
        Image.new("RGB", (w, h), (90, 90, 90)).save(split / name)
    write_digitstruct(split / "digitStruct.mat", names, boxes)
    return split


def test_index_clips_drops_and_reports(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    names = ["1.png", "2.png", "3.png", "4.png", "5.png"]
    boxes = [
        np.array([[1, 2, 3, 10, 12], [10, -4, -2, 10, 10]]),      # second box clipped
        np.array([[2, 35, 0, 10, 10], [3, 100, 100, 5, 5]]),     # clipped, fully outside
        np.array([[11, 1, 1, 5, 5], [4, 1, 1, 5, 5]]),           # bad label, good
        np.array([[5, 1, 1, 5, 5]]),                             # image missing
        np.array([[6, 1, 1, 5, 5]]),                             # image does not decode
    ]
    split = _make_split(tmp_path, {"1.png": (40, 30), "2.png": (40, 30), "3.png": (20, 20)},
                        names, boxes)
    (split / "5.png").write_bytes(b"not a png")
    table = load_index(split)
    assert list(table.columns) == INDEX_COLUMNS
    got = table.to_dict("records")
    assert got == [
        {"file": "1.png", "digit_index": 0, "label": 1, "left": 2, "top": 3, "width": 10,
         "height": 12},
        {"file": "1.png", "digit_index": 1, "label": 0, "left": 0, "top": 0, "width": 6,
         "height": 8},
        {"file": "2.png", "digit_index": 0, "label": 2, "left": 35, "top": 0, "width": 5,
         "height": 10},
        {"file": "3.png", "digit_index": 1, "label": 4, "left": 1, "top": 1, "width": 5,
         "height": 5},
    ]
    report = table.attrs["index_report"]
    assert (report["clipped"], report["dropped_outside"], report["bad_labels"]) == (2, 1, 1)
    assert report["skipped_images"] == ["4.png", "5.png"]
    err = capsys.readouterr().err
    assert "2 boxes clipped" in err and "1 dropped (outside" in err
    assert "2.png digit 1" in err and "3.png digit 0: label 11" in err
    assert "4.png: image file not found" in err and "5.png: image does not decode" in err
    assert "Traceback" not in err


def test_index_is_cached_and_refreshed(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    names = ["1.png", "2.png"]
    boxes = [np.array([[1, 2, 3, 10, 12]]), np.array([[2, 1, 1, 5, 5], [3, 7, 1, 5, 5]])]
    split = _make_split(tmp_path, {"1.png": (40, 30)}, names, boxes)
    first = load_index(split)
    assert (split / digitstruct.INDEX_CACHE_NAME).is_file()
    assert "(cached)" not in capsys.readouterr().err
    second = load_index(split)
    assert "(cached)" in capsys.readouterr().err
    pd.testing.assert_frame_equal(first, second)
    assert second.attrs["index_report"] == first.attrs["index_report"]
    # a missing image that appears makes the cache stale
    Image.new("RGB", (30, 30)).save(split / "2.png")
    third = load_index(split)
    assert "(cached)" not in capsys.readouterr().err
    assert third["file"].tolist() == ["1.png", "2.png", "2.png"]
    # a changed digitStruct.mat (same size, same mtime) makes it stale too
    stat = (split / "digitStruct.mat").stat()
    write_digitstruct(split / "digitStruct.mat", names,
                      [boxes[0], np.array([[4, 1, 1, 5, 5], [5, 7, 1, 5, 5]])])
    os.utime(split / "digitStruct.mat", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    fourth = load_index(split)
    assert fourth["label"].tolist() == [1, 4, 5]
    # a damaged cache is rebuilt, not trusted
    (split / digitstruct.INDEX_CACHE_NAME).write_text("file,label\nx,1\n")
    pd.testing.assert_frame_equal(load_index(split), fourth)


def test_index_of_missing_split_or_mat(tmp_path: Path) -> None:
    with pytest.raises(SvhnEraseError, match="split folder not found"):
        load_index(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SvhnEraseError, match="digitStruct.mat"):
        load_index(tmp_path / "empty")


def test_write_index_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    table = _expected(SAMPLE_NAMES[:2], SAMPLE_BOXES[:2]).assign(extra=1)
    write_index_csv(table, tmp_path / "out.csv")
    text = (tmp_path / "out.csv").read_text()
    assert text.splitlines()[0] == "file,digit_index,label,left,top,width,height"
    write_index_csv(table, None)
    assert capsys.readouterr().out == text


def test_cli_data_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    names = ["1.png", "2.png"]
    boxes = [np.array([[1, 2, 3, 10, 12]]), np.array([[10, 1, 1, 5, 5], [3, 7, 1, 50, 5]])]
    _make_split(tmp_path, {"1.png": (40, 30), "2.png": (20, 20)}, names, boxes)
    out = tmp_path / "index.csv"
    assert cli.main(["data", "index", "--root", str(tmp_path), "--split", "train",
                     "--out", str(out)]) == 0
    assert out.read_text().splitlines() == [
        "file,digit_index,label,left,top,width,height",
        "1.png,0,1,2,3,10,12",
        "2.png,0,0,1,1,5,5",
        "2.png,1,3,7,1,13,5",
    ]
    capsys.readouterr()
    assert cli.main(["data", "index", "--root", str(tmp_path), "--split", "train"]) == 0
    assert capsys.readouterr().out == out.read_text()


def test_cli_data_index_bad_mat_is_one_line(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "digitStruct.mat").write_bytes(b"MATLAB 7.3 truncated")
    assert cli.main(["data", "index", "--root", str(tmp_path), "--split", "train"]) == 2
    err = capsys.readouterr().err
    assert "digitStruct.mat" in err and "Traceback" not in err


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(st.sampled_from(["a.png", "b.png"]), st.integers(-2, 12),
                               st.integers(-60, 80), st.integers(-60, 80),
                               st.integers(-5, 90), st.integers(-5, 90)), max_size=12),
       size_a=st.tuples(st.integers(1, 60), st.integers(1, 60)))
def test_clip_boxes_matches_a_per_row_reference(rows, size_a) -> None:
    raw = pd.DataFrame([(f, j, lab, x, y, w, h) for j, (f, lab, x, y, w, h) in enumerate(rows)],
                       columns=INDEX_COLUMNS).astype({c: float for c in INDEX_COLUMNS[2:]})
    sizes = {"a.png": size_a}  # b.png is "missing": all its rows go
    table, report = digitstruct.clip_boxes(raw, sizes)
    want, clipped = [], 0
    for f, j, lab, x, y, w, h in raw.itertuples(index=False):
        if f not in sizes or not 1 <= lab <= 10:
            continue
        width, height = sizes[f]
        x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
        if x1 <= x0 or y1 <= y0:
            continue
        clipped += (x0, y0, x1 - x0, y1 - y0) != (x, y, w, h)
        want.append((f, j, int(lab) % 10, x0, y0, x1 - x0, y1 - y0))
    assert [tuple(r) for r in table.itertuples(index=False)] == want
    assert report["clipped"] == clipped and report["digits"] == len(want)
    assert report["digits"] + report["dropped_outside"] + report["bad_labels"] \
        + report["digits_of_skipped_images"] == len(raw)
    assert all(r.left >= 0 and r.left + r.width <= size_a[0] for r in table.itertuples())


# --------------------------------------------------------------------------- image headers


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(w=st.integers(1, 3000), h=st.integers(1, 3000), mode=st.sampled_from(["RGB", "L", "P"]),
       fmt=st.sampled_from(["PNG", "JPEG", "BMP"]))
def test_image_size_reads_the_header(tmp_path: Path, w: int, h: int, mode: str,
                                     fmt: str) -> None:
    path = tmp_path / f"x.{fmt.lower()}"
    image = Image.new(mode if fmt != "JPEG" else "RGB", (w, h))
    image.save(path, format=fmt)
    assert image_size(path) == (w, h)


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(head=st.one_of(st.binary(max_size=40),
                      st.binary(max_size=16).map(lambda b: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
                                                 + b)))
def test_image_size_of_any_bytes_is_a_size_or_a_named_error(tmp_path: Path,
                                                              head: bytes) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(head)
    try:
        width, height = image_size(path)
    except SvhnEraseError as exc:
        assert str(path) in str(exc)
    else:
        assert width > 0 and height > 0
