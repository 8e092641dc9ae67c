"""Several classifiers of one kind read as one: the mean of their logits (an ensemble,
``LogitMean``) or the mean of their weights (a "soup", ``average_weights``).

An ensemble is several networks' work per digit and is offered for reading digits only
(``classify`` with several ``--weights``); the removal uses one network's first layer, so it
needs a single set of weights, which a soup is: the members must share the architecture
(and, for the mean to make sense, a common starting point, e.g. seeds of one fine-tuning).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from svhn_erase.data.crops import crop_shape_of
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier
from svhn_erase.paths import PathLike


class LogitMean(nn.Module):
    """The mean of the members' logits; ``num_classes``, ``image_size`` and ``crop_shape``
    are theirs."""

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if not members:
            raise SvhnEraseError("an ensemble needs at least one member")
        kinds = {(m.num_classes, m.image_size, crop_shape_of(m)) for m in members}
        if len(kinds) != 1:
            raise SvhnEraseError(f"the ensemble's members differ in classes, crop size or "
                                 f"crop shape: {sorted(kinds)}")
        self.members = nn.ModuleList(members)
        self.num_classes, self.image_size, self.crop_shape = next(iter(kinds))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(x) for member in self.members]).mean(0)


def load_ensemble(paths: Sequence[PathLike], net: str | None = None,
                  device: str | torch.device = "cpu") -> nn.Module:
    """One weights file as its classifier, several as their ``LogitMean`` (eval mode)."""
    models = [load_classifier(path, net=net, device=device) for path in paths]
    if len(models) == 1:
        return models[0]
    return LogitMean(models).to(device).eval()


def average_weights(paths: Sequence[PathLike], net: str | None = None) -> ConvNet:
    """A classifier whose every tensor (weights and batch-norm running statistics) is the
    mean of the files' (integer entries, batch-norm step counts, from the first)."""
    models = [load_classifier(path, net=net) for path in paths]
    if not models:
        raise SvhnEraseError("nothing to average: no weights given")
    states = [m.state_dict() for m in models]
    shapes = [{k: tuple(v.shape) for k, v in s.items()} for s in states]
    if any(type(m) is not type(models[0]) or shape != shapes[0]
           or crop_shape_of(m) != crop_shape_of(models[0])
           or getattr(m, "input_norm", "global") != getattr(models[0], "input_norm", "global")
           for m, shape in zip(models, shapes, strict=True)):
        raise SvhnEraseError(f"{paths[0]}: the weights to average are of different networks, "
                             "crop shapes or input normalizations")
    mean = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            mean[key] = torch.stack([s[key] for s in states]).mean(0)
        else:
            mean[key] = value.clone()
    soup = models[0]
    soup.load_state_dict(mean)
    return soup.eval()
