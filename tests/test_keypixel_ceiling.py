"""``benchmarks/keypixel_ceiling.py``: the oracle masks it sets beside the default's key
pixels, on a tiny split with ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from builders import make_gt_split
from svhn_erase.data import split as split_mod
from svhn_erase.evaluation.bench import read_samples


@pytest.fixture(scope="module")
def ceiling(load_benchmark):
    return load_benchmark("keypixel_ceiling")


def test_oracles_trade_recall_for_precision_as_they_should(ceiling, tmp_path: Path) -> None:
    make_gt_split(tmp_path, "gt", count=4, seed=3)
    path = split_mod.split_dir(tmp_path, "gt")
    table = split_mod.load_table(path)
    files = list(dict.fromkeys(table["file"]))
    named = ceiling.oracles()
    scores = ceiling.digit_scores(read_samples(path, table, files, []), named)
    assert {len(v) for v in scores.values()} == {len(table)}
    means = {n: np.nanmean(v, axis=0) for n, v in scores.items()}
    grown1, grown2 = means["true mask grown by 1 px"], means["true mask grown by 2 px"]
    assert grown1[0] == grown2[0] == 1.0  # never keeps a digit pixel
    assert grown2[1] < grown1[1] < 1.0  # a wider margin keeps less background
    loose, tight = (means["looks like the clean scene, t=16"],
                    means["looks like the clean scene, t=0.5"])
    assert loose[1] >= tight[1]  # a looser threshold keeps more background
    grown = means["looks like the clean scene + 1 px, t=2"]
    assert grown[1] <= means["looks like the clean scene, t=2"][1]


def test_best_points_pick_the_most_recall_at_the_target_precision(ceiling) -> None:
    means = {"looks like the clean scene, t=1": (0.99, 0.30),
             "looks like the clean scene, t=2": (0.975, 0.45),
             "looks like the clean scene, t=4": (0.93, 0.65),
             "looks like the clean scene, t=8": (0.80, 0.90)}
    picks = ceiling.best_points(means)
    assert picks == {"looks like the clean scene, t=2": "most recall at precision >= .97",
                     "looks like the clean scene, t=4": "most precision at recall >= .6"}
    means["looks like the clean scene, t=2"] = (0.975, 0.62)  # one point is both picks
    assert ceiling.best_points(means) == {"looks like the clean scene, t=2":
                                          "most recall at precision >= .97; "
                                          "most precision at recall >= .6"}


def test_the_default_is_scored_strictly_and_with_the_outline_left_out(ceiling, tmp_path: Path,
                                                                      model_files) -> None:
    make_gt_split(tmp_path, "gt", count=3, seed=4)
    path = split_mod.split_dir(tmp_path, "gt")
    table = split_mod.load_table(path)
    samples = list(read_samples(path, table, list(dict.fromkeys(table["file"])), []))
    scores = ceiling.default_scores(samples, str(model_files[0]))
    assert list(scores) == ["default (its own key pixels)", "default, outline +-1 px not counted",
                            "default, outline +-2 px not counted"]
    assert {len(v) for v in scores.values()} == {len(table)}
    assert all(np.nanmin(v) >= 0 and np.nanmax(v) <= 1 for v in scores.values())
    s = samples[0]
    care = ceiling._care(s, 1)
    digit = s.digits > 0
    rim = digit & ~ndimage.binary_erosion(digit, np.ones((3, 3), bool))
    assert not care[rim].any()  # the outline's own pixels are not counted
    far = ~ndimage.binary_dilation(digit, np.ones((3, 3), bool), iterations=2)
    assert care[far].all() and care[ndimage.binary_erosion(digit, iterations=3)].all()
