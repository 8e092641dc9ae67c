"""One record per digit, shared by the key-pixel methods: where its box sits in which scene,
and what the stages made of it.

A key-pixel method turns its scenes into ``DigitRecord``s (one per box with pixels inside
the image), runs every stage over all records of all scenes at once (one classifier
forward, one batch of key pixels, one batch of fills) and assembles the results per scene
(``assemble``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from svhn_erase.boxes import Rect, as_boxes
from svhn_erase.data.crops import square_window
from svhn_erase.model.inference import batched_logits
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.keypixels import classifier_input
from svhn_erase.removal.methods.base import Erased, Scene


@dataclass
class DigitRecord:
    """One digit box of one scene.

    ``rect``: the box clipped to the image; ``context``: that rectangle grown by the context
    margin (the default method's crop). The stages fill in ``pred`` (the classifier's
    digit), ``keypix`` (box-sized bool: pixels kept as background) and ``digit`` (box-sized
    bool: pixels judged digit); ``stages``, for ``explain``, what each stage made of the
    context crop.
    """

    scene: int
    box: int
    parent: np.ndarray  # the scene's image (not a copy)
    rect: Rect
    context: Rect
    pred: int = -1
    keypix: np.ndarray | None = None
    digit: np.ndarray | None = None
    stages: dict | None = None  # context-sized intermediate results, when a method keeps them

    @property
    def crop(self) -> np.ndarray:
        """The parent's pixels under the box."""
        return self.parent[self.rect.slices]

    @property
    def context_crop(self) -> np.ndarray:
        """The parent's pixels under the box and its context margin."""
        return self.parent[self.context.slices]

    @property
    def inner(self) -> tuple[slice, slice]:
        """The box inside the context crop."""
        t, lft = self.rect.top - self.context.top, self.rect.left - self.context.left
        return slice(t, t + self.rect.height), slice(lft, lft + self.rect.width)


def box_count(scene: Scene) -> int:
    """How many boxes a scene gives (inside the image or not)."""
    return len(as_boxes(np.asarray(scene.boxes)))


def digit_records(scenes: Sequence[Scene], context_margin: int = 0) -> list[DigitRecord]:
    """A record for every box of every scene that has pixels inside its image, in order."""
    records = []
    for i, scene in enumerate(scenes):
        shape = scene.image.shape
        for j, box in enumerate(as_boxes(np.asarray(scene.boxes))):
            rect = box.clip(shape)
            if rect is not None:
                records.append(DigitRecord(i, j, scene.image, rect,
                                           rect.grown(context_margin, shape)))
    return records


def classifier_inputs(records: list[DigitRecord], shape: str = "stretch",
                      images: Sequence[np.ndarray] | None = None) -> torch.Tensor:
    """The classifier's (n, 1, 40, 40) input for every record's box, cut as ``shape`` says
    (``crops.CROP_SHAPES``: its crop stretched, or the square window about its box), from
    its parent or, given ``images`` (one per scene, e.g. the erased ones), from those."""
    parents = [r.parent if images is None else images[r.scene] for r in records]
    if shape == "square":
        return classifier_input([square_window(p, r.rect.as_box())
                                 for p, r in zip(parents, records, strict=True)])
    return classifier_input([p[r.rect.slices] for p, r in zip(parents, records, strict=True)])


def classify(records: list[DigitRecord], model: ConvNet, inputs: torch.Tensor,
             batch: int) -> None:
    """Set every record's ``pred`` from its ``inputs`` row: batched classifier forwards."""
    if not records:
        return
    logits = batched_logits(model, inputs, batch=batch, fast=True)
    for record, pred in zip(records, logits.argmax(1).numpy(), strict=True):
        record.pred = int(pred)


def other_boxes(record: DigitRecord, records: list[DigitRecord]) -> np.ndarray:
    """Context-sized bool: the pixels of ``record``'s context inside the other boxes of its
    scene (``records``: the scene's records)."""
    ctx = record.context
    out = np.zeros((ctx.height, ctx.width), bool)
    for other in records:
        if other.box != record.box:
            r = other.rect
            out[max(0, r.top - ctx.top):max(0, r.bottom - ctx.top),
                max(0, r.left - ctx.left):max(0, r.right - ctx.left)] = True
    return out


def by_scene(records: list[DigitRecord], n_scenes: int) -> list[list[DigitRecord]]:
    """The records grouped per scene (a list for each of ``n_scenes``)."""
    groups: list[list[DigitRecord]] = [[] for _ in range(n_scenes)]
    for record in records:
        groups[record.scene].append(record)
    return groups


def assemble(scenes: Sequence[Scene], records: list[DigitRecord], images: list[np.ndarray],
             replaced: list[np.ndarray]) -> list[Erased]:
    """One ``Erased`` per scene from its erased image, written pixels and records: per-box
    key pixels, digit masks and classes (empty masks and class -1 for a box outside the
    image), and the digit masks placed in the image as ``mask``."""
    out = []
    for scene, group, image, written in zip(scenes, by_scene(records, len(scenes)), images,
                                            replaced, strict=True):
        k = box_count(scene)
        keypix = [np.zeros((0, 0), bool)] * k
        digits = [np.zeros((0, 0), bool)] * k
        preds = np.full(k, -1, int)
        mask = np.zeros(image.shape[:2], bool)
        for r in group:
            keypix[r.box], digits[r.box], preds[r.box] = r.keypix, r.digit, r.pred
            mask[r.rect.slices] |= r.digit
        out.append(Erased(image, written, mask, keypix, digits, preds))
    return out
