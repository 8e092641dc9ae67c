"""``erase --engine ray``: the local engine's ``erase`` run on a Ray cluster.

The driver checks the request exactly as the local engine does (split, output folder,
method, weights), writes the manifest and lists the images still to do: an image whose
output and mask both exist is done, so a stopped run that is started again resumes. It
puts the method, the classifier (loaded once by the driver, so only the driver needs the
weights file) and the ``BoxIndex`` of those images (their boxes as four flat arrays, built
in one vectorised pass) once in Ray's object store, and ``ray_pool.run_pool`` runs them:
Ray Data reads the files (``read_binary_files``) and ``map_batches`` hands them, a block at
a time, to an actor pool of ``workers`` ``EraseWorker`` actors. A worker maps the index from
the object store (no copy), looks up the boxes of each image in its block, decodes the
images as the local engine does, groups them with ``erase.batches`` and erases and writes
each group with ``erase.erase_batch``: the same code as the local engine, hence the same
bytes. It returns one row per image (the file, its digits, its share of the erase seconds,
or why it was skipped); the driver gathers the rows into ``timing.json``.

Faults: an image that does not decode is reported and skipped as in the local engine. A
worker that dies is restarted by Ray and its batches are retried (Ray Data's actor pool
retries without limit); the retry writes only the files its first attempt left unwritten
(``keep_existing``) and every write is atomic, so no image is lost or written twice. The
temporary files of killed writers are removed at the end. A ``SvhnEraseError`` in a worker
(an output it cannot write) stops the run with the local engine's one-line error. Outputs
go to ``--out``, which every node must see (a shared filesystem) when the cluster has
several.
"""

from __future__ import annotations

import io
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from svhn_erase import atomic_io
from svhn_erase.apps import erase
from svhn_erase.apps.ray_pool import fetch, pool_size, ray_session, run_pool, ship
from svhn_erase.data.split import Parent, Photo, index_skipped, load_table, read_photo
from svhn_erase.data.split import split_dir as find_split
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device
from svhn_erase.removal.methods import RemovalMethod, method_tag

log = logging.getLogger(__name__)

BOX_COLUMNS = ["left", "top", "width", "height"]


# --------------------------------------------------------------------------- the workers


class _NamedBytes(io.BytesIO):
    """The bytes Ray Data read for one image, named by its path: Pillow and the error
    messages see the path, as when the local engine opens the file itself."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(data)
        self.name = name

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return repr(self.name)


def decode(path: str, data: bytes) -> Photo:
    """``read_photo`` of an image's bytes (pixels, colour profile and alpha): the same
    photo and error messages as reading ``path``."""
    try:
        return read_photo(_NamedBytes(data, path))
    except SvhnEraseError:
        raise
    except Exception as exc:  # a check that needs the file itself (the bomb check's header)
        if os.path.exists(path):
            return read_photo(path)
        raise SvhnEraseError(f"{path}: image does not decode ({type(exc).__name__})") from exc


class EraseWorker:
    """One worker of the actor pool: the method and the classifier, loaded once, and the
    ``BoxIndex`` (from the object store); called on batches of ``{"path", "bytes"}`` rows."""

    def __init__(self, method: Any, model: Any, out: str, index: Any = None) -> None:
        """``method``, ``model`` and ``index`` (a ``BoxIndex``): each the object or a
        reference to it in the object store (``ship``)."""
        # what the driver shipped comes as references into the object store (its arrays are
        # mapped there, not copied)
        self.method, model, self.index = (fetch(x) for x in (method, model, index))
        self.out = Path(out)
        # the pool reserves one CPU per worker: one thread each, so N workers use N cores
        # instead of every worker spreading over all of them (torch's and OpenCV's pools)
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        self.model = model.to(default_device()).eval() if model is not None else None
        self.ready = time.time()  # when this worker could start (its rows carry it)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """``erase`` the batch; a ``SvhnEraseError`` keeps its message in ``message`` (Ray
        Data appends notes to the text of an exception it carries)."""
        try:
            return self.erase(batch)
        except SvhnEraseError as exc:
            exc.message = str(exc)  # type: ignore[attr-defined]
            raise

    def erase(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Decode, erase and write the batch's images; one row per image."""
        rows: dict[str, tuple[int, float, str]] = {}
        parents = []
        for path, data in zip(batch["path"], batch["bytes"], strict=True):
            file, boxes, labels = self.index.lookup(str(path))  # type: ignore[union-attr]
            try:
                image, profile, alpha = decode(str(path), bytes(data))
            except SvhnEraseError as exc:
                rows[file] = (0, 0.0, str(exc))
                continue
            parents.append(Parent(file, image, boxes, labels, profile, alpha))
        for group in erase.batches(parents):
            digits, seconds = erase.erase_batch(self.method, self.model, group, self.out,
                                                keep_existing=True)
            for parent, count in zip(group, digits, strict=True):
                rows[parent.file] = (count, seconds / len(group), "")
        files = list(rows)
        return {"file": np.array(files, dtype=object),
                "digits": np.array([rows[f][0] for f in files], np.int64),
                "seconds": np.array([rows[f][1] for f in files], np.float64),
                "skipped": np.array([rows[f][2] for f in files], dtype=object),
                "pid": np.full(len(files), os.getpid(), np.int64),
                "ready": np.full(len(files), self.ready, np.float64)}


