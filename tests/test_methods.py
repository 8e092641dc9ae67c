"""The removal-method registry and what every method promises: listed in the benchmark's
order, created by name, the caller's model left as it was, baselines equal to their
libraries."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from builders import BoxFill, FillLevel
from svhn_erase.boxes import union_mask
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation.selection import headline_names
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.config import RemovalConfig, SeedConfig
from svhn_erase.removal.methods import (
    RemovalMethod,
    Scene,
    create,
    method_class,
    method_names,
    register,
    unregister,
)
from svhn_erase.removal.methods.classical import (
    TUNED_GROWTH,
    BiharmonicConfig,
    InpaintConfig,
    grow_mask,
)
from svhn_erase.removal.methods.default import DefaultMethod, found_masks


def _scene(seed: int = 0) -> Scene:
    """A gradient background with one drawn digit, its box and true mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:36, 0:40]
    clean = np.stack([70 + yy, 100 + 0.5 * xx, 130 + 0 * xx], -1) + rng.normal(0, 3, (36, 40, 3))
    image = Image.fromarray(np.clip(clean, 0, 255).astype(np.uint8))
    layer = Image.new("L", image.size, 0)
    x0, y0, x1, y1 = ImageDraw.Draw(layer).textbbox((12, 4), "5",
                                                    font=ImageFont.load_default(size=24))
    ImageDraw.Draw(layer).text((12, 4), "5", fill=255, font=ImageFont.load_default(size=24))
    image.paste((240, 230, 50), mask=layer)
    boxes = np.array([[x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2]])
    true = (np.asarray(layer) > 0) & union_mask(boxes, (36, 40))
    return Scene(np.asarray(image), boxes, true_mask=true)


HEADLINE = ["default", "seed", "student", "telea_box", "ns_box", "telea_ours", "ns_ours",
            "telea_true", "ns_true", "biharmonic_true", "untouched"]
GROWN = ["telea_box", "ns_box", "telea_ours", "ns_ours", "telea_true", "ns_true",
         "biharmonic_true"]


def test_registry_lists_the_methods_in_the_benchmarks_order() -> None:
    raw = [f"{n}_raw" for n in GROWN]
    assert method_names() == HEADLINE + raw
    assert headline_names() == HEADLINE
    assert headline_names(with_truth=False) == ["default", "seed", "student", "telea_box",
                                                "ns_box", "telea_ours", "ns_ours", "untouched"]
    assert not any(method_class(n).headline for n in raw)
    assert method_class("default") is DefaultMethod
    with pytest.raises(SvhnEraseError, match="telea_box"):
        create("nope")


def test_a_toy_method_is_created_by_name_and_unregistered() -> None:
    class Greyout(BoxFill):
        name = "toy_greyout"
        description = "every box painted grey"

    register(Greyout)
    try:
        assert method_names()[-1] == "toy_greyout"
        method = create("toy_greyout", FillLevel(7))
        assert method.settings() == {"method": "toy_greyout", "level": 7}
        scene = _scene()
        (result,) = method.erase([scene])
        assert (result.image[union_mask(scene.boxes, scene.image.shape)] == 7).all()
    finally:
        unregister("toy_greyout")
    assert "toy_greyout" not in method_names()
    with pytest.raises(SvhnEraseError):
        create("toy_greyout")


def _fast(name: str) -> RemovalMethod:
    """The method with settings that keep the seed's training short."""
    return create(name, SeedConfig(epochs=20, rounds=2)) if name == "seed" else create(name)


@pytest.mark.parametrize("channels_last", [False, True])
def test_every_method_leaves_the_model_as_it_found_it(channels_last: bool) -> None:
    torch.manual_seed(0)
    model = ConvNet("ConvNet48_Dropout3").train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    layout = torch.channels_last if channels_last else torch.contiguous_format
    scene = _scene()
    for name in method_names():
        (result,) = _fast(name).erase([scene], model)
        assert result.image.shape == scene.image.shape and result.image.dtype == np.uint8
        assert model.training, name
        weight = model.layer2[0].weight  # (64, 48, 3, 3): the layouts differ
        assert weight.is_contiguous(memory_format=layout), name
        assert weight.is_contiguous() != channels_last, name
        for key, value in model.state_dict().items():
            assert torch.equal(value, before[key]), (name, key)


