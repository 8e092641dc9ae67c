"""Tuning the baselines' mask growth: PSNR per growth as bench measures it, the best chosen."""

from __future__ import annotations

import numpy as np
import pytest

from builders import make_gt_split
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import metrics, tuning
from svhn_erase.removal.methods import Scene
from svhn_erase.removal.methods.classical import InpaintConfig, NavierStokesTrue


def test_tuning_measures_every_growth_and_chooses_the_best(tmp_path, model) -> None:
    make_gt_split(tmp_path, "tune", count=3, seed=8)
    table = tuning.tune_growth(tmp_path, "tune", model, names=["ns_true", "telea_ours"],
                               growths=(0, 1, 2))
    assert list(table) == ["ns_true", "telea_ours"]
    for per in table.values():
        assert list(per) == [0, 1, 2] and all(10 < v <= 100 for v in per.values())
        best = tuning.chosen_growth(per)
        assert per[best] == max(per.values())
    assert len(set(table["ns_true"].values())) == 3  # growth changes the result
    # the figure is bench's: mean PSNR over the boxes per image, here recomputed by hand
    path = split_mod.split_dir(tmp_path, "tune")
    values = []
    for parent in split_mod.iter_parents(path):
        clean, digits = split_mod.read_groundtruth(path, parent.file)
        scene = Scene(parent.image, parent.boxes,
                      true_mask=metrics.true_digit_mask(digits, parent.boxes))
        (erased,) = NavierStokesTrue(InpaintConfig(grow=2)).erase([scene])
        values.append(metrics.psnr_over_boxes(erased.image, clean, parent.boxes))
    assert table["ns_true"][2] == pytest.approx(np.mean(values))


def test_chosen_growth_prefers_the_smaller_on_a_tie() -> None:
    assert tuning.chosen_growth({0: 30.0, 1: 31.5, 2: 31.5, 3: 29.0}) == 1
    assert tuning.chosen_growth({0: 30.0, 1: 29.0}) == 0
    assert tuning.growable() == ["telea_box", "ns_box", "telea_ours", "ns_ours", "telea_true",
                                 "ns_true", "biharmonic_true"]


def test_tuning_needs_ground_truth(tmp_path, model) -> None:
    from builders import make_split

    make_split(tmp_path, "photos", count=1)
    with pytest.raises(SvhnEraseError, match="groundtruth"):
        tuning.tune_growth(tmp_path, "photos", model)
