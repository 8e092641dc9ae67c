"""The training data of a run: generated crops of a split, real crops of a photo range, or
both, as ``loop.TrainData``; and where its validation crops come from.

- ``split`` (a generated split; None: none) gives its crops, a seeded ``val_fraction`` of its
  parents held out for validation (``loop.split_train_val``, ``limit`` crops at most);
- ``real`` with ``real_range`` adds the real crops of those photos, ``real_repeat`` times
  (with ``real_none`` that many extra digit-free crops per photo, for an 11-class judge);
- ``real_shapes`` adds that many real-shape composites per real training digit (``shapes``);
- ``real_val_range`` makes those real photos the validation set instead (the generated
  split is then used whole).

With ``augment`` the training crops are context crops (``augment.context_margin``) that an
``Augmenter`` cuts and jitters per batch; validation crops are always the plain ones. With
``teacher`` each distinct training crop gets the teacher's probabilities once (several
teachers: averaged), over the box-jitter ``views`` of its context crop with ``augment`` or
``teacher_views``, else of the plain crop; with ``teacher_online`` the teachers read each
batch as trained instead (``loop.TrainData.teacher``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from svhn_erase.data import crops as crops_mod
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.train import augment, loop, real, shapes, views
from svhn_erase.model.train.config import TrainConfig
from svhn_erase.model.weights import weights_digest
from svhn_erase.paths import PathLike


def _geometry(config: TrainConfig, context: bool) -> tuple[int, float]:
    """``(size, margin)`` of plain crops, or of context crops for augmentation."""
    size, margin = config.size, config.margin
    if context:
        return augment.context_size(size, margin), augment.context_margin(margin)
    return size, margin


def crop_set(path: Path, config: TrainConfig, progress: bool,
             context: bool = False) -> crops_mod.CropSet:
    """The split's cached plain crops, or context crops for augmentation."""
    size, margin = _geometry(config, context)
    return crops_mod.build_crop_cache(path, size=size, margin=margin, gray=True,
                                      classes=config.classes, progress=progress,
                                      shape=config.crop_shape)


def _real_set(config: TrainConfig, photos: str | None, progress: bool,
              context: bool = False) -> crops_mod.CropSet:
    size, margin = _geometry(config, context)
    return real.real_crop_set(config.real, photos, size, margin, config.classes, progress,
                              config.crop_shape)


def training_data(data: PathLike, config: TrainConfig, device: torch.device,
                  progress: bool = True) -> tuple[loop.TrainData, str]:
    """``(TrainData, fingerprint of everything trained on)`` for ``config``."""
    context = config.augment
    x_parts, y_parts, val_parts, prints = [], [], [], []
    # what the teachers read: the training crops, or their context crops (teacher_views)
    views_only = bool(config.teacher_views and not context)
    t_parts: list[np.ndarray] = []
    real_val = bool(config.real and config.real_val_range)
    if config.split:
        path = split_mod.split_dir(data, config.split)
        plain = crop_set(path, config, progress)
        if len(plain) == 0:
            raise SvhnEraseError(f"{path}: no digit crops to train on")
        train_idx, val_idx = loop.split_train_val(
            plain.parent, 0.0 if real_val else config.val_fraction, config.seed, config.limit)
        source = crop_set(path, config, progress, context=True) if context else plain
        x_parts.append(source.crops[train_idx])
        y_parts.append(source.labels[train_idx])
        if views_only:
            t_parts.append(crop_set(path, config, progress, context=True).crops[train_idx])
        val_parts.append((plain.crops[val_idx], plain.labels[val_idx]))
        prints.append(plain.fingerprint)
    if config.real:
        source = _real_set(config, config.real_range, progress, context)
        x_parts += [source.crops] * config.real_repeat
        y_parts += [source.labels] * config.real_repeat
        if views_only:
            t_parts += [_real_set(config, config.real_range, progress, True).crops] * \
                config.real_repeat
        prints.append(f"real:{source.fingerprint}")
        if config.real_none:
            none = real.real_none_crops(config.real, config.real_range, config.real_none,
                                        *_geometry(config, context), config.seed, progress,
                                        config.crop_shape)
            x_parts += [none.crops] * config.real_repeat
            y_parts += [none.labels] * config.real_repeat
            prints.append(f"real-none:{none.fingerprint}")
    if config.real_shapes:
        made, labels, made_print = shapes.composite_set(
            config.real, config.real_range, *_geometry(config, context), config.real_shapes,
            config.seed, progress, config.real_shapes_student, config.crop_shape,
            config.real_shapes_warp, config.real_shapes_elastic)
        x_parts.append(made)
        y_parts.append(labels)
        prints.append(f"real-shapes:{made_print}")
    if config.crop_shape != "stretch":  # stretch keeps the fingerprints of earlier runs
        prints.append(f"crop:{config.crop_shape}")
    if config.input_norm != "global":  # global keeps the fingerprints of earlier runs
        prints.append(f"input-norm:{config.input_norm}")
    if real_val:
        val_set = _real_set(config, config.real_val_range, progress)
        val_parts = [(val_set.crops, val_set.labels)]
        prints.append(f"real-val:{val_set.fingerprint}")
    if views_only and (config.real_none or config.real_shapes):
        raise SvhnEraseError("--teacher-views without --augment does not take --real-none "
                             "or --real-shapes")
    soft = None if config.teacher_online else _soft_labels(
        config, t_parts if views_only else x_parts, device, progress)
    x_train = crops_mod.normalize(np.concatenate(x_parts))
    y_train = torch.as_tensor(np.concatenate(y_parts))
    x_val = crops_mod.normalize(np.concatenate([v[0] for v in val_parts]))
    y_val = torch.as_tensor(np.concatenate([v[1] for v in val_parts]))
    tensors = loop.TrainData(x_train.to(device).contiguous(memory_format=torch.channels_last),
                             y_train.to(device), x_val, y_val,
                             augment.Augmenter(config.size, config.margin) if context else None,
                             soft.to(device) if soft is not None else None,
                             _online_teacher(config, device) if config.teacher_online else None)
    if config.teacher:
        digests = ",".join(weights_digest(t) for t in config.teachers)
        views_flag = ":views" if config.teacher_views else ""
        warm = f":T{config.distill_temperature:g}" if config.distill_temperature != 1 else ""
        online = ":online" if config.teacher_online else ""
        prints.append(f"teacher:{digests}:{config.augment}{views_flag}{warm}{online}")
    return tensors, _fingerprint(prints)


