"""Read every digit of a split with a trained classifier and write a CSV of
``file, digit_index, label, pred, prob`` (the inference itself is ``inference.predict_crops``).

``tta=True`` reads each digit through the 15 box jitters of ``train.views`` instead (cut
from crops with context, as augmented training sees them) and averages the probabilities:
test-time augmentation, 15 forward passes per digit, reported apart from the plain reading.
Several weights files are read as one ensemble (their logits averaged, ``ensemble``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from svhn_erase import atomic_io
from svhn_erase.data import crops as crops_mod
from svhn_erase.data import split as split_mod
from svhn_erase.model.ensemble import load_ensemble
from svhn_erase.model.inference import default_device, predict_crops
from svhn_erase.model.nets import ConvNet
from svhn_erase.paths import PathLike


def classify_split(root: PathLike, split: str, weights: PathLike | Sequence[PathLike],
                   out: str | os.PathLike[str] | None = None, net: str | None = None,
                   cpu: bool = False, batch: int = 512, margin: float = 0.0,
                   progress: bool = True, tta: bool = False, files: str | None = None,
                   table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Classify every digit of ``root/split`` and (if ``out``) write the CSV atomically.

    ``files`` keeps the photos numbered in its ranges (``"1401-1600"``, as ``bench
    --files``); ``table`` is the split's digit table when the caller has already read it.

    ``weights`` is a run folder, a ``.safetensors`` file or an original ``.pkl`` state dict,
    or a list of them: an ensemble whose logits are averaged. The crops are cut as the
    weights' file says (``crops.crop_shape_of``).
    Parents that do not decode are reported, left out and listed in
    ``result.attrs["skipped"]``.
    """
    path = split_mod.split_dir(root, split)
    paths = [weights] if isinstance(weights, str | os.PathLike) else list(weights)
    model = load_ensemble(paths, net=net, device=default_device(cpu))
    if table is None:
        table = crops_mod.load_split_table(path)
    if files is not None:
        from svhn_erase.evaluation.selection import select_files

        table = table[table["file"].isin(select_files(list(dict.fromkeys(table["file"])),
                                                      files))]
    if tta:
        crop_set, pred, prob = _tta_predict(path, table, model, margin, batch, progress)
    else:
        crop_set = crops_mod.build_crop_cache(path, size=model.image_size, margin=margin,
                                              gray=True, classes=10, progress=progress,
                                              table=table,
                                              shape=crops_mod.crop_shape_of(model))
        pred, prob = predict_crops(model, crop_set.crops, batch)
    result = result_frame(table, crop_set, pred, prob)
    result.attrs["skipped"] = split_mod.index_skipped(table) + crop_set.skipped
    if out is not None:
        atomic_io.write_text(Path(out), result.to_csv(index=False))
    return result


def result_frame(table: pd.DataFrame, crop_set: crops_mod.CropSet, pred: np.ndarray,
                 prob: np.ndarray) -> pd.DataFrame:
    """The CSV's table: ``file, digit_index, label, pred, prob`` for each digit crop of
    ``crop_set`` (rows of the split's ``table``), read as ``pred`` with probability ``prob``;
    a judge's no-digit crops, which have no box, are left out."""
    digits = crop_set.table_row >= 0
    rows = table.iloc[crop_set.table_row[digits]]
    return pd.DataFrame({"file": rows["file"].to_numpy(),
                         "digit_index": rows["digit_index"].to_numpy().astype(int),
                         "label": crop_set.labels[digits], "pred": pred[digits],
                         "prob": np.round(prob[digits].astype(np.float64), 6)})


def _tta_predict(path: Path, table: pd.DataFrame, model: ConvNet, margin: float, batch: int,
                 progress: bool) -> tuple[crops_mod.CropSet, np.ndarray, np.ndarray]:
    """``(context crop set, pred, prob)`` averaged over the box jitters of ``views``."""
    from svhn_erase.model.train import augment, views

    size = model.image_size
    crop_set = crops_mod.build_crop_cache(
        path, size=augment.context_size(size, margin), margin=augment.context_margin(margin),
        gray=True, classes=10, progress=progress, table=table,
        shape=crops_mod.crop_shape_of(model))
    probs = views.view_probs([model], crops_mod.normalize(crop_set.crops), size, margin,
                             batch=batch, progress=progress)
    prob, pred = probs.max(dim=1)
    return crop_set, pred.numpy().astype(np.int64), prob.numpy().astype(np.float32)
