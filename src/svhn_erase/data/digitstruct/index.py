"""A split's digit index: the boxes of its ``digitStruct.mat`` clipped to the images.

``load_index`` reads the boxes, takes each image's size from its header, clips every box
to its image and drops what cannot be used (boxes outside the image or empty, labels
outside 1..10, digits of images that are missing or do not decode or whose name is no
plain file name), logs a summary and one line per dropped row, and caches the table
(``digitStruct.index.csv`` and ``digitStruct.index.json``, beside the split or where
``data.cache`` says) while ``digitStruct.mat`` and every image are unchanged (size and
modification time).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from svhn_erase import atomic_io
from svhn_erase.data import cache
from svhn_erase.data.digitstruct.layout import INDEX_COLUMNS
from svhn_erase.data.digitstruct.pngsize import image_size
from svhn_erase.data.digitstruct.reader import read_raw
from svhn_erase.errors import SvhnEraseError

log = logging.getLogger(__name__)

INDEX_CACHE_NAME = "digitStruct.index.csv"
INDEX_STAMP_NAME = "digitStruct.index.json"
_INDEX_CACHE_VERSION = 2
_MAX_PROBLEM_LINES = 10


# --------------------------------------------------------------------------- clipping


def _drop_reason(what: str, good_label: bool, label: float, box: np.ndarray,
                 wh: np.ndarray) -> str:
    """Why a row of a decodable image is dropped, as one report line."""
    if not good_label:
        return f"{what}: label {label:g} outside 1..10"
    if box[2] <= 0 or box[3] <= 0:
        return f"{what}: empty box (width {box[2]:g}, height {box[3]:g})"
    return (f"{what}: box ({box[0]:g}, {box[1]:g}, {box[2]:g}, {box[3]:g}) lies entirely "
            f"outside the {wh[0]:g}x{wh[1]:g} image")


def clip_boxes(raw: pd.DataFrame, sizes: dict[str, tuple[int, int]],
               split: Path | None = None) -> tuple[pd.DataFrame, dict[str, object]]:
    """Clip a raw table's boxes to their images; drop what cannot be used, and say why.

    ``raw`` as from ``reader.read_raw`` (labels as stored); ``sizes`` maps file -> (width,
    height) for the images that decode (rows of other files are dropped). Each value is
    rounded to the nearest pixel and the box cut to the image, as ``boxes.Box.clip`` does,
    over the whole table at once. Returns the index table (labels 0..9, integer boxes) and a
    report: counts plus one line per dropped row.
    """
    where = (lambda f: str(split / f)) if split is not None else str
    files, digit_index = raw["file"].to_numpy(), raw["digit_index"].to_numpy()
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
    # digits of unknown images are reported once per image by the caller
    problems = [_drop_reason(f"{where(files[i])} digit {digit_index[i]}", good_label[i],
                             label[i], box[i], wh[i]) for i in np.flatnonzero(known & ~keep)]
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


def _log_report(mat: Path, report: dict, cached: bool) -> None:
    log.info("index of %s%s: %d digits in %d images; %d boxes clipped to the image, %d "
             "dropped (outside the image or empty), %d dropped (label outside 1..10), %d "
             "images skipped", mat, " (cached)" if cached else "", report["digits"],
             report["images"] - len(report["skipped_images"]), report["clipped"],
             report["dropped_outside"], report["bad_labels"], len(report["skipped_images"]))
    problems = report["problems"]
    for line in problems[:_MAX_PROBLEM_LINES]:
        log.warning("skipped: %s", line)
    if len(problems) > _MAX_PROBLEM_LINES:
        log.warning("... and %d more skipped (all listed in the index report)",
                    len(problems) - _MAX_PROBLEM_LINES)


# --------------------------------------------------------------------------- the cache


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


def _read_cached(split: Path, stamp: dict) -> pd.DataFrame | None:
    """The cached index if it is still that of the split's files, else None."""
    folder = cache.index_folder(split)
    stamp_path, csv_path = folder / INDEX_STAMP_NAME, folder / INDEX_CACHE_NAME
    try:
        saved = json.loads(stamp_path.read_text())
        data = csv_path.read_bytes()
    except (OSError, ValueError):
        return None
    if (not isinstance(saved, dict) or saved.get("version") != _INDEX_CACHE_VERSION
            or saved.get("mat") != stamp
            or saved.get("csv_sha256") != hashlib.sha256(data).hexdigest()
            or not isinstance(saved.get("files"), list)
            or saved.get("images") != cache.files_state(split, saved["files"])):
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
    table.attrs["index_report"] = saved.get("report", {})
    return table


