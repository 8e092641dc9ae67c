"""Find house-number digits in whole photos: ``load_detector`` and ``Detector.detect``.

A ``Detector`` resizes each photo to the network's input height, runs it through
``DigitCenterNet`` (alone, so that its detections do not depend on the other photos of a
call), decodes the heat map's peaks (``targets.decode``; with a ``zoom`` setting, also those
of small digits at that zoom), drops boxes that overlap a better one (``nms``), maps the
boxes back to the photo's pixels, widens them by the calibrated ``width_scale``
(``scale_widths``) and groups them into numbers (``group_numbers``: left-to-right chains of
digits of similar height on one line); digits outside the photo's main number must score
``other_min_score`` (``main_number``). Weights are safetensors whose metadata holds the
architecture and the detection settings (``save_detector`` writes them, with a JSON copy
of the metadata beside them).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from svhn_erase.atomic_io import write_json, write_safetensors
from svhn_erase.boxes import Box
from svhn_erase.detection.net import DigitCenterNet, DigitEnsemble, NetConfig
from svhn_erase.detection.targets import Peak, decode, resize_photo, to_batch
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device

PACKAGED = Path(__file__).resolve().parents[1] / "checkpoints" / "detector.safetensors"
DETECT_BATCH = 32


@dataclass(frozen=True)
class Detection:
    """One digit found in a photo: its box (Format 1: left, top, width, height), its digit
    (0-9), the detector's score (0-1) and the number (0, 1, ... left to right) it belongs to."""

    box: Box
    label: int
    score: float
    number: int


