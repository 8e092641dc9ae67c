"""Train the detector (``svhn-erase train-detector``) and tune its score threshold.

Each step draws a batch from real photos (share ``real_share``) and generated ones, each a
seeded augmented view (``dataset.DetectionDataset``), and minimises the sum of four losses:
CenterNet's penalty-reduced focal loss on the centre heat map, cross-entropy of the class
and L1 on log box size (weighted ``SIZE_WEIGHT``) around each centre, and L1 on the centre
offset at the centre cells.
AdamW with a one-cycle schedule. Everything is seeded; on the CPU one run gives the same
weights every time (torch's deterministic algorithms are asked for). The network, the
targets and the loss sit on CUDA when present (``train-detector --cpu``: the CPU); the
photos, their augmented views and every random draw stay on the CPU until a batch is moved,
so the draws are the same on any device; the record names the device.

``tune_threshold`` then picks the score threshold, the zoom of the second pass for small
numbers and the NMS overlap that maximise F1 at IoU >= 0.5 on the tuning photos and stores
them in the detector's settings; ``calibrate`` then measures the box-width correction on the
training photos and tunes those settings again.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from svhn_erase.detection.dataset import DetectionDataset, Photo, collate
from svhn_erase.detection.detect import Detector, DetectSettings, with_settings
from svhn_erase.detection.net import DigitCenterNet, NetConfig
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device

log = logging.getLogger(__name__)

SIZE_WEIGHT = 2.0  # box size decides IoU >= 0.5 on SVHN's loose boxes
THRESHOLDS = tuple(float(t) for t in np.round(np.arange(0.10, 0.71, 0.05), 2))
ZOOMS = (1.0, 1.2, 1.4, 1.6)  # the second pass for small numbers (``DetectSettings.zoom``);
# each a distinct input height (80 px: 96, 112, 128; 1.15 and 1.3 both gave 96)
NMS_IOUS = (0.3, 0.4, 0.5)  # the overlap above which the weaker box goes
CRITERIA = ("f1", "min-pr")  # what tuning maximises: F1, or min(precision, recall) (ties:
# the higher F1), for a target asking both precision and recall to reach a level


def best_row(rows: list[dict], criterion: str = "f1") -> dict:
    """The row (with ``precision``, ``recall``, ``f1``) best by ``criterion`` (``CRITERIA``);
    ties: the earliest."""
    if criterion not in CRITERIA:
        raise ValueError(f"criterion {criterion!r}: expected one of {CRITERIA}")
    if criterion == "f1":
        return max(rows, key=lambda r: r["f1"])
    return max(rows, key=lambda r: (min(r["precision"], r["recall"]), r["f1"]))


@dataclass(frozen=True)
class TrainSettings:
    """A training run: steps, batch, AdamW's peak learning rate and weight decay, the share
    of real photos per batch, the widest training input, the share of zoomed-out views, the
    seed and torch's threads."""

    steps: int = 5000
    batch: int = 16
    lr: float = 3e-3
    weight_decay: float = 1e-4
    real_share: float = 0.7
    max_width: int = 192
    zoom_out: float = 0.0  # share of views zoomed out 1.5-2.5x (0.3 measured worse: F1 0.874)
    real_widths: bool = False  # generated boxes' widths follow the real photos' (per digit)
    seed: int = 16
    threads: int = 1


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's focal loss (alpha 2, beta 4) summed and divided by the centres' count."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    pos_loss = torch.log(p) * (1 - p) ** 2 * pos
    neg_loss = torch.log(1 - p) * p**2 * (1 - target) ** 4 * (1 - pos)
    return -(pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1)


