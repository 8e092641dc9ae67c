"""Read digits with a trained classifier: batched inference on crops, and a split to a CSV.

``predict_crops`` takes uint8 crops (as ``crops.crop_digit`` makes them) and returns the
predicted class and its softmax probability per crop. ``classify_split`` does it for every
digit of a split and writes ``file, digit_index, label, pred, prob``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from svhn_erase import atomic_io
from svhn_erase.data import crops as crops_mod
from svhn_erase.data import split as split_mod
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier


def default_device(cpu: bool = False) -> torch.device:
    """CUDA when present unless ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


@torch.no_grad()
def predict_logits(model: ConvNet, inputs: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """Logits (N, classes) on the CPU for normalized inputs (N, C, S, S), in eval mode."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(inputs), batch):
        out.append(model(inputs[start:start + batch].to(device)).float().cpu())
    model.train(was_training)
    if not out:
        return torch.zeros((0, model.num_classes))
    return torch.cat(out)


def predict_crops(model: ConvNet, crops_uint8: np.ndarray,
                  batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, prob)`` for uint8 crops (N, S, S) gray or (N, S, S, 3) RGB: the arg-max class
    (int64) and its softmax probability (float32)."""
    crops_uint8 = np.asarray(crops_uint8)
    gray = crops_uint8.ndim == 3
    logits = predict_logits(model, crops_mod.normalize(crops_uint8, gray=gray), batch)
    prob, pred = torch.softmax(logits, dim=1).max(dim=1)
    return pred.numpy().astype(np.int64), prob.numpy().astype(np.float32)


def classify_split(root: str | os.PathLike[str], split: str, weights: str | os.PathLike[str],
                   out: str | os.PathLike[str] | None = None, net: str | None = None,
                   cpu: bool = False, batch: int = 512, margin: float = 0.0,
                   progress: bool = True) -> pd.DataFrame:
    """Classify every digit of ``root/split`` and (if ``out``) write the CSV atomically.

    ``weights`` is a run folder, a ``.safetensors`` file or an original ``.pkl`` state dict.
    Parents that do not decode are reported and left out.
    """
    path = split_mod.split_dir(root, split)
    model = load_classifier(weights, net=net, device=default_device(cpu))
    table = crops_mod.load_split_table(path)
    crop_set = crops_mod.build_crop_cache(path, size=model.image_size, margin=margin,
                                          gray=True, classes=10, progress=progress, table=table)
    pred, prob = predict_crops(model, crop_set.crops, batch)
    rows = table.iloc[crop_set.table_row]
    result = pd.DataFrame({"file": rows["file"].to_numpy(),
                           "digit_index": rows["digit_index"].to_numpy().astype(int),
                           "label": crop_set.labels, "pred": pred,
                           "prob": np.round(prob.astype(np.float64), 6)})
    if out is not None:
        atomic_io.write_text(Path(out), result.to_csv(index=False))
    return result
