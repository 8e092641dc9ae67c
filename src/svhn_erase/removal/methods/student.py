"""The ``student`` method: the student network's digit masks, then the default's fill, batched.

Per call, for every box of every scene at once: cut the box with its context to the
network's square size (``student.crops``), one batched forward gives each crop's digit
probability (kept inside the box), lowered where a pixel's colour lies towards its crop's
background (``student.refine``), mapped back to the box and thresholded; the digit masks
of all boxes of a scene make its digit map. The fill (``student.fill``) then does what the
default method's does, at each box's own resolution and batched across boxes: every pixel
of the hole (the digit in the box and a one-pixel seam) becomes the Gaussian-weighted mean
of the key pixels touching it (on flat backgrounds the hole is first redrawn by colour:
``student.fill.flat_hole``); the hole is written and the seam blended. No classifier is
needed: it reads no digits. The weights are the packaged ``checkpoints/student.safetensors``
(two networks, their logits averaged: ``student.net.StudentEnsemble``) unless
``StudentConfig.weights`` names others; CUDA is used when present.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.keypixels import fill_holes
from svhn_erase.removal.methods import records
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene, register
from svhn_erase.removal.student import crops as cropping
from svhn_erase.removal.student.fill import (
    Filled,
    FillSettings,
    buckets,
    grnn_fill,
    pad_bucket,
    paste_context,
)
from svhn_erase.removal.student.net import Student, StudentEnsemble, fused, load_student
from svhn_erase.removal.student.refine import ColourCheck, colour_cut

PACKAGED = Path(__file__).resolve().parents[2] / "checkpoints" / "student.safetensors"
STAGES = ("cut", "mask", "fill", "paste")
T = TypeVar("T")
R = TypeVar("R")
CROPS_PER_THREAD = 256  # smaller batches run on fewer CPU threads: handing tiny convolutions
# between threads costs more than it saves (a chunk of 32 images is ~70 crops)


@dataclass(frozen=True)
class StudentConfig:
    """Settings of the ``student`` method (the network's own are in its weights file)."""

    weights: str | None = None  # None: the packaged checkpoints/student.safetensors
    threshold: float = 0.5  # digit probability from which a pixel is replaced
    colour: ColourCheck = ColourCheck()  # the masks checked against each crop's colours
    context: int = 2  # pixels around each box the fill draws from (the default's margin)
    fill: FillSettings = FillSettings()  # the batched fill's (``student.fill``)
    seam_alpha: float = 0.8  # blend weight of the one-pixel seam around the hole
    bucket: int = 32  # crops of similar shape filled together
    batch: int = 512  # crops per forward


@contextmanager
def _threads_for(crops: int, device: torch.device):
    """At most one CPU thread per ``CROPS_PER_THREAD`` crops for the block (at least one;
    never more than torch has now); restored afterwards. Yields a pool of the threads torch
    had (each running torch on one thread) where that leaves a single one, for the work
    that can run side by side (``_map``); None otherwise. Every torch call still runs on one
    thread, so the results are the same bits as one after the other."""
    before = torch.get_num_threads()
    wanted = max(1, min(before, crops // CROPS_PER_THREAD))
    if device.type == "cpu" and wanted != before:
        torch.set_num_threads(wanted)
    try:
        if device.type == "cpu" and wanted == 1 and before > 1:
            yield _pool(before, os.getpid())
        else:
            yield None
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@functools.cache
def _pool(workers: int, pid: int) -> ThreadPoolExecutor:
    """``workers`` threads, each running torch on one thread, kept for the life of process
    ``pid`` (a fresh thread's first convolutions cost more: a pool per call was 1.2x slower;
    keyed by the process so a forked child makes its own)."""
    return ThreadPoolExecutor(workers, initializer=torch.set_num_threads, initargs=(1,),
                              thread_name_prefix=f"student-{pid}")


def _map(pool: ThreadPoolExecutor | None, fn: Callable[[T], R], items: Iterable[T]
         ) -> list[R]:
    """``fn`` of every item, in order: on ``pool``'s threads (in inference mode, as the
    caller's) or, without a pool, here."""
    if pool is None:
        return [fn(item) for item in items]

    def run(item: T) -> R:
        with torch.inference_mode():
            return fn(item)
    return list(pool.map(run, items))


def _logit(net: Student, x: torch.Tensor, pool: ThreadPoolExecutor | None) -> torch.Tensor:
    """``net(x)``; an ensemble's members run side by side on ``pool`` (if any), their logits
    averaged in member order as its forward does."""
    if pool is None or not isinstance(net, StudentEnsemble):
        return net(x)
    return StudentEnsemble.mean_logit(_map(pool, lambda member: member(x), net.members))


@contextmanager
def _timed(timer: dict[str, float] | None, stage: str):
    start = time.perf_counter()
    yield
    if timer is not None:
        timer[stage] = timer.get(stage, 0.0) + time.perf_counter() - start


def digit_probabilities(net: Student, x: torch.Tensor, inside: torch.Tensor,
                        others: torch.Tensor, config: StudentConfig,
                        pool: ThreadPoolExecutor | None = None) -> torch.Tensor:
    """(n, 1, s, s) digit probability of every crop, 0 outside its box, lowered where a
    pixel's colour lies towards its crop's background (``student.refine``), on the network's
    device; an ensemble's members side by side on ``pool`` (if any)."""
    device = next(net.parameters()).device
    with torch.inference_mode():
        x = x.to(device)
        logit = torch.cat([_logit(net, x[start:start + config.batch], pool)
                           for start in range(0, len(x), config.batch)]) if len(x) else \
            torch.zeros(0, 1, *x.shape[-2:], device=device)
        inside, others = inside.to(device), others.to(device)
        logit = logit - colour_cut(x, logit, inside, others, config.colour)
        return torch.sigmoid(logit) * inside


def erase_with(net: Student, scenes: Sequence[Scene], config: StudentConfig,
               timer: dict[str, float] | None = None) -> list[Erased]:
    """The method's work with a given network; ``timer`` (if given) collects seconds per
    stage (``STAGES``)."""
    boxes = sum(records.box_count(s) for s in scenes)
    with _threads_for(boxes, next(net.parameters()).device) as pool:
        return _erase(net, scenes, config, timer, pool)


def digit_maps(scenes: Sequence[Scene], digits: list[records.DigitRecord],
               windows: list[cropping.Window], prob: np.ndarray, threshold: float
               ) -> list[np.ndarray]:
    """Per scene, (H, W) bool: the pixels of any of its boxes whose digit probability
    (``prob`` (n, s, s), the crops of ``windows``) is over ``threshold``, each box's mask with
    its enclosed holes filled (a two-tone digit's inside the network missed costs far more
    than a counter filled from around: tune split +0.12 dB, real photos 1201-1600 the same)."""
    maps = [np.zeros(s.image.shape[:2], bool) for s in scenes]
    for record, win, p in zip(digits, windows, prob, strict=True):
        maps[record.scene][record.rect.slices] |= fill_holes(
            cropping.back(p, win) > threshold)
    return maps


def fill_bucket(scenes: Sequence[Scene], part: list[records.DigitRecord],
                maps: list[np.ndarray], config: StudentConfig, device: torch.device
                ) -> Filled:
    """The batched fill (``student.fill``) of one bucket's records."""
    b = pad_bucket([scenes[r.scene].image for r in part], [maps[r.scene] for r in part],
                   [r.context for r in part], [r.rect for r in part])
    pixels, digit, in_box, valid = (torch.from_numpy(a).to(device)
                                    for a in (b.pixels, b.digit, b.in_box, b.valid))
    fill, hole, seam = grnn_fill(pixels, digit, in_box, valid, config.fill)
    return Filled.of(fill, hole, seam, in_box, config.seam_alpha)


def fill_all(scenes: Sequence[Scene], digits: list[records.DigitRecord],
             maps: list[np.ndarray], config: StudentConfig, device: torch.device,
             pool: ThreadPoolExecutor | None = None) -> list[tuple[Filled, int]]:
    """Per record, its bucket's results and its place in them; the buckets side by side on
    ``pool`` (if any)."""
    out: list = [None] * len(digits)
    shapes = [(r.context.height, r.context.width) for r in digits]
    groups = buckets(shapes, config.bucket)
    filled = _map(pool, lambda group: fill_bucket(scenes, [digits[i] for i in group], maps,
                                                  config, device), groups)
    for group, result in zip(groups, filled, strict=True):
        for k, i in enumerate(group):
            out[i] = (result, k)
    return out


def _erase(net: Student, scenes: Sequence[Scene], config: StudentConfig,
           timer: dict[str, float] | None, pool: ThreadPoolExecutor | None) -> list[Erased]:
    spec = net.spec
    device = next(net.parameters()).device
    with _timed(timer, "cut"):
        digits = records.digit_records(scenes, config.context)
        windows = [cropping.window(r.rect, spec.margin) for r in digits]
        squares = cropping.cut_all([s.image for s in scenes], windows,
                                   [r.scene for r in digits], spec.size)
        x = cropping.to_tensor(squares)
        inside = cropping.box_masks(windows, spec.size)
        others = cropping.other_box_masks(windows, [r.scene for r in digits], spec.size)
    with _timed(timer, "mask"):
        prob = digit_probabilities(net, x, inside, others, config, pool)[:, 0].cpu().numpy()
        maps = digit_maps(scenes, digits, windows, prob, config.threshold)
    with _timed(timer, "fill"), torch.inference_mode():
        fills = fill_all(scenes, digits, maps, config, device, pool)
    with _timed(timer, "paste"):
        images = [s.image.copy() for s in scenes]
        replaced = [np.zeros(s.image.shape[:2], bool) for s in scenes]
        for record, (filled, k) in zip(digits, fills, strict=True):
            ctx, inner = record.context, record.inner
            written = paste_context(images[record.scene], ctx, filled.fill[k],
                                    filled.alpha[k])
            replaced[record.scene][ctx.slices] |= written
            record.digit = filled.hole[k][inner]
            record.keypix = filled.key[k][inner]
        out = records.assemble(scenes, digits, images, replaced)
    for e in out:
        e.preds = None  # the student reads no digits
    return out


@register
class StudentMethod(RemovalMethod):
    """The student network's masks with the default's fill, batched."""

    name = "student"
    description = ("a small network trained on the default method's masks (no ground truth), "
                   "the default's GRNN fill (its nodes' weighted mean, not the local "
                   "planes) batched across boxes")
    finds_key_pixels = True

    def __init__(self, config: StudentConfig | None = None) -> None:
        super().__init__(config or StudentConfig())
        self._net: Student | None = None

    def weights_path(self) -> Path:
        """The weights file this method loads."""
        return Path(self.config.weights) if self.config.weights else PACKAGED

    def network(self) -> Student:
        """The student network (loaded on first use, on CUDA when present)."""
        if self._net is None:
            path = self.weights_path()
            if not path.is_file():
                raise SvhnEraseError(f"{path}: no student weights; train them with "
                                     "'svhn-erase train-student'")
            self._net = fused(load_student(path, default_device()))
        return self._net

    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        return erase_with(self.network(), scenes, self.config)

    def settings(self) -> dict:
        out = super().settings()
        out["weights"] = str(self.weights_path())
        return out
