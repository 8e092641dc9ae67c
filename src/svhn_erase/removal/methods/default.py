"""The ``default`` method: this project's removal.

Per digit, on the box plus a context margin: key pixels by clustering colour and
native-resolution feature-map statistics with a background prior (``segment``); the hole is
the digit's pixels inside the box; an exact GRNN over the key pixels next to the hole, sigma
per crop, fills it ring by ring (``fill``); only the hole and a blended seam inside the box
are written (``paste``). A second look: the classifier reads the erased boxes whose split a
larger minimum digit share would change; where it still reads the digit it read before, that
box is split with the larger share and filled again (``RemovalConfig.ghost_*``). The key
pixels reported per box are the pixels left exactly as they were (background, not in the
seam): the GRNN's node pool.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from svhn_erase.boxes import union_mask
from svhn_erase.data.crops import crop_shape_of
from svhn_erase.model.inference import batched_logits, prepared
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.config import RemovalConfig
from svhn_erase.removal.fill import fill_default
from svhn_erase.removal.grain import add_grain
from svhn_erase.removal.methods import records
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene, register
from svhn_erase.removal.paste import paste, seam_ring
from svhn_erase.removal.segment import (
    Clustered,
    Segmented,
    cluster_crops,
    second_look_config,
    split_clustered,
)
from svhn_erase.removal.texture import Detail, add_detail


def find_segments(digits: list[records.DigitRecord], model: ConvNet,
                  config: RemovalConfig, n_scenes: int) -> list[Segmented]:
    """Per record, its context crop split into digit and background (``Segmented``), other
    digits' boxes left out of the background prior."""
    return [split_clustered(c, config)
            for c in cluster_records(digits, model, config, n_scenes)]


def find_backgrounds(digits: list[records.DigitRecord], model: ConvNet,
                     config: RemovalConfig, n_scenes: int) -> list[np.ndarray]:
    """Per record, its context crop's key pixels (True = background), other digits' boxes
    left out of the background prior."""
    return [~seg.digit for seg in find_segments(digits, model, config, n_scenes)]


def hole_and_seam(record: records.DigitRecord, background: np.ndarray,
                  config: RemovalConfig) -> tuple[np.ndarray, np.ndarray]:
    """Context-sized masks: the hole (digit pixels inside the box) and the seam ring around
    it (inside the box too)."""
    in_box = np.zeros(background.shape, bool)
    in_box[record.inner] = True
    hole = ~background & in_box
    return hole, seam_ring(hole, len(config.seam_alphas), in_box)


def found_masks(scenes: Sequence[Scene], model: ConvNet,
                config: RemovalConfig | None = None) -> list[np.ndarray]:
    """Per scene, (H, W) bool: the digit pixels the default method finds (its
    ``Erased.mask``), without filling them."""
    config = config or RemovalConfig()
    if config.ghost_prob > 0:  # the second look reads the erased boxes: erase them
        return [e.mask for e in DefaultMethod(config).erase(scenes, model)]
    digits = records.digit_records(scenes, config.context_margin)
    masks = [np.zeros(s.image.shape[:2], bool) for s in scenes]
    for record, background in zip(digits, find_backgrounds(digits, model, config,
                                                            len(scenes)), strict=True):
        masks[record.scene][record.rect.slices] |= ~background[record.inner]
    return masks


def add_texture(scenes: Sequence[Scene], digits: list[records.DigitRecord],
                holes: list[np.ndarray], fills: list[np.ndarray], config: RemovalConfig
                ) -> list[Detail]:
    """Texture-aware detail (``texture.add_detail``) added to each crop's fill in place; the
    details, per record."""
    occupied = [union_mask(s.boxes, s.image.shape) for s in scenes]
    details = []
    for record, hole, fill in zip(digits, holes, fills, strict=True):
        detail = add_detail(record.parent, record.context, hole, occupied[record.scene], fill,
                            config)
        if detail.gain > 0:
            np.clip(fill + detail.added, 0.0, 255.0, out=fill)
        details.append(detail)
    return details


@register
class DefaultMethod(RemovalMethod):
    """This project's key pixels, exact GRNN and seam paste (``RemovalConfig``)."""

    name = "default"
    description = ("this project's removal (feature-map key pixels, exact GRNN, digit-only "
                   "paste)")
    uses_classifier = True
    finds_key_pixels = True
    keep_stages = False  # explain sets it: each DigitRecord keeps its stages (records.stages)

    def __init__(self, config: RemovalConfig | None = None) -> None:
        super().__init__(config or RemovalConfig())

    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        return records.assemble(scenes, *self.erase_records(scenes, model))

    def erase_records(self, scenes: Sequence[Scene], model: ConvNet | None = None
                      ) -> tuple[list[records.DigitRecord], list[np.ndarray],
                                 list[np.ndarray]]:
        """The stages on every digit of ``scenes``: the records (with ``stages`` when
        ``keep_stages``), the erased images and the pixels written, per scene."""
        model = self.require_model(model)
        config: RemovalConfig = self.config
        digits = records.digit_records(scenes, config.context_margin)
        with prepared(model, channels_last=True):  # one layout change for both looks
            x40 = records.classifier_inputs(digits, crop_shape_of(model))
            records.classify(digits, model, x40, config.classify_batch)
            clustered = cluster_records(digits, model, config, len(scenes))
            segments = [split_clustered(c, config) for c in clustered]
            fills = Fills(digits, segments, config, self.keep_stages)
            fills.update(scenes, range(len(digits)))
            images, replaced = fills.paste(scenes)
            if config.ghost_prob > 0:
                again = second_look_config(config)
                redo = still_read(digits, images, model, config,
                                  [n for n, seg in enumerate(segments)
                                   if seg.could_grow and digits[n].pred not in config.ghost_skip])
                for n in redo:
                    fills.segments[n] = split_clustered(clustered[n], again)
                images, replaced = fills.refill(scenes, redo)
        return digits, images, replaced


