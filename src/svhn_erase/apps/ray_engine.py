"""``erase --engine ray``: the local engine's ``erase`` run on a Ray cluster.

The driver checks the request exactly as the local engine does (split, output folder,
method, weights), writes the manifest and lists the images still to do: an image whose
output and mask both exist is done, so a stopped run that is started again resumes. Ray Data
reads those files (``read_binary_files``); ``map_batches`` hands them in batches to an actor
pool of ``workers`` ``EraseWorker`` actors, each holding the method and the classifier
(loaded once by the driver and shipped once through the object store, so only the driver
needs the weights file). A worker decodes its images as the local engine does, groups them
with ``erase.batches`` and erases and writes each group with ``erase.erase_batch``: the same
code as the local engine, hence the same bytes. It returns one row per image (the file, its
digits, its share of the erase seconds, or why it was skipped); the driver gathers the rows
into ``timing.json``.

Faults: an image that does not decode is reported and skipped as in the local engine. A
worker that dies is restarted by Ray and its batches are retried (Ray Data's actor pool
retries without limit); the retry writes only the files its first attempt left unwritten
(``keep_existing``) and every write is atomic, so no image is lost or written twice. The
temporary files of killed writers are removed at the end. Outputs go to ``--out``, which
every node must see (a shared filesystem) when the cluster has several.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from svhn_erase import atomic_io
from svhn_erase.apps import erase
from svhn_erase.data.split import Parent, index_skipped, load_table, read_rgb
from svhn_erase.data.split import split_dir as find_split
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.methods import RemovalMethod

log = logging.getLogger(__name__)

BOX_COLUMNS = ["left", "top", "width", "height"]


def import_ray() -> ModuleType:
    """The ``ray`` module, or a clear error naming the extra that installs it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the extra is ray[data])
    except ImportError as exc:
        raise SvhnEraseError("--engine ray needs Ray: pip install -e \".[ray]\" "
                             f"({exc})") from exc
    return ray


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


def decode(path: str, data: bytes) -> np.ndarray:
    """``read_rgb`` of an image's bytes: the same pixels and the same error messages as
    reading ``path``."""
    try:
        return read_rgb(_NamedBytes(data, path))
    except SvhnEraseError:
        raise
    except Exception as exc:  # a check that needs the file itself (the bomb check's header)
        if os.path.exists(path):
            return read_rgb(path)
        raise SvhnEraseError(f"{path}: image does not decode ({type(exc).__name__})") from exc


class EraseWorker:
    """One worker of the actor pool: the method and the classifier, loaded once, and the
    boxes of every image to do; called on batches of ``{"path", "bytes"}`` rows."""

    def __init__(self, method: RemovalMethod, model: ConvNet | None, out: str,
                 index: dict[str, tuple[str, np.ndarray, np.ndarray]]) -> None:
        self.method, self.out, self.index = method, Path(out), index
        # the pool reserves one CPU per worker: one thread each, so N workers use N cores
        # instead of every worker spreading over all of them (torch's and OpenCV's pools)
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        self.model = model.to(default_device()).eval() if model is not None else None
        self.ready = time.time()  # when this worker could start (its rows carry it)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        rows: dict[str, tuple[int, float, str]] = {}
        parents = []
        for path, data in zip(batch["path"], batch["bytes"], strict=True):
            file, boxes, labels = self.index[str(path)]
            try:
                image = decode(str(path), bytes(data))
            except SvhnEraseError as exc:
                rows[file] = (0, 0.0, str(exc))
                continue
            parents.append(Parent(file, image, boxes, labels))
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


