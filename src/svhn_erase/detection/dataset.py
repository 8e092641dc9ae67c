"""Photos with their digit boxes as a torch ``Dataset`` for the detector.

``load_photos`` reads a Format 1 split (real SVHN or one made by ``data synth``), keeping
the photos a ``--files``-style range names. ``DetectionDataset`` yields, per photo, the
network's input (``input_height`` rows, aspect kept) and its targets (``targets.encode``).
With ``augment`` each item is a seeded random view (seed, epoch, index): a crop that keeps
the whole number when it fits, its height 0.8-1.5 times the photo's (or, for a share
``zoom_out`` of the views, 1.5-2.5 times: small numbers), jittered in brightness and
contrast, sometimes gray, inverted or blurred.
``collate`` pads a list of items to one batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from svhn_erase.data.split import iter_parents, load_table
from svhn_erase.detection.net import STRIDE
from svhn_erase.detection.targets import ALIGN, encode, resize_photo
from svhn_erase.evaluation.selection import select_files


@dataclass
class Photo:
    """A photo and its digits: boxes (k, 4: left, top, width, height) and labels 0-9."""

    file: str
    image: np.ndarray
    boxes: np.ndarray
    labels: np.ndarray


def load_photos(split_dir: str | os.PathLike[str], files: str | None = None,
                progress: bool = True) -> list[Photo]:
    """The photos of a split (those numbered in ``files``, e.g. ``"1-1400"``; all if None)."""
    path = Path(split_dir)
    table = load_table(path)
    keep = set(select_files(list(dict.fromkeys(table["file"])), files))
    table = table[table["file"].isin(keep)]
    parents = iter_parents(path, table)
    return [Photo(p.file, p.image, p.boxes.astype(np.float32), p.labels)
            for p in tqdm(parents, total=len(keep), desc=f"read {path.name}", unit="photo",
                          disable=not progress)]


def _crop_window(rng: np.random.Generator, shape: tuple[int, ...], boxes: np.ndarray,
                 zoom_out: float) -> tuple[float, float, float, float]:
    """A random crop (x0, y0, width, height) of the photo, keeping the number whole when it
    fits; it may reach past the photo's edges (filled by replicating them)."""
    h, w = shape[:2]
    wide = zoom_out > 0 and rng.random() < zoom_out  # small numbers in a wide view
    ch = h * (rng.uniform(1.5, 2.5) if wide else rng.uniform(0.8, 1.5))
    cw = w * (ch / h) * rng.uniform(0.6, 1.1) if wide else w * rng.uniform(0.75, 1.4)
    ux0, uy0 = float(boxes[:, 0].min()), float(boxes[:, 1].min())
    ux1, uy1 = float((boxes[:, 0] + boxes[:, 2]).max()), float((boxes[:, 1] + boxes[:, 3]).max())

    def start(lo_u: float, hi_u: float, size: float, full: float) -> float:
        lo, hi = hi_u - size, lo_u  # the crop holds [lo_u, hi_u]
        if lo > hi:  # the number does not fit: centre on it
            return (lo_u + hi_u - size) / 2
        inside_lo, inside_hi = max(lo, min(0, full - size)), min(hi, max(0, full - size))
        if inside_lo <= inside_hi:  # prefer a crop inside the photo
            lo, hi = inside_lo, inside_hi
        return lo + float(rng.random()) * max(0.0, hi - lo)

    return start(ux0, ux1, cw, w), start(uy0, uy1, ch, h), cw, ch


def _photometric(rng: np.random.Generator, image: np.ndarray) -> np.ndarray:
    """Brightness and contrast jitter; sometimes gray, inverted or blurred."""
    x = image.astype(np.float32)
    x = (x - x.mean()) * rng.uniform(0.6, 1.4) + x.mean() + rng.uniform(-30, 30)
    x = x * rng.uniform(0.85, 1.15, size=3)  # colour cast
    if rng.random() < 0.2:
        x = np.repeat(x.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < 0.1:
        x = 255 - x
    if rng.random() < 0.2:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.5, 1.2))
    return np.clip(x, 0, 255).astype(np.uint8)


