"""The student's colour check (``removal.student.refine``) and its training augmentation's
stretch and shear."""

from __future__ import annotations

import pytest
import torch

from svhn_erase.removal.student.refine import ColourCheck, colour_cut, colour_place
from svhn_erase.removal.student.train import augment


def _crop() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A 12 x 12 crop: grey background, a bright digit stroke in the box (rows 2-9, columns
    2-9), the network sure of the stroke and (wrongly) of a background patch beside it."""
    x = torch.full((1, 3, 12, 12), -0.5)
    x[..., 3:9, 4:6] = 0.8  # the stroke
    inside = torch.zeros(1, 1, 12, 12)
    inside[..., 2:10, 2:10] = 1.0
    logit = torch.full((1, 1, 12, 12), -4.0)
    logit[..., 3:9, 4:6] = 4.0
    logit[..., 3:9, 7:9] = 1.0  # background coloured, called digit
    return x, logit, inside, torch.zeros_like(inside)


def test_colour_place_is_zero_on_the_background_and_one_on_the_digit():
    x, logit, inside, others = _crop()
    t = colour_place(x, logit, inside, others, ColourCheck())[0, 0]
    assert t[5, 4].item() == pytest.approx(1.0, abs=1e-4)
    assert t[5, 7].item() == pytest.approx(0.0, abs=1e-4)


def test_background_coloured_pixels_lose_digit_logit_and_the_digit_keeps_it():
    x, logit, inside, others = _crop()
    check = ColourCheck(beta=1.5, start=0.4)
    cut = colour_cut(x, logit, inside, others, check)[0, 0]
    assert cut[5, 7].item() == pytest.approx(1.5 * 0.4, abs=1e-4)
    assert cut[5, 4].item() == pytest.approx(0.0, abs=1e-6)
    assert torch.sigmoid(logit - cut)[0, 0, 5, 7] < torch.sigmoid(logit)[0, 0, 5, 7]


def test_no_cut_without_a_sure_digit_pixel_or_when_off():
    x, logit, inside, others = _crop()
    assert not colour_cut(x, logit, inside, others, ColourCheck(beta=0.0)).any()
    unsure = torch.full_like(logit, -4.0)
    assert not colour_cut(x, unsure, inside, others, ColourCheck()).any()


def test_neighbouring_boxes_are_not_background():
    x, logit, inside, others = _crop()
    x[..., :, 10:] = 0.8  # a neighbouring digit of the stroke's colour in the margin
    others[..., :, 10:] = 1.0
    t = colour_place(x, logit, inside, others, ColourCheck())[0, 0]
    assert t[5, 4].item() == pytest.approx(1.0, abs=1e-4)  # not pulled towards the margin


def test_stretch_and_shear_move_crop_and_label_together():
    y = torch.zeros(4, 1, 16, 16)
    y[..., 4:12, 6:10] = 1.0
    x = y.repeat(1, 3, 1, 1) * 2 - 1
    plain = augment(x, y, torch.Generator().manual_seed(0))
    same = augment(x, y, torch.Generator().manual_seed(0), 0.0, 0.0)
    assert torch.equal(plain[1], same[1])
    _, moved = augment(x, y, torch.Generator().manual_seed(0), stretch=0.3, shear=0.4)
    assert moved.shape == y.shape and not torch.equal(moved, plain[1])
