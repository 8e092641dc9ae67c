"""The seed method crop for crop against ``seed_reference``, a plain one-crop-at-a-time
implementation of the original's rules (issue 20): the same key pixels, and a filled crop
within one grey level, for a few crops of a drawn image, with an untrained classifier and
with the original checkpoint when it is at hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import seed_reference as ref
from svhn_erase.boxes import clip_boxes
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier
from svhn_erase.removal import keypixels
from svhn_erase.removal.config import SeedConfig
from svhn_erase.removal.methods import Scene
from svhn_erase.removal.methods.seed import SeedMethod

ORIGINAL = Path(__file__).resolve().parents[2] / "shared/reference/original-ConvNet48_Dropout3.pkl"
# left, top, width, height: tiny to large, on strokes, on their edges, on plain background,
# and on three light panels with a black stroke and corner (there the GRNN's predictions
# overshoot 0..1; on pure white the first-layer mean - std of the flat part sits on the
# histogram's lower edge for the untrained net)
BOXES = np.array([[4, 6, 16, 26], [22, 3, 27, 44], [52, 8, 40, 50], [96, 2, 9, 11],
                  [100, 30, 20, 33], [130, 4, 24, 34], [166, 4, 24, 34], [208, 4, 20, 30]])
PANELS = (245, 253, 255)


def _image(seed: int = 3) -> np.ndarray:
    """A 64 x 232 photo-like image: a noisy colour gradient with three thick strokes, then
    three flat grey-to-white panels, each with a black stroke and a black corner."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:232]
    base = np.stack([60 + xx / 2, 140 - yy, 90 + 0.5 * xx + yy], -1)
    rgb = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    for i, grey in enumerate(PANELS):
        left = 124 + 36 * i
        rgb[:, left:left + 36] = grey
        rgb[28:38, left + 18:left + 30] = 0
    im = Image.fromarray(rgb)
    draw = ImageDraw.Draw(im)
    draw.line([(8, 10), (16, 10), (10, 28)], fill=(240, 230, 60), width=3)
    draw.ellipse([28, 10, 44, 42], outline=(20, 20, 30), width=4)
    draw.line([(60, 14), (84, 14), (66, 54)], fill=(250, 250, 250), width=5)
    for i in range(len(PANELS)):
        left = 124 + 36 * i
        draw.line([(left + 12, 10), (left + 24, 10), (left + 16, 32)], fill=(0, 0, 0), width=3)
    return np.asarray(im)


@pytest.fixture(params=["untrained", "original"])
def classifier(request: pytest.FixtureRequest, model: ConvNet) -> ConvNet:
    if request.param == "untrained":
        return model
    if not ORIGINAL.is_file():
        pytest.skip(f"{ORIGINAL} is not at hand")
    return load_classifier(ORIGINAL)


@pytest.mark.parametrize("batch_nodes", [1000, 16])
def test_seed_method_equals_the_reference(classifier: ConvNet, batch_nodes: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # batch_nodes 16 splits every crop's nodes into several Adagrad steps per epoch
    monkeypatch.setattr(ref, "BATCH", batch_nodes)
    image = _image()
    scenes = [Scene(image, box[None]) for box in BOXES]
    erased = SeedMethod(SeedConfig(batch_nodes=batch_nodes)).erase(scenes, classifier)
    rects = clip_boxes(BOXES, image.shape)
    crops = [image[r.slices] for r in rects]
    patterns = keypixels.seed_fmap(classifier, keypixels.classifier_input(crops),
                                   [c.shape[:2] for c in crops], 35, 3)
    for crop, rect, result, kp in zip(crops, rects, erased, patterns, strict=True):
        quiet, pattern = ref.reference_key_pixels(classifier.layer1[0], crop)
        np.testing.assert_array_equal(result.keypix[0], quiet)
        np.testing.assert_array_equal(kp.pattern, pattern)
        if (crop[pattern] == 255).any():
            # a key pixel's 255 is a target of exactly 1, met by the starting weights 1: the
            # first Adagrad step on the weights around it (lr whatever the gradient's size)
            # follows the sign of float rounding, so no two implementations of the original
            # agree there (the reference in float64 differs from itself in float32 by up to
            # 9 grey levels on the white panel)
            continue
        diff = np.abs(result.image[rect.slices].astype(int) - ref.reference_fill(crop, pattern))
        assert diff.max() <= 1
        assert (diff == 0).mean() > 0.95  # float rounding aside, the very same grey levels
