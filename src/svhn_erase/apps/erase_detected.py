"""Erase without boxes (issue 16): find the digits with the detector, then erase them.

``erase_image_detected`` is ``erase-image`` without ``--box``; ``erase_folder_detected`` is
``erase --detect``: every photo of a folder (no ``digitStruct.mat`` needed) is detected and
erased with the chosen method (at the detector's ``erase_min_score`` unless a ``min_score``
is given), through the same batching, output checks and writer as
``apps.erase``. Outputs as ``erase``'s (``OUT/N.png``, ``OUT/masks/N.png``,
``OUT/timing.json``, ``OUT/manifest.json``) plus ``OUT/boxes.csv``: the boxes found, in the
``detect`` command's columns. A photo where nothing is found is written unchanged.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from svhn_erase import atomic_io
from svhn_erase.apps.erase import (
    IMAGES_PER_BATCH,
    MANIFEST,
    _SplitWriter,
    check_output_folder,
    check_output_image,
    erase_image_file,
    load_model,
)
from svhn_erase.data.split import Parent, read_rgb
from svhn_erase.errors import SvhnEraseError
from svhn_erase.removal.methods import Erased, create

BOXES_CSV = "boxes.csv"


def erase_image_detected(image: str | os.PathLike[str], out: str | os.PathLike[str],
                         weights: str | os.PathLike[str] | None = None, method: str = "default",
                         detector: str | os.PathLike[str] | None = None,
                         min_score: float | None = None) -> tuple[Erased | None, np.ndarray]:
    """Detect the digits of one photo and erase them into ``out``; returns the result (None
    when nothing was found: the photo is written unchanged) and the boxes found (k, 4)."""
    from svhn_erase.detection import load_detector
    from svhn_erase.detection.photos import detected_boxes

    if create(method).needs_truth:
        raise SvhnEraseError(f"the {method} method needs ground truth; it cannot erase a photo")
    check_output_image(Path(out), Path(image))
    rgb = read_rgb(image)
    found = load_detector(detector)
    boxes = detected_boxes(found, rgb, found.settings.erase_min_score if min_score is None
                           else min_score)
    if not len(boxes):
        atomic_io.write_image(out, rgb)
        return None, boxes
    return erase_image_file(image, list(boxes), out, weights=weights, method=method), boxes


def erase_folder_detected(folder: str | os.PathLike[str], out: str | os.PathLike[str],
                          weights: str | os.PathLike[str] | None = None,
                          method: str = "default", limit: int | None = None,
                          detector: str | os.PathLike[str] | None = None,
                          min_score: float | None = None, progress: bool = True) -> dict:
    """Detect and erase the digits of every photo in ``folder``; returns the timing written
    to ``OUT/timing.json`` (``seconds``: erasing alone; ``detect_seconds``: the rest,
    reading, detecting and writing)."""
    from svhn_erase.detection import load_detector
    from svhn_erase.detection.photos import (
        COLUMNS,
        box_array,
        detect_photos,
        photo_files,
        table_rows,
    )

    path, out = Path(folder), Path(out)
    if not path.is_dir():
        raise SvhnEraseError(f"{path}: photo folder not found")
    remover = create(method)
    if remover.needs_truth:
        raise SvhnEraseError(f"the {method} method needs ground truth; run it through "
                             "'svhn-erase bench'")
    files = photo_files([path])[:limit]
    tag = f"{method} (detected boxes)"
    check_output_folder(out, path, tag, [f.name for f in files])
    found = load_detector(detector)
    model, weights_path = load_model(remover, weights)
    atomic_io.write_json(out / MANIFEST, {"split": str(path.resolve()), "method": tag})
    for sub in (out, out / "masks"):
        atomic_io.clean_temporaries(sub)
    writer, rows, batch = _SplitWriter(remover, model, out), [], []
    start = time.perf_counter()
    threshold = found.settings.erase_min_score if min_score is None else min_score
    for f, image, dets in detect_photos(found, files, threshold,
                                        progress and sys.stderr.isatty()):
        rows.extend(table_rows(f.name, dets))
        boxes = box_array(dets)
        if not len(boxes):
            atomic_io.write_image(out / f.name, image)
            atomic_io.write_image(out / "masks" / f.name, np.zeros(image.shape[:2], np.uint8))
            writer.images += 1
            continue
        batch.append(Parent(f.name, image, boxes, np.array([d.label for d in dets])))
        if len(batch) == IMAGES_PER_BATCH:
            writer.erase(batch)
            batch.clear()
    if batch:
        writer.erase(batch)
    detect_seconds = time.perf_counter() - start - writer.seconds
    atomic_io.write_text(out / BOXES_CSV, pd.DataFrame(rows, columns=COLUMNS).to_csv(index=False))
    timing = {"digits": int(writer.digits), "images": writer.images,
              "seconds": round(writer.seconds, 4), "detect_seconds": round(detect_seconds, 4),
              "method": remover.settings(), "detector": str(detector or "packaged"),
              "min_score": threshold, "weights": str(weights_path) if weights_path else None,
              "skipped": [], "index_skipped": []}
    atomic_io.write_json(out / "timing.json", timing)
    return timing