# --------------------------------------------------------------------------- the driver


@dataclass(frozen=True)
class BoxIndex:
    """The boxes and labels of the images to do, as four flat arrays: image ``files[i]``
    (sorted) has the table rows ``offsets[i]:offsets[i + 1]``. Built once by the driver,
    vectorised, and put once in Ray's object store; a worker maps the arrays from it without
    a copy (``ray.get`` of numpy arrays is zero-copy) and looks each image up in its batch."""

    folder: str  # the split folder: Ray Data reports an image as FOLDER/FILE
    files: np.ndarray  # (n,) str, sorted
    offsets: np.ndarray  # (n + 1,) int64
    boxes: np.ndarray  # (d, 4) int: left, top, width, height (as iter_parents rounds them)
    labels: np.ndarray  # (d,) int

    @classmethod
    def build(cls, folder: Path, table: Any, files: Sequence[str]) -> BoxIndex:
        """The rows of ``table`` for ``files``, grouped by file (each file's rows in table
        order, as ``iter_parents`` gives them)."""
        rows = table[table["file"].isin(files)]
        names = rows["file"].to_numpy().astype(str)
        order = np.argsort(names, kind="stable")
        names = names[order]
        unique, starts = np.unique(names, return_index=True)
        return cls(str(folder), unique, np.append(starts, len(names)).astype(np.int64),
                   rows[BOX_COLUMNS].to_numpy()[order].round().astype(int),
                   rows["label"].to_numpy()[order].astype(int))

    def lookup(self, path: str) -> tuple[str, np.ndarray, np.ndarray]:
        """The file name, boxes and labels of the image at ``path``."""
        file = os.path.relpath(path, self.folder)
        i = int(np.searchsorted(self.files, file))
        if i == len(self.files) or self.files[i] != file:
            raise SvhnEraseError(f"{path}: not among the images this run was given")
        rows = slice(self.offsets[i], self.offsets[i + 1])
        return file, self.boxes[rows].copy(), self.labels[rows].copy()  # writable copies


def done(out: Path, file: str) -> bool:
    """Whether a stopped run already wrote ``file``'s output and mask (it is not redone)."""
    return (out / file).is_file() and erase.mask_path(out, file).is_file()


