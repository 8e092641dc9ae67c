"""Batched inference with a digit classifier: the one place that runs a model forward.

``batched_logits`` runs normalized inputs through a model in batches, in eval mode, and
hands the model back in the mode and memory layout it came in (``prepared``). The removal
pipeline asks for ``fast=True``: channels-last on the CPU and ``class_scores``, the forward
with each conv block's pooling moved before batch norm and ReLU (exact, a quarter of the
work). ``predict_crops`` does the same for uint8 crops.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from svhn_erase.model.nets import ConvNet


def default_device(cpu: bool = False) -> torch.device:
    """CUDA when present unless ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() and not cpu else "cpu")


def model_device(model: nn.Module) -> torch.device:
    """The device a model's weights are on."""
    return next(model.parameters()).device


def _is_channels_last(model: nn.Module) -> bool:
    return any(m.weight.is_contiguous(memory_format=torch.channels_last)
               and not m.weight.is_contiguous() for m in model.modules()
               if isinstance(m, nn.Conv2d))


@contextmanager
def prepared(model: nn.Module, channels_last: bool = False) -> Iterator[torch.memory_format]:
    """Eval mode for the ``with`` block; with ``channels_last``, channels-last weights on the
    CPU and contiguous ones elsewhere, without it the layout the model has. The model's
    training flag and memory layout are restored afterwards. Yields the layout that inputs
    should take."""
    was_training, was_channels_last = model.training, _is_channels_last(model)
    use_cl = model_device(model).type == "cpu" if channels_last else was_channels_last
    layout = torch.channels_last if use_cl else torch.contiguous_format
    model.eval()
    if use_cl != was_channels_last:
        model.to(memory_format=layout)
    try:
        yield layout
    finally:
        if use_cl != was_channels_last:
            model.to(memory_format=torch.channels_last if was_channels_last
                     else torch.contiguous_format)
        model.train(was_training)


def _pooled_block(block: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """One eval-mode conv block (Conv2d, BatchNorm2d, ReLU, MaxPool2d(2)) with the pooling
    moved right after the convolution, so batch norm and ReLU run on a quarter of the values.

    Exact: batch norm is per channel ``a x + b`` and ReLU is non-decreasing, so the 2 x 2
    maximum commutes with them where ``a >= 0``; where ``a < 0`` it turns into the minimum.
    """
    conv, norm, relu, pool = block
    y = conv(x)
    high = pool(y)
    if norm.weight is not None and bool((norm.weight < 0).any()):
        flip = (norm.weight < 0).view(1, -1, 1, 1)
        high = torch.where(flip, -pool(-y), high)
    return relu(norm(high))


def class_scores(model: ConvNet, x: torch.Tensor) -> torch.Tensor:
    """``model(x)`` in eval mode (dropout off), via ``_pooled_block`` for the conv blocks
    of an original ``ConvNet`` (other networks: their plain forward)."""
    if not isinstance(model, ConvNet):
        return model(x)
    out = model.prepare(x)  # the input as the first layer reads it (``input_norm``)
    for block in (model.layer1, model.layer2, model.layer3):
        out = _pooled_block(block, out)
    return model.head(out.flatten(1))


@torch.no_grad()
def batched_logits(model: ConvNet, inputs: torch.Tensor, batch: int = 512,
                   fast: bool = False) -> torch.Tensor:
    """Logits (N, classes), float32 on the CPU, of normalized inputs (N, C, S, S), in eval
    mode, ``batch`` at a time. ``fast``: channels-last and ``class_scores`` (same classes;
    the removal pipeline's path)."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    device = model_device(model)
    out = []
    with prepared(model, channels_last=fast) as layout:
        forward = (lambda x: class_scores(model, x)) if fast else model
        for start in range(0, len(inputs), batch):
            x = inputs[start:start + batch].to(device)
            if fast:
                x = x.contiguous(memory_format=layout)
            out.append(forward(x).float().cpu())
    if not out:
        return torch.zeros((0, model.num_classes))
    return torch.cat(out)


def predict_crops(model: ConvNet, crops_uint8: np.ndarray,
                  batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """``(pred, prob)`` for uint8 crops (N, S, S) gray or (N, S, S, 3) RGB: the arg-max class
    (int64) and its softmax probability (float32)."""
    from svhn_erase.data.crops import normalize

    crops_uint8 = np.asarray(crops_uint8)
    logits = batched_logits(model, normalize(crops_uint8, gray=crops_uint8.ndim == 3), batch)
    prob, pred = torch.softmax(logits, dim=1).max(dim=1)
    return pred.numpy().astype(np.int64), prob.numpy().astype(np.float32)