def losses(out: dict[str, torch.Tensor], t: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The four losses of one batch."""
    centre = t["centre"][:, None]
    core = (t["cls"] >= 0).float()[:, None]
    n = centre.sum().clamp(min=1)
    return {
        "heat": focal_loss(out["heat"][:, 0], t["heat"]),
        "cls": F.cross_entropy(out["cls"], t["cls"], ignore_index=-1)
        if (t["cls"] >= 0).any() else out["cls"].sum() * 0,
        "size": SIZE_WEIGHT * (F.l1_loss(out["size"], t["size"], reduction="none")
                               * core).sum() / core.sum().clamp(min=1),
        "offset": (F.l1_loss(out["offset"], t["offset"], reduction="none") * centre).sum() / n,
    }


def _batch_indices(rng: np.random.Generator, settings: TrainSettings, n_real: int,
                   n_synth: int) -> list[tuple[bool, int]]:
    """(from real?, index) for each slot of one batch."""
    picks = []
    for _ in range(settings.batch):
        real = n_synth == 0 or (n_real > 0 and rng.random() < settings.real_share)
        picks.append((real, int(rng.integers(n_real if real else n_synth))))
    return picks


def width_scales(real: list[Photo], synth: list[Photo]) -> np.ndarray:
    """Per digit 0-9, the median width/height of its real boxes over that of its generated
    ones (1 where either has none): how much wider SVHN's official boxes are drawn."""
    def medians(photos: list[Photo]) -> np.ndarray:
        boxes = np.concatenate([p.boxes for p in photos] or [np.zeros((0, 4), np.float32)])
        labels = np.concatenate([p.labels for p in photos] or [np.zeros(0, np.int64)])
        ratio = boxes[:, 2] / np.maximum(boxes[:, 3], 1e-6)
        return np.array([np.median(ratio[labels == c]) if (labels == c).any() else np.nan
                         for c in range(10)])

    scale = medians(real) / medians(synth)
    return np.where(np.isfinite(scale), scale, 1.0)


def with_widths(photos: list[Photo], scales: np.ndarray) -> list[Photo]:
    """The photos with each box's width times its digit's scale, about the box's centre."""
    out = []
    for p in photos:
        b = p.boxes.copy()
        w = b[:, 2] * scales[p.labels.astype(int)]
        b[:, 0] += (b[:, 2] - w) / 2
        b[:, 2] = w
        out.append(Photo(p.file, p.image, b.astype(np.float32), p.labels))
    return out


def train_detector(real: list[Photo], synth: list[Photo], settings: TrainSettings | None = None,
                   net_config: NetConfig | None = None, progress: bool = True,
                   device: torch.device | None = None) -> tuple[Detector, dict]:
    """Train a detector from scratch on ``device`` (default: CUDA when present); returns it
    (default settings, on that device) and the run's record: settings, device, seconds,
    final losses."""
    if not real and not synth:
        raise ValueError("no training photos")
    device = device or default_device()
    settings, net_config = settings or TrainSettings(), net_config or NetConfig()
    torch.manual_seed(settings.seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    scales = width_scales(real, synth) if settings.real_widths and real and synth else None
    if scales is not None:
        log.info("generated box widths scaled per digit: %s", np.round(scales, 3).tolist())
        synth = with_widths(synth, scales)
    sets = {flag: DetectionDataset(photos, net_config.input_height, settings.max_width,
                                   augment=True, seed=settings.seed + k,
                                   zoom_out=settings.zoom_out)
            for k, (flag, photos) in enumerate(((True, real), (False, synth)))}
    net = DigitCenterNet(net_config).to(device)  # made (and seeded) on the CPU
    opt = torch.optim.AdamW(net.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, settings.lr, total_steps=settings.steps,
                                                pct_start=0.15)
    rng = np.random.default_rng(settings.seed)
    net.train()
    start, running = time.perf_counter(), {}
    try:
        for step in tqdm(range(settings.steps), desc="train-detector", unit="step",
                         disable=not progress):
            items = []
            for real_pick, i in _batch_indices(rng, settings, len(real), len(synth)):
                sets[real_pick].epoch = step
                items.append(sets[real_pick][i])
            x, targets, _ = collate(items)
            targets = {k: v.to(device) for k, v in targets.items()}
            parts = losses(net(x.to(device)), targets)
            loss = sum(parts.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            running = {k: 0.98 * running.get(k, v.item()) + 0.02 * v.item()
                       for k, v in parts.items()}
            if (step + 1) % 200 == 0:
                log.info("step %d: %s", step + 1,
                         " ".join(f"{k} {v:.3f}" for k, v in running.items()))
    finally:
        torch.set_num_threads(threads)
    record = {"train": asdict(settings), "device": str(device),
              "seconds": round(time.perf_counter() - start, 1),
              "real_photos": len(real), "synth_photos": len(synth),
              "width_scales": None if scales is None else np.round(scales, 4).tolist(),
              "final_losses": {k: round(v, 4) for k, v in running.items()}}
    return Detector(net.eval(), DetectSettings(), device), record


def tune_threshold(detector: Detector, photos: list[Photo], criterion: str = "f1"
                   ) -> tuple[Detector, list[dict]]:
    """The detector with the zoom (``ZOOMS``), NMS overlap (``NMS_IOUS``) and score threshold
    (``THRESHOLDS``) best at IoU >= 0.5 on ``photos`` by ``criterion`` (``best_row``; ties:
    the earlier in that order), and the precision/recall of every setting tried."""
    rows = []
    images, low = [p.image for p in photos], min(THRESHOLDS)
    base = detector.peaks(images, low, 1.0)  # each pass run once, as ``detect`` would run it
    for zoom in ZOOMS:
        extra = detector.peaks(images, low, zoom) if zoom > 1.0 else [[] for _ in images]
        for nms_iou in NMS_IOUS:
            tuned = with_settings(detector, zoom=zoom, nms_iou=nms_iou)
            found = [tuned.from_peaks(b + e) for b, e in zip(base, extra, strict=True)]
            rows.extend(_rows(found, photos, zoom, nms_iou))
    best = best_row(rows, criterion)
    return with_settings(detector, min_score=best["min_score"], zoom=best["zoom"],
                         nms_iou=best["nms_iou"]), rows


def _rows(found: list, photos: list[Photo], zoom: float, nms_iou: float) -> list[dict]:
    """Precision, recall and F1 of ``found`` at each of ``THRESHOLDS``."""
    from svhn_erase.detection.evaluate import score_detections

    rows = []
    for th in THRESHOLDS:
        kept = [[d for d in dets if d.score >= th] for dets in found]
        s = score_detections(kept, [p.boxes for p in photos])
        rows.append({"zoom": zoom, "nms_iou": nms_iou, "min_score": float(th),
                     "precision": s["precision"], "recall": s["recall"], "f1": s["f1"]})
    return rows


def run_training(real_dir: Path, real_files: str, tune_files: str, synth_dir: Path | None,
                 settings: TrainSettings, out: Path, progress: bool = True,
                 net_config: NetConfig | None = None, criterion: str = "f1",
                 device: torch.device | None = None) -> dict:
    """``train-detector``: read the photos, train on ``device`` (default: CUDA when
    present), tune the threshold, calibrate the box widths on the training photos and tune
    again (``calibrate``; settings best by ``criterion``), all on that device, save (CPU
    tensors); the record."""
    from svhn_erase.detection.calibrate import calibrate, check_request
    from svhn_erase.detection.dataset import load_photos
    from svhn_erase.detection.detect import save_detector

    check_request(out, real_files, tune_files)
    real = load_photos(real_dir, real_files, progress)
    tune = load_photos(real_dir, tune_files, progress)
    synth = load_photos(synth_dir, None, progress) if synth_dir is not None else []
    detector, record = train_detector(real, synth, settings, net_config, progress=progress,
                                      device=device)
    detector, _ = tune_threshold(detector, tune, criterion)
    detector, calibration = calibrate(detector, real, tune, criterion)
    calibration.update({"width_files": real_files, "tune_files": tune_files})
    record.update({"real": str(real_dir), "real_files": real_files, "tune_files": tune_files,
                   "synth": str(synth_dir) if synth_dir else None,
                   "tune": calibration["tune"], "calibrate": calibration})
    save_detector(detector, out, record)
    return record


def check_tuning_split(real_files: str, tune_files: str) -> None:
    """A user error unless the training and tuning photo ranges are disjoint."""
    from svhn_erase.evaluation.selection import parse_files

    overlap = {n for a, b in parse_files(real_files) for n in range(a, b + 1)} & \
        {n for a, b in parse_files(tune_files) for n in range(a, b + 1)}
    if overlap:
        raise SvhnEraseError(f"--real-files {real_files} and --tune-files {tune_files} share "
                             f"{len(overlap)} photo(s); tune on photos not trained on")
