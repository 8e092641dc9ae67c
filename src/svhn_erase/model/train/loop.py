"""The epoch loop: the seeded train / validation split, the tensors, and the epochs.

Deterministic on the CPU given the seed: torch is seeded with ``seed`` before the model is
built, and each epoch's shuffle and dropout with ``seed * 1000 + epoch``, so a resumed run
continues exactly as an uninterrupted one. The loss and accuracy are summed on the device
and read once per epoch; after each epoch the validation accuracy decides whether these
weights are the best so far, and ``on_epoch`` saves the state (the run's checkpoint).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from svhn_erase.data import crops as crops_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import batched_logits
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.train.augment import Augmenter
from svhn_erase.model.train.config import TrainConfig
from svhn_erase.model.train.degrade import degrade
from svhn_erase.model.train.ema import WeightEma
from svhn_erase.model.train.step import Mix, TrainStep, make_optimizer, make_training_model


class TrainData(NamedTuple):
    """Normalized crops and labels: the training ones on the device (channels_last), the
    validation ones on the CPU. With ``augment`` (an ``Augmenter``) the training crops are
    context crops that it turns into augmented batches; ``soft`` holds a teacher's
    probabilities per training crop (distillation), or ``teacher`` gives them for each
    batch as trained (``TrainConfig.teacher_online``)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    augment: Augmenter | None = None
    soft: torch.Tensor | None = None
    teacher: Callable[[torch.Tensor], torch.Tensor] | None = None


@dataclass
class TrainState:
    """What a run carries from epoch to epoch and its checkpoint holds: the model, the
    optimizer, the best weights so far (on the CPU) and one ``metrics.csv`` row per epoch;
    ``ema`` the moving average of the weights (``TrainConfig.ema``), which is then what is
    validated and kept as the best."""

    model: ConvNet
    optimizer: torch.optim.Optimizer
    best: dict[str, torch.Tensor]
    history: list[list[float]]
    ema: WeightEma | None = None


def split_train_val(parent: np.ndarray, val_fraction: float, seed: int,
                    limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, val)`` of crops, split by parent image (digits of one parent never
    straddle the two), seeded; ``limit`` keeps that many crops, whole parents first."""
    if not 0 <= val_fraction < 1:
        raise SvhnEraseError(f"--val-fraction must be in [0, 1), not {val_fraction}")
    parent = np.asarray(parent)
    n_parents = int(parent.max()) + 1 if len(parent) else 0
    rank = np.empty(n_parents, dtype=np.int64)
    rank[np.random.default_rng(seed).permutation(n_parents)] = np.arange(n_parents)
    order = np.argsort(rank[parent], kind="stable")
    if limit is not None:
        order = order[:limit]
    chosen = np.unique(rank[parent[order]])  # ranks of the parents kept, ascending
    n_val = int(round(val_fraction * len(chosen)))
    if val_fraction > 0 and len(chosen) > 1:
        n_val = min(max(n_val, 1), len(chosen) - 1)
    is_val = np.isin(rank[parent[order]], chosen[:n_val])
    return order[~is_val], order[is_val]


def training_tensors(crop_set: crops_mod.CropSet, train_idx: np.ndarray, val_idx: np.ndarray,
                     device: torch.device) -> TrainData:
    """The chosen crops of ``crop_set``, normalized, as ``TrainData``."""
    x_all = crops_mod.normalize(crop_set.crops)
    y_all = torch.as_tensor(crop_set.labels)
    return TrainData(x_all[train_idx].to(device).contiguous(memory_format=torch.channels_last),
                     y_all[train_idx].to(device), x_all[val_idx], y_all[val_idx])


def cpu_weights(model: ConvNet) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's state dict."""
    return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}


def new_state(config: TrainConfig, device: torch.device) -> TrainState:
    """A fresh model (torch seeded with ``config.seed`` first; the weights of
    ``config.init`` when set) and its optimizer."""
    torch.manual_seed(config.seed)
    model = make_training_model(config.net, config.classes, config.size, device)
    if config.init:
        from svhn_erase.model.weights import load_classifier

        start = load_classifier(config.init, net=config.net)
        if start.num_classes != config.classes or start.image_size != config.size:
            raise SvhnEraseError(f"{config.init}: {start.num_classes} classes at "
                                 f"{start.image_size} px, the run wants {config.classes} at "
                                 f"{config.size}")
        model.load_state_dict(start.state_dict())
    if config.input_norm != "global":  # the run's, not what --init read
        model.input_norm = config.input_norm
    optimizer = make_optimizer(config.opt, model.parameters(), config.lr, config.momentum,
                               config.weight_decay)
    ema = WeightEma(model, config.ema) if config.ema else None
    return TrainState(model, optimizer, best=cpu_weights(model), history=[], ema=ema)


