"""The benchmark's real-photo mode on tiny splits without ground truth (and on a few real SVHN
photos when ../shared/real-svhn is at hand): its figures, its report, and its untouched row
agreeing with ``classify``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from builders import make_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.evaluation import bench, real, real_report, selection
from svhn_erase.evaluation.decoys import decoy_boxes
from svhn_erase.model.classify import classify_split
from svhn_erase.removal.methods.base import create

REAL = Path(__file__).resolve().parents[2] / "shared/real-svhn"
ORIGINAL = Path(__file__).resolve().parents[2] / "shared/reference/original-ConvNet48_Dropout3.pkl"
FIGURES = {"still_read", "still_read_prob", "decoy_psnr", "digits_per_s", "n_images",
           "n_digits", "n_decoy_images", "still_read_floor_digits", "still_read_not_1",
           "n_floor_digits"}


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, model_files) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("real")
    make_split(root, "photos", count=6, seed=2, corrupt=1)
    out = root / "bench"
    result = bench.run_bench(root, "photos", model_files[0], out, reader=model_files[1],
                             seed_limit=0, progress=False)  # seed is slow: not here
    return root, out, result


def test_real_mode_writes_still_read_floor_and_decoy_figures(real_run) -> None:
    root, out, result = real_run
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["methods"] == result["methods"] and on_disk["floor"] == result["floor"]
    assert list(on_disk["methods"]) == [n for n in selection.headline_names(with_truth=False)
                                        if n != "seed"]
    for name, m in on_disk["methods"].items():
        assert set(m) == FIGURES
        assert 0 <= m["still_read"] <= 1 and 0 < m["still_read_prob"] < 1
        assert m["decoy_psnr"] is not None and 0 < m["decoy_psnr"] <= 100
        assert (m["digits_per_s"] is None) == (name == "untouched")
        assert m["n_floor_digits"] == on_disk["floor"]["n_digits"]
    assert on_disk["methods"]["untouched"]["decoy_psnr"] == 100.0  # nothing changed
    assert on_disk["methods"]["default"]["n_images"] == 5  # the corrupt one is skipped
    floor = on_disk["floor"]
    assert 0 <= floor["still_read"] <= 1 and floor["n_digits"] > 0
    settings = on_disk["settings"]
    assert settings["mode"] == "real" and settings["reader_net"] == "ConvNet32_753"
    assert settings["photos"] == 5
    assert settings["photos_with_decoys"] + settings["photos_without_room"] == 5
    assert settings["photos_with_decoys"] == floor["n_images"]
    assert settings["methods"]["telea_ours"]["grow"] == 1
    assert any("6.png" in s for s in settings["skipped"])


def test_real_mode_csvs_and_report(real_run) -> None:
    _, out, result = real_run
    with open(out / "results.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(real.IMAGE_COLUMNS)
    floors = [r for r in rows if r["method"] == real.FLOOR]
    assert len(floors) == result["floor"]["n_images"]
    with open(out / "digits.csv", newline="") as fh:
        digits = list(csv.DictReader(fh))
    untouched = [d for d in digits if d["method"] == "untouched"]
    assert len(untouched) == result["methods"]["untouched"]["n_digits"]
    page = (out / "report.html").read_text()
    assert "Removal on real photos" in page and "<tr id='floor'>" in page
    assert "still read, floor&#39;s digits" in page
    assert "How to read this" in page and "Decoy fidelity" in page and "Floor" in page
    assert "<script" not in page and "src='http" not in page
    assert page.count("data:image/png;base64,") > 10  # chart and galleries
    assert "6.png" in page  # the skipped photo is listed


def test_untouched_still_read_equals_classify_accuracy(real_run, model_files) -> None:
    root, out, result = real_run
    for reader in model_files:  # a 10-class and an 11-class reader
        run = bench.run_bench(root, "photos", model_files[0], root / f"u-{reader.stem}",
                              reader=reader, methods=["untouched"], progress=False)
        preds = classify_split(root, "photos", reader, progress=False)
        accuracy = float((preds["label"] == preds["pred"]).mean())
        assert run["methods"]["untouched"]["still_read"] == pytest.approx(accuracy, abs=1e-6)
        with open(root / f"u-{reader.stem}" / "digits.csv", newline="") as fh:
            ours = {(d["file"], int(d["digit_index"])): int(d["pred"])
                    for d in csv.DictReader(fh) if d["method"] == "untouched"}
        theirs = {(f, int(i)): int(p) for f, i, p in
                  zip(preds["file"], preds["digit_index"], preds["pred"], strict=True)}
        assert ours == theirs


def test_still_read_over_the_floors_digits_leaves_out_photos_without_decoys() -> None:
    """Photo a has decoys (its first two digits moved), photo b none: the floor and the
    like-for-like figures are over a's first two digits, "still read" over all four; the
    figures without 1s over a's second digit (a 2) only."""
    def digit(file, index, method, read, label=1):
        return {"file": file, "digit_index": index, "label": label, "method": method,
                "pred": label, "read": read, "prob": 0.9 if read else 0.1, "background": "flat"}

    def photo(file, method, n, decoy_psnr, seconds):
        return {"file": file, "method": method, "n_digits": n, "still_read": 0.0,
                "still_read_prob": 0.0, "decoy_psnr": decoy_psnr, "seconds": seconds}

    scores = real.RealScores(
        images=[photo("a.png", "default", 3, 25.0, 0.1), photo("b.png", "default", 1, None, 0.1),
                photo("a.png", real.FLOOR, 2, None, None)],
        digits=[digit("a.png", 0, "default", False), digit("a.png", 1, "default", True),
                digit("a.png", 2, "default", False, label=2),
                digit("b.png", 0, "default", True), digit("a.png", 0, real.FLOOR, True),
                digit("a.png", 2, real.FLOOR, True, label=2)])
    summary, floor = real.summarize(scores, [create("default")])
    m = summary["default"]
    assert m["still_read"] == pytest.approx(2 / 4) and m["n_digits"] == 4
    assert m["still_read_floor_digits"] == 0.0 and m["n_floor_digits"] == 2
    assert m["still_read_not_1"] == 0.0  # the 2 of photo a, erased and not read
    assert floor["still_read"] == 1.0 and floor["n_digits"] == 2
    assert floor["still_read_not_1"] == 1.0
    table = real_report.format_real_table(summary, floor)
    assert "floor dig." in table and "but 1s" in table


