"""The ``seed`` method: the original 2018 pipeline (SPEC §2).

Per digit: the classifier's 40 x 40 input; key pixels from its first-layer maps (the quiet
bucket of mean - std, ``keypixels.seed_fmap``); an Adagrad-trained GRNN on the key pixels of
a grid, grown over the grid (``grnn.fill_seed``); the whole generated crop pasted over the
box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from svhn_erase.model.inference import model_device, prepared
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.config import SeedConfig
from svhn_erase.removal.grnn import fill_seed
from svhn_erase.removal.keypixels import seed_fmap
from svhn_erase.removal.methods import records
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene, register
from svhn_erase.removal.paste import paste_whole


@register
class SeedMethod(RemovalMethod):
    """The original key pixels, Adagrad GRNN and whole-box paste (``SeedConfig``)."""

    name = "seed"
    description = "the original 2018 pipeline (40x40 key pixels, Adagrad GRNN, whole-box paste)"
    uses_classifier = True
    finds_key_pixels = True

    counts_digits = True  # a batch of real photos takes minutes: each GRNN trained counts

    def __init__(self, config: SeedConfig | None = None) -> None:
        super().__init__(config or SeedConfig())

    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        model = self.require_model(model)
        config: SeedConfig = self.config
        digits = records.digit_records(scenes)
        x40 = records.classifier_inputs(digits)
        with prepared(model, channels_last=True):
            records.classify(digits, model, x40, config.classify_batch)
        # the first conv in the model's own layout, as the original ran it
        keypix = seed_fmap(model, x40, [r.crop.shape[:2] for r in digits], config.buckets,
                           config.grid)
        generated = fill_seed([r.crop for r in digits], [k.pattern for k in keypix], config,
                              device=model_device(model), progress=self.progress)
        images = [s.image.copy() for s in scenes]
        replaced = [np.zeros(s.image.shape[:2], bool) for s in scenes]
        for record, kp, patch in zip(digits, keypix, generated, strict=True):
            rect = record.rect
            replaced[record.scene][rect.slices] |= paste_whole(images[record.scene], rect.top,
                                                               rect.left, patch)
            record.keypix, record.digit = kp.background, ~kp.background
        return records.assemble(scenes, digits, images, replaced)