def test_box_baseline_equals_cv2_inpaint_on_the_grown_box() -> None:
    scene = _scene(1)
    box = union_mask(scene.boxes, scene.image.shape).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    for name, flag in (("telea_box", cv2.INPAINT_TELEA), ("ns_box", cv2.INPAINT_NS)):
        for grow in (0, 2):
            grown = cv2.dilate(box, kernel, iterations=grow) if grow else box
            (result,) = create(name, InpaintConfig(grow=grow)).erase([scene])
            np.testing.assert_array_equal(result.image,
                                          cv2.inpaint(scene.image, grown * 255, 3, flag))
            np.testing.assert_array_equal(result.mask, grown > 0)
            np.testing.assert_array_equal(result.replaced, grown > 0)


def test_baselines_ship_their_tuned_growth_and_raw_ones_none() -> None:
    for name in GROWN:
        assert create(name).config.grow == TUNED_GROWTH[name], name
        assert create(f"{name}_raw").config.grow == 0
        assert create(f"{name}_raw").settings()["method"] == f"{name}_raw"
        assert f"grown by {TUNED_GROWTH[name]} px" in method_class(name).description


@pytest.mark.parametrize("name", GROWN)
def test_the_mask_grown_by_d_is_exactly_what_is_inpainted(name: str, model: ConvNet) -> None:
    scene = _scene(5)
    (found,) = found_masks([scene], model)
    scene = dataclasses.replace(scene, found_mask=found)
    base = {"box": union_mask(scene.boxes, scene.image.shape), "ours": found,
            "true": scene.true_mask}[name.split("_")[1]]
    config_type = BiharmonicConfig if name.startswith("biharmonic") else InpaintConfig
    for grow in (0, 1, 3):
        grown = grow_mask(base, grow)
        expected = cv2.dilate(base.astype(np.uint8), np.ones((3, 3), np.uint8),
                              iterations=grow) > 0 if grow else base
        np.testing.assert_array_equal(grown, expected)
        (result,) = create(name, config_type(grow=grow)).erase([scene])
        np.testing.assert_array_equal(result.mask, grown)
        np.testing.assert_array_equal(result.replaced, grown)  # written: the grown mask
        changed = (result.image != scene.image).any(-1)
        assert not changed[~grown].any() and changed.any()
    assert grow_mask(base, 1).sum() > base.sum()
    with pytest.raises(ValueError):
        grow_mask(base, -1)


def test_ours_baselines_use_the_default_methods_mask(model: ConvNet) -> None:
    scene = _scene(2)
    (erased,) = DefaultMethod(RemovalConfig()).erase([scene], model)
    (found,) = found_masks([scene], model)
    np.testing.assert_array_equal(found, erased.mask)
    assert found.any()
    given = dataclasses.replace(scene, found_mask=found)
    for name in ("telea_ours", "ns_ours"):
        (itself,) = create(name).erase([scene], model)
        (from_caller,) = create(name).erase([given])
        np.testing.assert_array_equal(itself.image, from_caller.image)
        np.testing.assert_array_equal(itself.mask, grow_mask(found, TUNED_GROWTH[name]))
    with pytest.raises(SvhnEraseError):
        create("telea_ours").erase([scene])  # no mask given and no classifier to find it


def test_true_mask_baselines_need_the_truth_and_fill_only_it() -> None:
    scene = _scene(3)
    for name in ("telea_true", "ns_true", "biharmonic_true"):
        assert method_class(name).needs_truth
        (result,) = create(name).erase([scene])
        np.testing.assert_array_equal(result.mask, grow_mask(scene.true_mask,
                                                             TUNED_GROWTH[name]))
        (result,) = create(f"{name}_raw").erase([scene])
        np.testing.assert_array_equal(result.mask, scene.true_mask)
        changed = (result.image != scene.image).any(-1)
        assert not changed[~scene.true_mask].any() and changed.any()
        with pytest.raises(SvhnEraseError, match="true digit"):
            create(name).erase([dataclasses.replace(scene, true_mask=None)])
    (same,) = create("untouched").erase([scene])
    np.testing.assert_array_equal(same.image, scene.image)
    assert not same.replaced.any()
