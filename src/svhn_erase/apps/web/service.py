"""The work behind the web API: erase a photo, find its digits, make the example photos.

``Service`` holds what a server shares between requests: the classifier (loaded once, on
first use, for the methods that need it), the digit detector (when the package has one),
and a gate that lets ``settings.workers`` requests compute at once and refuses (HTTP 429)
more than ``settings.max_waiting`` waiting. Erasing goes through ``apps.erase``
(``load_model``, ``erase_scenes``), exactly as ``svhn-erase erase-image`` does.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from PIL import Image

from svhn_erase.apps.erase import erase_scenes, load_model
from svhn_erase.apps.web.settings import WebSettings
from svhn_erase.apps.web.validation import RequestError
from svhn_erase.atomic_io import with_alpha
from svhn_erase.errors import SvhnEraseError
from svhn_erase.removal.methods import Erased, Scene, create, method_class, method_names

log = logging.getLogger(__name__)

EXAMPLE_STYLE = "heldout"  # fonts and backgrounds the packaged classifier never saw


def image_bytes(image: np.ndarray, icc_profile: bytes | None = None, fmt: str = "PNG",
                alpha: np.ndarray | None = None) -> bytes:
    """An RGB or gray uint8 array encoded as PNG (``fmt="JPEG"``: JPEG at quality 92, 4:4:4,
    for a photo only looked at), with the colour profile of the photo it came from if given
    (``split.rgb_profile``) and, in a PNG, its alpha channel (``decode_photo``)."""
    buf = io.BytesIO()
    options: dict = {"icc_profile": icc_profile} if icc_profile is not None else {}
    if fmt == "JPEG":
        options.update(quality=92, subsampling=0)
    pixels = with_alpha(image, alpha, fmt)
    Image.fromarray(np.ascontiguousarray(pixels)).save(buf, format=fmt, **options)
    return buf.getvalue()


@dataclass(frozen=True)
class Example:
    """A generated photo with its true digit boxes (``left, top, width, height``)."""

    name: str
    image: np.ndarray
    boxes: np.ndarray


class Gate:
    """At most ``workers`` holders at once and at most ``max_waiting`` waiting (429 beyond)."""

    def __init__(self, workers: int, max_waiting: int) -> None:
        self._slots = threading.BoundedSemaphore(workers)
        self._lock = threading.Lock()
        self._waiting, self.max_waiting = 0, max_waiting

    @contextlib.contextmanager
    def enter(self) -> Iterator[None]:
        with self._lock:
            if self._waiting >= self.max_waiting:
                raise RequestError(429, f"busy: {self._waiting} requests are waiting; try "
                                   "again in a moment")
            self._waiting += 1
        try:
            self._slots.acquire()
        finally:
            with self._lock:
                self._waiting -= 1
        try:
            yield
        finally:
            self._slots.release()


class Service:
    """Erasing, detection and examples for one server (thread-safe)."""

    def __init__(self, settings: WebSettings) -> None:
        self.settings = settings
        self.gate = Gate(settings.workers, settings.max_waiting)
        self._load_lock = threading.Lock()
        self._model = None
        self._model_loaded = False
        self._detector = None
        self._examples: list[Example] | None = None
        self._examples_lock = threading.Lock()

    # ------------------------------------------------------------------ methods

    @staticmethod
    def methods() -> list[dict]:
        """Every method a user can run on a photo, in the registry's order."""
        out = []
        for name in method_names(with_truth=False):
            cls = method_class(name)
            out.append({"name": name, "description": cls.description,
                        "uses_classifier": cls.uses_classifier,
                        "headline": cls.headline and not cls.reference})
        return out

    def _classifier(self):
        with self._load_lock:
            if not self._model_loaded:
                self._model, path = load_model(create("default"), self.settings.weights)
                self._model_loaded = True
                log.info("classifier loaded from %s", path)
            return self._model

    def erase(self, image: np.ndarray, boxes: np.ndarray, method: str) -> tuple[Erased, float]:
        """Erase ``boxes`` from ``image`` with ``method``; the result and its seconds."""
        remover = create(method)
        with self.gate.enter():
            model = self._classifier() if remover.uses_classifier else None
            start = time.perf_counter()
            result = erase_scenes(remover, [Scene(image, boxes)], model)[0]
            return result, time.perf_counter() - start

    # ------------------------------------------------------------------ detection

    @cached_property
    def detector_problem(self) -> str | None:
        """None when the digit detector loads; else why not (the API then answers 503)."""
        try:
            from svhn_erase.detection import load_detector
        except ImportError as exc:
            return f"no digit detector in this installation ({exc}); draw the boxes instead"
        try:
            self._detector = load_detector(self.settings.detector)
        except SvhnEraseError as exc:
            return f"the digit detector does not load ({exc}); draw the boxes instead"
        return None

    def detect(self, image: np.ndarray) -> list[dict]:
        """The digits the detector finds, as ``left, top, width, height, label, score``."""
        if self.detector_problem:
            raise RequestError(503, self.detector_problem)
        with self.gate.enter():
            found = self._detector.detect([image], every_number=True)[0]  # anonymize all
        return [{"left": d.box.left, "top": d.box.top, "width": d.box.width,
                 "height": d.box.height, "label": int(d.label), "score": float(d.score)}
                for d in found]

    def detect_boxes(self, image: np.ndarray) -> np.ndarray:
        """The detector's boxes as a (k, 4) array (for a batch photo given no boxes)."""
        found = self.detect(image)
        return np.array([[d["left"], d["top"], d["width"], d["height"]] for d in found],
                        float).reshape(-1, 4)

    # ------------------------------------------------------------------ examples

    def examples(self) -> list[Example]:
        """``settings.examples`` generated photos (deterministic: seed ``example_seed``)."""
        with self._examples_lock:
            if self._examples is None:
                from svhn_erase.data.synth import render_sample

                # the largest of three times as many candidates: room to draw boxes
                candidates = [render_sample(self.settings.example_seed, i, style=EXAMPLE_STYLE)
                              for i in range(3 * self.settings.examples)]
                chosen = sorted(range(len(candidates)), key=lambda i: -candidates[i].image.size)
                made = [Example(f"example-{i + 1}.png", candidates[i].image,
                                candidates[i].boxes[:, 1:5].round().astype(int))
                        for i in sorted(chosen[:self.settings.examples])]
                self._examples = made
            return self._examples
