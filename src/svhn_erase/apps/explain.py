"""Figures that explain the removal of one parent's digits, as the original slides showed them.

For every digit of the chosen parent: the 48 first-layer feature maps of its 40 x 40 input;
their per-pixel mean, std, mean - std and the 35-bucket histogram of mean - std (the quiet
bucket marked); the key pixels over the crop (the original's and the default method's); the
filled crops. For the parent: before and after, for both methods. One PNG per figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from svhn_erase.atomic_io import atomic_path
from svhn_erase.data.split import iter_parents, load_table, split_dir
from svhn_erase.errors import SvhnEraseError
from svhn_erase.removal import keypixels
from svhn_erase.removal import pipeline as erase

DIGITS = "0123456789"


def _save(fig, target: Path) -> None:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=100, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)


def _overlay(crop: np.ndarray, mask: np.ndarray, color=(255, 0, 0)) -> np.ndarray:
    out = crop.copy()
    out[mask] = color
    return out


def explain_parent(data: str | os.PathLike[str], split_name: str, index: int,
                   out: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None
                   ) -> list[Path]:
    """Write the figures for parent ``index`` (the file ``index.png``) of a split into ``out``.

    Returns the paths written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = split_dir(data, split_name)
    table = load_table(path)
    file = f"{index}.png"
    rows = table[table["file"] == file]
    if rows.empty:
        raise SvhnEraseError(f"{path}: no image {file} in digitStruct.mat")
    parent = next(iter_parents(path, rows), None)
    if parent is None:
        raise SvhnEraseError(f"{path / file}: image does not decode")
    model = erase._load_model(weights)
    device = next(model.parameters()).device
    out = Path(out)
    written: list[Path] = []
    default = erase.erase_images([parent.image], [parent.boxes], model, "default")[0]
    seed = erase.erase_images([parent.image], [parent.boxes], model, "seed")[0]
    h_img, w_img = parent.image.shape[:2]
    for k, box in enumerate(parent.boxes):
        clipped = erase.clip_box(box, h_img, w_img)
        if clipped is None:
            continue
        t, lft, b, r = clipped
        crop = parent.image[t:b, lft:r]
        x40 = keypixels.classifier_input([crop]).to(device)
        with torch.no_grad():
            maps = model.first_conv(x40)[0].cpu().numpy()
        pred = int(default.preds[k])
        title = f"Actual: {parent.labels[k]} Predicted: {pred} Parent: {parent.file}"

        fig, axes = plt.subplots(6, 8, figsize=(10, 8))
        for ax, m in zip(axes.ravel(), maps, strict=False):
            ax.imshow(m, cmap="gray")
            ax.axis("off")
        fig.suptitle(f"First-layer feature maps. {title}")
        written.append(out / f"{k + 1}_feature_maps.png")
        _save(fig, written[-1])

        mean, std = maps.mean(0), maps.std(0, ddof=1)
        reduced = mean - std
        quiet = keypixels.quiet_bucket(reduced)
        fig, axes = plt.subplots(1, 5, figsize=(17, 3.6))
        for ax, img, name in zip(axes, (mean, std, reduced, quiet),
                                 ("mean", "std", "mean - std", "quiet bucket"), strict=False):
            ax.imshow(img, cmap="gray")
            ax.set_title(name)
            ax.axis("off")
        counts, edges, patches = axes[4].hist(reduced.ravel(), bins=keypixels.SEED_BUCKETS)
        patches[int(np.argmax(counts))].set_facecolor("red")
        axes[4].set_title("histogram of mean - std")
        fig.suptitle(f"Feature map reductions. {title}")
        written.append(out / f"{k + 1}_reductions.png")
        _save(fig, written[-1])

        kp_seed = keypixels.seed_fmap(model, x40, [crop.shape[:2]])[0]
        fig, axes = plt.subplots(1, 3, figsize=(9, 4))
        axes[0].imshow(crop)
        axes[0].set_title("image for digit")
        axes[1].imshow(_overlay(crop, kp_seed.pattern))
        axes[1].set_title("key pixels (original)")
        axes[2].imshow(_overlay(crop, default.keypix[k], (0, 255, 0)))
        axes[2].set_title("key pixels (default)")
        for ax in axes:
            ax.axis("off")
        fig.suptitle(title)
        written.append(out / f"{k + 1}_key_pixels.png")
        _save(fig, written[-1])

        fig, axes = plt.subplots(1, 3, figsize=(9, 4))
        for ax, img, name in zip(axes, (crop, seed.image[t:b, lft:r], default.image[t:b, lft:r]),
                                 ("image for digit", "filled (original)", "filled (default)"),
                                 strict=True):
            ax.imshow(img)
            ax.set_title(name)
            ax.axis("off")
        fig.suptitle(title)
        written.append(out / f"{k + 1}_filled.png")
        _save(fig, written[-1])

    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    for ax, img, name in zip(axes, (parent.image, seed.image, default.image),
                             ("original", "altered (original method)", "altered (default)"),
                             strict=True):
        ax.imshow(img)
        ax.set_title(name)
        ax.axis("off")
    fig.suptitle(f"Parent image before and after digit replacement ({parent.file})")
    written.append(out / "parent.png")
    _save(fig, written[-1])
    return written
