"""The student network: a small fully convolutional net from a box with its context to the
box's digit mask, and its weights on disk.

Three resolutions (the crop, half, quarter), each a few 3 x 3 convolutions with batch norm
and ReLU; the coarser ones are added back on the way up (as a feature pyramid does), so
every output pixel sees the whole box and its surroundings (what the background looks like
decides what the digit is). It runs on whole batches of crops (``crops``); its output is one
digit logit per crop pixel. About 6 M multiply-adds per 32 x 32 crop.

An ensemble (``StudentEnsemble``) is several such networks of one spec trained from different
seeds; its logit is the mean of theirs (one training run's noise averaged out). It is stored
in one file like a single network, with ``members`` in the metadata.

Weights are safetensors with the settings that shaped them (``StudentSpec``: crop size,
context margin, width) and the training record as metadata.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from torch import nn
from torch.nn import functional as F

from svhn_erase.atomic_io import write_safetensors
from svhn_erase.errors import SvhnEraseError

KIND = "svhn-erase student"


@dataclass(frozen=True)
class StudentSpec:
    """The network's shape and the crops it takes: ``size`` x ``size`` crops of the box grown
    by ``margin`` of its size on each side; ``width`` channels at full resolution (twice that
    below)."""

    size: int = 32
    margin: float = 0.15
    width: int = 12


def _block(c_in: int, c_out: int, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride, padding=dilation, dilation=dilation,
                                   bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class StudentNet(nn.Module):
    """Crops (n, 3, s, s) in [-1, 1] to digit logits (n, 1, s, s)."""

    def __init__(self, spec: StudentSpec | None = None) -> None:
        super().__init__()
        self.spec = spec or StudentSpec()
        c = self.spec.width
        self.full = _block(3, c)
        self.mid = nn.Sequential(_block(c, 2 * c, stride=2), _block(2 * c, 2 * c, dilation=2))
        self.low = nn.Sequential(_block(2 * c, 2 * c, stride=2),
                                     _block(2 * c, 2 * c, dilation=2))
        self.lateral = nn.Conv2d(2 * c, c, 1)
        self.mix = _block(c, c)
        self.out = nn.Conv2d(c, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        full = self.full(x)
        mid = self.mid(full)
        mid = mid + F.interpolate(self.low(mid), size=mid.shape[-2:], mode="bilinear",
                                  align_corners=False)
        up = F.interpolate(self.lateral(mid), size=full.shape[-2:], mode="bilinear",
                           align_corners=False)
        return self.out(self.mix(full + up))


class StudentEnsemble(nn.Module):
    """Several ``StudentNet`` of one spec; crops to the mean of their digit logits."""

    def __init__(self, spec: StudentSpec | None = None, members: int = 2) -> None:
        super().__init__()
        self.spec = spec or StudentSpec()
        self.members = nn.ModuleList(StudentNet(self.spec) for _ in range(members))

    @classmethod
    def of(cls, nets: list[StudentNet]) -> StudentEnsemble:
        """The ensemble of ``nets`` (copies of their weights; one spec for all)."""
        if len({n.spec for n in nets}) != 1:
            raise SvhnEraseError("the ensemble's networks differ in crop size, margin or width")
        out = cls(nets[0].spec, len(nets))
        for member, net in zip(out.members, nets, strict=True):
            member.load_state_dict(net.state_dict())
        return out.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mean_logit(member(x) for member in self.members)

    @staticmethod
    def mean_logit(logits: Iterable[torch.Tensor]) -> torch.Tensor:
        """The members' logits (in member order) averaged: summed one after the other, then
        divided by their count (the one order, so members run apart give the same bits)."""
        logits = iter(logits)
        total, count = next(logits), 1
        for logit in logits:
            total, count = total + logit, count + 1
        return total / count


Student = StudentNet | StudentEnsemble


def save_student(net: Student, path: str | os.PathLike[str], record: dict) -> None:
    """Save ``net`` (one network or an ensemble) as safetensors (atomically) with its spec,
    its member count and ``record`` (how it was trained) as metadata."""
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    meta = {"kind": KIND, "spec": json.dumps(asdict(net.spec)), "record": json.dumps(record)}
    if isinstance(net, StudentEnsemble):
        meta["members"] = str(len(net.members))
    write_safetensors(path, state, meta)


def student_metadata(path: str | os.PathLike[str]) -> tuple[StudentSpec, dict]:
    """The spec and training record stored in a student file; a user error if it is none."""
    spec, record, _ = _metadata(path)
    return spec, record


def _metadata(path: str | os.PathLike[str]) -> tuple[StudentSpec, dict, int]:
    """Spec, training record and member count (0: a single network) of a student file."""
    path = Path(path)
    if not path.is_file():
        raise SvhnEraseError(f"{path}: student weights not found (train them with "
                             "'svhn-erase train-student')")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        if meta.get("kind") != KIND:
            raise ValueError("not a student network")
        spec = StudentSpec(**json.loads(meta["spec"]))
        return spec, json.loads(meta.get("record", "{}")), int(meta.get("members", 0))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SvhnEraseError(f"{path}: not student weights ({exc})") from exc


def load_student(path: str | os.PathLike[str],
                 device: torch.device | str = "cpu") -> Student:
    """The student network (or ensemble) stored at ``path``, in eval mode on ``device``."""
    spec, _, members = _metadata(path)
    net = StudentEnsemble(spec, members) if members else StudentNet(spec)
    try:
        net.load_state_dict(load_file(str(path)))
    except (RuntimeError, OSError) as exc:
        raise SvhnEraseError(f"{path}: student weights do not fit the network ({exc})") from exc
    return net.to(device).eval()


def fused(net: Student) -> Student:
    """A copy of ``net`` (one network or an ensemble) for inference: eval mode, every batch
    norm folded into the convolution before it (same outputs up to rounding, fewer passes
    over the maps). (An ensemble's members run one after the other, or side by side on
    spare threads in the ``student`` method: stacking them into grouped convolutions was
    1.6x slower on CPU.)"""
    out = copy.deepcopy(net).eval()
    for block in out.modules():
        if isinstance(block, nn.Sequential) and len(block) == 3 \
                and isinstance(block[1], nn.BatchNorm2d):
            conv, norm = block[0], block[1]
            scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
            conv.weight = nn.Parameter(conv.weight.detach() * scale[:, None, None, None])
            conv.bias = nn.Parameter((norm.bias - norm.running_mean * scale).detach())
            block[1] = nn.Identity()
    return out

