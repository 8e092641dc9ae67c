"""Benchmark: reading a train-sized digitStruct.mat (33,402 images, 73,257 digits).

Times, in one run: the naive h5py reader (one reference at a time; on a subset of the
images, extrapolated per image to the full file), the direct reader ``read_digitstruct``,
``load_index`` cold (reader + PNG headers + clipping + writing the cache) and warm (from
the cache); and the writer against the previous high-level h5py writer. The files are
written once into ``--work`` and reused.

    python benchmarks/bench_index.py [--work DIR] [--naive-images 2000]
"""

from __future__ import annotations

import argparse
import io
import shutil
import time
from pathlib import Path

import h5py
import numpy as np
from PIL import Image

from svhn_erase.data import digitstruct
from svhn_erase.data.digitstruct import writer

TRAIN_IMAGES, TRAIN_DIGITS = 33_402, 73_257


def make_table(n_images: int, seed: int = 0) -> tuple[list[str], list[np.ndarray]]:
    """Names and boxes shaped like train: 5,000 one-digit images, 11,453 three-digit ones,
    the rest two digits (73,257 digits in all); some boxes reach past the border."""
    rng = np.random.default_rng(seed)
    counts = np.full(TRAIN_IMAGES, 2)
    order = rng.permutation(TRAIN_IMAGES)
    counts[order[:5000]] = 1
    counts[order[5000:16_453]] = 3
    assert counts.sum() == TRAIN_DIGITS
    names, boxes = [], []
    for i, k in enumerate(counts[:n_images]):
        left = rng.integers(-3, 60) + np.arange(k) * 12
        rows = np.column_stack([rng.integers(1, 11, k), left, np.full(k, rng.integers(-2, 20)),
                                rng.integers(6, 15, k), np.full(k, rng.integers(15, 40))])
        names.append(f"{i + 1}.png")
        boxes.append(rows.astype(np.float64))
    return names, boxes