@dataclass(frozen=True)
class DetectSettings:
    """How peaks become detections: the default score threshold (best F1 on the tuning
    photos), the overlap (IoU) above which the weaker of two boxes is dropped, the widest
    input a photo is given, the second pass for small numbers, and the lower threshold the
    erase commands use (a missed digit stays readable; an extra box costs little) and how
    much they grow each box (a found box a little off leaves part of the digit), the
    width calibration applied to every box after NMS (``calibrate.width_scale``) and the
    score the digits of a photo's other numbers need (``main_number``)."""

    min_score: float = 0.3
    nms_iou: float = 0.5
    max_width: int = 1024
    zoom: float = 1.0  # > 1: a second pass at this zoom for small numbers (at most
    small: float = 0.5  # ``small`` of the photo's height), merged by ``nms``
    erase_min_score: float = 0.1  # the threshold of the erase commands (recall first) and
    erase_grow: float = 0.1  # how much they grow each box on every side (both chosen by the
    # still-read on photos 1401-1600 for the packaged ensemble: checkpoints/README.md)
    width_scale: float = 1.0  # each box's width times this, about its centre (calibrated:
    # the median official / found width of matched boxes on the training photos)
    other_min_score: float = 0.0  # digits outside the photo's main number need this score
    # (0: off; ``detect(every_number=True)`` and the erase commands keep every number)


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (n, 4) with every box in ``b`` (m, 4), both left, top,
    width, height: an (n, m) array."""
    a, b = np.asarray(a, float).reshape(-1, 4), np.asarray(b, float).reshape(-1, 4)
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 0] + a[:, None, 2], b[None, :, 0] + b[None, :, 2])
    y1 = np.minimum(a[:, None, 1] + a[:, None, 3], b[None, :, 1] + b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None, :] - inter
    return inter / np.maximum(union, 1e-9)


def nms(peaks: list[Peak], threshold: float) -> list[Peak]:
    """The peaks, best first, without any that overlaps a better one by IoU > threshold."""
    peaks = sorted(peaks, key=lambda p: -p.score)
    if not peaks:
        return []
    overlap = iou(np.array([p.box for p in peaks]), np.array([p.box for p in peaks]))
    kept: list[int] = []
    for i in range(len(peaks)):
        if all(overlap[i, j] <= threshold for j in kept):
            kept.append(i)
    return [peaks[i] for i in kept]


def scale_widths(boxes: np.ndarray, scale: float) -> np.ndarray:
    """The boxes (n, 4; left, top, width, height) with their widths times ``scale``, each
    about its own centre."""
    out = np.asarray(boxes, float).reshape(-1, 4).copy()
    out[:, 0] += out[:, 2] * (1 - scale) / 2
    out[:, 2] *= scale
    return out


def main_number(dets: list[Detection], other_min_score: float) -> list[Detection]:
    """The detections of a photo's main number (the highest summed score) and those of its
    other numbers scoring at least ``other_min_score``, numbered again left to right. A
    Format 1 photo shows one number: on photos 1401-1600 most detections outside it were
    mistakes (precision 0.900 -> 0.916 at the same recall, ``calibrate.tune_other``)."""
    if not dets:
        return dets
    totals: dict[int, float] = {}
    for d in dets:
        totals[d.number] = totals.get(d.number, 0.0) + d.score
    main = max(totals, key=lambda n: (totals[n], -n))
    kept = [d for d in dets if d.number == main or d.score >= other_min_score]
    boxes = np.array([[d.box.left, d.box.top, d.box.width, d.box.height] for d in kept])
    found = [replace(d, number=int(n)) for d, n in zip(kept, group_numbers(boxes), strict=True)]
    return sorted(found, key=lambda d: (d.number, d.box.left))


def group_numbers(boxes: np.ndarray) -> np.ndarray:
    """A number index per box (n, 4): boxes sorted left to right join the chain of the
    previous box when their heights differ by less than 1.6x, their vertical centres by less
    than half a height and the gap between them is under one height; chains are numbered
    left to right."""
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    order = np.argsort(boxes[:, 0] + boxes[:, 2] / 2, kind="stable")
    chains: list[list[int]] = []
    for i in order:
        left, top, w, h = boxes[i]
        for chain in chains:
            pl, pt, pw, ph = boxes[chain[-1]]
            mean_h = (h + ph) / 2
            if (max(h, ph) < 1.6 * min(h, ph) and abs((top + h / 2) - (pt + ph / 2)) < mean_h / 2
                    and left - (pl + pw) < mean_h and left + w / 2 > pl + pw / 2):
                chain.append(i)
                break
        else:
            chains.append([i])
    number = np.zeros(len(boxes), np.int64)
    for n, chain in enumerate(sorted(chains, key=lambda c: boxes[c[0], 0])):
        number[chain] = n
    return number


class Detector:
    """A trained digit detector: ``detect`` takes RGB uint8 photos and returns, per photo,
    its digits sorted by number, then left to right."""

    def __init__(self, net: DigitCenterNet | DigitEnsemble,
                 settings: DetectSettings = DetectSettings(),
                 device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)
        self.net = net.to(self.device).eval()
        self.settings = settings

    @property
    def config(self) -> NetConfig:
        return self.net.config

    @torch.no_grad()
    def detect(self, images: Sequence[np.ndarray], min_score: float | None = None,
               every_number: bool = False) -> list[list[Detection]]:
        """The digits of each photo (RGB uint8, H x W x 3), those scoring at least
        ``min_score`` (default: the weights' tuned threshold); unless ``every_number``,
        those outside the photo's main number also need ``settings.other_min_score``."""
        threshold = self.settings.min_score if min_score is None else float(min_score)
        out: list[list[Detection]] = []
        for start in range(0, len(images), DETECT_BATCH):
            out.extend(self._detect_batch(images[start:start + DETECT_BATCH], threshold))
        if every_number or self.settings.other_min_score <= 0:
            return out
        return [main_number(dets, self.settings.other_min_score) for dets in out]

    def _detect_batch(self, images: Sequence[np.ndarray], threshold: float
                      ) -> list[list[Detection]]:
        for im in images:
            if not (isinstance(im, np.ndarray) and im.ndim == 3 and im.shape[2] == 3
                    and im.dtype == np.uint8 and min(im.shape[:2]) > 0):
                raise SvhnEraseError("detect takes RGB uint8 arrays of shape (H, W, 3)")
        peaks = self.peaks(images, threshold, 1.0)
        if self.settings.zoom > 1.0:
            for mine, more in zip(peaks, self.peaks(images, threshold, self.settings.zoom),
                                  strict=True):
                mine.extend(more)
        return [self.from_peaks(p) for p in peaks]

    def from_peaks(self, peaks: list[Peak]) -> list[Detection]:
        """One photo's detections from its peaks (both passes, in photo pixels): NMS, the
        width scale, numbers (``settings``; not the main-number rule)."""
        return self._detections(nms(peaks, self.settings.nms_iou), self.settings.width_scale)

    @torch.no_grad()
    def peaks(self, images: Sequence[np.ndarray], threshold: float, zoom: float
              ) -> list[list[Peak]]:
        """The peaks of each photo at ``zoom`` times the input height, boxes in the photo's
        pixels; above zoom 1 only those of small digits (``settings.small``). Each photo is
        run alone: in a batch padded to its widest photo, the padding and the batch's size
        moved scores (by about 1e-6), so detections depended on the other photos; alone they
        are the same however many photos one call gets, at about the same speed."""
        height = int(round(self.config.input_height * zoom / 16)) * 16
        resized = [resize_photo(im, height, int(self.settings.max_width * zoom))
                   for im in images]
        peaks = [decode(self._forward(r.image), [r.image.shape[1]], threshold)[0]
                 for r in resized]
        limit = self.settings.small * height if zoom > 1.0 else float("inf")
        return [[replace(p, box=(p.box[0] / r.sx, p.box[1] / r.sy, p.box[2] / r.sx,
                                 p.box[3] / r.sy)) for p in found if p.box[3] <= limit]
                for found, r in zip(peaks, resized, strict=True)]

    def _forward(self, image: np.ndarray) -> dict[str, torch.Tensor]:
        """The network's maps (on the CPU, a batch of one) for one resized photo."""
        x, _ = to_batch([image])
        return {k: v.float().cpu() for k, v in self.net(x.to(self.device)).items()}

    @staticmethod
    def _detections(peaks: list[Peak], width_scale: float = 1.0) -> list[Detection]:
        boxes = scale_widths(np.array([p.box for p in peaks]).reshape(-1, 4), width_scale)
        numbers = group_numbers(boxes)
        found = [Detection(Box.of(b), p.label, p.score, int(n))
                 for b, p, n in zip(boxes, peaks, numbers, strict=True)]
        return sorted(found, key=lambda d: (d.number, d.box.left))


# --------------------------------------------------------------------------- weights


def save_detector(detector: Detector, path: str | os.PathLike[str], extra: dict | None = None
                  ) -> None:
    """Write the weights (safetensors, atomically) and ``<path>.json`` with the metadata
    (an ensemble's: ``members``, its count, and ``member_heights`` where its members' input
    heights differ; its tensors are named ``members.<i>.*``)."""
    meta = {"kind": "svhn-erase detector", "net": detector.config.to_dict(),
            "detect": asdict(detector.settings), **(extra or {})}
    if isinstance(detector.net, DigitEnsemble):
        meta["members"] = len(detector.net.members)
        heights = [m.config.input_height for m in detector.net.members]
        if len(set(heights)) > 1:
            meta["member_heights"] = heights
    state = {k: v.detach().cpu().contiguous() for k, v in detector.net.state_dict().items()}
    write_safetensors(path, state, {"detector": json.dumps(meta)})
    write_json(Path(path).with_suffix(".json"), meta)


def read_metadata(path: str | os.PathLike[str]) -> dict:
    """The metadata a detector's weights carry; a user error if the file is no detector."""
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = json.loads((fh.metadata() or {})["detector"])
        NetConfig.from_dict(meta["net"])
        DetectSettings(**meta["detect"])
    except FileNotFoundError as exc:
        raise SvhnEraseError(f"{path}: detector weights not found") from exc
    except Exception as exc:  # safetensors and json raise several types
        raise SvhnEraseError(f"{path}: not detector weights ({type(exc).__name__}: "
                             f"{exc})") from exc
    return meta


def load_detector(weights: str | os.PathLike | None = None,
                  device: str | torch.device | None = None) -> Detector:
    """The detector at ``weights`` (a ``.safetensors`` file, one network or an ensemble;
    None: the packaged one) on ``device`` (default: CUDA when present, else the CPU)."""
    path = Path(weights) if weights is not None else PACKAGED
    if weights is None and not PACKAGED.is_file():
        raise SvhnEraseError(f"{PACKAGED}: no packaged detector; train one with "
                             "'svhn-erase train-detector' and pass --detector")
    meta = read_metadata(path)
    config = NetConfig.from_dict(meta["net"])
    members = int(meta.get("members", 0))
    heights = meta.get("member_heights") or [config.input_height] * members
    net = (DigitEnsemble([DigitCenterNet(replace(config, input_height=int(h)))
                          for h in heights]) if members else DigitCenterNet(config))
    try:
        net.load_state_dict(load_file(str(path)))
    except (RuntimeError, KeyError) as exc:
        raise SvhnEraseError(f"{path}: weights do not fit the network they name ({exc})") \
            from exc
    settings = DetectSettings(**meta["detect"])
    return Detector(net, settings, device or default_device())


def with_settings(detector: Detector, **changes) -> Detector:
    """The same network with other detection settings (e.g. a tuned ``min_score``)."""
    return Detector(detector.net, replace(detector.settings, **changes), detector.device)
