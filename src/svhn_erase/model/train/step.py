"""One optimisation step: the training model, its optimizer and ``TrainStep``.

The model and the batches are kept in ``torch.channels_last`` memory format (the same fp32
arithmetic, faster convolutions); SGD and Adam use torch's fused kernels where the device
has them. ``precision="bf16"`` runs the forward pass and the loss under ``torch.autocast``
(bfloat16; on a GPU without bfloat16, float16 with a gradient scaler): mixed precision,
the weights stay fp32. These are the pieces ``benchmarks/bench_train.py`` times.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import nn

from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import DEFAULT_NET, ConvNet, build_network
from svhn_erase.model.train.config import OPTIMIZERS, PRECISIONS


def make_training_model(net: str = DEFAULT_NET, num_classes: int = 10, image_size: int = 40,
                        device: str | torch.device = "cpu") -> ConvNet:
    """A fresh network (``nets.build_network``) on ``device`` in channels_last memory format
    (same fp32 math, faster convolutions); seed torch before calling for reproducible
    initial weights."""
    model = build_network(net, num_classes=num_classes, image_size=image_size)
    return model.to(device=device, memory_format=torch.channels_last)


def _fused_supported(params: list[torch.Tensor]) -> bool:
    """True when torch has fused optimizer kernels for the parameters' device (CPU since
    torch 2.4, CUDA)."""
    if not params:
        return False
    device = params[0].device.type
    if device not in ("cpu", "cuda"):
        return False
    try:  # older torch: no fused CPU kernels; the constructor says so
        torch.optim.SGD([torch.zeros(1, device=params[0].device, requires_grad=True)],
                        lr=0.1, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return False
    return True


def make_optimizer(name: str, params: Iterable[torch.Tensor], lr: float,
                   momentum: float, weight_decay: float = 0.0) -> torch.optim.Optimizer:
    """The named optimizer; SGD and Adam use torch's fused kernels where the device has them
    (the same update, one kernel for all parameters). ``momentum`` is SGD's only."""
    params = list(params)
    fused = {"fused": True} if _fused_supported(params) else {}
    decay = {"weight_decay": weight_decay}
    if name == "SGD":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, **decay, **fused)
    if name == "Adagrad":
        return torch.optim.Adagrad(params, lr=lr, **decay)
    if name == "Adadelta":
        return torch.optim.Adadelta(params, lr=lr, **decay)
    if name == "Adam":
        return torch.optim.Adam(params, lr=lr, **decay, **fused)
    if name == "ASGD":
        return torch.optim.ASGD(params, lr=lr, **decay)
    raise SvhnEraseError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def autocast_settings(precision: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """``(autocast dtype or None for plain fp32, whether a GradScaler is needed)``."""
    if precision not in PRECISIONS:
        raise SvhnEraseError(f"unknown precision {precision!r}; choose one of "
                             f"{', '.join(PRECISIONS)}")
    if precision == "fp32":
        return None, False
    if device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16, True
    return torch.bfloat16, False


class Mix(NamedTuple):
    """A mixup pairing of a batch: crop i was blended as ``lam * x[i] + (1 - lam) *
    x[perm[i]]``, so its hard-label term is blended the same way."""

    perm: torch.Tensor
    lam: float


class TrainStep:
    """One optimisation step on a batch, as the training loop runs it: channels_last
    input, optional autocast (``precision``), gradients set to None, fused optimizer.
    Calling it returns ``(loss, correct)`` as device tensors (no host sync). With
    ``distill`` > 0 a call also takes the batch's soft labels (a teacher's probabilities):
    the loss is ``(1 - distill) * CE(labels) + distill * CE(soft labels)``; with a
    ``temperature`` T the second term is ``T**2 * CE(soft labels, logits / T)`` (the soft
    labels were made at the same T). With a ``Mix`` (mixup) the hard-label term is
    ``lam * CE(labels) + (1 - lam) * CE(labels[perm])``."""

    def __init__(self, model: ConvNet, optimizer: torch.optim.Optimizer,
                 precision: str = "fp32", label_smoothing: float = 0.0,
                 distill: float = 0.0, temperature: float = 1.0) -> None:
        self.model, self.optimizer, self.distill = model, optimizer, distill
        self.temperature = temperature
        self.device = next(model.parameters()).device
        self.dtype, needs_scaler = autocast_settings(precision, self.device)
        self.scaler = torch.amp.GradScaler("cuda") if needs_scaler else None
        self.loss_fn = nn.CrossEntropyLoss(label_smoothing=label_smoothing)

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)

    def _loss(self, logits: torch.Tensor, yb: torch.Tensor,
              soft: torch.Tensor | None, mix: Mix | None = None) -> torch.Tensor:
        loss = self.loss_fn(logits, yb)
        if mix is not None:
            loss = mix.lam * loss + (1 - mix.lam) * self.loss_fn(logits, yb[mix.perm])
        if soft is None or self.distill == 0:
            return loss
        t = self.temperature
        soft_loss = -(soft.to(self.device) * (logits / t).log_softmax(1)).sum(1).mean() * t * t
        return (1 - self.distill) * loss + self.distill * soft_loss

    def __call__(self, xb: torch.Tensor, yb: torch.Tensor,
                 soft: torch.Tensor | None = None,
                 mix: Mix | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        xb = xb.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        yb = yb.to(self.device, non_blocking=True)
        self.optimizer.zero_grad(set_to_none=True)
        with self._autocast():
            logits = self.model(xb)
            loss = self._loss(logits.float(), yb, soft, mix)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        with torch.no_grad():
            correct = (logits.argmax(1) == yb).sum()
        return loss.detach(), correct
