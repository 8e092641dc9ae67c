"""The ``erase`` and ``erase-image`` commands: a removal method over a split, or one photo.

``erase_split`` writes ``OUT/N.png`` (the erased image), ``OUT/masks/N.png`` (255 where
pixels were replaced), ``OUT/timing.json`` (digits, images, seconds of the erase stage alone,
the images skipped, the method's settings and the weights used) and ``OUT/manifest.json``
(the split and method the folder belongs to). ``erase_image_file`` erases the boxes given on
the command line (``parse_box``) from one photo.

Safety: nothing is written before the request is checked; an output folder equal to or
inside the input split, or holding another split's (or method's) erasure, or images no erase
run wrote, is refused, and so is an output file that is the input photo. Memory: a batch
ends at ``IMAGES_PER_BATCH`` images or ``PIXELS_PER_BATCH`` pixels, and a box of more than
``MAX_BOX_PIXELS`` pixels is erased on a reduced copy of its photo (``erase_scenes``), so
memory follows the boxes, not the photos.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from svhn_erase import atomic_io
from svhn_erase.boxes import Box, clip_boxes
from svhn_erase.data.split import (
    Parent,
    Photo,
    index_skipped,
    iter_parents,
    load_table,
    read_photo,
)
from svhn_erase.data.split import split_dir as find_split
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal.methods import Erased, RemovalMethod, Scene, method_tag, resolve

log = logging.getLogger(__name__)

IMAGES_PER_BATCH = 64  # the methods batch across the images of one call ...
PIXELS_PER_BATCH = 16_000_000  # ... until the batch's images hold this many pixels
MAX_BOX_PIXELS = 1_000_000  # a bigger box is erased at a reduced scale
MAX_BOX_VALUE = 10**9  # the largest box coordinate or size a user may give
MANIFEST = "manifest.json"


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


# --------------------------------------------------------------------------- big boxes


def _box_scale(scene: Scene, max_box_pixels: int) -> float:
    """1, or the factor that brings the scene's largest (clipped) box to ``max_box_pixels``."""
    areas = [r.height * r.width for r in clip_boxes(scene.boxes, scene.image.shape) if r]
    biggest = max(areas, default=0)
    return 1.0 if biggest <= max_box_pixels else math.sqrt(max_box_pixels / biggest)


def _erase_reduced(method: RemovalMethod, scene: Scene, model: ConvNet | None,
                   scale: float) -> Erased:
    """Erase ``scene`` on a copy reduced by ``scale`` and put the replaced pixels, scaled
    back up, into the full-size photo (the per-box masks are left out)."""
    h, w = scene.image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = cv2.resize(scene.image, size, interpolation=cv2.INTER_AREA)
    factors = np.array([size[0] / w, size[1] / h, size[0] / w, size[1] / h])
    boxes = np.asarray(scene.boxes, float).reshape(-1, 4) * factors
    result = method.erase([Scene(small, boxes)], model)[0]
    up = cv2.resize(result.image, (w, h), interpolation=cv2.INTER_LINEAR)
    replaced = cv2.resize(result.replaced.astype(np.uint8), (w, h),
                          interpolation=cv2.INTER_NEAREST).astype(bool)
    mask = cv2.resize(result.mask.astype(np.uint8), (w, h),
                      interpolation=cv2.INTER_NEAREST).astype(bool)
    image = scene.image.copy()
    image[replaced] = up[replaced]
    return Erased(image, replaced, mask, preds=result.preds)


def erase_scenes(method: RemovalMethod, scenes: Sequence[Scene], model: ConvNet | None,
                 max_box_pixels: int = MAX_BOX_PIXELS) -> list[Erased]:
    """``method.erase`` on the scenes, except that a scene with a box of more than
    ``max_box_pixels`` pixels is erased at the scale that brings that box to the limit."""
    scales = [_box_scale(s, max_box_pixels) for s in scenes]
    plain = [i for i, s in enumerate(scales) if s == 1.0]
    results: list[Erased | None] = [None] * len(scenes)
    if plain:
        for i, result in zip(plain, method.erase([scenes[i] for i in plain], model),
                             strict=True):
            results[i] = result
    for i, scale in enumerate(scales):
        if scale < 1.0:
            log.info("a box of %.1f megapixels is over the limit of %g per box: erased at "
                     "%.0f %% scale", max_box_pixels / scale**2 / 1e6, max_box_pixels / 1e6,
                     100 * scale)
            results[i] = _erase_reduced(method, scenes[i], model, scale)
    return results  # type: ignore[return-value]


# --------------------------------------------------------------------------- a split


