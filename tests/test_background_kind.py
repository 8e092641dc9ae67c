"""Background kinds (flat, gradient, textured, plaque) and bench's per-kind breakdown."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from builders import make_gt_split
from svhn_erase.boxes import Rect
from svhn_erase.evaluation import background_kind as bk
from svhn_erase.evaluation import bench
from svhn_erase.evaluation.kind_table import format_kind_table

BOX = Rect(20, 20, 44, 40)  # top, left, bottom, right inside a 64 x 60 scene


def _scene(kind: str, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:64, 0:60].astype(np.float32)
    lum = np.full((64, 60), 120.0, np.float32) + rng.normal(0, 1.0, (64, 60))
    if kind == "gradient":
        lum += 1.2 * xx
    elif kind == "textured":
        lum += 25 * np.sin(xx * 1.7) * np.sin(yy * 1.3) + rng.normal(0, 8, (64, 60))
    elif kind == "plaque":
        lum[:, :] = 110
        lum[16:48, 16:44] = 170  # a plate round the box, its border inside the window
    return np.repeat(np.clip(lum, 0, 255).astype(np.uint8)[..., None], 3, -1)


@pytest.mark.parametrize("kind", bk.KINDS)
def test_each_kind_is_recognized_from_the_clean_scene(kind: str) -> None:
    assert bk.kind_of(_scene(kind), BOX) == kind


def test_real_photos_are_classified_from_outside_the_boxes() -> None:
    image = _scene("flat")
    image[BOX.slices] = np.where(np.indices((24, 20)).sum(0)[..., None] % 2, 255, 0)  # a "digit"
    occupied = np.zeros(image.shape[:2], bool)
    occupied[BOX.slices] = True
    win = bk.window_of(BOX, image.shape)
    lum, known = bk.luma(image[win.slices]), ~occupied[win.slices]
    box = occupied[win.slices]
    everything = bk.window_stats(lum, np.ones_like(known), box)
    ring = bk.window_stats(lum, known, box)
    assert everything.texture > 3 * ring.texture  # the digit's strokes count without the mask
    assert bk.kind_of(image, BOX, occupied) == "flat"  # the ring alone


def test_bench_breaks_figures_down_by_kind(tmp_path, model_files) -> None:
    make_gt_split(tmp_path, "test", count=4)
    out = tmp_path / "bench"
    result = bench.run_bench(tmp_path, "test", model_files[0], out, judge=model_files[1],
                             seed_limit=0, progress=False,
                             methods=["default", "telea_box", "untouched"])
    by_kind = json.loads((out / "summary.json").read_text())["by_kind"]
    assert by_kind == result["by_kind"] and set(by_kind) == {"default", "telea_box",
                                                              "untouched"}
    n = {m: sum(k["n_digits"] for k in kinds.values()) for m, kinds in by_kind.items()}
    assert n["default"] == result["methods"]["default"]["n_digits"] == n["telea_box"]
    for kinds in by_kind.values():
        assert set(kinds) <= set(bk.KINDS)
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(r["background"] in bk.KINDS for r in rows)
    assert "By background kind" in (out / "report.html").read_text()
    text = format_kind_table(by_kind)
    assert "default" in text and "flat" in text


def test_kind_table_heads_with_the_common_count_and_flags_a_method_with_another():
    def kinds(flat, gradient):
        return {"flat": {"n_digits": flat, "still_read": 0.2},
                "gradient": {"n_digits": gradient, "still_read": 0.1}}
    by_kind = {"default": kinds(181, 133), "student": kinds(181, 133),
               "floor": kinds(120, 206)}
    lines = format_kind_table(by_kind, "real").splitlines()
    assert "flat (181)" in lines[1] and "gradient (133)" in lines[1]
    default, floor = lines[3], lines[5]
    assert "[" not in default and "20.0 %" in default
    assert "20.0 % [120]" in floor and "10.0 % [206]" in floor
