"""Detection on photo files: the ``detect`` command's table and pictures, and boxes for erasing.

``photo_files`` expands files and folders into the photos to read; ``read_photos`` reads
them, reporting and skipping those that do not decode; ``detect_files`` runs a detector over
them (``BATCH`` photos at a time) and returns the table the ``detect``
command writes: the ``data index`` columns (``file, digit_index, label, left, top, width,
height``, boxes rounded to whole pixels) plus ``score`` and ``number``. ``draw`` paints a
photo's detections (box, digit, score) for ``--picture``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from svhn_erase.data.digitstruct.layout import INDEX_COLUMNS
from svhn_erase.data.split import Photo, read_or_skip
from svhn_erase.detection.detect import Detection, Detector
from svhn_erase.errors import SvhnEraseError
from svhn_erase.image_formats import HEIF_SUFFIXES

COLUMNS = [*INDEX_COLUMNS, "score", "number"]
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".avif",
                  *HEIF_SUFFIXES}
BATCH = 32


def _number_key(path: Path) -> tuple:
    """1.png, 2.png, ..., 10.png in numeric order; other names after, alphabetically."""
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.name)


def photo_files(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The photos named: files as given, folders as their image files (numeric order)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted((f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES
                            and f.is_file()), key=_number_key)
            if not found:
                kinds = ", ".join(sorted(IMAGE_SUFFIXES))
                raise SvhnEraseError(f"{p}: folder holds no images ({kinds})")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise SvhnEraseError(f"{p}: no such image file or folder")
    return out


def _names(files: Sequence[Path]) -> list[str]:
    """The ``file`` column: file names, or the paths as given where names repeat."""
    names = [f.name for f in files]
    return names if len(set(names)) == len(names) else [str(f) for f in files]


def read_photos(files: Sequence[Path], skipped: list[str] | None = None
                ) -> list[tuple[Path, Photo]]:
    """Each file with its pixels, colour profile and alpha (``split.read_or_skip``); a photo that
    does not decode is logged, added to ``skipped`` (one line naming the file and the
    problem) and left out."""
    read = [(f, read_or_skip(f, skipped)) for f in files]
    return [(f, photo) for f, photo in read if photo is not None]


def detect_photos(detector: Detector, files: Sequence[Path], min_score: float | None = None,
                  progress: bool = True, every_number: bool = False,
                  skipped: list[str] | None = None
                  ) -> Iterator[tuple[Path, np.ndarray, list[Detection]]]:
    """Each photo (read as RGB) with its detections (``Detector.detect``), read and
    detected ``BATCH`` at a time; photos that do not decode are skipped (``read_photos``)."""
    bar = tqdm(total=len(files), unit="photo", desc="detect", disable=not progress)
    for start in range(0, len(files), BATCH):
        batch = files[start:start + BATCH]
        chunk = read_photos(batch, skipped)
        images = [photo.pixels for _, photo in chunk]
        found = detector.detect(images, min_score, every_number) if images else []
        for (f, photo), dets in zip(chunk, found, strict=True):
            yield f, photo.pixels, dets
        bar.update(len(batch))
    bar.close()


def table_rows(name: str, dets: Sequence[Detection]) -> list[dict]:
    """One ``COLUMNS`` row per detection of a photo, in the order ``detect`` returned."""
    return [{"file": name, "digit_index": k, "label": d.label,
             "left": int(round(d.box.left)), "top": int(round(d.box.top)),
             "width": max(1, int(round(d.box.width))), "height": max(1, int(round(d.box.height))),
             "score": round(d.score, 4), "number": d.number} for k, d in enumerate(dets)]


def detect_files(detector: Detector, files: Sequence[Path], min_score: float | None = None,
                 picture: Path | None = None, progress: bool = True,
                 every_number: bool = False, skipped: list[str] | None = None) -> pd.DataFrame:
    """The detections of every photo as a ``COLUMNS`` table; with ``picture``, also
    ``picture/<name>.png`` showing them. Photos that do not decode are listed in ``skipped``
    and have no rows."""
    from svhn_erase import atomic_io

    rows: list[dict] = []
    names = dict(zip(files, _names(files), strict=True))
    for f, image, dets in detect_photos(detector, files, min_score, progress, every_number,
                                        skipped):
        rows.extend(table_rows(names[f], dets))
        if picture is not None:
            atomic_io.write_image(picture / f"{Path(names[f]).stem}.png", draw(image, dets))
    return pd.DataFrame(rows, columns=COLUMNS)


def draw(image: np.ndarray, dets: Sequence[Detection], scale: int | None = None,
         truth: np.ndarray | None = None) -> np.ndarray:
    """The photo (enlarged to about 160 px tall) with each detection's box and ``digit
    score`` drawn; true boxes (if given) in thin white underneath."""
    h = image.shape[0]
    k = scale or max(1, int(np.ceil(160 / h)))
    out = cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_NEAREST)
    for box in [] if truth is None else np.asarray(truth).reshape(-1, 4):
        x, y, w, bh = (int(round(v * k)) for v in box)
        cv2.rectangle(out, (x, y), (x + w, y + bh), (255, 255, 255), 1)
    colours = [(255, 60, 60), (60, 200, 255), (255, 200, 0), (200, 60, 255)]
    for d in dets:
        c = colours[d.number % len(colours)]
        b = d.box
        x0, y0 = int(round(b.left * k)), int(round(b.top * k))
        x1, y1 = int(round((b.left + b.width) * k)), int(round((b.top + b.height) * k))
        cv2.rectangle(out, (x0, y0), (x1, y1), c, 2)
        cv2.putText(out, f"{d.label} {d.score:.2f}", (x0, max(12, y0 - 3)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, c, 1, cv2.LINE_AA)
    return out


def detected_boxes(detector: Detector, image: np.ndarray, min_score: float | None = None
                   ) -> np.ndarray:
    """(k, 4) int boxes (left, top, width, height) to erase the digits found in one photo:
    each grown by the detector's ``erase_grow``; every number's (a missed digit stays readable)."""
    return box_array(detector.detect([image], min_score, every_number=True)[0],
                     detector.settings.erase_grow)


def box_array(dets: Sequence[Detection], grow: float = 0.0) -> np.ndarray:
    """(k, 4) int boxes (left, top, width, height; at least 1 x 1) of detections, each grown
    by ``grow`` times its width / height on every side."""
    b = np.array([[d.box.left, d.box.top, d.box.width, d.box.height] for d in dets],
                 float).reshape(-1, 4)
    b[:, :2] -= grow * b[:, 2:]
    b[:, 2:] *= 1 + 2 * grow
    return np.maximum(b.round(), [-np.inf, -np.inf, 1, 1]).astype(np.int64)