def check_output_folder(out: Path, split: Path, method: str, files: Sequence[str]) -> None:
    """Refuse an output folder that would overwrite the split or mix two erasures: one equal
    to or inside the split, one whose manifest names another split or method, or one that
    already holds an output's name without a manifest (images no erase run wrote)."""
    out_abs, split_abs = out.resolve(), split.resolve()
    if out_abs == split_abs or split_abs in out_abs.parents:
        raise SvhnEraseError(f"{out}: is the input split {split} or inside it; erasing into it "
                             "would overwrite the photos; give another --out")
    if out.exists() and not out.is_dir():
        raise SvhnEraseError(f"{out}: is a file; --out must be a folder")
    manifest = out / MANIFEST
    if manifest.exists():
        try:
            saved = json.loads(manifest.read_text())
            held = (saved["split"], saved["method"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SvhnEraseError(f"{manifest}: unreadable ({exc}); remove it or give another "
                                 "--out") from exc
        if held != (str(split_abs), method):
            raise SvhnEraseError(f"{out}: holds the {held[1]} erasure of {held[0]}; give "
                                 f"another --out for the {method} erasure of {split_abs}")
    elif out.is_dir() and any((out / f).exists() or mask_path(out, f).exists()
                              for f in files):
        raise SvhnEraseError(f"{out}: already holds images that no erase run wrote (no "
                             f"{MANIFEST}); give a new or empty --out")


def mask_path(out: Path, file: str) -> Path:
    """Where the mask of ``OUT/file`` goes: ``OUT/masks/file``, always a lossless PNG
    (``N.png`` keeps its name, ``photo.jpg``'s mask is ``masks/photo.jpg.png``)."""
    return out / "masks" / (file if file.lower().endswith(".png") else f"{file}.png")


def batches(parents: Iterable[Parent]) -> Iterator[list[Parent]]:
    """The parents in the batches the methods take: a batch ends at ``IMAGES_PER_BATCH``
    images or ``PIXELS_PER_BATCH`` pixels."""
    batch: list[Parent] = []
    for parent in parents:
        batch.append(parent)
        if (len(batch) == IMAGES_PER_BATCH
                or sum(p.image.shape[0] * p.image.shape[1] for p in batch) >= PIXELS_PER_BATCH):
            yield batch
            batch = []
    if batch:
        yield batch


def erase_batch(method: RemovalMethod, model: ConvNet | None, batch: Sequence[Parent],
                out: Path, keep_existing: bool = False) -> tuple[list[int], float]:
    """Erase one batch and write each ``OUT/FILE`` and its mask (``mask_path``) atomically; returns
    the digits erased per image and the seconds of the erase stage. Every engine (this one,
    ``ray_engine``) erases through here, so they write the same bytes. With ``keep_existing``
    an output file already there is not written again (a retried batch writes only what its
    first attempt left undone)."""
    scenes = [Scene(p.image, p.boxes) for p in batch]
    start = time.perf_counter()
    results = erase_scenes(method, scenes, model)
    seconds = time.perf_counter() - start
    for parent, result in zip(batch, results, strict=True):
        write_outputs(out, parent, result.image, result.replaced, keep_existing)
    return [_inside(p) for p in batch], seconds


def write_outputs(out: Path, parent: Parent, image: np.ndarray, replaced: np.ndarray,
                  keep_existing: bool = False) -> None:
    """``OUT/FILE`` (``image`` with the photo's colour profile and alpha) and its mask
    (``mask_path``: 255 where ``replaced``), atomically; with ``keep_existing`` a file
    already there is not written again."""
    target, mask = out / parent.file, mask_path(out, parent.file)
    if not (keep_existing and target.exists()):
        atomic_io.write_image(target, image, icc_profile=parent.profile, alpha=parent.alpha)
    if not (keep_existing and mask.exists()):
        atomic_io.write_image(mask, replaced.astype(np.uint8) * 255)


def split_method(method: str | RemovalMethod, limit: int | None) -> RemovalMethod:
    """The removal method ``method`` (a name, or a method with its settings), for erasing a
    split: refused if it needs ground truth, or if ``limit`` is below 1."""
    if limit is not None and limit < 1:
        raise SvhnEraseError(f"--limit must be at least 1, not {limit}")
    remover = resolve(method)
    if remover.needs_truth:
        raise SvhnEraseError(f"the {remover.name} method needs ground truth; run it through "
                             "'svhn-erase bench'")
    return remover


class _SplitWriter:
    """Erases a split batch by batch, writes each result and counts digits and seconds."""

    def __init__(self, method: RemovalMethod, model: ConvNet | None, out: Path) -> None:
        self.method, self.model, self.out = method, model, out
        self.digits, self.images, self.seconds = 0, 0, 0.0

    def erase(self, batch: list[Parent]) -> None:
        digits, seconds = erase_batch(self.method, self.model, batch, self.out)
        self.digits += sum(digits)
        self.images += len(batch)
        self.seconds += seconds


def _digit_bar(method: RemovalMethod, bar: tqdm) -> tqdm | None:
    """A second bar counting digits for a method that ``counts_digits`` (``seed``: its
    batches of real photos take minutes), fed by its ``progress`` hook; None for the other
    methods or with no bar."""
    if not method.counts_digits or bar.disable:
        return None
    digit_bar = tqdm(unit="digit", desc=f"{method.name} GRNNs trained", position=1,
                     leave=False)
    method.progress = digit_bar.update
    return digit_bar


def erase_split(data: str | os.PathLike[str], split_name: str, out: str | os.PathLike[str],
                weights: str | os.PathLike[str] | None = None,
                method: str | RemovalMethod = "default", limit: int | None = None,
                progress: bool = True) -> dict:
    """Erase every digit of a split with ``method`` (a name, or a method with its settings);
    returns the timing written to ``OUT/timing.json``.

    The timing covers the erase stage alone (classifier, key pixels, infill, paste), not
    reading or writing files. Images that do not decode are reported, listed under
    ``skipped`` and left out; ``index_skipped`` lists those the index left out.
    """
    remover = split_method(method, limit)
    tag = method_tag(remover)
    path, out = find_split(data, split_name), Path(out)
    table = load_table(path)
    files = list(dict.fromkeys(table["file"]))
    check_output_folder(out, path, tag, files)
    model, weights_path = load_model(remover, weights)
    atomic_io.write_json(out / MANIFEST, {"split": str(path.resolve()), "method": tag})
    for folder in (out, out / "masks"):
        atomic_io.clean_temporaries(folder)
    writer, skipped = _SplitWriter(remover, model, out), []
    bar = tqdm(total=len(files) if limit is None else min(limit, len(files)), unit="image",
               desc=f"erase ({remover.name})", disable=not progress or not sys.stderr.isatty())
    digit_bar = _digit_bar(remover, bar)
    try:
        for batch in batches(iter_parents(path, table, limit, skipped=skipped)):
            writer.erase(batch)
            bar.update(len(batch))
    finally:
        if digit_bar is not None:
            remover.progress = None
            digit_bar.close()
        bar.close()
    timing = {"digits": int(writer.digits), "images": writer.images,
              "seconds": round(writer.seconds, 4), "method": remover.settings(),
              "weights": str(weights_path) if weights_path is not None else None,
              "skipped": skipped, "index_skipped": index_skipped(table)}
    atomic_io.write_json(out / "timing.json", timing)
    return timing


# --------------------------------------------------------------------------- one photo


def parse_box(text: str) -> np.ndarray:
    """``LEFT,TOP,WIDTH,HEIGHT`` as an int array; a clear error if malformed."""
    parts = text.split(",")
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(parts) != 4 or len(values) != 4:
        raise SvhnEraseError(f"box {text!r}: expected LEFT,TOP,WIDTH,HEIGHT (four numbers)")
    if not all(math.isfinite(v) and abs(v) <= MAX_BOX_VALUE for v in values):
        raise SvhnEraseError(f"box {text!r}: each value must be a finite number of at most "
                             f"{MAX_BOX_VALUE:,} in size")
    ints = [int(round(v)) for v in values]
    if ints[2] <= 0 or ints[3] <= 0:
        raise SvhnEraseError(f"box {text!r}: width and height must be positive")
    return np.array(ints, np.int64)


def check_output_image(out: Path, image: Path) -> None:
    """Refuse an output that is a folder, has no image extension, or is the input photo."""
    atomic_io.check_writable(out)
    atomic_io.image_format(out)
    if out.resolve() == image.resolve() or (out.exists() and os.path.samefile(out, image)):
        raise SvhnEraseError(f"{out}: is the input photo; erasing into it would overwrite it; "
                             "give another --out")


def erase_image_file(image: str | os.PathLike[str], boxes: list[np.ndarray],
                     out: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None,
                     method: str | RemovalMethod = "default",
                     photo: Photo | None = None) -> Erased:
    """Erase the given boxes from one photo with ``method`` (a name, or a method with its
    settings) and write the result to ``out`` with the photo's colour profile and alpha
    channel; ``photo``: the file as already read (``read_photo``), if it was."""
    if not boxes:
        raise SvhnEraseError("give at least one --box LEFT,TOP,WIDTH,HEIGHT")
    remover = resolve(method)
    if remover.needs_truth:
        raise SvhnEraseError(f"the {remover.name} method needs ground truth; it cannot erase "
                             "a photo")
    check_output_image(Path(out), Path(image))
    rgb, profile, alpha = read_photo(image) if photo is None else photo
    h, w = rgb.shape[:2]
    for box in boxes:
        if Box.of(box).clip(rgb.shape) is None:
            left, top, bw, bh = (int(v) for v in box)
            raise SvhnEraseError(f"{image}: box {left},{top},{bw},{bh} lies outside the "
                                 f"{w}x{h} image")
    model, _ = load_model(remover, weights)
    result = erase_scenes(remover, [Scene(rgb, np.stack(boxes))], model)[0]
    atomic_io.write_image(out, result.image, icc_profile=profile, alpha=alpha)
    return result