def erase_split_ray(data: str | os.PathLike[str], split_name: str,
                    out: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None,
                    method: str | RemovalMethod = "default", limit: int | None = None,
                    address: str | None = None, workers: int | None = None,
                    progress: bool = True, batch_size: int = erase.IMAGES_PER_BATCH) -> dict:
    """``erase.erase_split`` on Ray: the same outputs, manifest and refusals; returns the
    timing written to ``OUT/timing.json``, which adds ``engine``, ``workers``,
    ``startup_seconds`` (starting or joining Ray), ``wall_seconds`` (the run on Ray),
    ``pool_start_seconds`` (from the run's start until the first worker was ready: its part
    of ``wall_seconds``) and ``resumed`` (images whose outputs were already there, not erased
    again) to the local engine's keys. Its ``seconds`` sums the erase stage over all
    workers."""
    remover = erase.split_method(method, limit)
    tag = method_tag(remover)
    path, out = find_split(data, split_name).resolve(), Path(out)
    table = load_table(path)
    files = list(dict.fromkeys(table["file"]))
    erase.check_output_folder(out, path, tag, files)
    model, weights_path = erase.load_model(remover, weights)
    files = files[:limit] if limit is not None else files
    with ray_session(address, workers) as startup:
        workers = pool_size(workers)
        atomic_io.write_json(out / erase.MANIFEST, {"split": str(path), "method": tag})
        clean_outputs(out)
        todo = [f for f in files if not done(out, f)]
        start, started_at = time.perf_counter(), time.time()
        index = BoxIndex.build(path, table, todo)
        shipped = ship(method=remover, model=model.cpu() if model is not None else None,
                       index=index)
        rows = run_pool([str(path / f) for f in todo], EraseWorker,
                        {"out": str(out), **shipped}, workers, batch_size, progress) \
            if todo else []
        wall = time.perf_counter() - start
    clean_outputs(out)  # the temporaries of workers killed midway
    return _write_timing(out, rows, todo, table, remover, weights_path,
                         run_keys(workers, startup, wall, rows, started_at,
                                  len(files) - len(todo)))


def clean_outputs(out: Path) -> None:
    """Remove the temporary files left in ``out`` and ``out/masks`` (by a dead writer)."""
    for folder in (out, out / "masks"):
        atomic_io.clean_temporaries(folder)


def rows_by_file(out: Path, rows: list[dict], todo: list[str]) -> dict[str, dict]:
    """The pool's rows by file name, after checking that every file of ``todo`` came back
    exactly once."""
    by_file = {str(r["file"]): r for r in rows}
    if len(rows) != len(by_file) or set(by_file) != set(todo):
        raise SvhnEraseError(f"{out}: Ray returned {len(rows)} results for {len(todo)} "
                             "images; run the same command again to finish")
    return by_file


def run_keys(workers: int, startup: float, wall: float, rows: list[dict], started_at: float,
             resumed: int) -> dict:
    """What ``timing.json`` adds for a Ray run (see ``erase_split_ray``)."""
    pool_start = min((float(r["ready"]) for r in rows), default=started_at) - started_at
    return {"engine": "ray", "workers": workers, "startup_seconds": round(startup, 4),
            "wall_seconds": round(wall, 4), "pool_start_seconds": round(max(0.0, pool_start), 4),
            "resumed": resumed}


def _write_timing(out: Path, rows: list[dict], todo: list[str], table: Any,
                  remover: RemovalMethod, weights_path: Path | None, run: dict) -> dict:
    """Check that every image came back once, then write and return ``timing.json``."""
    by_file = rows_by_file(out, rows, todo)
    order = [by_file[f] for f in todo]
    skipped = [str(r["skipped"]) for r in order if r["skipped"]]
    for message in skipped:
        log.warning("skipped: %s", message)
    erased = [r for r in order if not r["skipped"]]
    timing = {"digits": int(sum(r["digits"] for r in erased)), "images": len(erased),
              "seconds": round(float(sum(r["seconds"] for r in erased)), 4),
              "method": remover.settings(),
              "weights": str(weights_path) if weights_path is not None else None,
              "skipped": skipped, "index_skipped": index_skipped(table), **run}
    atomic_io.write_json(out / "timing.json", timing)
    return timing