def cluster_records(digits: list[records.DigitRecord], model: ConvNet, config: RemovalConfig,
                    n_scenes: int) -> list[Clustered]:
    """Per record, its context crop's features and k-means centres (``segment.Clustered``),
    other digits' boxes left out of the background prior."""
    groups = records.by_scene(digits, n_scenes)
    others = [records.other_boxes(r, groups[r.scene]) for r in digits]
    return cluster_crops(model, [r.context_crop for r in digits], [r.inner for r in digits],
                         others, config)


def still_read(digits: list[records.DigitRecord], images: list[np.ndarray], model: ConvNet,
               config: RemovalConfig, which: Sequence[int]) -> list[int]:
    """Of the records ``which``, those whose erased box the classifier still reads as the
    digit it read before, at more than ``config.ghost_prob`` probability."""
    which = [n for n in which if digits[n].pred >= 0]
    if not which:
        return []
    x40 = records.classifier_inputs([digits[n] for n in which], crop_shape_of(model), images)
    with prepared(model, channels_last=True):
        probs = batched_logits(model, x40, batch=config.classify_batch, fast=True).softmax(1)
    before = torch.tensor([digits[n].pred for n in which])
    kept = probs[torch.arange(len(which)), before]
    return [n for n, p in zip(which, kept.tolist(), strict=True) if p > config.ghost_prob]


class Fills:
    """The fill of every record from its split (``segments``): hole, seam, fill, texture
    detail and grain (``grain``, off by default) per record, recomputed for the records
    asked (``update``) and pasted into copies of the scenes (``paste``)."""

    def __init__(self, digits: list[records.DigitRecord], segments: list[Segmented],
                 config: RemovalConfig, keep_stages: bool) -> None:
        self.digits, self.segments, self.config = digits, segments, config
        self.keep_stages = keep_stages
        n = len(digits)
        self.masks: list = [None] * n
        self.fills: list = [None] * n
        self.stages: list = [None] * n
        self.images: list[np.ndarray] = []  # the last ``paste``'s erased images ...
        self.replaced: list[np.ndarray] = []  # ... and pixels written, per scene

    def update(self, scenes: Sequence[Scene], which: Sequence[int]) -> None:
        """Hole, seam and fill (with texture detail and grain) of the records ``which``."""
        config, which = self.config, list(which)
        digits = [self.digits[n] for n in which]
        segments = [self.segments[n] for n in which]
        masks = [hole_and_seam(r, ~seg.digit, config) for r, seg in zip(digits, segments,
                                                                         strict=True)]
        holes = [hole | seam for hole, seam in masks]
        stages = [{} if self.keep_stages else None for _ in which]
        fills = fill_default([r.context_crop for r in digits], [~seg.digit for seg in segments],
                             holes, config, [seg.position for seg in segments], stages)
        low = [f.copy() for f in fills] if self.keep_stages else None
        details = add_texture(scenes, digits, holes, fills, config)
        grains = [None] * len(which)  # off by default: no noise drawn, nothing kept
        if config.grain > 0:
            grains = [add_grain(r.context_crop, ~seg.digit, hole, config)
                      for r, seg, hole in zip(digits, segments, holes, strict=True)]
            for fill, grain in zip(fills, grains, strict=True):
                np.clip(fill + grain, 0.0, 255.0, out=fill)
        for i, n in enumerate(which):
            self.masks[n], self.fills[n] = masks[i], fills[i]
            if self.keep_stages:
                seg, (hole, seam) = segments[i], masks[i]
                self.stages[n] = {**stages[i], "core": seg.core, "position": seg.position,
                                  "digit": seg.digit, "hole": hole, "seam": seam,
                                  "low": low[i], "high": details[i].added,
                                  "gain": details[i].gain}
                if grains[i] is not None:
                    self.stages[n]["grain"] = grains[i]

    def refill(self, scenes: Sequence[Scene], which: Sequence[int]
               ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """``update`` of the records ``which`` (their segments changed) and ``paste`` of their
        scenes: the erased images and pixels written, as they are now."""
        if which:
            self.update(scenes, which)
            self.paste(scenes, {self.digits[n].scene for n in which})
        return self.images, self.replaced

    def paste(self, scenes: Sequence[Scene], again: set[int] | None = None
              ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Every record's fill pasted into a copy of its scene (the records' key pixels,
        digit masks and stages set): the erased images and the pixels written. ``again``:
        only these scenes are pasted anew (from their originals, every record of theirs, in
        order, so overlapping contexts paste as the first time), the others are kept from
        the previous call."""
        if again is None:
            self.images = [s.image.copy() for s in scenes]
            self.replaced = [np.zeros(s.image.shape[:2], bool) for s in scenes]
        else:
            for i in again:
                self.images[i] = scenes[i].image.copy()
                self.replaced[i] = np.zeros(scenes[i].image.shape[:2], bool)
        images, replaced = self.images, self.replaced
        for n, record in enumerate(self.digits):
            if again is not None and record.scene not in again:
                continue
            (hole, seam), bg, ctx = self.masks[n], ~self.segments[n].digit, record.context
            written = paste(images[record.scene], ctx.top, ctx.left, self.fills[n], hole, seam,
                            self.config.seam_alphas)
            replaced[record.scene][ctx.slices] |= written
            record.keypix = (bg & ~seam)[record.inner]  # the seam is regenerated: not kept
            record.digit = hole[record.inner]
            if self.keep_stages:
                record.stages = self.stages[n]
        return images, replaced
