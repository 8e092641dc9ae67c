"""Figures that explain the removal of one parent's digits, as the original slides showed them.

For every digit of the chosen parent: the 48 first-layer feature maps of its 40 x 40 input
(the crop the classifier reads: stretched, or the square window about the box for a
classifier trained on those); their per-pixel mean (of the stretched crop's maps, the
original method's view), std, mean - std and the histogram of mean - std (the quiet bucket
marked); the key pixels over the crop (the original's and the default method's); the
filled crops; the default method's stages on the box and its context margin (the clusters'
digit, the mask after growth and the noise-aware extension, the hole and seam, how far each
key pixel is trusted as a node, the fill's regions, the low- and high-frequency parts of the
fill and the result). For the parent: before and after, for both methods. One PNG per
figure.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import torch

from svhn_erase.atomic_io import new_figure, write_figure
from svhn_erase.boxes import Rect, clip_boxes
from svhn_erase.data.crops import crop_shape_of, square_window
from svhn_erase.data.split import Parent, iter_parents, load_table, split_dir
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.inference import default_device, model_device, prepared
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, resolve_weights
from svhn_erase.removal import fill as fill_mod
from svhn_erase.removal import keypixels
from svhn_erase.removal.config import RemovalConfig, SeedConfig
from svhn_erase.removal.methods import Erased, Scene, records
from svhn_erase.removal.methods.default import DefaultMethod
from svhn_erase.removal.methods.seed import SeedMethod


def _save(fig, target: Path, written: list[Path]) -> None:
    write_figure(target, fig, dpi=100, bbox_inches="tight")
    written.append(target)


def _overlay(crop: np.ndarray, mask: np.ndarray, color=(255, 0, 0)) -> np.ndarray:
    out = crop.copy()
    out[mask] = color
    return out


def _show(axes, images, titles) -> None:
    """Each image on its axis, titled, without ticks."""
    for ax, img, name in zip(axes, images, titles, strict=True):
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
        ax.set_title(name)
        ax.axis("off")


def load_parent(data: str | os.PathLike[str], split_name: str, index: int) -> Parent:
    """Image ``index.png`` of a split with its boxes; a user error when missing."""
    path = split_dir(data, split_name)
    table = load_table(path)
    file = f"{index}.png"
    rows = table[table["file"] == file]
    if rows.empty:
        raise SvhnEraseError(f"{path}: no image {file} in digitStruct.mat")
    parent = next(iter_parents(path, rows), None)
    if parent is None:
        raise SvhnEraseError(f"{path / file}: image does not decode")
    return parent


def feature_maps_figure(maps: np.ndarray, title: str):
    """The first-layer feature maps of one digit, 6 x 8."""
    fig, axes = new_figure(6, 8, figsize=(10, 8))
    for ax, m in zip(axes.ravel(), maps, strict=False):
        ax.imshow(m, cmap="gray")
        ax.axis("off")
    fig.suptitle(f"First-layer feature maps. {title}")
    return fig


def reductions_figure(maps: np.ndarray, buckets: int, title: str):
    """Mean, std, mean - std and the quiet bucket over the maps; the histogram of mean - std
    with the quiet bucket marked."""
    mean, std = maps.mean(0), maps.std(0, ddof=1)
    reduced = mean - std
    quiet = keypixels.quiet_bucket(reduced, buckets)
    fig, axes = new_figure(1, 5, figsize=(17, 3.6))
    _show(axes[:4], (mean, std, reduced, quiet), ("mean", "std", "mean - std", "quiet bucket"))
    counts, _, patches = axes[4].hist(reduced.ravel(), bins=buckets)
    patches[int(np.argmax(counts))].set_facecolor("red")
    axes[4].set_title("histogram of mean - std")
    fig.suptitle(f"Feature map reductions. {title}")
    return fig


def key_pixels_figure(crop: np.ndarray, seed_pattern: np.ndarray, default_keypix: np.ndarray,
                      title: str):
    """The crop, the original's GRNN pattern pixels and the default method's key pixels."""
    fig, axes = new_figure(1, 3, figsize=(9, 4))
    _show(axes, (crop, _overlay(crop, seed_pattern), _overlay(crop, default_keypix, (0, 255, 0))),
          ("image for digit", "key pixels (original)", "key pixels (default)"))
    fig.suptitle(title)
    return fig


def filled_figure(crop: np.ndarray, seed_crop: np.ndarray, default_crop: np.ndarray, title: str):
    """The crop and both methods' result under its box."""
    fig, axes = new_figure(1, 3, figsize=(9, 4))
    _show(axes, (crop, seed_crop, default_crop),
          ("image for digit", "filled (original)", "filled (default)"))
    fig.suptitle(title)
    return fig


