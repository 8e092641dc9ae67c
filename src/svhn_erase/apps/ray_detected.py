"""``erase --detect --engine ray``: ``erase --detect`` (``apps.erase_detected``) on a Ray cluster.

The driver checks the request and loads the detector and the classifier as the local
engine does (``erase_detected.prepare``), then ships both once to an actor pool of
``DetectEraseWorker`` actors (``ray_pool.run_pool``: Ray Data reads the photos). Each
worker decodes its batch's photos and calls ``erase_detected.detect_and_erase``, the
function the local engine calls, so the images and masks are the same bytes; it returns
each photo's ``boxes.csv`` rows, and the driver writes ``OUT/boxes.csv`` in the folder's
order, as the local engine does.

Resume: a photo whose output and mask both exist is not erased again; the driver detects
it again (detection alone, one photo at a time as the workers do, hence the same boxes) so
that ``boxes.csv`` lists every photo. A photo that does not decode is reported and skipped,
listed in ``timing.json`` with the local engine's message. Faults as in ``ray_engine``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from svhn_erase.apps import erase_detected, ray_engine, ray_pool
from svhn_erase.apps.erase import IMAGES_PER_BATCH
from svhn_erase.detection.detect import Detector
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device
from svhn_erase.removal.methods import RemovalMethod

log = logging.getLogger(__name__)


class DetectEraseWorker(ray_engine.EraseWorker):
    """One worker: the method, the classifier and the detector, loaded once; called on
    batches of ``{"path", "bytes"}`` rows, it detects and erases each photo."""

    def __init__(self, method: Any, model: Any, out: str, detector: Any,
                 threshold: float) -> None:
        """As ``EraseWorker``'s; ``detector`` the ``Detector`` or its ``ship`` reference."""
        super().__init__(method, model, out)
        detector = ray_pool.fetch(detector)
        self.detector = Detector(detector.net, detector.settings, default_device())
        self.threshold = threshold

    def erase(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Decode, detect, erase and write the batch's photos; one row per photo."""
        start = time.perf_counter()
        photos, failed = [], {}
        for path, data in zip(batch["path"], batch["bytes"], strict=True):
            name = Path(str(path)).name
            try:
                photos.append((name, ray_engine.decode(str(path), bytes(data))))
            except SvhnEraseError as exc:
                failed[name] = str(exc)
        rows, digits, seconds = erase_detected.detect_and_erase(
            self.detector, self.method, self.model, photos, self.out, self.threshold,
            keep_existing=True)
        share = (time.perf_counter() - start) / max(1, len(photos))
        names = [name for name, _ in photos] + list(failed)
        n, m = len(photos), len(failed)
        return {"file": np.array(names, dtype=object),
                "digits": np.array(digits + [0] * m, np.int64),
                "seconds": np.array([seconds / max(1, n)] * n + [0.0] * m, np.float64),
                "busy": np.array([share] * n + [0.0] * m, np.float64),
                "boxes": np.array([json.dumps(r) for r in rows] + ["[]"] * m, dtype=object),
                "skipped": np.array([""] * n + list(failed.values()), dtype=object),
                "pid": np.full(n + m, os.getpid(), np.int64),
                "ready": np.full(n + m, self.ready, np.float64)}


def erase_folder_detected_ray(folder: str | os.PathLike[str], out: str | os.PathLike[str],
                              weights: str | os.PathLike[str] | None = None,
                              method: str | RemovalMethod = "default",
                              limit: int | None = None,
                              detector: str | os.PathLike[str] | None = None,
                              min_score: float | None = None, address: str | None = None,
                              workers: int | None = None, progress: bool = True,
                              batch_size: int = IMAGES_PER_BATCH) -> dict:
    """``erase_detected.erase_folder_detected`` on Ray: the same outputs (images, masks,
    ``boxes.csv``), manifest and refusals; returns the timing written to
    ``OUT/timing.json``, with ``ray_engine``'s keys added (``engine``, ``workers``,
    ``startup_seconds``, ``wall_seconds``, ``pool_start_seconds``, ``resumed``).
    ``seconds`` and ``detect_seconds`` sum over the workers and cover this run's photos."""
    r = erase_detected.prepare(folder, out, weights, method, limit, detector, min_score)
    with ray_pool.ray_session(address, workers) as startup:
        workers = ray_pool.pool_size(workers)
        erase_detected.start_output(r)
        todo = [f for f in r.files if not ray_engine.done(r.out, f.name)]
        boxes = {f.name: erase_detected.photo_rows(r.detector, f, r.threshold)
                 for f in r.files if f not in todo}  # resumed: detected again for the CSV
        start, started_at = time.perf_counter(), time.time()
        shipped = Detector(r.detector.net.cpu(), r.detector.settings, "cpu")
        rows = ray_pool.run_pool(
            [str(f) for f in todo], DetectEraseWorker,
            {"out": str(r.out), "threshold": r.threshold, **ray_pool.ship(
                method=r.method, model=r.model.cpu() if r.model is not None else None,
                detector=shipped)}, workers, batch_size, progress) if todo else []
        wall = time.perf_counter() - start
    ray_engine.clean_outputs(r.out)  # the temporaries of workers killed midway
    by_file = ray_engine.rows_by_file(r.out, rows, [f.name for f in todo])
    failed = {name: str(by_file[name]["skipped"]) for name in (f.name for f in todo)
              if by_file[name]["skipped"]}  # in the folder's order, as the local engine
    for message in failed.values():
        log.warning("skipped: %s", message)
    boxes.update((name, json.loads(str(row["boxes"]))) for name, row in by_file.items()
                 if name not in failed)
    erase_detected.write_boxes(r.out, [boxes[f.name] for f in r.files if f.name not in failed])
    return erase_detected.write_timing(
        r, {"digits": int(sum(row["digits"] for row in rows)),
            "images": len(rows) - len(failed),
            "seconds": round(float(sum(row["seconds"] for row in rows)), 4),
            "detect_seconds": round(float(sum(row["busy"] - row["seconds"] for row in rows)),
                                    4)},
        skipped=list(failed.values()),
        **ray_engine.run_keys(workers, startup, wall, rows, started_at,
                              len(r.files) - len(todo)))
