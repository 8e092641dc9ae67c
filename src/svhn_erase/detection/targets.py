"""What the network sees and what it is taught: photo resizing, target maps, decoding.

``resize_photo`` brings a photo to the network's input height (aspect kept, width bounded);
``to_batch`` normalises and pads a list of them into one tensor. ``encode`` turns a photo's
boxes (in resized pixels) into the head's targets: an elliptic Gaussian per digit on the
centre heat map (its spread follows the box, so abutting narrow digits stay apart), the
class on the cells around each centre, and log box size and sub-cell offset at the centre
cell. ``decode`` does the reverse on the network's output: local maxima of the heat map
over ``min_score``, each read as a box, a class and a score.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from svhn_erase.detection.net import STRIDE

ALIGN = 16  # input widths and heights are multiples of the deepest stride
GAUSS_SPREAD = 1 / 6  # sigma = spread * box side, in cells
CLASS_CORE = 0.5  # cells whose Gaussian is at least this are taught the digit's class
MAX_PEAKS = 48  # per image, before the score threshold


@dataclass(frozen=True)
class Resized:
    """A photo resized for the network and the factors from original to resized pixels."""

    image: np.ndarray  # (input_height, w, 3) uint8
    sx: float
    sy: float


def resize_photo(image: np.ndarray, height: int, max_width: int) -> Resized:
    """``image`` at ``height`` rows, aspect kept; its width between ``ALIGN`` and
    ``max_width`` (a wider photo is squeezed to ``max_width``)."""
    h, w = image.shape[:2]
    new_w = int(min(max_width, max(ALIGN, round(w * height / h))))
    shrink = new_w < w or height < h
    out = cv2.resize(image, (new_w, height),
                     interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return Resized(out, new_w / w, height / h)


def to_batch(images: list[np.ndarray]) -> tuple[torch.Tensor, list[int]]:
    """(n, 3, H, W) float tensor in [-1, 1], each image padded on the right with 0 (mid
    gray) to the widest rounded up to ``ALIGN``; and each image's own width."""
    widths = [im.shape[1] for im in images]
    height = images[0].shape[0]
    width = -(-max(widths) // ALIGN) * ALIGN
    batch = np.zeros((len(images), height, width, 3), np.float32)
    for i, im in enumerate(images):
        batch[i, :, :im.shape[1]] = im.astype(np.float32) / 127.5 - 1.0
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous(), widths


def encode(boxes: np.ndarray, labels: np.ndarray, height: int, width: int
           ) -> dict[str, np.ndarray]:
    """Targets for one image of ``height`` x ``width`` input pixels from its boxes (k, 4:
    left, top, width, height in input pixels) and labels (k,): ``heat`` (oh, ow), ``cls``
    (oh, ow; -1 = not taught), ``size`` (2, oh, ow; taught where ``cls`` is), ``offset`` (2,
    oh, ow) and ``centre`` (oh, ow; 1 at each centre cell)."""
    oh, ow = height // STRIDE, width // STRIDE
    heat = np.zeros((oh, ow), np.float32)
    cls = np.full((oh, ow), -1, np.int64)
    size = np.zeros((2, oh, ow), np.float32)
    offset = np.zeros((2, oh, ow), np.float32)
    centre = np.zeros((oh, ow), np.float32)
    ys, xs = np.mgrid[0:oh, 0:ow].astype(np.float32)
    # big boxes first, so that a small digit's centre overwrites a big one's class area
    for i in np.argsort(-(boxes[:, 2] * boxes[:, 3]), kind="stable"):
        left, top, bw, bh = (float(v) for v in boxes[i])
        cx, cy = (left + bw / 2) / STRIDE, (top + bh / 2) / STRIDE
        ix, iy = int(np.clip(np.floor(cx), 0, ow - 1)), int(np.clip(np.floor(cy), 0, oh - 1))
        sig_x = max(0.5, GAUSS_SPREAD * bw / STRIDE)
        sig_y = max(0.5, GAUSS_SPREAD * bh / STRIDE)
        g = np.exp(-((xs - ix) ** 2 / (2 * sig_x**2) + (ys - iy) ** 2 / (2 * sig_y**2)))
        heat = np.maximum(heat, g)
        core = g >= CLASS_CORE
        cls[core] = int(labels[i])
        size[0][core], size[1][core] = np.log(max(bw, 1.0) / STRIDE), np.log(max(bh, 1.0) / STRIDE)
        heat[iy, ix] = 1.0
        centre[iy, ix] = 1.0
        offset[:, iy, ix] = cx - ix, cy - iy
    return {"heat": heat, "cls": cls, "size": size, "offset": offset, "centre": centre}


@dataclass(frozen=True)
class Peak:
    """One decoded detection in input pixels: box (left, top, width, height), class, score,
    and the class probability."""

    box: tuple[float, float, float, float]
    label: int
    score: float
    class_prob: float


def decode(out: dict[str, torch.Tensor], widths: list[int], min_score: float
           ) -> list[list[Peak]]:
    """The peaks of a batch's output (``widths``: each image's own input width)."""
    heat = torch.sigmoid(out["heat"][:, 0])
    peaks = heat * (F.max_pool2d(heat[:, None], 3, stride=1, padding=1)[:, 0] == heat)
    probs = torch.softmax(out["cls"], dim=1)
    result = []
    for i, w in enumerate(widths):
        valid = peaks[i, :, : max(1, w // STRIDE)]
        flat = valid.reshape(-1)
        k = min(MAX_PEAKS, flat.numel())
        scores, idx = flat.topk(k)
        keep = scores >= min_score
        scores, idx = scores[keep], idx[keep]
        ow = valid.shape[1]
        found = []
        for s, j in zip(scores.tolist(), idx.tolist(), strict=True):
            y, x = divmod(j, ow)
            cx = (x + float(out["offset"][i, 0, y, x])) * STRIDE
            cy = (y + float(out["offset"][i, 1, y, x])) * STRIDE
            bw = float(torch.exp(out["size"][i, 0, y, x])) * STRIDE
            bh = float(torch.exp(out["size"][i, 1, y, x])) * STRIDE
            p = probs[i, :, y, x]
            label = int(p.argmax())
            found.append(Peak((cx - bw / 2, cy - bh / 2, bw, bh), label, s, float(p[label])))
        result.append(found)
    return result
