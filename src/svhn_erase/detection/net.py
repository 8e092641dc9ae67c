"""The detector network: a light backbone and a CenterNet-style head at stride 4.

A photo is resized to ``input_height`` pixels (aspect kept) and run through four strided
conv stages (strides 2, 4, 8, 16); a small top-down path brings the deepest features back
to stride 4, where four 1 x 1 heads predict per cell:

- ``heat`` (1): the logit that a digit's centre falls in the cell (class-agnostic);
- ``cls`` (10): the digit's class, read at the centre cells;
- ``size`` (2): ``log(width / stride)`` and ``log(height / stride)`` of the box;
- ``offset`` (2): the centre's sub-cell position (0..1 in x and y).

``NetConfig`` is the architecture's description, saved with the weights. ``DigitEnsemble``
runs several such networks (same architecture, other seeds) on one input and averages their
maps, so that one member's spurious peak or size error is outvoted before decoding.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

STRIDE = 4
NUM_CLASSES = 10


@dataclass(frozen=True)
class NetConfig:
    """The detector's architecture: stage widths, input height and the normalisation."""

    widths: tuple[int, int, int, int] = (16, 24, 48, 64)
    head: int = 32
    input_height: int = 80

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> NetConfig:
        return cls(widths=tuple(int(w) for w in d["widths"]), head=int(d["head"]),
                   input_height=int(d["input_height"]))


def _conv(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class DigitCenterNet(nn.Module):
    """Backbone (strides 2-16), top-down merge to stride 4, four heads (see module doc)."""

    def __init__(self, config: NetConfig = NetConfig()) -> None:
        super().__init__()
        self.config = config
        w1, w2, w3, w4 = config.widths
        self.stage1 = _conv(3, w1, 2)
        self.stage2 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))
        self.stage3 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))
        self.stage4 = nn.Sequential(_conv(w3, w4, 2), _conv(w4, w4), _conv(w4, w4))
        self.lateral3 = nn.Conv2d(w3, w4, 1)
        self.merge3 = _conv(w4, w3)
        self.lateral2 = nn.Conv2d(w2, w3, 1)
        self.merge2 = _conv(w3, config.head)
        self.trunk = _conv(config.head, config.head)
        self.heat = nn.Conv2d(config.head, 1, 1)
        self.cls = nn.Conv2d(config.head, NUM_CLASSES, 1)
        self.size = nn.Conv2d(config.head, 2, 1)
        self.offset = nn.Conv2d(config.head, 2, 1)
        nn.init.constant_(self.heat.bias, -4.6)  # a prior of 1 % centres: stable focal loss

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """``x``: (n, 3, H, W) normalised, H and W multiples of 16; maps at (H/4, W/4)."""
        c2 = self.stage2(self.stage1(x))
        c3 = self.stage3(c2)
        c4 = self.stage4(c3)
        p3 = self.merge3(self.lateral3(c3) + F.interpolate(c4, size=c3.shape[-2:]))
        p2 = self.merge2(self.lateral2(c2) + F.interpolate(p3, size=c2.shape[-2:]))
        t = self.trunk(p2)
        return {"heat": self.heat(t), "cls": self.cls(t), "size": self.size(t),
                "offset": self.offset(t)}


class DigitEnsemble(nn.Module):
    """Several ``DigitCenterNet`` of one architecture whose maps are averaged: heat and class
    logits, log sizes and offsets alike (a mean of logits is a geometric mean of odds, so a
    peak that only one member sees is damped). One member gives its own maps unchanged.

    Members may differ in input height (the ensemble's is the first member's): such a member
    runs on the input resized by its height over the ensemble's, and its maps are resized
    back to the ensemble's grid (log sizes shifted by the resize factor); its offsets, sub-cell
    positions on another grid, are left out of the offsets' mean."""

    def __init__(self, members: list[DigitCenterNet]) -> None:
        super().__init__()
        if not members or any(not same_architecture(m.config, members[0].config)
                              for m in members):
            raise ValueError("an ensemble needs one or more members of one architecture")
        self.config = members[0].config
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """The members' maps (see ``DigitCenterNet.forward``), averaged key by key."""
        if len(self.members) == 1:
            return self.members[0](x)
        base = self.config.input_height
        outs = [m(x) if m.config.input_height == base
                else _rescaled(m, x, m.config.input_height / base) for m in self.members]
        mean = {k: torch.stack([o[k] for o in outs]).mean(0) for k in ("heat", "cls", "size")}
        mean["offset"] = torch.stack([o["offset"] for o, m in zip(outs, self.members, strict=True)
                                      if m.config.input_height == base]).mean(0)
        return mean


def same_architecture(a: NetConfig, b: NetConfig) -> bool:
    """Whether two configs differ at most in input height (so they can be ensembled)."""
    return a.widths == b.widths and a.head == b.head


def _rescaled(net: DigitCenterNet, x: torch.Tensor, scale: float) -> dict[str, torch.Tensor]:
    """``net``'s maps for ``x`` resized by ``scale`` (to multiples of 16), brought back to
    ``x``'s grid: heat, class and offset resized, log sizes in ``x``'s pixels."""
    height, width = x.shape[-2:]
    h = max(16, int(round(height * scale / 16)) * 16)
    w = max(16, int(round(width * scale / 16)) * 16)
    out = net(F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False))
    grid = (height // STRIDE, width // STRIDE)
    maps = {k: F.interpolate(v, size=grid, mode="bilinear", align_corners=False)
            for k, v in out.items()}
    shift = torch.tensor([w / width, h / height], dtype=maps["size"].dtype,
                         device=maps["size"].device).log().view(1, 2, 1, 1)
    maps["size"] = maps["size"] - shift
    return maps