def accuracy(model: ConvNet, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of ``x`` the model classifies as ``y`` (eval mode); NaN for no crops."""
    if len(y) == 0:
        return float("nan")
    return float((batched_logits(model, x).argmax(1) == y).float().mean())


def epoch_lr(config: TrainConfig, epoch: int) -> float:
    """The learning rate of ``epoch`` (1-based): constant, or cosine-annealed from ``lr``
    at the first epoch towards 0 after the last."""
    if config.schedule == "constant":
        return config.lr
    return config.lr * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / config.epochs))


def _train_epoch(step: TrainStep, data: TrainData, config: TrainConfig, epoch: int,
                 progress: bool, ema: WeightEma | None = None) -> tuple[float, float]:
    """One shuffled pass over the training crops; ``(mean loss, accuracy)``."""
    device = data.x_train.device
    for group in step.optimizer.param_groups:
        group["lr"] = epoch_lr(config, epoch)
    torch.manual_seed(config.seed * 1000 + epoch)  # dropout
    generator = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(data.y_train), generator=generator).to(device)
    step.model.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    correct_sum = torch.zeros((), dtype=torch.int64, device=device)
    batches = tqdm(range(0, len(order), config.batch), desc=f"epoch {epoch}/{config.epochs}",
                   unit="batch", disable=None if progress else True, leave=False)
    mix_rng = np.random.default_rng(config.seed * 1000 + epoch)
    for begin in batches:
        idx = order[begin:begin + config.batch]
        xb, soft, mix = _batch(data, config, idx, generator, mix_rng)
        loss, correct = step(xb, data.y_train[idx], soft, mix)
        if ema is not None:
            ema.update(step.model)
        loss_sum += loss.double() * len(idx)
        correct_sum += correct
    return float(loss_sum) / len(order), int(correct_sum) / len(order)  # one host sync


def _batch(data: TrainData, config: TrainConfig, idx: torch.Tensor,
           generator: torch.Generator, mix_rng: np.random.Generator
           ) -> tuple[torch.Tensor, torch.Tensor | None, Mix | None]:
    """One batch as trained: ``(inputs, soft labels or None, mixup pairing or None)``."""
    xb = data.x_train[idx]
    if data.augment is not None:
        xb = data.augment(xb, generator)
    if config.degrade:
        xb = degrade(xb, generator, config.degrade)
    soft = data.soft[idx] if data.soft is not None else None
    mix = None
    if config.mixup:
        perm = torch.randperm(len(idx), generator=generator).to(xb.device)
        mix = Mix(perm, float(mix_rng.beta(config.mixup, config.mixup)))
        xb = mix.lam * xb + (1 - mix.lam) * xb[perm]
        if soft is not None:
            soft = mix.lam * soft + (1 - mix.lam) * soft[perm]
    if data.teacher is not None:
        soft = data.teacher(xb)
    return xb, soft, mix


def run_epochs(state: TrainState, data: TrainData, config: TrainConfig,
               on_epoch: Callable[[TrainState], None], progress: bool = True) -> None:
    """Train from the epoch after ``state.history``'s last up to ``config.epochs``,
    appending ``epoch, train_loss, train_acc, val_acc, seconds`` and keeping the weights of
    the best validation accuracy in ``state.best``; ``on_epoch(state)`` after each epoch."""
    step = TrainStep(state.model, state.optimizer, config.precision, config.label_smoothing,
                     config.distill, config.distill_temperature)
    for epoch in range(len(state.history) + 1, config.epochs + 1):
        start = time.perf_counter()
        loss, train_acc = _train_epoch(step, data, config, epoch, progress, state.ema)
        if not np.isfinite(loss):
            raise SvhnEraseError(f"training diverged: the loss is {loss} in epoch {epoch}; "
                                 "lower --lr")
        kept = state.ema.averaged(state.model) if state.ema is not None else state.model
        val_acc = accuracy(kept, data.x_val, data.y_val)
        best_val = max((h[3] for h in state.history), default=-1.0)
        state.history.append([epoch, loss, train_acc, val_acc, time.perf_counter() - start])
        if len(state.history) == 1 or val_acc > best_val or np.isnan(best_val):
            state.best = cpu_weights(kept)
        on_epoch(state)
        if progress:
            raw = (f" (raw weights {100 * accuracy(state.model, data.x_val, data.y_val):.2f}%)"
                   if state.ema is not None else "")
            tqdm.write(f"epoch {epoch}: loss {loss:.4f} train {100 * train_acc:.2f}%"
                       f" val {100 * val_acc:.2f}%{raw} ({state.history[-1][4]:.0f} s)")
