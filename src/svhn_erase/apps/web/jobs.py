"""Batch jobs: several photos (or a zip) erased one by one into a zip, with progress.

``Jobs.start`` checks nothing itself (``validation.expand_batch`` did) and returns at once;
one worker thread erases the batches in the order they came, photo by photo, through the
same ``Service.erase`` as the page. A photo that fails (damaged, a box outside it, no boxes
and no detector) is listed in the job's errors and in ``report.json`` inside the zip, and
the batch goes on. The zip (``NAME.png`` erased, ``masks/NAME.png`` the digit mask found,
``report.json``) is written atomically to ``WORKDIR/jobs/ID.zip``; only the newest
``keep`` jobs are kept.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from svhn_erase import atomic_io
from svhn_erase.apps.web.service import Service, image_bytes
from svhn_erase.apps.web.validation import (
    RequestError,
    Upload,
    check_boxes,
    decode_photo,
    output_name,
)
from svhn_erase.errors import SvhnEraseError

log = logging.getLogger(__name__)


@dataclass
class Job:
    """One batch: how far it is, what failed, and where its zip is once done."""

    id: str
    total: int
    method: str
    done: int = 0
    state: str = "queued"  # queued, running, done, failed
    errors: list[str] = field(default_factory=list)
    zip_path: Path | None = None

    def status(self) -> dict:
        return {"id": self.id, "total": self.total, "done": self.done, "state": self.state,
                "method": self.method, "errors": list(self.errors),
                "download": f"/api/jobs/{self.id}/zip" if self.state == "done" else None}


class Jobs:
    """The batch jobs of one server, run one at a time in a worker thread."""

    def __init__(self, service: Service, folder: Path, keep: int = 20) -> None:
        self.service, self.folder, self.keep = service, folder, keep
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="svhn-erase-batch")

    def start(self, photos: list[Upload], box_map: dict, method: str) -> Job:
        job = Job(secrets.token_hex(8), len(photos), method)
        with self._lock:
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._run, job, photos, box_map)
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise RequestError(404, f"no batch job {job_id!r} (finished jobs are kept until "
                               f"{self.keep} newer ones)")
        return job

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.state in ("done", "failed")]
        for job in finished[:max(0, len(self._jobs) - self.keep)]:
            del self._jobs[job.id]
            if job.zip_path is not None:
                job.zip_path.unlink(missing_ok=True)

    def _boxes(self, photo: Upload, image: np.ndarray, box_map: dict) -> np.ndarray:
        given = box_map.get(Path(photo.name).name)
        if given is not None:
            return check_boxes(given, image, self.service.settings, photo.name)
        boxes = self.service.detect_boxes(image)
        if not len(boxes):
            raise RequestError(422, f"{photo.name}: the detector found no digits")
        return boxes

    def _erase_one(self, archive: zipfile.ZipFile, photo: Upload, box_map: dict,
                   method: str, taken: set[str]) -> dict:
        image, profile, alpha = decode_photo(photo, self.service.settings)
        boxes = self._boxes(photo, image, box_map)
        result, seconds = self.service.erase(image, boxes, method)
        name = output_name(photo.name, taken)
        archive.writestr(name, image_bytes(result.image, profile, alpha=alpha))
        archive.writestr(f"masks/{name}", image_bytes(result.mask.astype(np.uint8) * 255))
        return {"file": photo.name, "output": name, "method": method,
                "boxes": np.asarray(boxes).round(2).tolist(), "seconds": round(seconds, 4)}

    def _run(self, job: Job, photos: list[Upload], box_map: dict) -> None:
        job.state = "running"
        target = self.folder / f"{job.id}.zip"
        report, taken = [], set()
        try:
            with atomic_io.atomic_path(target) as tmp, \
                    zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
                for photo in photos:
                    try:
                        report.append(self._erase_one(archive, photo, box_map, job.method, taken))
                    except (RequestError, SvhnEraseError) as exc:
                        reason = exc.reason if isinstance(exc, RequestError) else str(exc)
                        job.errors.append(reason)
                        report.append({"file": photo.name, "error": reason})
                    job.done += 1
                archive.writestr("report.json", json.dumps(report, indent=2) + "\n")
            job.zip_path, job.state = target, "done"
        except Exception as exc:  # a bug or a full disk: the job fails, the server goes on
            log.exception("batch job %s failed", job.id)
            job.errors.append(f"the batch failed: {exc}")
            job.state = "failed"
