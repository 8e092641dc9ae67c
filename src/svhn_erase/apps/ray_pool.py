"""The actor pool on Ray that both Ray drivers (``ray_engine``: ``erase``; ``ray_detected``:
``erase --detect``) run: a Ray to run on (``ray_session``), what the driver ships to the workers
through the object store (``ship``, ``fetch``), and ``run_pool``: Ray Data reads the files
(``read_binary_files``) and ``map_batches`` hands them, a block at a time, to a fixed pool
of actors. An error a worker raises for a user's mistake (``SvhnEraseError``) reaches the
driver as that one-line error; Ray imports only when a Ray engine runs.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

from tqdm import tqdm

from svhn_erase.errors import SvhnEraseError


def import_ray() -> ModuleType:
    """The ``ray`` module, or a clear error naming the extra that installs it."""
    try:
        import ray
        import ray.data  # noqa: F401  (the extra is ray[data])
    except ImportError as exc:
        raise SvhnEraseError("--engine ray needs Ray: pip install -e \".[ray]\" "
                             f"({exc})") from exc
    return ray


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


def ship(**objects: Any) -> dict[str, Any]:
    """Each object put once in Ray's object store (None stays None): the references go to
    the workers instead of the objects, which each worker's node then fetches once."""
    ray = import_ray()
    return {k: ray.put(v) if v is not None else None for k, v in objects.items()}


def fetch(shipped: Any) -> Any:
    """The object a ``ship`` reference points to (anything else as it is)."""
    ray = import_ray()
    return ray.get(shipped) if isinstance(shipped, ray.ObjectRef) else shipped


@contextmanager
def _quiet_data_context() -> Iterator[Any]:
    """Ray Data's context for one run, restored after it: no progress bars of its own (the
    tqdm bar shows the progress), a worker's exception raised as itself (not wrapped in
    Ray Data's ``UserCodeException``, which keeps only its text) and no error log of its own
    (the driver reports the error)."""
    ray = import_ray()
    context = ray.data.DataContext.get_current()
    saved = (context.enable_progress_bars, context.raise_original_map_exception)
    context.enable_progress_bars, context.raise_original_map_exception = False, True
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        yield ray
    finally:
        quiet.setLevel(level)
        context.enable_progress_bars, context.raise_original_map_exception = saved


def _remember_missing_http_filesystem() -> None:
    """Ray Data (2.60) tries ``from fsspec.implementations.http import HTTPFileSystem`` for
    every path it is given; where that import fails (fsspec without aiohttp) it fails anew
    each time, as Python does not remember a failed import: about a millisecond a path, 5 s
    for 12,000 paths on a loaded machine. Try it once here, and if it fails mark it missing,
    so that each later try fails at once, as it would have anyway."""
    name = "fsspec.implementations.http"
    if name not in sys.modules:
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = None  # type: ignore[assignment]


def worker_error(exc: BaseException) -> SvhnEraseError | None:
    """The ``SvhnEraseError`` a worker raised (a user's mistake, e.g. an output folder it
    cannot write), found under the Ray exceptions that carry it to the driver; None if the
    worker failed otherwise (a bug: its traceback is kept)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if type(exc) is SvhnEraseError:
            return SvhnEraseError(getattr(exc, "message", str(exc)))
        exc = getattr(exc, "cause", None) or exc.__cause__  # type: ignore[assignment]
    return None


def run_pool(paths: list[str], worker: type, worker_args: dict, workers: int,
             batch_size: int, progress: bool) -> list[dict]:
    """The images at ``paths`` read by Ray Data and handed in batches of at most
    ``batch_size`` to an actor pool of ``workers`` ``worker(**worker_args)``; the rows the
    workers return. A ``SvhnEraseError`` raised in a worker stops the run and reaches the
    caller as itself, the one line the local engine would give."""
    rows: list[dict] = []
    with _quiet_data_context() as ray, \
            tqdm(total=len(paths), unit="image", desc=f"erase on Ray ({workers} workers)",
                 disable=not progress or not sys.stderr.isatty()) as bar:
        _remember_missing_http_filesystem()
        # one block per call of a worker (at most batch_size images), two per worker at least
        blocks = max(-(-len(paths) // batch_size), min(len(paths), 2 * workers))
        data = ray.data.read_binary_files(paths, include_paths=True, num_cpus=0,
                                          concurrency=workers, override_num_blocks=blocks)
        erased = data.map_batches(worker, batch_size=None, batch_format="numpy",
                                  compute=ray.data.ActorPoolStrategy(size=workers),
                                  num_cpus=1, fn_constructor_kwargs=worker_args)
        try:
            for batch in erased.iter_batches(batch_size=None, batch_format="numpy"):
                got = [dict(zip(batch, values, strict=True))
                       for values in zip(*batch.values(), strict=True)]
                rows.extend(got)
                bar.update(len(got))
        except Exception as exc:
            error = worker_error(exc)
            if error is None:
                raise
            raise error from None
    return rows