def test_files_and_methods_select_what_runs(tmp_path, model_files, capsys) -> None:
    make_split(tmp_path, "photos", count=5, seed=3)
    out = tmp_path / "out"
    code = cli.main(["bench", "--data", str(tmp_path), "--split", "photos", "--weights",
                     str(model_files[0]), "--reader", str(model_files[1]), "--out", str(out),
                     "--files", "2-3,5", "--methods", "telea_box_raw", "ns_true", "untouched"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "floor (decoy boxes)" in printed and "still read" in printed
    document = json.loads((out / "summary.json").read_text())
    assert list(document["methods"]) == ["telea_box_raw", "untouched"]  # ns_true needs truth
    with open(out / "results.csv", newline="") as fh:
        assert {r["file"] for r in csv.DictReader(fh)} == {"2.png", "3.png", "5.png"}
    assert document["settings"]["files"] == "2-3,5"
    with pytest.raises(SvhnEraseError, match="ground truth"):
        bench.run_bench(tmp_path, "photos", model_files[0], out, methods=["ns_true"],
                        progress=False)
    with pytest.raises(SvhnEraseError, match="no image"):
        bench.run_bench(tmp_path, "photos", model_files[0], out, files="90-99",
                        progress=False)
    assert cli.main(["bench", "--data", str(tmp_path), "--split", "photos", "--out", str(out),
                     "--files", "3-1"]) == 2


def test_a_reader_needs_ten_or_eleven_classes(tmp_path, model_files) -> None:
    import torch

    from svhn_erase.model.nets import ConvNet
    from svhn_erase.model.weights import save_classifier

    make_split(tmp_path, "photos", count=1)
    torch.manual_seed(0)
    save_classifier(ConvNet("ConvNet32_753", num_classes=12).eval(), tmp_path / "r.safetensors")
    with pytest.raises(SvhnEraseError, match="10 or 11 classes"):
        bench.run_bench(tmp_path, "photos", model_files[0], tmp_path / "o",
                        reader=tmp_path / "r.safetensors", progress=False)


@pytest.mark.skipif(not (REAL / "train").is_dir() or not ORIGINAL.is_file(),
                    reason="../shared/real-svhn or the original checkpoint is not at hand")
def test_real_svhn_photos_are_read_and_nothing_is_written_there(tmp_path, model_files) -> None:
    before = sorted(p.name for p in (REAL / "train").iterdir())
    run = bench.run_bench(REAL, "train", model_files[0], tmp_path / "o", reader=ORIGINAL,
                          files="1601-1604", methods=["telea_box", "untouched"],
                          progress=False)
    assert sorted(p.name for p in (REAL / "train").iterdir()) == before
    untouched = run["methods"]["untouched"]
    assert untouched["n_images"] == 4 and untouched["still_read"] >= 0.5
    assert run["floor"]["n_digits"] > 0
    assert run["methods"]["telea_box"]["still_read"] < untouched["still_read"]


def test_decoys_of_a_photo_hold_the_boxes_labels() -> None:
    boxes = np.array([[30, 5, 10, 20], [42, 5, 10, 20]])
    decoys, index = decoy_boxes(boxes, (30, 120))
    assert index.tolist() == [0, 1] and (decoys[:, 2:] == boxes[:, 2:]).all()
