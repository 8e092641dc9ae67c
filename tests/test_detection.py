"""The digit detector (issue 16): targets and decoding, a few training steps, the public
API, grouping, scoring, and the detect / train-detector / erase-without-boxes commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from builders import make_split, rgb_icc_profile
from svhn_erase.cli import main
from svhn_erase.data.digitstruct.layout import INDEX_COLUMNS
from svhn_erase.detection import Detection, Detector, load_detector
from svhn_erase.detection.dataset import DetectionDataset, collate, load_photos
from svhn_erase.detection.detect import (
    group_numbers,
    iou,
    main_number,
    read_metadata,
    save_detector,
    scale_widths,
    with_settings,
)
from svhn_erase.detection.evaluate import score_detections
from svhn_erase.detection.net import STRIDE, NetConfig
from svhn_erase.detection.targets import decode, encode
from svhn_erase.detection.train import TrainSettings, losses, train_detector
from svhn_erase.errors import SvhnEraseError

REAL = Path(__file__).resolve().parents[2] / "shared/real-svhn/train"
TINY = TrainSettings(steps=3, batch=4, max_width=128, seed=3)


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_split(tmp_path_factory.mktemp("det"), "train", count=8, seed=4)


@pytest.fixture(scope="module")
def weights(split: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A detector trained for three steps (its heat map still near its 1 % prior)."""
    detector, _ = train_detector(load_photos(split, progress=False), [], TINY, progress=False)
    path = tmp_path_factory.mktemp("w") / "det.safetensors"
    save_detector(detector, path)
    return path


def test_targets_decode_back_to_the_boxes() -> None:
    boxes = np.array([[10, 8, 14, 40], [26, 9, 15, 38], [60, 20, 9, 20]], np.float32)
    t = encode(boxes, np.array([3, 1, 7]), 64, 96)
    assert t["heat"].shape == (16, 24) and t["centre"].sum() == 3
    heat = np.where(t["centre"] > 0, 9.0, -9.0)[None, None]
    cls = np.eye(10, dtype=np.float32)[np.clip(t["cls"], 0, 9)].transpose(2, 0, 1) * 9
    out = {"heat": torch.tensor(heat), "cls": torch.tensor(cls[None]),
           "size": torch.tensor(t["size"][None]), "offset": torch.tensor(t["offset"][None])}
    peaks = sorted(decode(out, [96], 0.5)[0], key=lambda p: p.box[0])
    assert [p.label for p in peaks] == [3, 1, 7]
    assert np.allclose([p.box for p in peaks], boxes, atol=1e-3)


