"""The ``student`` method: the student network's digit masks, a batched fill, a quick paste.

Per call, for every box of every scene at once: cut the box with its context to the
network's square size (``student.crops``), one batched forward gives each crop's digit
probability (kept inside the box), normalized convolution from the background ring around
the digit fills every crop in one batch of matrix products (``student.fill``), and each
box's hole (probability over ``threshold``) and a one-pixel seam are written back. No
classifier is needed: it reads no digits. The weights are the packaged
``checkpoints/student.safetensors`` unless ``StudentConfig.weights`` names others; CUDA is
used when present.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.methods import records
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene, register
from svhn_erase.removal.student import crops as cropping
from svhn_erase.removal.student.fill import known_weights, normalized_fill, paste_box
from svhn_erase.removal.student.net import StudentNet, fused, load_student

PACKAGED = Path(__file__).resolve().parents[2] / "checkpoints" / "student.safetensors"
STAGES = ("cut", "mask", "fill", "paste")
CROPS_PER_THREAD = 256  # smaller batches run on fewer CPU threads: handing tiny convolutions
# between threads costs more than it saves (a chunk of 32 images is ~70 crops)


@dataclass(frozen=True)
class StudentConfig:
    """Settings of the ``student`` method (the network's own are in its weights file)."""

    weights: str | None = None  # None: the packaged checkpoints/student.safetensors
    threshold: float = 0.5  # digit probability from which a pixel is replaced
    guard: int = 1  # crop pixels next to the digit that do not feed the fill ...
    rim: int = 1  # ... and the width of the ring beyond them that does (0: all the crop)
    sigmas: tuple[float, ...] = (0.7, 1.4, 2.8, 5.6, 11.0)  # normalized-convolution scales
    cover: float = 0.3  # known share from which a scale's value is taken as it is
    seam_alpha: float = 0.8  # blend weight of the one-pixel seam around the hole
    batch: int = 512  # crops per forward


@contextmanager
def _threads_for(crops: int, device: torch.device):
    """At most one CPU thread per ``CROPS_PER_THREAD`` crops for the block (at least one;
    never more than torch has now); restored afterwards."""
    before = torch.get_num_threads()
    wanted = max(1, min(before, crops // CROPS_PER_THREAD))
    if device.type == "cpu" and wanted != before:
        torch.set_num_threads(wanted)
    try:
        yield
    finally:
        if torch.get_num_threads() != before:
            torch.set_num_threads(before)


@contextmanager
def _timed(timer: dict[str, float] | None, stage: str):
    start = time.perf_counter()
    yield
    if timer is not None:
        timer[stage] = timer.get(stage, 0.0) + time.perf_counter() - start


def digit_probabilities(net: StudentNet, x: torch.Tensor, inside: torch.Tensor,
                        batch: int) -> torch.Tensor:
    """(n, 1, s, s) digit probability of every crop, 0 outside its box, on the network's
    device."""
    device = next(net.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            out.append(torch.sigmoid(net(x[start:start + batch].to(device))))
        return torch.cat(out) * inside.to(device) if out else inside.to(device)


def erase_with(net: StudentNet, scenes: Sequence[Scene], config: StudentConfig,
               timer: dict[str, float] | None = None) -> list[Erased]:
    """The method's work with a given network; ``timer`` (if given) collects seconds per
    stage (``STAGES``)."""
    boxes = sum(records.box_count(s) for s in scenes)
    with _threads_for(boxes, next(net.parameters()).device):
        return _erase(net, scenes, config, timer)


def _erase(net: StudentNet, scenes: Sequence[Scene], config: StudentConfig,
           timer: dict[str, float] | None) -> list[Erased]:
    spec = net.spec
    device = next(net.parameters()).device
    with _timed(timer, "cut"):
        digits = records.digit_records(scenes)
        windows = [cropping.window(r.rect, spec.margin) for r in digits]
        squares = cropping.cut_all([s.image for s in scenes], windows,
                                   [r.scene for r in digits], spec.size)
        x = cropping.to_tensor(squares)
        inside = cropping.box_masks(windows, spec.size)
    with _timed(timer, "mask"):
        prob = digit_probabilities(net, x, inside, config.batch)
    with _timed(timer, "fill"), torch.inference_mode():
        pixels = (x.to(device) + 1.0) * 127.5
        others = cropping.other_box_masks(windows, [r.scene for r in digits], spec.size)
        known = known_weights(prob, others.to(device), config.threshold, config.guard,
                              config.rim)
        fills = normalized_fill(pixels, known, config.sigmas, config.cover)
        prob_np = prob[:, 0].cpu().numpy()
        fill_np = fills.permute(0, 2, 3, 1).cpu().numpy()
    with _timed(timer, "paste"):
        images = [s.image.copy() for s in scenes]
        replaced = [np.zeros(s.image.shape[:2], bool) for s in scenes]
        for i, (record, win) in enumerate(zip(digits, windows, strict=True)):
            hole, written = paste_box(images[record.scene], win, prob_np[i], fill_np[i],
                                      config.threshold, config.seam_alpha)
            replaced[record.scene][record.rect.slices] |= written
            record.digit, record.keypix = hole, ~written
        out = records.assemble(scenes, digits, images, replaced)
    for e in out:
        e.preds = None  # the student reads no digits
    return out


@register
class StudentMethod(RemovalMethod):
    """The student network's masks with a batched normalized-convolution fill."""

    name = "student"
    description = ("a small network trained on the default method's masks (no ground truth), "
                   "batched normalized-convolution fill")
    finds_key_pixels = True

    def __init__(self, config: StudentConfig | None = None) -> None:
        super().__init__(config or StudentConfig())
        self._net: StudentNet | None = None

    def weights_path(self) -> Path:
        """The weights file this method loads."""
        return Path(self.config.weights) if self.config.weights else PACKAGED

    def network(self) -> StudentNet:
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