def write_digitstruct_highlevel(path: Path, names: list[str], boxes: list[np.ndarray]) -> None:
    """The previous writer (h5py high-level API, one wrapper object per dataset): the
    writer's baseline. Same layout, byte for byte."""
    refname = writer.ref_names()
    columns = {"label": 0, "left": 1, "top": 2, "width": 3, "height": 4}
    with h5py.File(path, "w", userblock_size=512, libver="earliest") as f:
        refs = f.create_group("#refs#")
        group = f.create_group("digitStruct")
        group.attrs["MATLAB_class"] = np.bytes_("struct")
        name_refs = np.empty((len(names), 1), dtype=h5py.ref_dtype)
        bbox_refs = np.empty((len(names), 1), dtype=h5py.ref_dtype)
        for i, (name, box) in enumerate(zip(names, boxes, strict=True)):
            chars = np.frombuffer(name.encode("ascii"), dtype=np.uint8).astype(np.uint16)
            ds = refs.create_dataset(next(refname).decode(), data=chars.reshape(-1, 1))
            ds.attrs["MATLAB_class"] = np.bytes_("char")
            name_refs[i, 0] = ds.ref
            bbox = refs.create_group(next(refname).decode())
            bbox.attrs["MATLAB_class"] = np.bytes_("struct")
            for field in digitstruct.BOX_FIELDS:
                values = box[:, columns[field]]
                if len(values) == 1:
                    ds = bbox.create_dataset(field, data=values.reshape(1, 1))
                    ds.attrs["MATLAB_class"] = np.bytes_("double")
                    continue
                cell = np.empty((len(values), 1), dtype=h5py.ref_dtype)
                for j, v in enumerate(values):
                    vds = refs.create_dataset(next(refname).decode(), data=np.array([[v]]))
                    vds.attrs["MATLAB_class"] = np.bytes_("double")
                    cell[j, 0] = vds.ref
                ds = bbox.create_dataset(field, data=cell)
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
            bbox_refs[i, 0] = bbox.ref
        for key, data in (("name", name_refs), ("bbox", bbox_refs)):
            ds = group.create_dataset(key, data=data)
            ds.attrs["MATLAB_class"] = np.bytes_("cell")
    with open(path, "r+b") as fh:
        fh.write(writer.matlab_header())


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/svhn-erase-bench-index"),
                        help="folder for the generated split (kept and reused)")
    parser.add_argument("--naive-images", type=int, default=2000,
                        help="images the naive reader is timed on (extrapolated)")
    args = parser.parse_args()
    split = args.work / "train"
    full_mat = split / "digitStruct.mat"
    names, boxes = make_table(TRAIN_IMAGES)
    write_s = None
    if not full_mat.is_file():
        split.mkdir(parents=True, exist_ok=True)
        write_s, _ = timed(digitstruct.write_digitstruct, full_mat, names, boxes)
        png = io.BytesIO()
        Image.new("RGB", (100, 40), (80, 90, 100)).save(png, format="PNG")
        for name in names:
            (split / name).write_bytes(png.getvalue())
    sub = args.work / "subset"
    sub.mkdir(parents=True, exist_ok=True)
    n_sub = args.naive_images
    sub_write_s, _ = timed(digitstruct.write_digitstruct, sub / "digitStruct.mat",
                           names[:n_sub], boxes[:n_sub])
    sub_digits = sum(len(b) for b in boxes[:n_sub])
    old_write_s, _ = timed(write_digitstruct_highlevel, sub / "highlevel.mat", names[:n_sub],
                           boxes[:n_sub])
    same_bytes = (sub / "highlevel.mat").read_bytes() == (sub / "digitStruct.mat").read_bytes()

    naive_sub_s, naive_table = timed(digitstruct.read_digitstruct_naive, sub / "digitStruct.mat")
    fast_sub_s, fast_sub_table = timed(digitstruct.read_digitstruct, sub / "digitStruct.mat")
    assert naive_table.equals(fast_sub_table), "fast and naive readers disagree"
    naive_full_s = naive_sub_s * TRAIN_DIGITS / sub_digits
    fast_s, table = timed(digitstruct.read_digitstruct, full_mat)
    assert len(table) == TRAIN_DIGITS and table["file"].nunique() == TRAIN_IMAGES
    for cache in (digitstruct.INDEX_CACHE_NAME, digitstruct.INDEX_STAMP_NAME):
        (split / cache).unlink(missing_ok=True)
    cold_s, index = timed(digitstruct.load_index, split, progress=False)
    warm_s, index2 = timed(digitstruct.load_index, split, progress=False)
    assert index.equals(index2)

    rows = [
        (f"naive h5py reader ({n_sub} images, timed)", naive_sub_s, naive_sub_s),
        ("naive h5py reader, full file (extrapolated by digits)", naive_full_s, naive_full_s),
        (f"read_digitstruct ({n_sub} images)", fast_sub_s, naive_sub_s),
        ("read_digitstruct (33,402 images, 73,257 digits)", fast_s, naive_full_s),
        ("load_index cold (read + PNG headers + clip + cache)", cold_s, naive_full_s),
        ("load_index warm (from the cache)", warm_s, naive_full_s),
    ]
    print("\n| step | seconds | speed-up vs naive |\n|---|---:|---:|")
    for label, seconds, base in rows:
        print(f"| {label} | {seconds:.2f} | {base / seconds:.1f}x |")
    print(f"\n| writer, {n_sub} images | seconds | ms/image | speed-up |\n|---|---:|---:|---:|")
    for label, seconds in (("high-level h5py writer (previous)", old_write_s),
                           ("write_digitstruct (low-level h5py)", sub_write_s)):
        print(f"| {label} | {seconds:.2f} | {1000 * seconds / n_sub:.2f} | "
              f"{old_write_s / seconds:.1f}x |")
    print(f"\nsame bytes from both writers: {same_bytes}"
          + (f"; full train-sized file written in {write_s:.1f} s" if write_s else ""))
    shutil.rmtree(sub)


if __name__ == "__main__":
    main()
