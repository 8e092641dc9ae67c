"""Torchvision-style datasets over a Format 1 split: whole parents, or cached digit crops.

- ``SVHNFull(root, split)``: item ``i`` is the i-th parent as an (H, W, 3) uint8 array (or
  whatever ``transform`` makes of it) and a target ``{"boxes": (k, 4) ltwh, "labels": (k,)}``.
- ``SVHNDigits(root, split, size=40, ...)``: item ``i`` is one normalized digit crop, a float
  tensor (1, size, size) in [-1, 1], and its label (0..9, or 10 = no digit with
  ``classes=11``). Crops come from ``crops.build_crop_cache``, so no PNG is decoded per item;
  ``crop_shape="square"`` cuts them as a square-crop classifier reads them
  (``crops.CROP_SHAPES``; the default stretches the box, as the original did).

Both work with a plain ``torch.utils.data.DataLoader``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from svhn_erase.data import crops as crops_mod
from svhn_erase.data import split as split_mod


class SVHNFull(Dataset):
    """The parents of ``root/split`` with their digit boxes and labels."""

    def __init__(self, root: str | os.PathLike[str], split: str,
                 transform: Callable | None = None) -> None:
        self.path = split_mod.split_dir(root, split)
        self.table = crops_mod.load_split_table(self.path)
        self.files = list(dict.fromkeys(self.table["file"]))
        self._rows = self.table.groupby("file", sort=False).indices
        self.transform = transform

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[object, dict[str, torch.Tensor]]:
        file = self.files[index]
        rows = self.table.iloc[self._rows[file]]
        image = split_mod.read_rgb(self.path / file)
        boxes = rows[["left", "top", "width", "height"]].to_numpy().round().astype(np.int64)
        target = {"boxes": torch.as_tensor(boxes),
                  "labels": torch.as_tensor(rows["label"].to_numpy().astype(np.int64))}
        if self.transform is not None:
            image = self.transform(image)
        return image, target


class SVHNDigits(Dataset):
    """Normalized digit crops of ``root/split`` (cached), optionally a subset by ``indices``.

    ``transform``, if given, is applied to the normalized crop tensor.
    """

    def __init__(self, root: str | os.PathLike[str], split: str, size: int = 40,
                 margin: float = 0.0, gray: bool = True, classes: int = 10,
                 transform: Callable | None = None, indices: Sequence[int] | None = None,
                 progress: bool = False, crop_shape: str = "stretch") -> None:
        self.path = split_mod.split_dir(root, split)
        self.crop_set = crops_mod.build_crop_cache(self.path, size=size, margin=margin,
                                                   gray=gray, classes=classes, progress=progress,
                                                   shape=crop_shape)
        self.gray = gray
        all_idx = np.arange(len(self.crop_set))
        self.indices = all_idx if indices is None else np.asarray(indices, dtype=np.int64)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.indices)

    @property
    def labels(self) -> np.ndarray:
        return self.crop_set.labels[self.indices]

    def uint8(self) -> np.ndarray:
        """The subset's crops as uint8, (N, size, size[, 3])."""
        return self.crop_set.crops[self.indices]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The whole subset at once: normalized crops (N, C, S, S) and labels (N,) int64, for
        training loops that index batches directly instead of going item by item."""
        return (crops_mod.normalize(self.uint8(), gray=self.gray),
                torch.as_tensor(self.labels, dtype=torch.int64))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        i = int(self.indices[index])
        image = crops_mod.normalize(self.crop_set.crops[i], gray=self.gray)
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.crop_set.labels[i])
