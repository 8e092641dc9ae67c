"""The ``erase`` and ``erase-image`` commands: a removal method over a split, or one photo.

``erase_split`` writes ``OUT/N.png`` (the erased image), ``OUT/masks/N.png`` (255 where
pixels were replaced) and ``OUT/timing.json`` (digits, seconds of the erase stage alone,
the method's settings and the weights used). ``erase_image_file`` erases the boxes given
on the command line (``parse_box``) from one photo.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from svhn_erase.atomic_io import write_image, write_json
from svhn_erase.boxes import Box, clip_boxes
from svhn_erase.data.split import Parent, iter_parents, load_table, read_rgb, split_dir
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal.methods import Erased, RemovalMethod, Scene, create

IMAGES_PER_BATCH = 64  # the methods batch across the images of one call


def load_model(method: RemovalMethod, weights: str | os.PathLike[str] | None
               ) -> tuple[ConvNet | None, Path | None]:
    """The classifier and its path when ``method`` uses one, else ``(None, None)``."""
    if not method.uses_classifier:
        return None, None
    path = resolve_weights(weights)
    return load_classifier(path, device=default_device()), path


def _inside(parent: Parent) -> int:
    """How many of a parent's boxes have pixels inside the image."""
    return sum(r is not None for r in clip_boxes(parent.boxes, parent.image.shape))


class _SplitWriter:
    """Erases a split batch by batch, writes each result and counts digits and seconds."""

    def __init__(self, method: RemovalMethod, model: ConvNet | None, out: Path) -> None:
        self.method, self.model, self.out = method, model, out
        self.digits, self.seconds = 0, 0.0

    def erase(self, batch: list[Parent]) -> None:
        scenes = [Scene(p.image, p.boxes) for p in batch]
        start = time.perf_counter()
        results = self.method.erase(scenes, self.model)
        self.seconds += time.perf_counter() - start
        for parent, result in zip(batch, results, strict=True):
            self.digits += _inside(parent)
            write_image(self.out / parent.file, result.image)
            write_image(self.out / "masks" / parent.file, result.replaced.astype(np.uint8) * 255)


def erase_split(data: str | os.PathLike[str], split_name: str, out: str | os.PathLike[str],
                weights: str | os.PathLike[str] | None = None, method: str = "default",
                limit: int | None = None, progress: bool = True) -> dict:
    """Erase every digit of a split with the method called ``method``; returns the timing
    written to ``OUT/timing.json``.

    The timing covers the erase stage alone (classifier, key pixels, infill, paste), not
    reading or writing files.
    """
    remover = create(method)
    if remover.needs_truth:
        raise SvhnEraseError(f"the {method} method needs ground truth; run it through "
                             "'svhn-erase bench'")
    path = split_dir(data, split_name)
    model, weights_path = load_model(remover, weights)
    table = load_table(path)
    n_files = len(dict.fromkeys(table["file"]))
    writer = _SplitWriter(remover, model, Path(out))
    bar = tqdm(total=n_files if limit is None else min(limit, n_files), unit="image",
               desc=f"erase ({method})", disable=not progress or not sys.stderr.isatty())
    batch: list[Parent] = []
    for parent in iter_parents(path, table, limit):
        batch.append(parent)
        if len(batch) == IMAGES_PER_BATCH:
            writer.erase(batch)
            bar.update(len(batch))
            batch.clear()
    if batch:
        writer.erase(batch)
        bar.update(len(batch))
    bar.close()
    timing = {"digits": int(writer.digits), "seconds": round(writer.seconds, 4),
              "method": remover.settings(),
              "weights": str(weights_path) if weights_path is not None else None}
    write_json(Path(out) / "timing.json", timing)
    return timing


def parse_box(text: str) -> np.ndarray:
    """``LEFT,TOP,WIDTH,HEIGHT`` as an int array; a clear error if malformed."""
    parts = text.split(",")
    try:
        values = [int(round(float(p))) for p in parts]
    except ValueError:
        values = []
    if len(parts) != 4 or len(values) != 4:
        raise SvhnEraseError(f"box {text!r}: expected LEFT,TOP,WIDTH,HEIGHT (four numbers)")
    if values[2] <= 0 or values[3] <= 0:
        raise SvhnEraseError(f"box {text!r}: width and height must be positive")
    return np.array(values, int)


def erase_image_file(image: str | os.PathLike[str], boxes: list[np.ndarray],
                     out: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None,
                     method: str = "default") -> Erased:
    """Erase the given boxes from one photo and write the result to ``out``."""
    if not boxes:
        raise SvhnEraseError("give at least one --box LEFT,TOP,WIDTH,HEIGHT")
    remover = create(method)
    if remover.needs_truth:
        raise SvhnEraseError(f"the {method} method needs ground truth; it cannot erase a photo")
    rgb = read_rgb(image)
    h, w = rgb.shape[:2]
    for box in boxes:
        if Box.of(box).clip(rgb.shape) is None:
            left, top, bw, bh = (int(v) for v in box)
            raise SvhnEraseError(f"{image}: box {left},{top},{bw},{bh} lies outside the "
                                 f"{w}x{h} image")
    model, _ = load_model(remover, weights)
    result = remover.erase([Scene(rgb, np.stack(boxes))], model)[0]
    write_image(out, result.image)
    return result
