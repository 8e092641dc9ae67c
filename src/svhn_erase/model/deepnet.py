"""A deeper digit classifier than the original nine: ``DeepNet``, offered for real photos.

The original networks have three conv layers. ``DeepNet`` stacks more 3 x 3 convolutions
(VGG style, each Conv2d -> BatchNorm2d -> ReLU, a 2 x 2 max pooling after each stage) on the
same 40 x 40 gray input and ends in dropout and one linear layer, as ConvNet48_Dropout5
does. It is used as a stronger teacher whose soft labels train the packaged
ConvNet48_Dropout5 (``train --teacher``), and can be trained and loaded like any network
(``train --net``, ``load_classifier``). Its state dict keys are ``stages.<stage>.<layer>``
(conv at layer 0, 3, ... of a stage), ``fc1``; ``deep_architecture_of`` recognises them.
"""

from __future__ import annotations

import torch
from torch import nn

# name -> one (kernel, channels, ...) tuple per stage: the stage's first conv has that
# kernel, the rest are 3 x 3; every stage ends in MaxPool2d(2)
DEEP_ARCHITECTURES: dict[str, tuple[tuple[int, ...], ...]] = {
    "DeepNet5_128": ((5, 32), (3, 64, 64), (3, 128, 128)),
}


def _conv(c_in: int, c_out: int, kernel: int) -> list[nn.Module]:
    return [nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, bias=False),
            nn.BatchNorm2d(c_out), nn.ReLU()]


class DeepNet(nn.Module):
    """Conv stages of ``DEEP_ARCHITECTURES[name]``, then dropout 0.5 and a linear head."""

    def __init__(self, name: str, num_classes: int = 10, image_size: int = 40,
                 in_channels: int = 1) -> None:
        super().__init__()
        if name not in DEEP_ARCHITECTURES:
            raise ValueError(f"unknown deep network {name!r}")
        self.name, self.num_classes, self.image_size = name, num_classes, image_size
        stages, c_in = [], in_channels
        for kernel, *channels in DEEP_ARCHITECTURES[name]:
            layers: list[nn.Module] = []
            for i, c_out in enumerate(channels):
                layers += _conv(c_in, c_out, kernel if i == 0 else 3)
                c_in = c_out
            stages.append(nn.Sequential(*layers, nn.MaxPool2d(2)))
        self.stages = nn.Sequential(*stages)
        with torch.no_grad():
            n_flat = self.stages(torch.zeros(1, in_channels, image_size, image_size)).numel()
        self.num_conv_outputs = n_flat
        self.drop1 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(n_flat, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened output of the conv stages."""
        return self.stages(x).flatten(1)

    def first_conv(self, x: torch.Tensor) -> torch.Tensor:
        """First-layer feature maps (the first Conv2d only), same size as ``x``."""
        return self.stages[0][0](x)

    def head(self, flat: torch.Tensor) -> torch.Tensor:
        """Class scores from the flattened conv features (``features``)."""
        return self.fc1(self.drop1(flat))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def deep_architecture_of(state: dict[str, torch.Tensor]) -> tuple[str, int] | None:
    """``(name, classes)`` of the deep network whose conv shapes ``state`` has, or None."""
    keys = sorted((k for k, v in state.items() if k.startswith("stages.") and v.ndim == 4),
                  key=lambda k: [int(part) for part in k.split(".")[1:3]])
    convs = [state[k].shape for k in keys]
    if not convs or "fc1.weight" not in state:
        return None
    for name, spec in DEEP_ARCHITECTURES.items():
        shapes = [(c, k) for kernel, *channels in spec
                  for i, c in enumerate(channels) for k in [kernel if i == 0 else 3]]
        if [(s[0], s[-1]) for s in convs] == shapes:
            return name, int(state["fc1.weight"].shape[0])
    return None
