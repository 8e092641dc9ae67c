"""Removal metrics, the judge's verdicts and the thumbnails' masks on crafted arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from svhn_erase.boxes import Rect, bounding_rect, clip_boxes
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import judge
from svhn_erase.evaluation import metrics as evaluate
from svhn_erase.evaluation.thumbnails import place_masks
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import save_classifier


def _pair(shape=(20, 30, 3), seed=0):
    rng = np.random.default_rng(seed)
    clean = rng.integers(0, 256, shape, dtype=np.uint8)
    return clean.copy(), clean


def test_psnr_known_value_over_the_union_of_boxes() -> None:
    clean = np.full((20, 30, 3), 100, np.uint8)
    erased = clean.copy()
    boxes = np.array([[0, 0, 5, 4], [3, 2, 5, 4]])  # overlap 2 x 2: union is 36 px
    erased[0:4, 0:5] += 10  # error 10 on 20 of the 36 union pixels, all channels
    erased[15:, 20:] = 0  # outside every box: must not count
    mse = 100.0 * 20 / 36
    assert evaluate.psnr_over_boxes(erased, clean, boxes) == pytest.approx(
        10 * math.log10(255**2 / mse))


def test_psnr_identical_is_capped_and_boxes_are_clipped() -> None:
    erased, clean = _pair()
    assert evaluate.psnr_over_boxes(erased, clean, np.array([[25, 15, 50, 50]])) == \
        evaluate.PSNR_CAP
    assert evaluate.psnr_over_boxes(erased, clean, np.array([[40, 0, 5, 5]])) is None
    erased[19, 29] = 255 - erased[19, 29]  # the only box pixel inside the image, clipped box
    assert evaluate.psnr_over_boxes(erased, clean, np.array([[29, 19, 9, 9]])) < 20


def test_ssim_identical_is_one_and_damage_lowers_it() -> None:
    erased, clean = _pair((40, 50, 3))
    boxes = np.array([[5, 5, 10, 12], [20, 8, 9, 12]])
    assert evaluate.ssim_over_boxes(erased, clean, boxes) == pytest.approx(1.0)
    erased[5:17, 5:15] = 128
    assert evaluate.ssim_over_boxes(erased, clean, boxes) < 0.9
    # tiny rectangles still score: 4 x 2 (window 3 fails) and 2 x 2 (single window)
    assert evaluate.ssim_over_boxes(clean, clean, np.array([[1, 1, 4, 3]])) == pytest.approx(1)
    assert evaluate.ssim_over_boxes(clean, clean, np.array([[1, 1, 2, 2]])) == pytest.approx(1)
    assert evaluate.ssim_over_boxes(erased, clean, np.array([[5, 5, 2, 2]])) < 1


def test_keypix_precision_recall_on_a_crafted_mask() -> None:
    mask = np.zeros((4, 5), np.uint8)
    mask[1:3, 1:3] = 1  # digit 1: 4 pixels
    mask[:, 4] = 2  # another digit reaching into the box: not background either
    # background: 20 - 4 - 4 = 12 pixels
    keypix = np.zeros((4, 5), bool)
    keypix[0, :] = True  # 4 background + 1 of digit 2
    keypix[1, 1] = True  # 1 of digit 1
    keypix[3, 0:2] = True  # 2 background
    precision, recall = evaluate.keypix_precision_recall(keypix, mask, 1)
    assert precision == pytest.approx(6 / 8)
    assert recall == pytest.approx(6 / 12)
    assert evaluate.keypix_precision_recall(np.zeros((4, 5), bool), mask, 1) == (None, 0.0)
    assert evaluate.keypix_precision_recall(np.ones((4, 5), bool), np.ones((4, 5)), 1) == \
        (0.0, None)
    assert evaluate.keypix_precision_recall(np.zeros((0, 0), bool), mask, 1) == (None, None)


def test_masks_are_placed_at_clipped_boxes() -> None:
    boxes = np.array([[-2, 1, 4, 3], [7, 0, 2, 2]])
    assert clip_boxes(boxes, (6, 6)) == [Rect(1, 0, 4, 2), None]
    placed = place_masks([np.ones((3, 2), bool), np.ones((1, 1), bool)], boxes, (6, 6))
    assert placed.sum() == 6 and placed[1:4, 0:2].all()
    assert place_masks([np.ones((2, 2), bool), np.ones((1, 1), bool)], boxes, (6, 6)).sum() == 0
    assert bounding_rect(boxes, (6, 6), margin=1) == Rect(0, 0, 5, 3)
    mask = np.zeros((6, 6), np.uint8)
    mask[2, 1] = 1
    mask[5, 5] = 2  # outside every box
    assert evaluate.true_digit_mask(mask, boxes).sum() == 1


class _FixedJudge(ConvNet):
    """An 11-class net whose verdict is "no digit" exactly for bright crops."""

    def __init__(self) -> None:
        super().__init__("ConvNet32_753", num_classes=11)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), 11)
        logits[:, 10] = x.mean(dim=(1, 2, 3))  # bright: mean near 1, dark: near -1
        return logits


def test_judge_verdicts_split_back_per_set() -> None:
    crops = np.zeros((4, 40, 40), np.uint8)
    crops[:3] = 255
    assert judge.no_digit(_FixedJudge(), crops).tolist() == [True, True, True, False]
    assert judge.no_digit(_FixedJudge(), crops[:0]).shape == (0,)
    sets = judge.no_digit_per_set(_FixedJudge(), [crops[:1], crops[:0], crops[2:]])
    assert [v.tolist() for v in sets] == [[True], [], [True, False]]


def test_a_judge_needs_eleven_classes(tmp_path) -> None:
    save_classifier(ConvNet("ConvNet32_753").eval(), tmp_path / "ten.safetensors")
    with pytest.raises(SvhnEraseError, match="11 classes"):
        judge.load_judge(tmp_path / "ten.safetensors", "cpu")


def test_judge_crops_are_40x40_gray_of_boxes_inside() -> None:
    image = np.zeros((30, 40, 3), np.uint8)
    image[5:15, 5:10] = 255
    crops = judge.judge_crops(image, np.array([[5, 5, 5, 10], [100, 0, 3, 3], [20, 20, 5, 5]]))
    assert crops.shape == (2, 40, 40) and crops.dtype == np.uint8
    assert crops[0].min() > 200 and crops[1].max() == 0
