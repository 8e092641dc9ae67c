"""Erase without boxes (issue 16): find the digits with the detector, then erase them.

``erase_image_detected`` is ``erase-image`` without ``--box``; ``erase_folder_detected`` is
``erase --detect``: every photo of a folder (no ``digitStruct.mat`` needed) is detected and
erased with the chosen method (at the detector's ``erase_min_score`` unless a ``min_score``
is given), through the same batching, output checks and writer as
``apps.erase``. Outputs as ``erase``'s (``OUT/N.png``, ``OUT/masks/N.png``,
``OUT/timing.json``, ``OUT/manifest.json``) plus ``OUT/boxes.csv``: the boxes found, in the
``detect`` command's columns. A photo where nothing is found is written unchanged; one that
does not decode is reported, skipped and listed in ``timing.json``.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from tqdm import tqdm

from svhn_erase import atomic_io
from svhn_erase.apps.erase import (
    MANIFEST,
    batches,
    check_output_folder,
    check_output_image,
    erase_batch,
    erase_image_file,
    load_model,
    split_method,
    write_outputs,
)
from svhn_erase.data.split import Parent, Photo, read_photo, read_rgb
from svhn_erase.errors import SvhnEraseError
from svhn_erase.removal.methods import Erased, RemovalMethod, method_tag, resolve

if TYPE_CHECKING:
    from svhn_erase.detection.detect import Detector
    from svhn_erase.model.nets import ConvNet

BOXES_CSV = "boxes.csv"


@dataclass(frozen=True)
class Request:
    """An ``erase --detect`` run, checked and loaded (``prepare``)."""

    folder: Path
    out: Path
    files: list[Path]
    tag: str  # the method as the manifest names it
    method: RemovalMethod
    model: ConvNet | None
    weights_path: Path | None
    detector: Detector
    threshold: float
    detector_name: str


def erase_image_detected(image: str | os.PathLike[str], out: str | os.PathLike[str],
                         weights: str | os.PathLike[str] | None = None,
                         method: str | RemovalMethod = "default",
                         detector: str | os.PathLike[str] | None = None,
                         min_score: float | None = None) -> tuple[Erased | None, np.ndarray]:
    """Detect the digits of one photo and erase them into ``out``; returns the result (None
    when nothing was found: the photo is written unchanged) and the boxes found (k, 4)."""
    from svhn_erase.detection import load_detector
    from svhn_erase.detection.photos import detected_boxes

    remover = resolve(method)
    if remover.needs_truth:
        raise SvhnEraseError(f"the {remover.name} method needs ground truth; it cannot erase "
                             "a photo")
    check_output_image(Path(out), Path(image))
    photo = read_photo(image)
    found = load_detector(detector)
    boxes = detected_boxes(found, photo.pixels, found.settings.erase_min_score
                           if min_score is None else min_score)
    if not len(boxes):
        atomic_io.write_image(out, photo.pixels, icc_profile=photo.profile, alpha=photo.alpha)
        return None, boxes
    return erase_image_file(image, list(boxes), out, weights=weights, method=remover,
                            photo=photo), boxes


def prepare(folder: str | os.PathLike[str], out: str | os.PathLike[str],
            weights: str | os.PathLike[str] | None, method: str | RemovalMethod,
            limit: int | None,
            detector: str | os.PathLike[str] | None, min_score: float | None) -> Request:
    """Check an ``erase --detect`` request as every engine does (folder, method, output
    folder) and load what it needs (detector, classifier); nothing is written yet."""
    from svhn_erase.detection import load_detector
    from svhn_erase.detection.photos import photo_files

    path, out = Path(folder), Path(out)
    if not path.is_dir():
        raise SvhnEraseError(f"{path}: photo folder not found")
    remover = split_method(method, limit)
    files = photo_files([path])[:limit]
    tag = f"{method_tag(remover)} (detected boxes)"
    check_output_folder(out, path, tag, [f.name for f in files])
    found = load_detector(detector)
    model, weights_path = load_model(remover, weights)
    threshold = found.settings.erase_min_score if min_score is None else min_score
    return Request(path, out, files, tag, remover, model, weights_path, found, threshold,
                   str(detector or "packaged"))


def start_output(request: Request) -> None:
    """Write the manifest and remove temporaries that a killed run left in the output."""
    atomic_io.write_json(request.out / MANIFEST, {"split": str(request.folder.resolve()),
                                                  "method": request.tag})
    for sub in (request.out, request.out / "masks"):
        atomic_io.clean_temporaries(sub)


def detect_and_erase(detector: Detector, method: RemovalMethod, model: ConvNet | None,
                     photos: Sequence[tuple[str, Photo]], out: Path,
                     threshold: float, keep_existing: bool = False
                     ) -> tuple[list[list[dict]], list[int], float]:
    """Detect the digits of each photo (its name, and the photo as ``split.read_photo``
    reads it) and erase them into ``out`` (``OUT/NAME`` with the photo's profile and alpha,
    its mask, ``mask_path``; a photo without digits is written unchanged, its mask empty).
    Every engine erases ``--detect`` through here, each box grown by the detector's
    ``erase_grow``. Returns each photo's ``boxes.csv`` rows, its digits erased and the
    seconds of the erase stage; ``keep_existing`` as ``erase.erase_batch``."""
    from svhn_erase.detection.photos import box_array, table_rows

    rows, parents, digits = [], [], {}
    for name, (image, profile, alpha) in photos:
        dets = detector.detect([image], threshold, every_number=True)[0]
        rows.append(table_rows(name, dets))
        parent = Parent(name, image, box_array(dets, detector.settings.erase_grow),
                        np.array([d.label for d in dets]), profile, alpha)
        if dets:
            parents.append(parent)
            continue
        digits[name] = 0
        write_outputs(out, parent, image, np.zeros(image.shape[:2], bool), keep_existing)
    seconds = 0.0
    for group in batches(parents):
        counts, took = erase_batch(method, model, group, out, keep_existing=keep_existing)
        digits.update(zip((p.file for p in group), counts, strict=True))
        seconds += took
    return rows, [digits[name] for name, _ in photos], seconds


def photo_rows(detector: Detector, file: Path, threshold: float) -> list[dict]:
    """The ``boxes.csv`` rows of one photo file, detected as ``detect_and_erase`` does."""
    from svhn_erase.detection.photos import table_rows

    found = detector.detect([read_rgb(file)], threshold, every_number=True)[0]
    return table_rows(file.name, found)


def write_boxes(out: Path, rows: Iterable[list[dict]]) -> None:
    """``OUT/boxes.csv``: the rows of every photo, in the order given (the folder's)."""
    from svhn_erase.detection.photos import COLUMNS

    table = pd.DataFrame([r for photo in rows for r in photo], columns=COLUMNS)
    atomic_io.write_text(out / BOXES_CSV, table.to_csv(index=False))


def erase_folder_detected(folder: str | os.PathLike[str], out: str | os.PathLike[str],
                          weights: str | os.PathLike[str] | None = None,
                          method: str | RemovalMethod = "default", limit: int | None = None,
                          detector: str | os.PathLike[str] | None = None,
                          min_score: float | None = None, progress: bool = True) -> dict:
    """Detect and erase the digits of every photo in ``folder``; returns the timing written
    to ``OUT/timing.json`` (``seconds``: erasing alone; ``detect_seconds``: the rest,
    reading, detecting and writing)."""
    from svhn_erase.detection.photos import BATCH, read_photos

    r = prepare(folder, out, weights, method, limit, detector, min_score)
    start_output(r)
    rows: list[list[dict]] = []
    skipped: list[str] = []
    digits, seconds, start = 0, 0.0, time.perf_counter()
    for first in tqdm(range(0, len(r.files), BATCH), unit="batch", desc="detect and erase",
                      disable=not progress or not sys.stderr.isatty()):
        photos = [(f.name, photo) for f, photo in
                  read_photos(r.files[first:first + BATCH], skipped)]
        got, counts, took = detect_and_erase(r.detector, r.method, r.model, photos, r.out,
                                             r.threshold)
        rows.extend(got)
        digits, seconds = digits + sum(counts), seconds + took
    write_boxes(r.out, rows)
    return write_timing(r, {"digits": digits, "images": len(r.files) - len(skipped),
                            "seconds": round(seconds, 4), "detect_seconds":
                            round(time.perf_counter() - start - seconds, 4)}, skipped=skipped)


def write_timing(r: Request, counts: dict, **extra: object) -> dict:
    """Write and return ``OUT/timing.json``: ``counts`` (digits, images, seconds,
    detect_seconds), the settings that shaped the run, and any ``extra`` keys."""
    timing = {**counts, "method": r.method.settings(), "detector": r.detector_name,
              "min_score": r.threshold,
              "weights": str(r.weights_path) if r.weights_path else None,
              "skipped": [], "index_skipped": [], **extra}
    atomic_io.write_json(r.out / "timing.json", timing)
    return timing
