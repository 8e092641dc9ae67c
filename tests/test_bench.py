"""The benchmark end to end on a tiny split with ground truth, written here (PIL digits)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from builders import BoxFill, make_gt_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import bench, report, scoring
from svhn_erase.evaluation.selection import headline_names
from svhn_erase.model import weights
from svhn_erase.removal.methods import (
    method_class,
    method_names,
    register,
    unregister,
)
from svhn_erase.removal.methods.classical import TUNED_GROWTH

FIGURES = {"psnr_box", "ssim_box", "keypix_precision", "keypix_recall", "removal_rate",
           "digits_per_s", "n_images", "n_digits"}
PAIRED = {"psnr_vs_first", "psnr_vs_first_se", "n_paired"}  # every method after the first


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, model_files) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("data")
    make_gt_split(root, "test", count=5, corrupt=1)
    out = root / "bench"
    result = bench.run_bench(root, "test", model_files[0], out, judge=model_files[1],
                             seed_limit=2, progress=False)
    return out, result


def test_summary_structure(bench_run) -> None:
    out, result = bench_run
    on_disk = json.loads((out / "summary.json").read_text())["methods"]
    assert on_disk == result["methods"]
    assert list(on_disk) == headline_names()  # every headline method, in order
    for i, (method, metrics) in enumerate(on_disk.items()):
        assert set(metrics) == (FIGURES if i == 0 else FIGURES | PAIRED)
        assert 0 < metrics["psnr_box"] <= 100
        assert -1 <= metrics["ssim_box"] <= 1
        assert 0 <= metrics["removal_rate"] <= 1
        if method_class(method).finds_key_pixels:
            assert 0 <= metrics["keypix_precision"] <= 1
            assert 0 <= metrics["keypix_recall"] <= 1
        else:
            assert metrics["keypix_precision"] is None and metrics["keypix_recall"] is None
    assert on_disk["untouched"]["digits_per_s"] is None
    assert on_disk["default"]["digits_per_s"] > 0
    assert on_disk["default"]["n_images"] == 4  # the corrupt one is skipped
    assert on_disk["seed"]["n_images"] == 2  # --seed-limit
    assert on_disk["seed"]["n_paired"] == 2 and on_disk["ns_true"]["n_paired"] == 4
    # an oracle mask inpainter must beat doing nothing on these flat backgrounds
    assert on_disk["ns_true"]["psnr_box"] > on_disk["untouched"]["psnr_box"] + 5


def test_summary_records_the_settings(bench_run) -> None:
    out, result = bench_run
    settings = result["settings"]
    assert settings["seed_limit"] == 2 and settings["images_listed"] == 4
    assert any("5.png" in s for s in settings["skipped"])
    assert settings["judge_net"] == "ConvNet32_753" and settings["calibration_crops"] > 0
    assert list(settings["methods"]) == headline_names()
    assert settings["mode"] == "groundtruth"
    # the baselines' tuned growth is in the settings (and so in the report)
    assert settings["methods"]["telea_box"] == {"method": "telea_box", "radius": 3,
                                                "grow": TUNED_GROWTH["telea_box"]}
    assert settings["methods"]["ns_true"]["grow"] == TUNED_GROWTH["ns_true"]
    assert settings["methods"]["default"]["method"] == "default"
    assert len(settings["methods"]["default"]) > 10  # the whole RemovalConfig


def test_results_csv_rows(bench_run) -> None:
    out, _ = bench_run
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(scoring.CSV_COLUMNS)
    # 4 readable images x every method but seed, plus seed on the first 2
    assert len(rows) == 4 * (len(headline_names()) - 1) + 2
    assert {r["file"] for r in rows} == {"1.png", "2.png", "3.png", "4.png"}
    untouched = [r for r in rows if r["method"] == "untouched"]
    assert all(r["keypix_precision"] == "" for r in untouched)


def test_report_self_contained(bench_run) -> None:
    out, _ = bench_run
    page = (out / "report.html").read_text()
    assert "<table id='summary'>" in page
    for method in headline_names():
        assert f"<td class='name'>{method}</td>" in page
    assert "_raw</td>" not in page
    assert f"grow {TUNED_GROWTH['ns_true']}" in page  # the chosen growth in the settings
    assert "src='http" not in page and 'src="http' not in page
    assert "href='http" not in page and 'href="http' not in page
    assert "<link" not in page and "<script" not in page
    assert "data:image/png;base64," in page
    assert "5.png" in page  # the corrupt image is reported


def test_without_groundtruth_the_real_photo_mode_runs(tmp_path, model_files) -> None:
    path = make_gt_split(tmp_path, "test", count=1)
    for f in (path / "groundtruth").iterdir():
        f.unlink()
    (path / "groundtruth").rmdir()
    result = bench.run_bench(tmp_path, "test", model_files[0], tmp_path / "out",
                             reader=model_files[1], methods=["untouched"], progress=False)
    assert result["settings"]["mode"] == "real" and "floor" in result


def test_cli_bench_without_judge(tmp_path, model_files, monkeypatch, capsys) -> None:
    packaged = weights.packaged_checkpoint
    monkeypatch.setattr(weights, "packaged_checkpoint",
                        lambda name: None if name == "judge" else packaged(name))
    make_gt_split(tmp_path, "test", count=2, seed=3)
    out = tmp_path / "out"
    code = cli.main(["bench", "--data", str(tmp_path), "--split", "test", "--weights",
                     str(model_files[0]), "--out", str(out), "--seed-limit", "0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "telea_box" in printed and "report.html" in printed
    document = json.loads((out / "summary.json").read_text())
    assert "seed" not in document["methods"]
    assert document["settings"]["judge"] is None
    assert all(m["removal_rate"] is None for m in document["methods"].values())
    page = (out / "report.html").read_text()
    assert "No judge:" in page and "svhn-erase train --classes 11" in page


def test_cli_bench_rejects_a_10_class_judge(tmp_path, model_files, capsys) -> None:
    make_gt_split(tmp_path, "test", count=1)
    code = cli.main(["bench", "--data", str(tmp_path), "--split", "test", "--weights",
                     str(model_files[0]), "--judge", str(model_files[0]),
                     "--out", str(tmp_path / "o")])
    assert code == 2
    assert "11 classes" in capsys.readouterr().err


def test_bench_on_a_generated_split_with_a_corrupt_image(tmp_path, model_files) -> None:
    synth = pytest.importorskip("svhn_erase.data.synth")
    path = synth.generate_split(tmp_path, "test", count=4, seed=7, workers=1, progress=False)
    (path / "groundtruth" / "2_clean.png").write_bytes(b"broken")
    out = tmp_path / "out"
    summary = bench.run_bench(tmp_path, "test", model_files[0], out, judge=model_files[1],
                              seed_limit=0, progress=False)
    assert summary["methods"]["default"]["n_images"] == 3  # 2.png's ground truth is broken
    assert "seed" not in summary["methods"]
    assert "2.png" in (out / "report.html").read_text()
    with open(out / "results.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3 * (len(headline_names()) - 1)


def test_no_weights_and_none_packaged_is_a_user_error(tmp_path, monkeypatch) -> None:
    make_gt_split(tmp_path, "test", count=1)
    monkeypatch.setattr(weights, "CHECKPOINTS_DIR", tmp_path / "no-checkpoints")
    with pytest.raises(SvhnEraseError, match="--weights"):
        bench.run_bench(tmp_path, "test", None, tmp_path / "out", progress=False)


class _Blackout(BoxFill):
    """A toy method: paints every box black (grey level 0)."""

    name = "toy_blackout"
    description = "a toy registered by the test: every box painted black"


def test_a_registered_method_is_benchmarked(tmp_path, model_files, capsys) -> None:
    make_gt_split(tmp_path, "test", count=2, seed=4)
    out = tmp_path / "out"
    register(_Blackout)
    try:
        code = cli.main(["bench", "--data", str(tmp_path), "--split", "test", "--weights",
                         str(model_files[0]), "--judge", str(model_files[1]), "--out", str(out),
                         "--seed-limit", "0"])
    finally:
        unregister("toy_blackout")
    assert code == 0
    assert "toy_blackout" in capsys.readouterr().out  # the printed table
    toy = json.loads((out / "summary.json").read_text())["methods"]["toy_blackout"]
    assert toy["n_images"] == 2 and toy["psnr_box"] < 100 and toy["digits_per_s"] > 0
    with open(out / "results.csv", newline="") as fh:
        assert sum(r["method"] == "toy_blackout" for r in csv.DictReader(fh)) == 2
    page = (out / "report.html").read_text()
    assert "<td class='name'>toy_blackout</td>" in page and _Blackout.description in page
    assert "toy_blackout" not in method_names()


def test_summary_weighs_images_for_psnr_and_digits_for_key_pixels() -> None:
    scores = scoring.Scores()
    for file, psnr, n in (("1.png", 30.0, 1), ("2.png", 20.0, 3)):
        scores.images.append({"file": file, "method": "default", "n_digits": n,
                              "psnr_box": psnr, "ssim_box": None, "seconds": 0.5})
    # one digit kept at precision 1.0 in 1.png, three at 0.0 / 0.0 / None in 2.png
    for file, precision, removed in (("1.png", 1.0, True), ("2.png", 0.0, False),
                                     ("2.png", 0.0, True), ("2.png", None, True)):
        scores.digits.append({"file": file, "method": "default", "keypix_precision": precision,
                              "keypix_recall": None, "removed": removed})
    figures = scoring.summarize(scores, [method_class("default")()])["default"]
    assert figures["psnr_box"] == 25.0  # over images
    assert figures["keypix_precision"] == pytest.approx(1 / 3)  # over digits that have one
    assert figures["removal_rate"] == 0.75 and figures["ssim_box"] is None
    assert figures["keypix_recall"] is None
    assert figures["digits_per_s"] == 4.0 and figures["n_images"] == 2
    table = scoring.image_table(scores)
    assert table["keypix_precision"].tolist() == [1.0, 0.0]  # per image: its digits' mean
    assert table["removal_rate"].tolist() == [1.0, pytest.approx(2 / 3)]


def test_methods_option_runs_the_raw_baselines_beside_the_grown_ones(tmp_path, model_files,
                                                                     capsys) -> None:
    make_gt_split(tmp_path, "test", count=3, seed=6)
    out = tmp_path / "out"
    code = cli.main(["bench", "--data", str(tmp_path), "--split", "test", "--weights",
                     str(model_files[0]), "--out", str(out), "--files", "1-2",
                     "--methods", "ns_true,ns_true_raw", "biharmonic_true_raw"])
    assert code == 0
    assert "ns_true_raw" in capsys.readouterr().out
    document = json.loads((out / "summary.json").read_text())
    assert list(document["methods"]) == ["ns_true", "ns_true_raw", "biharmonic_true_raw"]
    assert document["methods"]["ns_true"]["n_images"] == 2  # --files 1-2
    methods = document["settings"]["methods"]
    assert methods["ns_true_raw"]["grow"] == 0 and methods["biharmonic_true_raw"]["grow"] == 0
    assert methods["ns_true"]["grow"] == TUNED_GROWTH["ns_true"]
    page = (out / "report.html").read_text()
    assert method_class("ns_true_raw").description in page
    every = bench.run_bench(tmp_path, "test", model_files[0], tmp_path / "all",
                            methods=["all"], seed_limit=0, limit=1, progress=False)
    assert list(every["methods"]) == [n for n in method_names() if n != "seed"]
    with pytest.raises(SvhnEraseError, match="unknown removal method"):
        bench.run_bench(tmp_path, "test", model_files[0], out, methods=["nope"],
                        progress=False)


def test_seed_weights_drive_the_seed_method_alone(tmp_path, model_files, capsys) -> None:
    make_gt_split(tmp_path, "test", count=2, seed=8)
    clf, other = (str(p) for p in model_files)
    code = cli.main(["bench", "--data", str(tmp_path), "--split", "test", "--weights", clf,
                     "--seed-weights", other, "--out", str(tmp_path / "a"),
                     "--methods", "default", "seed"])
    assert code == 0
    assert f"seed key pixels from {other}" in capsys.readouterr().out
    a = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert a["settings"]["weights"] == clf and a["settings"]["seed_weights"] == other
    assert a["settings"]["seed_net"] == "ConvNet32_753"
    assert f"key pixels from {other} (ConvNet32_753)" in (tmp_path / "a/report.html").read_text()
    # the seed row is the one --weights W gives, the default row the one of --weights
    b = bench.run_bench(tmp_path, "test", other, tmp_path / "b", methods=["default", "seed"],
                        progress=False)
    c = bench.run_bench(tmp_path, "test", clf, tmp_path / "c", methods=["default"],
                        progress=False)
    for key in ("psnr_box", "keypix_precision", "keypix_recall"):
        assert a["methods"]["seed"][key] == b["methods"]["seed"][key]
        assert a["methods"]["default"][key] == c["methods"]["default"][key]
    assert b["settings"]["seed_weights"] == other


def test_paired_psnr_is_the_mean_image_by_image_difference_with_its_standard_error() -> None:
    scores = scoring.Scores()
    rows = (("1.png", "default", 30.0), ("2.png", "default", 20.0), ("3.png", "default", 25.0),
            ("1.png", "ns_true", 29.0), ("2.png", "ns_true", 21.0), ("3.png", "ns_true", 22.0),
            ("1.png", "seed", 10.0), ("2.png", "seed", float("nan")))
    for file, method, psnr in rows:
        scores.images.append({"file": file, "method": method, "n_digits": 1, "psnr_box": psnr,
                              "ssim_box": None, "seconds": 0.1})
        scores.digits.append({"file": file, "method": method, "keypix_precision": None,
                              "keypix_recall": None, "removed": True})
    methods = [method_class(n)() for n in ("default", "ns_true", "seed")]
    summary = scoring.summarize(scores, methods)
    assert "psnr_vs_first" not in summary["default"]
    ns = summary["ns_true"]  # differences -1, +1, -3
    assert ns["psnr_vs_first"] == pytest.approx(-1.0) and ns["n_paired"] == 3
    assert ns["psnr_vs_first_se"] == pytest.approx(2.0 / 3 ** 0.5)  # sample sd 2 over sqrt 3
    seed = summary["seed"]  # only 1.png has both: one pair, no standard error
    assert seed["psnr_vs_first"] == -20.0 and seed["n_paired"] == 1
    assert seed["psnr_vs_first_se"] is None
    printed = report.format_paired(summary)
    assert "against default" in printed and "-1.00 dB" in printed and "(SE 1.15, 3 images)" \
        in printed and "(SE -, 1 image)" in printed
    assert report.format_paired({"default": summary["default"]}) == ""