def _write_cache(split: Path, stamp: dict, files: list[str], table: pd.DataFrame,
                 report: dict) -> None:
    data = table[INDEX_COLUMNS].to_csv(index=False).encode("utf-8")
    folder = cache.index_folder(split)
    try:
        atomic_io.write_bytes(folder / INDEX_CACHE_NAME, data)
        atomic_io.write_json(folder / INDEX_STAMP_NAME, {
            "version": _INDEX_CACHE_VERSION, "split": str(split.resolve()), "mat": stamp,
            "csv_sha256": hashlib.sha256(data).hexdigest(), "files": files,
            "images": cache.files_state(split, files), "report": report,
        })
    except (OSError, SvhnEraseError) as exc:
        log.info("note: cannot cache the index in %s (%s); continuing", folder, exc)


# --------------------------------------------------------------------------- the index


def _image_sizes(split: Path, files: Sequence[str]) -> tuple[dict[str, tuple[int, int]],
                                                              list[str]]:
    """``(width, height)`` of every image that decodes, and one report line per other one."""
    sizes: dict[str, tuple[int, int]] = {}
    problems: list[str] = []
    for file in files:
        try:
            _check_name(split, file)
            sizes[file] = image_size(split / file)
        except SvhnEraseError as exc:
            problems.append(f"{exc} (all its digits)")
    return sizes, problems


def _check_name(split: Path, file: str) -> None:
    """A ``SvhnEraseError`` unless ``file`` is a plain file name that a path can hold."""
    why = None
    if Path(file).name != file or file in ("", ".", ".."):
        why = "is not a plain file name"
    elif "\x00" in file:
        why = "holds a NUL character"
    else:
        try:
            file.encode("utf-8")
        except UnicodeEncodeError:
            why = "holds a character no file name can have (a lone UTF-16 surrogate)"
    if why:
        raise SvhnEraseError(f"{split}: image name {file!r} in digitStruct.mat {why}")


def load_index(split_dir: str | os.PathLike[str], use_cache: bool = True,
               progress: bool = True) -> pd.DataFrame:
    """The digit table of a Format 1 split: one row per usable digit.

    Columns exactly ``file, digit_index, label, left, top, width, height``: label 0..9,
    boxes in integer pixels clipped to the image (sizes read from the image headers).
    Dropped, each logged and listed in ``table.attrs["index_report"]["problems"]``: boxes
    entirely outside their image (or empty), labels outside 1..10, and every digit of an
    image that is missing or does not decode. One summary line with the counts is logged.
    The table is cached (``digitStruct.index.csv`` and ``digitStruct.index.json``, beside
    the split or where ``data.cache`` says) and reused while ``digitStruct.mat`` and the
    images are unchanged.
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
            _log_report(mat, cached.attrs["index_report"], cached=True)
            return cached
    raw = read_raw(mat, progress=progress)
    files = list(dict.fromkeys(raw["file"]))
    sizes, problems = _image_sizes(split, files)
    table, report = clip_boxes(raw, sizes, split)
    report = {"mat": str(mat), "images": len(files), **report,
              "skipped_images": [f for f in files if f not in sizes],
              "image_problems": problems, "problems": problems + report["problems"]}
    table.attrs["index_report"] = report
    if use_cache:
        _write_cache(split, stamp, files, table, report)
    _log_report(mat, report, cached=False)
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