def test_dataset_items_and_batch(split: Path) -> None:
    photos = load_photos(split, "1-4", progress=False)
    assert len(photos) == 4
    ds = DetectionDataset(photos, 64, 128, augment=True, seed=1)
    a, b = ds[0], ds[0]
    assert a[0].shape[0] == 64 and np.array_equal(a[0], b[0])  # seeded views
    x, targets, widths = collate([ds[i] for i in range(4)])
    assert x.shape[:2] == (4, 3) and x.shape[-1] % 16 == 0
    assert targets["heat"].shape == (4, 16, x.shape[-1] // STRIDE)
    assert all(w <= x.shape[-1] for w in widths)


def test_a_few_steps_are_deterministic_and_detect(split: Path, weights: Path) -> None:
    photos = load_photos(split, progress=False)
    first, record = train_detector(photos, [], TINY, progress=False)
    again, _ = train_detector(photos, [], TINY, progress=False)
    for p, q in zip(first.net.parameters(), again.net.parameters(), strict=True):
        assert torch.equal(p, q)
    assert all(np.isfinite(v) for v in record["final_losses"].values())
    x, targets, _ = collate([DetectionDataset(photos, 64, 128)[i] for i in range(2)])
    assert all(torch.isfinite(v) for v in losses(first.net(x), targets).values())
    loaded = load_detector(weights, device="cpu")
    assert isinstance(loaded, Detector)
    found = loaded.detect([p.image for p in photos[:2]], min_score=0.0)
    assert len(found) == 2 and all(isinstance(d, Detection) for d in found[0])
    d = found[0][0]
    assert 0 <= d.label <= 9 and 0.0 <= d.score <= 1.0 and d.number >= 0
    assert found == loaded.detect([p.image for p in photos[:2]], min_score=0.0)


def test_detections_do_not_depend_on_the_batch(weights: Path) -> None:
    detector = load_detector(weights, device="cpu")
    rng = np.random.default_rng(0)
    a, b = (rng.integers(0, 255, shape, np.uint8) for shape in ((64, 90, 3), (50, 200, 3)))
    assert detector.detect([a, b], 0.0) == [detector.detect([a], 0.0)[0],
                                            detector.detect([b], 0.0)[0]]


def test_generated_widths_follow_the_real_ones() -> None:
    from svhn_erase.detection.dataset import Photo
    from svhn_erase.detection.train import width_scales, with_widths

    im = np.zeros((40, 60, 3), np.uint8)
    real = [Photo("r", im, np.array([[0, 0, 8, 20], [10, 0, 10, 20]], np.float32),
                  np.array([1, 2]))]
    synth = [Photo("s", im, np.array([[4, 0, 10, 20], [20, 0, 10, 20]], np.float32),
                   np.array([1, 2]))]
    scales = width_scales(real, synth)
    assert np.allclose(scales[[1, 2, 3]], [0.8, 1.0, 1.0])  # 3: no boxes, left alone
    moved = with_widths(synth, scales)[0].boxes
    assert np.allclose(moved[0], [5, 0, 8, 20]) and np.allclose(moved[1], synth[0].boxes[1])


def test_tuning_picks_settings_from_its_grids(split: Path, weights: Path) -> None:
    from svhn_erase.detection.train import NMS_IOUS, THRESHOLDS, ZOOMS, tune_threshold

    tuned, rows = tune_threshold(load_detector(weights, device="cpu"),
                                 load_photos(split, "1-2", progress=False))
    assert len(rows) == len(ZOOMS) * len(NMS_IOUS) * len(THRESHOLDS)
    s = tuned.settings
    assert s.zoom in ZOOMS and s.nms_iou in NMS_IOUS and s.min_score in THRESHOLDS


def test_erase_boxes_grow() -> None:
    from svhn_erase.boxes import Box
    from svhn_erase.detection.photos import box_array

    dets = [Detection(Box.of([10.0, 20.0, 10.0, 30.0]), 1, 0.9, 0)]
    assert box_array(dets).tolist() == [[10, 20, 10, 30]]
    assert box_array(dets, 0.1).tolist() == [[9, 17, 12, 36]]
    assert box_array([]).shape == (0, 4)


def test_detect_refuses_what_is_no_photo(weights: Path) -> None:
    with pytest.raises(SvhnEraseError):
        load_detector(weights).detect([np.zeros((10, 10), np.uint8)])


def test_group_numbers_splits_lines_and_gaps() -> None:
    boxes = np.array([[10, 10, 10, 20], [21, 11, 10, 20], [32, 10, 10, 20],  # one number
                      [100, 10, 10, 20],  # far to the right
                      [12, 60, 5, 8]])  # small, lower
    assert group_numbers(boxes).tolist() == [0, 0, 0, 2, 1]


def test_scores_at_iou_half() -> None:
    from svhn_erase.boxes import Box

    truth = np.array([[0, 0, 10, 20], [12, 0, 10, 20]], float)
    hit = Detection(Box(1, 1, 10, 20), 4, 0.9, 0)
    off = Detection(Box(30, 0, 10, 20), 5, 0.8, 0)
    s = score_detections([[hit, off]], [truth], [np.array([4, 2])])
    assert (s["precision"], s["recall"], s["number_recall"]) == (0.5, 0.5, 0.0)
    assert s["label_accuracy"] == 1.0
    assert iou(truth[:1], truth[:1])[0, 0] == pytest.approx(1.0)


def test_main_number_keeps_other_numbers_only_when_sure() -> None:
    from svhn_erase.boxes import Box

    one = [Detection(Box(10 + 11 * i, 10, 10, 20), i, 0.5, 0) for i in range(3)]
    far = [Detection(Box(200, 80, 10, 20), 7, 0.9, 1), Detection(Box(300, 80, 10, 20), 8, 0.55, 2)]
    kept = main_number(one + far, 0.6)
    assert [(d.label, d.number) for d in kept] == [(0, 0), (1, 0), (2, 0), (7, 1)]
    assert main_number(one + far, 1.0) == one and main_number([], 0.6) == []


def test_detect_keeps_every_number_when_asked(weights: Path) -> None:
    image = np.random.default_rng(2).integers(0, 255, (64, 200, 3), np.uint8)
    detector = with_settings(load_detector(weights, device="cpu"), other_min_score=1.0)
    every = detector.detect([image], 0.0, every_number=True)[0]
    main = detector.detect([image], 0.0)[0]
    assert len({d.number for d in every}) > 1 and len({d.number for d in main}) == 1
    assert main == main_number(every, 1.0)


def test_detect_command_writes_index_columns(split: Path, weights: Path, tmp_path: Path,
                                             capsys) -> None:
    out = tmp_path / "boxes.csv"
    cut = tmp_path / "cut.png"
    cut.write_bytes((split / "1.png").read_bytes()[:200])  # a photo that does not decode
    code = main(["detect", str(split / "1.png"), str(cut), str(split / "2.png"), "--out",
                 str(out), "--detector", str(weights), "--min-score", "0", "--picture",
                 str(tmp_path / "pics")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "cut.png: image does not decode" in captured.err  # reported, and skipped
    assert "in 2 photo(s)" in captured.out and "skipped 1 photo(s)" in captured.out
    table = pd.read_csv(out)
    assert list(table.columns) == [*INDEX_COLUMNS, "score", "number"]
    assert set(table["file"]) == {"1.png", "2.png"} and (table["width"] > 0).all()
    assert (tmp_path / "pics" / "1.png").is_file()
    every = tmp_path / "every.csv"
    assert main(["detect", str(split / "1.png"), str(split / "2.png"), "--out", str(every),
                 "--detector", str(weights), "--min-score", "0", "--every-number"]) == 0
    assert len(pd.read_csv(every)) >= len(table)


@pytest.mark.parametrize("argv, message", [
    (["detect", "missing.png", "--out", "b.csv"], "missing.png: no such image file"),
    (["train-detector", "--real", "r", "--real-files", "1-10", "--tune-files", "5-20",
      "--out", "d.safetensors"], "share 6 photo(s)"),
])
def test_bad_input_is_one_line(argv, message, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_not_detector_weights(tmp_path: Path) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"junk")
    with pytest.raises(SvhnEraseError, match="not detector weights"):
        load_detector(bad)


@pytest.mark.parametrize("command", ["detect", "train-detector", "calibrate-detector", "erase",
                                     "erase-image"])
def test_help(command: str, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--min-score" in text or command in ("train-detector", "calibrate-detector")
    assert "width" in text or command.startswith("erase")


def test_width_scale_widens_boxes_about_their_centre(weights: Path) -> None:
    assert np.allclose(scale_widths(np.array([[10.0, 5, 20, 30]]), 1.1), [[9, 5, 22, 30]])
    image = np.random.default_rng(1).integers(0, 255, (64, 90, 3), np.uint8)
    plain = load_detector(weights, device="cpu")
    wide = with_settings(plain, width_scale=1.1).detect([image], 0.0)[0]
    a = np.array([[d.box.left, d.box.top, d.box.width, d.box.height]
                  for d in plain.detect([image], 0.0)[0]])
    b = np.array([[d.box.left, d.box.top, d.box.width, d.box.height] for d in wide])
    assert len(a) and np.allclose(b[:, 2], 1.1 * a[:, 2], atol=1e-4)
    assert np.allclose(b[:, 0] + b[:, 2] / 2, a[:, 0] + a[:, 2] / 2, atol=1e-4)


def test_width_scale_is_the_median_ratio_of_matched_boxes(split: Path, weights: Path) -> None:
    """Official boxes made 1.2x as wide as each photo's best detection: the scale is 1.2."""
    from svhn_erase.detection.calibrate import width_scale
    from svhn_erase.detection.dataset import Photo

    detector = with_settings(load_detector(weights, device="cpu"), min_score=0.0)
    photos = load_photos(split, "1-3", progress=False)
    truth = []
    for p, dets in zip(photos, detector.detect([p.image for p in photos]), strict=True):
        top = max(dets, key=lambda d: d.score).box
        box = scale_widths(np.array([[top.left, top.top, top.width, top.height]]), 1.2)
        truth.append(Photo(p.file, p.image, box.astype(np.float32), np.array([1])))
    scale, pairs = width_scale(with_settings(detector, width_scale=1.5), truth)
    assert (scale, pairs) == (1.2, 3)


def test_calibrate_detector_command(split: Path, weights: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "calibrated.safetensors"
    assert main(["calibrate-detector", "--detector", str(weights), "--real", str(split),
                 "--real-files", "1-4", "--tune-files", "5-8", "--out", str(out)]) == 0
    assert "width scale" in capsys.readouterr().out
    meta = read_metadata(out)
    assert meta["detect"]["width_scale"] == meta["calibrate"]["width_scale"] > 0
    assert load_detector(out).settings.width_scale == meta["detect"]["width_scale"]
    assert main(["calibrate-detector", "--detector", str(weights), "--real", str(split),
                 "--real-files", "1-4", "--tune-files", "4-8", "--out",
                 str(tmp_path / "x.safetensors")]) == 2


def test_erase_without_boxes(split: Path, weights: Path, tmp_path: Path, capsys,
                             model_files) -> None:
    clf, _ = model_files
    out = tmp_path / "one.png"
    assert main(["erase-image", str(split / "1.png"), "--out", str(out), "--weights", str(clf),
                 "--detector", str(weights), "--min-score", "0"]) == 0
    assert "found" in capsys.readouterr().out and out.is_file()
    folder = tmp_path / "photos" / "street"
    folder.mkdir(parents=True)
    for name in ("1.png", "2.png"):
        (folder / name).write_bytes((split / name).read_bytes())
    (folder / "3.png").write_bytes((split / "3.png").read_bytes()[:200])  # does not decode
    Image.open(split / "2.png").save(folder / "4.JPG", icc_profile=rgb_icc_profile())  # a camera's
    assert main(["erase", "--detect", "--data", str(folder.parent), "--split", "street",
                 "--out", str(tmp_path / "erased"), "--weights", str(clf), "--detector",
                 str(weights), "--min-score", "0"]) == 0
    assert "skipped 1 image(s)" in capsys.readouterr().out
    assert (tmp_path / "erased" / "2.png").is_file()
    assert not (tmp_path / "erased" / "3.png").exists()
    timing = json.loads((tmp_path / "erased" / "timing.json").read_text())
    assert timing["images"] == 3 and "3.png: image does not decode" in timing["skipped"][0]
    mask = np.asarray(Image.open(tmp_path / "erased" / "masks" / "4.JPG.png"))  # lossless
    assert set(np.unique(mask)) == {0, 255}
    assert Image.open(tmp_path / "erased" / "4.JPG").format == "JPEG"
    assert Image.open(tmp_path / "erased" / "4.JPG").info["icc_profile"] == rgb_icc_profile()
    assert list(pd.read_csv(tmp_path / "erased" / "boxes.csv").columns)[:7] == INDEX_COLUMNS


@pytest.mark.skipif(not REAL.is_dir(), reason="real SVHN photos not present")
def test_packaged_detector_finds_real_digits() -> None:
    """The packaged weights on twenty tuning photos (1401-1420): most digits found."""
    photos = load_photos(REAL, "1401-1420", progress=False)
    found = load_detector(device="cpu").detect([p.image for p in photos])
    s = score_detections(found, [p.boxes for p in photos])
    assert s["recall"] >= 0.8 and s["precision"] >= 0.8
    assert NetConfig().input_height == load_detector().config.input_height
    assert load_detector().settings.width_scale == read_metadata(
        Path(__file__).resolve().parents[1] / "src/svhn_erase/checkpoints/detector.safetensors"
    )["calibrate"]["width_scale"]
