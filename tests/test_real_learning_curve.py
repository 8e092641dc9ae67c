"""``benchmarks/real_learning_curve.py``: the power-law fit of error against real digits, and
the script end to end on tiny splits (nested photo subsets, held steps, reuse of finished
runs, the table's files and picture)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from builders import make_split


@pytest.fixture(scope="module")
def curve(load_benchmark):
    return load_benchmark("real_learning_curve")


def test_the_fit_recovers_a_known_power_law_and_its_needed_digits(curve) -> None:
    digits = np.array([400, 800, 1600, 3200])
    accuracy = 100 * (1 - 2.0 * digits ** -0.35)
    a, b = curve.fit_power_law(digits, accuracy)
    assert a == pytest.approx(2.0, rel=1e-6) and b == pytest.approx(0.35, rel=1e-6)
    need = curve.digits_needed(a, b, 93.0)
    assert need == pytest.approx((2.0 / 0.07) ** (1 / 0.35), rel=1e-6)
    assert 100 * (1 - a * need ** -b) == pytest.approx(93.0)
    # noise on the points moves the exponent only a little
    noisy = accuracy + np.array([0.2, -0.2, 0.2, -0.2])
    assert curve.fit_power_law(digits, noisy)[1] == pytest.approx(0.35, abs=0.05)
    # a flat curve never reaches a higher target
    _, flat_b = curve.fit_power_law(digits, np.full(4, 90.0))
    assert flat_b == pytest.approx(0.0, abs=1e-9)
    assert curve.digits_needed(*curve.fit_power_law(digits, np.full(4, 90.0)), 93.0) == math.inf


def test_the_top_fit_reads_the_slope_where_a_bending_curve_ends(curve) -> None:
    errors = [0.20, 0.15, 0.12, 0.11]
    rows = [{"digits": d, "mean": 100 * (1 - e), "accuracy": {"1": 100 * (1 - e), "2": None},
             "last_mean": 100 * (1 - e)}
            for d, e in zip([100, 200, 400, 800], errors, strict=True)]
    fit = curve.arm_fit(rows, [1, 2], 93.0)
    assert fit["top"]["b"] == pytest.approx(math.log(0.12 / 0.11) / math.log(2))
    assert fit["b"] > fit["top"]["b"]  # the whole curve falls faster than its end
    assert fit["top"]["digits_needed"] > fit["digits_needed"]
    assert fit["per_seed"]["1"]["b"] == pytest.approx(fit["b"]) and "2" not in fit["per_seed"]
    assert "no fit" in curve._needed(curve.arm_fit(rows[:1], [1], 93.0))


def test_subsets_are_nested_and_hold_the_steps(curve) -> None:
    assert curve.subset_range("1-1400", 175) == "1-175"
    assert curve.subset_range("101-500", 400) == "101-500"
    assert [curve.repeat_for(n, 1400, 3) for n in (175, 350, 700, 1400)] == [24, 12, 6, 3]
    with pytest.raises(Exception, match="more than"):
        curve.subset_range("1-100", 101)


def test_the_curve_runs_end_to_end_and_reads_finished_runs_back(curve, tmp_path) -> None:
    make_split(tmp_path, "real", count=12, seed=31)
    make_split(tmp_path, "gen", count=6, seed=32)
    out = tmp_path / "out"
    argv = ["--real", str(tmp_path / "real"), "--real-range", "1-8", "--real-val-range",
            "9-12", "--sizes", "4,8", "--seeds", "1", "--arms", "real,mixed", "--generated",
            str(tmp_path / "gen"), "--epochs", "1", "--net", "ConvNet48_333", "--size", "32",
            "--batch", "16", "--out", str(out), "--picture", str(tmp_path / "c.png")]
    record = curve.main(argv)
    assert [(r["arm"], r["photos"], r["repeat"]) for r in record["rows"]] == [
        ("real", 4, 6), ("real", 8, 3), ("mixed", 4, 6), ("mixed", 8, 3)]
    small = json.loads(next((out / "runs").glob("real-n4-s1-*/config.json")).read_text())
    assert (small["real_range"], small["real_repeat"], small["split"]) == ("1-4", 6, None)
    mixed = json.loads(next((out / "runs").glob("mixed-n8-s1-*/config.json")).read_text())
    assert mixed["split"] == "gen" and mixed["real_val_range"] == "9-12"
    for r in record["rows"]:
        assert 0 <= r["accuracy"]["1"] <= 100 and r["mean"] == r["accuracy"]["1"]
        # the best epoch reads at least as many as the last (metrics.csv rounds to 6 places)
        assert 0 <= r["last"]["1"] <= r["accuracy"]["1"] + 1e-3
    assert record["rows"][0]["digits"] < record["rows"][1]["digits"]
    assert set(record["fits"]) == {"real", "mixed"}
    assert json.loads((out / "table.json").read_text())["rows"] == record["rows"]
    assert (out / "table.csv").read_text().splitlines()[0].startswith("arm,photos,range")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    # a second call trains nothing: the same figures, read back from the run folders
    runs_before = sorted(p.name for p in (out / "runs").iterdir())
    assert curve.main(argv)["rows"] == record["rows"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == runs_before
    partial = curve.main([*argv[:-2], "--seeds", "1,2", "--finished-only"])
    assert all(r["accuracy"]["2"] is None for r in partial["rows"])