class DetectionDataset(Dataset):
    """Items ``(image, targets)``: the (input_height, w, 3) uint8 input and
    ``targets.encode``'s maps for it, w a multiple of ``ALIGN`` up to ``max_width``."""

    def __init__(self, photos: list[Photo], input_height: int, max_width: int = 256,
                 augment: bool = False, seed: int = 0, zoom_out: float = 0.0) -> None:
        self.photos, self.height, self.max_width = photos, input_height, max_width
        self.augment, self.seed, self.epoch, self.zoom_out = augment, seed, 0, zoom_out

    def __len__(self) -> int:
        return len(self.photos)

    def __getitem__(self, i: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        p = self.photos[i]
        if self.augment:
            image, boxes, labels = self._view(np.random.default_rng([self.seed, self.epoch, i]), p)
        else:
            r = resize_photo(p.image, self.height, self.max_width)
            image, labels = r.image, p.labels
            boxes = p.boxes * np.array([r.sx, r.sy, r.sx, r.sy], np.float32)
        width = -(-image.shape[1] // ALIGN) * ALIGN
        return image, encode(boxes, labels, self.height, width)

    def _view(self, rng: np.random.Generator, p: Photo):
        x0, y0, cw, ch = _crop_window(rng, p.image.shape, p.boxes, self.zoom_out)
        out_w = int(np.clip(round(cw * self.height / ch), 2 * ALIGN, self.max_width))
        sx, sy = out_w / cw, self.height / ch
        small = cv2.resize(p.image, (max(1, round(p.image.shape[1] * sx)),
                                     max(1, round(p.image.shape[0] * sy))),
                           interpolation=cv2.INTER_AREA if sy < 1 else cv2.INTER_LINEAR)
        shift = np.float32([[1, 0, -x0 * sx], [0, 1, -y0 * sy]])
        image = cv2.warpAffine(small, shift, (out_w, self.height), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_REPLICATE)
        boxes = (p.boxes - np.array([x0, y0, 0, 0], np.float32)) * np.array([sx, sy, sx, sy],
                                                                             np.float32)
        return _photometric(rng, image), *_clip_to_frame(boxes, p.labels, out_w, self.height)


def _clip_to_frame(boxes: np.ndarray, labels: np.ndarray, w: int, h: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Boxes clipped to a w x h frame; those with less than half their area left dropped."""
    x0, y0 = np.maximum(boxes[:, 0], 0), np.maximum(boxes[:, 1], 0)
    x1 = np.minimum(boxes[:, 0] + boxes[:, 2], w)
    y1 = np.minimum(boxes[:, 1] + boxes[:, 3], h)
    area = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    keep = area >= 0.5 * boxes[:, 2] * boxes[:, 3]
    clipped = np.stack([x0, y0, x1 - x0, y1 - y0], axis=1)[keep]
    return clipped.astype(np.float32).reshape(-1, 4), labels[keep]


def collate(items: list[tuple[np.ndarray, dict[str, np.ndarray]]]
            ) -> tuple[torch.Tensor, dict[str, torch.Tensor], list[int]]:
    """A batch: the inputs padded to one width (``targets.to_batch``), the targets padded to
    match (no centre, no class in the padding), and each input's own width."""
    from svhn_erase.detection.targets import to_batch

    x, widths = to_batch([im for im, _ in items])
    ow = x.shape[-1] // STRIDE
    fill = {"heat": 0.0, "cls": -1, "size": 0.0, "offset": 0.0, "centre": 0.0}
    targets = {}
    for key, value in fill.items():
        maps = []
        for _, t in items:
            m = t[key]
            pad = [(0, 0)] * (m.ndim - 1) + [(0, ow - m.shape[-1])]
            maps.append(np.pad(m, pad, constant_values=value))
        targets[key] = torch.from_numpy(np.stack(maps))
    return x, targets, widths
