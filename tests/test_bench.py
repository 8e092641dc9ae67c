"""The benchmark end to end on a tiny split with ground truth, written here (PIL digits)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from builders import make_gt_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import bench
from svhn_erase.model import weights


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, model_files) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("data")
    make_gt_split(root, "test", count=5, corrupt=1)
    out = root / "bench"
    summary = bench.run_bench(root, "test", model_files[0], out, judge=model_files[1], seed_limit=2,
                              progress=False)
    return out, summary


def test_summary_structure(bench_run) -> None:
    out, summary = bench_run
    on_disk = json.loads((out / "summary.json").read_text())
    assert set(on_disk) == set(bench.METHODS)
    for method, metrics in on_disk.items():
        assert set(bench.METRICS) <= set(metrics)
        assert 0 < metrics["psnr_box"] <= 100
        assert -1 <= metrics["ssim_box"] <= 1
        assert 0 <= metrics["removal_rate"] <= 1
        if method in bench.KEYPIX_METHODS:
            assert 0 <= metrics["keypix_precision"] <= 1
            assert 0 <= metrics["keypix_recall"] <= 1
        else:
            assert metrics["keypix_precision"] is None and metrics["keypix_recall"] is None
    assert on_disk["untouched"]["digits_per_s"] is None
    assert on_disk["default"]["digits_per_s"] > 0
    assert on_disk["default"]["n_images"] == 4  # the corrupt one is skipped
    assert on_disk["seed"]["n_images"] == 2  # --seed-limit
    # an oracle mask inpainter must beat doing nothing on these flat backgrounds
    assert on_disk["ns_true"]["psnr_box"] > on_disk["untouched"]["psnr_box"] + 5
    assert summary["default"]["psnr_box"] == pytest.approx(on_disk["default"]["psnr_box"])


def test_results_csv_rows(bench_run) -> None:
    out, _ = bench_run
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(bench.CSV_COLUMNS)
    # 4 readable images x 9 methods, plus seed on the first 2
    assert len(rows) == 4 * (len(bench.METHODS) - 1) + 2
    assert {r["file"] for r in rows} == {"1.png", "2.png", "3.png", "4.png"}
    untouched = [r for r in rows if r["method"] == "untouched"]
    assert all(r["keypix_precision"] == "" for r in untouched)


def test_report_self_contained(bench_run) -> None:
    out, _ = bench_run
    page = (out / "report.html").read_text()
    assert "<table id='summary'>" in page
    for method in bench.METHODS:
        assert f">{method}<" in page
    assert "src='http" not in page and 'src="http' not in page
    assert "href='http" not in page and 'href="http' not in page
    assert "<link" not in page and "<script" not in page
    assert "data:image/png;base64," in page
    assert "5.png" in page  # the corrupt image is reported


def test_missing_groundtruth_is_a_user_error(tmp_path, model_files) -> None:
    path = make_gt_split(tmp_path, "test", count=1)
    for f in (path / "groundtruth").iterdir():
        f.unlink()
    (path / "groundtruth").rmdir()
    with pytest.raises(SvhnEraseError, match="groundtruth"):
        bench.run_bench(tmp_path, "test", model_files[0], tmp_path / "out", progress=False)


def test_cli_bench_without_judge(tmp_path, model_files, capsys) -> None:
    make_gt_split(tmp_path, "test", count=2, seed=3)
    out = tmp_path / "out"
    code = cli.main(["bench", "--data", str(tmp_path), "--split", "test", "--weights",
                     str(model_files[0]), "--out", str(out), "--seed-limit", "0"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "telea_box" in printed and "report.html" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert "seed" not in summary
    if weights.packaged_checkpoint("judge") is None:
        assert summary["default"]["removal_rate"] is None
        assert "--classes 11" in (out / "report.html").read_text()


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
    assert summary["default"]["n_images"] == 3  # 2.png's ground truth does not decode
    assert "seed" not in summary
    assert "2.png" in (out / "report.html").read_text()
    with open(out / "results.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 3 * (len(bench.METHODS) - 1)


def test_no_weights_and_none_packaged_is_a_user_error(tmp_path, monkeypatch) -> None:
    make_gt_split(tmp_path, "test", count=1)
    monkeypatch.setattr(weights, "CHECKPOINTS_DIR", tmp_path / "no-checkpoints")
    with pytest.raises(SvhnEraseError, match="--weights"):
        bench.run_bench(tmp_path, "test", None, tmp_path / "out", progress=False)
