"""Tuning the classical baselines' mask growth, so that they are compared at their best.

Every mask-based baseline grows its mask by ``grow`` pixels before filling
(``removal.methods.classical``). ``tune_growth`` measures, on a split with ground truth,
each baseline's mean PSNR over the boxes (per image, as ``bench`` does) for every growth in
``GROWTH_CHOICES``; ``chosen_growth`` picks the best (ties: the smaller growth). Run it on
a tuning split that no reported figure comes from (``benchmarks/tune_baselines.py``) and
write the result into ``classical.TUNED_GROWTH``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import metrics
from svhn_erase.evaluation.bench import CHUNK_IMAGES, read_samples
from svhn_erase.evaluation.selection import chunks, headline_names
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.methods.base import RemovalMethod, Scene, create, method_class
from svhn_erase.removal.methods.classical import GROWTH_CHOICES
from svhn_erase.removal.methods.default import found_masks


def growable(names: Sequence[str] | None = None) -> list[str]:
    """The headline methods (or ``names``) whose settings have a ``grow`` field."""
    out = []
    for name in names if names is not None else headline_names():
        config = create(name).config
        if dataclasses.is_dataclass(config) and "grow" in {f.name for f in
                                                           dataclasses.fields(config)}:
            out.append(name)
    return out


def _variant(name: str, grow: int) -> RemovalMethod:
    """The method ``name`` with its default settings but ``grow``."""
    cls = method_class(name)
    return cls(dataclasses.replace(cls().config, grow=grow))


def tune_growth(data_root: str | os.PathLike[str], split: str, model: ConvNet | None,
                names: Sequence[str] | None = None, growths: Sequence[int] = GROWTH_CHOICES,
                limit: int | None = None) -> dict[str, dict[int, float]]:
    """Per baseline (``names``, default: every growable headline method), per growth: mean
    PSNR in dB over the boxes of ``data_root/split``'s images (the first ``limit``).
    ``model`` finds the default method's mask for the ``*_ours`` baselines (else unused)."""
    path = split_mod.split_dir(data_root, split)
    if not split_mod.has_groundtruth(path):
        raise SvhnEraseError(f"{path}: tuning needs a split with groundtruth/")
    names = growable(names)
    needs_found = any(method_class(n).uses_classifier for n in names)
    table = split_mod.load_table(path)
    files = list(dict.fromkeys(table["file"]))[:limit]
    table = table[table["file"].isin(set(files))]
    psnr: dict[str, dict[int, list[float]]] = {n: {g: [] for g in growths} for n in names}
    for chunk in chunks(read_samples(path, table, files, []), CHUNK_IMAGES):
        scenes = [Scene(s.image, s.boxes, true_mask=s.true_mask) for s in chunk]
        if needs_found:
            scenes = [dataclasses.replace(sc, found_mask=m)
                      for sc, m in zip(scenes, found_masks(scenes, model), strict=True)]
        for name in names:
            for grow in growths:
                for s, e in zip(chunk, _variant(name, grow).erase(scenes, model), strict=True):
                    value = metrics.psnr_over_boxes(e.image, s.clean, s.boxes)
                    if value is not None:
                        psnr[name][grow].append(value)
    return {n: {g: float(np.mean(v)) if v else float("nan") for g, v in per.items()}
            for n, per in psnr.items()}


def chosen_growth(psnr: dict[int, float]) -> int:
    """The growth with the highest PSNR; the smallest such on a tie."""
    return max(sorted(psnr), key=lambda g: (psnr[g], -g))