def _detail_parts(fill: np.ndarray, hole: np.ndarray, sigma: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The fill's low frequencies (Gaussian blur, ``sigma``) and the high frequencies
    (fill less low, shown around mid-grey), both only on the hole."""
    low = cv2.GaussianBlur(fill, (0, 0), sigma)
    high = np.where(hole[..., None], fill - low, 0.0)
    return (np.where(hole[..., None], low, 0).clip(0, 255).astype(np.uint8),
            (128 + 2 * high).clip(0, 255).astype(np.uint8))


def stages_figure(context_crop: np.ndarray, stages: dict, result: np.ndarray,
                  config: RemovalConfig, title: str):
    """The default method's stages on one digit's context crop."""
    grain = stages.get("grain", np.zeros_like(stages["low"]))
    fill = stages["low"] + stages["high"] + grain
    low, high = _detail_parts(fill, stages["hole"], config.texture_sigma)
    grain_rms = float(np.sqrt((grain[stages["hole"]] ** 2).mean())) if stages["hole"].any() \
        else 0.0
    certainty = fill_mod.node_certainty(stages["position"], config)
    regions = stages.get("regions", (~stages["hole"]).astype(np.int32))
    fig, axes = new_figure(2, 5, figsize=(15, 7))
    _show(axes.ravel(), (
        context_crop, _overlay(context_crop, stages["core"]),
        _overlay(context_crop, stages["digit"]),
        _overlay(_overlay(context_crop, stages["seam"], (255, 200, 0)), stages["hole"]),
        certainty if certainty is not None else np.ones(stages["hole"].shape),
        regions, low, high, fill.clip(0, 255).astype(np.uint8), result),
        ("box and context", "digit: clusters", "digit: grown, extended", "hole and seam",
         "node certainty", "regions (fill)", "low frequencies",
         f"high freq. (texture {stages['gain']:.2f}, grain {grain_rms:.1f})", "fill",
         "result"))
    fig.suptitle(f"Default method's stages. {title}")
    return fig


def parent_figure(parent: Parent, seed: Erased, default: Erased):
    """The parent before and after both methods."""
    fig, axes = new_figure(1, 3, figsize=(12, 4))
    _show(axes, (parent.image, seed.image, default.image),
          ("original", "altered (original method)", "altered (default)"))
    fig.suptitle(f"Parent image before and after digit replacement ({parent.file})")
    return fig


def _own_view_maps(model: ConvNet, parent: Parent, rect: Rect, stretched: np.ndarray
                   ) -> np.ndarray:
    """The first-layer maps of the crop the classifier itself reads: ``stretched`` (the
    original's view, which the ``seed`` method's key pixels keep) unless its weights say it
    reads square windows about the box (``crops.crop_shape_of``)."""
    if crop_shape_of(model) != "square":
        return stretched
    window = square_window(parent.image, rect.as_box())
    with torch.no_grad():
        x40 = keypixels.classifier_input([window]).to(model_device(model))
        return model.first_conv(x40)[0].cpu().numpy()


def digit_figures(model: ConvNet, parent: Parent, k: int, rect: Rect, seed: Erased,
                  default: Erased, config: SeedConfig, out: Path,
                  record: records.DigitRecord | None = None) -> list[Path]:
    """The figures of digit ``k`` (clipped to ``rect``): ``{k+1}_feature_maps.png``,
    ``_reductions``, ``_key_pixels``, ``_filled`` and, given the default's ``record`` with
    its stages, ``_stages``."""
    crop = parent.image[rect.slices]
    x40 = keypixels.classifier_input([crop]).to(model_device(model))  # the original's view
    with torch.no_grad():
        maps = model.first_conv(x40)[0].cpu().numpy()
    (seed_kp,) = keypixels.seed_fmap(model, x40, [crop.shape[:2]], config.buckets, config.grid)
    title = (f"Actual: {parent.labels[k]} Predicted: {int(default.preds[k])} "
             f"Parent: {parent.file}")
    written: list[Path] = []
    _save(feature_maps_figure(_own_view_maps(model, parent, rect, maps), title),
          out / f"{k + 1}_feature_maps.png", written)
    _save(reductions_figure(maps, config.buckets, title), out / f"{k + 1}_reductions.png",
          written)
    _save(key_pixels_figure(crop, seed_kp.pattern, default.keypix[k], title),
          out / f"{k + 1}_key_pixels.png", written)
    _save(filled_figure(crop, seed.image[rect.slices], default.image[rect.slices], title),
          out / f"{k + 1}_filled.png", written)
    if record is not None and record.stages is not None:
        _save(stages_figure(record.context_crop, record.stages,
                            default.image[record.context.slices], RemovalConfig(), title),
              out / f"{k + 1}_stages.png", written)
    return written


def explain_parent(data: str | os.PathLike[str], split_name: str, index: int,
                   out: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None
                   ) -> list[Path]:
    """Write the figures for parent ``index`` (the file ``index.png``) of a split into ``out``.

    Returns the paths written.
    """
    parent = load_parent(data, split_name, index)
    model = load_classifier(resolve_weights(weights), device=default_device())
    out = Path(out)
    scenes = [Scene(parent.image, parent.boxes)]
    seed_config = SeedConfig()
    written: list[Path] = []
    method = DefaultMethod(RemovalConfig())
    method.keep_stages = True
    with prepared(model, channels_last=True):  # as the methods run the classifier
        digits, images, replaced = method.erase_records(scenes, model)
        default = records.assemble(scenes, digits, images, replaced)[0]
        seed = SeedMethod(seed_config).erase(scenes, model)[0]
        by_box = {r.box: r for r in digits}
        for k, rect in enumerate(clip_boxes(parent.boxes, parent.image.shape)):
            if rect is not None:
                written += digit_figures(model, parent, k, rect, seed, default, seed_config,
                                         out, by_box.get(k))
    _save(parent_figure(parent, seed, default), out / "parent.png", written)
    return written