@contextmanager
def ray_session(address: str | None = None, workers: int | None = None,
                **init_args: Any) -> Iterator[float]:
    """A Ray to run on: the one this process already joined, else the cluster at
    ``address``, else a new local Ray (stopped on exit). Yields the seconds it took to
    start or join (0 when already joined)."""
    ray = import_ray()
    if ray.is_initialized():
        yield 0.0
        return
    start = time.perf_counter()
    if address is None:
        init_args.setdefault("num_cpus", max(workers or 0, os.cpu_count() or 1))
    try:  # "local": a new Ray even when RAY_ADDRESS or a running 'ray start' names one
        ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
                 logging_level=logging.WARNING, **init_args)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        what = f"--address {address}: cannot join the Ray cluster" if address else \
            "cannot start a local Ray"
        raise SvhnEraseError(f"{what} ({exc})") from exc
    try:
        yield time.perf_counter() - start
    finally:
        ray.shutdown()


def pool_size(workers: int | None) -> int:
    """``workers``, or the cluster's CPUs; a clear error if the cluster has fewer CPUs than
    that (the pool would wait for them forever)."""
    ray = import_ray()
    cpus = int(ray.cluster_resources().get("CPU", 0))
    if workers is None:
        return max(1, cpus)
    if workers > cpus:
        raise SvhnEraseError(f"--workers {workers}: the Ray cluster has {cpus} CPU(s); give "
                             f"at most {cpus}")
    return workers


def _index(path: Path, table: Any, files: list[str]) -> dict[str, tuple[str, np.ndarray,
                                                                        np.ndarray]]:
    """Per image path Ray Data will report: its file name, boxes and labels (as
    ``iter_parents`` gives them)."""
    groups = table.groupby("file", sort=False)
    index = {}
    for file in files:
        rows = groups.get_group(file)
        index[str(path / file)] = (file, rows[BOX_COLUMNS].to_numpy().round().astype(int),
                                   rows["label"].to_numpy().astype(int))
    return index


def done(out: Path, file: str) -> bool:
    """Whether a stopped run already wrote ``file``'s output and mask (it is not redone)."""
    return (out / file).is_file() and (out / "masks" / file).is_file()


def run_pool(paths: list[str], worker: type, worker_args: dict, workers: int,
             batch_size: int, progress: bool) -> list[dict]:
    """The images at ``paths`` read by Ray Data and handed in batches to an actor pool of
    ``workers`` ``worker(**worker_args)``; the rows the workers return."""
    ray = import_ray()
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False  # the tqdm bar below shows the progress
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        # a block per batch, and at least two per worker: the pool shares out the work
        blocks = max(-(-len(paths) // batch_size), min(len(paths), 2 * workers))
        data = ray.data.read_binary_files(paths, include_paths=True, num_cpus=0,
                                          concurrency=workers, override_num_blocks=blocks)
        erased = data.map_batches(
            worker, batch_size=batch_size, batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers), num_cpus=1,
            fn_constructor_kwargs=worker_args)
        rows: list[dict] = []
        with tqdm(total=len(paths), unit="image", desc=f"erase on Ray ({workers} workers)",
                  disable=not progress or not sys.stderr.isatty()) as bar:
            for batch in erased.iter_batches(batch_size=None, batch_format="numpy"):
                got = [dict(zip(batch, values, strict=True))
                       for values in zip(*batch.values(), strict=True)]
                rows.extend(got)
                bar.update(len(got))
    finally:
        quiet.setLevel(level)
    return rows


def erase_split_ray(data: str | os.PathLike[str], split_name: str,
                    out: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None,
                    method: str = "default", limit: int | None = None,
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
    path, out = find_split(data, split_name).resolve(), Path(out)
    table = load_table(path)
    files = list(dict.fromkeys(table["file"]))
    erase.check_output_folder(out, path, method, files)
    model, weights_path = erase.load_model(remover, weights)
    files = files[:limit] if limit is not None else files
    with ray_session(address, workers) as startup:
        workers = pool_size(workers)
        atomic_io.write_json(out / erase.MANIFEST, {"split": str(path), "method": method})
        clean_outputs(out)
        todo = [f for f in files if not done(out, f)]
        start, started_at = time.perf_counter(), time.time()
        index = _index(path, table, todo)
        rows = run_pool(list(index), EraseWorker,
                        {"method": remover, "model": model.cpu() if model is not None else None,
                         "out": str(out), "index": index},
                        workers, batch_size, progress) if todo else []
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