def _teachers(config: TrainConfig, device: torch.device) -> list:
    """The teachers' networks (eval mode), checked against the run's classes."""
    from svhn_erase.model.weights import load_classifier

    teachers = [load_classifier(path, device=device) for path in config.teachers]
    for path, teacher in zip(config.teachers, teachers, strict=True):
        if teacher.num_classes != config.classes:
            raise SvhnEraseError(f"{path}: the teacher has {teacher.num_classes} "
                                 f"classes, the run {config.classes}")
        if crops_mod.crop_shape_of(teacher) != config.crop_shape:
            raise SvhnEraseError(f"{path}: the teacher reads {crops_mod.crop_shape_of(teacher)}"
                                 f" crops, the run trains on {config.crop_shape} ones")
    return teachers


def _online_teacher(config: TrainConfig,
                    device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """A function from a batch, as trained, to the teachers' averaged probabilities."""
    teachers = _teachers(config, device)
    return lambda xb: views.plain_probs(teachers, xb, config.distill_temperature)


def _soft_labels(config: TrainConfig, parts: list[np.ndarray], device: torch.device,
                 progress: bool) -> torch.Tensor | None:
    """The teacher's probabilities for the crops of ``parts`` (None without a teacher);
    a part repeated in the list (real crops, ``real_repeat``) is read once."""
    if not config.teacher:
        return None
    teachers = _teachers(config, device)
    done: dict[int, torch.Tensor] = {}
    for crops in parts:
        if id(crops) not in done:
            done[id(crops)] = _teacher_probs(config, teachers, crops, progress)
    return torch.cat([done[id(crops)] for crops in parts])


def _teacher_probs(config: TrainConfig, teachers: list, crops: np.ndarray,
                   progress: bool) -> torch.Tensor:
    """The teachers' averaged probabilities for one part's crops: through the box-jitter
    views of context crops (``augment`` or ``teacher_views``) or once per plain crop."""
    x = crops_mod.normalize(crops)
    temperature = config.distill_temperature
    if not (config.augment or config.teacher_views):
        return views.plain_probs(teachers, x, temperature)
    # the removal's fast forward (the same probabilities up to float rounding; the second
    # session's packaged classifier was distilled with the plain one, fast=False)
    return views.view_probs(teachers, x, config.size, config.margin, progress=progress,
                            temperature=temperature)


def _fingerprint(prints: list[str]) -> str:
    if len(prints) == 1:
        return prints[0]
    return hashlib.sha256("+".join(prints).encode()).hexdigest()[:16]
