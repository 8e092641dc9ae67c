"""The nine digit classifiers of the original experiment (SPEC §2), by their original names.

Every conv block is Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d(2), kept as
``layer1/2/3 = nn.Sequential(conv, bn, relu, pool)`` so that state dicts of the original
project (keys ``layer1.0.weight`` ..., ``fc1.weight``) load unchanged. The input size is a
parameter; the head's input size is computed from it.

``ConvNet.input_norm`` says how the network treats its input (``INPUT_NORMS``): "global"
(the original) takes the crops as given, ``(x / 255 - 0.5) / 0.5``; "crop" first
standardizes each crop on its own (``standardize_crops``), in ``features`` and ``first_conv``
alike, so every consumer of the network gets it.
"""

from __future__ import annotations

import torch
from torch import nn

from svhn_erase.model.deepnet import DEEP_ARCHITECTURES, DeepNet, deep_architecture_of

# name -> (conv channels, (kernel, padding) per layer, head), head in
#   "linear": fc1 = Linear(n, classes)
#   ("hidden", h): fc1 = Linear(n, h), drop1 = Dropout(0.5), fc2 = Linear(h, classes)
#   "dropout": drop1 = Dropout(0.5), fc1 = Linear(n, classes)
_K5 = ((5, 2), (5, 2), (5, 2))
_K3 = ((3, 1), (3, 1), (3, 1))
ARCHITECTURES: dict[str, tuple[tuple[int, int, int], tuple, object]] = {
    "ConvNet32": ((32, 64, 32), _K5, "linear"),
    "ConvNet48": ((48, 64, 32), _K5, "linear"),
    "ConvNet32_753": ((32, 64, 32), ((7, 3), (5, 2), (3, 1)), "linear"),
    "ConvNet48_333": ((48, 64, 32), _K3, "linear"),
    "ConvNet48_Dropout": ((48, 64, 32), _K3, ("hidden", 500)),
    "ConvNet48_Dropout2": ((48, 64, 32), _K3, ("hidden", 800)),
    "ConvNet48_Dropout3": ((48, 64, 32), _K3, "dropout"),
    "ConvNet48_Dropout5": ((48, 64, 32), _K5, "dropout"),
    "ConvNet64": ((64, 64, 32), _K5, "linear"),
}
DEFAULT_NET = "ConvNet48_Dropout5"
NETWORKS: tuple[str, ...] = (*ARCHITECTURES, *DEEP_ARCHITECTURES)  # every name a run may use
INPUT_NORMS: tuple[str, ...] = ("global", "crop")
CROP_NORM_EPS = 0.05  # floor of a crop's std, in units of the global input (~6 grey levels)
CROP_NORM_SCALE = 0.5  # a standardized crop's std, about a real crop's under "global"


def standardize_crops(x: torch.Tensor) -> torch.Tensor:
    """Each crop of ``x`` (N, C, H, W) minus its own mean, divided by its own standard
    deviation (at least ``CROP_NORM_EPS``), times ``CROP_NORM_SCALE``: the same output for
    any brightness and contrast ``a * x + b`` (a > 0) of a crop that is not flat."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    std = x.std(dim=(1, 2, 3), keepdim=True, unbiased=False).clamp_min(CROP_NORM_EPS)
    return (x - mean) * (CROP_NORM_SCALE / std)


class ConvNet(nn.Module):
    """Three conv blocks and a linear head, configured by one ``ARCHITECTURES`` entry."""

    def __init__(self, name: str = DEFAULT_NET, num_classes: int = 10, image_size: int = 40,
                 in_channels: int = 1) -> None:
        super().__init__()
        if name not in ARCHITECTURES:
            raise ValueError(f"unknown network {name!r}; choose one of {', '.join(ARCHITECTURES)}")
        channels, kernels, head = ARCHITECTURES[name]
        self.name = name
        self.num_classes = num_classes
        self.image_size = image_size
        self.input_norm = "global"  # or "crop" (INPUT_NORMS); the weights file records it
        blocks = []
        c_in = in_channels
        for c_out, (k, p) in zip(channels, kernels, strict=True):
            blocks.append(nn.Sequential(nn.Conv2d(c_in, c_out, kernel_size=k, padding=p),
                                        nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)))
            c_in = c_out
        self.layer1, self.layer2, self.layer3 = blocks
        with torch.no_grad():
            probe = torch.zeros(1, in_channels, image_size, image_size)
            n_flat = self.layer3(self.layer2(self.layer1(probe))).numel()
        self.num_conv_outputs = n_flat
        if head == "linear":
            self.fc1 = nn.Linear(n_flat, num_classes)
        elif head == "dropout":
            self.drop1 = nn.Dropout(0.5)
            self.fc1 = nn.Linear(n_flat, num_classes)
        else:
            hidden = head[1]
            self.fc1 = nn.Linear(n_flat, hidden)
            self.drop1 = nn.Dropout(0.5)
            self.fc2 = nn.Linear(hidden, num_classes)
        self._head = head if isinstance(head, str) else "hidden"

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened output of the three conv blocks."""
        return self.layer3(self.layer2(self.layer1(self.prepare(x)))).flatten(1)

    def first_conv(self, x: torch.Tensor) -> torch.Tensor:
        """First-layer feature maps (Conv2d only, before batch norm), same size as ``x``."""
        return self.layer1[0](self.prepare(x))

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """The input as the first layer reads it: ``x`` itself ("global") or each crop
        standardized ("crop")."""
        return standardize_crops(x) if self.input_norm == "crop" else x

    def head(self, flat: torch.Tensor) -> torch.Tensor:
        """Class scores from the flattened conv features (``features``)."""
        if self._head == "linear":
            return self.fc1(flat)
        if self._head == "dropout":
            return self.fc1(self.drop1(flat))
        return self.fc2(self.drop1(self.fc1(flat)))  # no activation between, as the original

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def build_network(name: str = DEFAULT_NET, num_classes: int = 10,
                  image_size: int = 40) -> ConvNet | DeepNet:
    """A fresh network of any name in ``NETWORKS`` (an original ``ConvNet`` or a ``DeepNet``)."""
    if name in DEEP_ARCHITECTURES:
        return DeepNet(name, num_classes=num_classes, image_size=image_size)
    return ConvNet(name, num_classes=num_classes, image_size=image_size)


def infer_architecture(state: dict[str, torch.Tensor]) -> tuple[str, int]:
    """Guess ``(network name, number of classes)`` from a state dict's shapes."""
    deep = deep_architecture_of(state)
    if deep is not None:
        return deep
    k1 = state["layer1.0.weight"].shape
    k2 = state["layer2.0.weight"].shape
    k3 = state["layer3.0.weight"].shape
    has_fc2 = "fc2.weight" in state
    classes = int(state["fc2.weight" if has_fc2 else "fc1.weight"].shape[0])
    candidates = []
    for name, (channels, kernels, head) in ARCHITECTURES.items():
        if channels != (k1[0], k2[0], k3[0]):
            continue
        if tuple(k for k, _ in kernels) != (k1[-1], k2[-1], k3[-1]):
            continue
        if has_fc2 != (not isinstance(head, str)):
            continue
        if has_fc2 and state["fc1.weight"].shape[0] != head[1]:
            continue
        candidates.append(name)
    if not candidates:
        raise ValueError("the state dict matches none of the known architectures")
    # "linear" and "dropout" heads have the same parameters; prefer the dropout variant,
    # which is what the original project trained with those shapes.
    candidates.sort(key=lambda n: ARCHITECTURES[n][2] != "dropout")
    return candidates[0], classes
