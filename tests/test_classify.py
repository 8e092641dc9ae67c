"""Classification: the original checkpoint through `classify` against hand-written torch ops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from builders import make_split
from svhn_erase import cli
from svhn_erase.data import crops
from svhn_erase.model import classify, inference, misreads
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import save_classifier

ORIGINAL = Path(__file__).resolve().parents[2] / "shared/reference/original-ConvNet48_Dropout3.pkl"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    path = tmp_path_factory.mktemp("classify")
    make_split(path, "test", count=10, seed=21, corrupt=1)
    return path


def _reference_logits(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """ConvNet48_Dropout3 in eval mode, written out op by op from the state dict."""
    out = x
    for layer in (1, 2, 3):
        w = state[f"layer{layer}.0.weight"]
        out = F.conv2d(out, w, state[f"layer{layer}.0.bias"], padding=w.shape[-1] // 2)
        mean, var = state[f"layer{layer}.1.running_mean"], state[f"layer{layer}.1.running_var"]
        gamma, beta = state[f"layer{layer}.1.weight"], state[f"layer{layer}.1.bias"]
        out = (out - mean[:, None, None]) / torch.sqrt(var[:, None, None] + 1e-5)
        out = out * gamma[:, None, None] + beta[:, None, None]
        out = F.max_pool2d(F.relu(out), 2)
    return F.linear(out.flatten(1), state["fc1.weight"], state["fc1.bias"])


@pytest.mark.skipif(not ORIGINAL.is_file(), reason="original checkpoint absent")
def test_original_checkpoint_through_cli_matches_hand_written_net(root, tmp_path) -> None:
    out = tmp_path / "preds.csv"
    assert cli.main(["classify", "--data", str(root), "--split", "test",
                     "--weights", str(ORIGINAL), "--out", str(out), "--cpu"]) == 0
    preds = pd.read_csv(out)
    assert list(preds.columns) == ["file", "digit_index", "label", "pred", "prob"]
    table = crops.load_split_table(root / "test")
    kept = table[table["file"] != "10.png"]  # the corrupt parent is skipped
    assert len(preds) == len(kept)
    # reference: crop each digit straight from the PNG, then the hand-written network
    state = torch.load(ORIGINAL, map_location="cpu", weights_only=True)
    from PIL import Image

    batch = []
    for row in kept.itertuples():
        image = np.asarray(Image.open(root / "test" / row.file).convert("RGB"))
        box = np.round([row.left, row.top, row.width, row.height]).astype(int)
        batch.append(crops.crop_digit(image, box))
    x = torch.from_numpy(np.stack(batch)).float().div(255).sub(0.5).div(0.5).unsqueeze(1)
    probs = torch.softmax(_reference_logits(state, x), 1)
    ref_prob, ref_pred = probs.max(1)
    np.testing.assert_array_equal(preds["pred"].to_numpy(), ref_pred.numpy())
    np.testing.assert_allclose(preds["prob"].to_numpy(), ref_prob.numpy(), atol=1e-5)
    np.testing.assert_array_equal(preds["label"].to_numpy(), kept["label"].to_numpy())
    assert (preds["pred"] == preds["label"]).mean() > 0.7  # it does read the drawn digits


def test_predict_crops_batches_agree() -> None:
    torch.manual_seed(0)
    model = ConvNet("ConvNet32", num_classes=11, image_size=32).eval()
    crops_u8 = np.random.default_rng(0).integers(0, 256, (37, 32, 32), dtype=np.uint8)
    pred, prob = inference.predict_crops(model, crops_u8, batch=5)
    pred_all, prob_all = inference.predict_crops(model, crops_u8, batch=100)
    assert pred.shape == (37,) and pred.dtype == np.int64 and prob.dtype == np.float32
    np.testing.assert_array_equal(pred, pred_all)
    np.testing.assert_allclose(prob, prob_all, rtol=1e-5)
    assert np.all((prob > 0) & (prob <= 1)) and pred.max() <= 10
    empty_pred, _ = inference.predict_crops(model, np.zeros((0, 32, 32), np.uint8))
    assert empty_pred.shape == (0,)


def test_run_folder_as_weights(root, tmp_path) -> None:
    torch.manual_seed(0)
    model = ConvNet("ConvNet32", num_classes=10, image_size=32).eval()
    save_classifier(model, tmp_path / "run" / "model.safetensors")
    result = classify.classify_split(root, "test", tmp_path / "run", progress=False)
    cache = crops.build_crop_cache(root / "test", size=32, progress=False)
    pred, _ = inference.predict_crops(model, cache.crops)
    np.testing.assert_array_equal(result["pred"].to_numpy(), pred)


def test_bad_weights_is_one_line_error(root, tmp_path, capsys) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"nonsense")
    code = cli.main(["classify", "--data", str(root), "--split", "test", "--weights", str(bad),
                     "--out", str(tmp_path / "p.csv")])
    assert code == 2 and "bad.safetensors" in capsys.readouterr().err


# --------------------------------------------------------------------------- misreads


def _untrained(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    model = ConvNet("ConvNet32", num_classes=10, image_size=32).eval()
    path = tmp_path / "untrained.safetensors"
    save_classifier(model, path)
    return path


def test_confusions_and_misread_order() -> None:
    result = pd.DataFrame({"file": ["1.png", "1.png", "2.png", "3.png", "3.png", "4.png"],
                           "digit_index": [0, 1, 0, 0, 1, 0],
                           "label": [7, 7, 7, 4, 2, 5], "pred": [1, 1, 7, 1, 3, 5],
                           "prob": [0.5, 0.9, 0.8, 0.7, 0.95, 0.6]})
    assert misreads.confusions(result) == [(7, 1, 2), (2, 3, 1), (4, 1, 1)]
    assert misreads.confusions(result, top=1) == [(7, 1, 2)]
    table = result[["file", "digit_index"]].assign(left=1, top=2, width=3, height=4)
    rows = misreads.misread_rows(result, table, limit=3)
    assert list(zip(rows["file"], rows["digit_index"], strict=True)) == [
        ("3.png", 1), ("1.png", 1), ("3.png", 0)]
    assert (rows["width"] == 3).all()
    text = misreads.summary_text(result)
    assert "avg / total" in text and "7 read as 1 (2)" in text
    assert "none" not in text  # no judge's "no digit" read: ten rows
    judged = result.assign(pred=[10, 1, 7, 1, 3, 5])  # a judge calls one digit "no digit"
    text = misreads.summary_text(judged)
    assert "\n       none " in text and "7 read as none (1)" in text


def test_classify_reports_and_draws_misreads(root, tmp_path, capsys) -> None:
    csv, sheet = tmp_path / "preds.csv", tmp_path / "misreads.png"
    assert cli.main(["classify", "--data", str(root), "--split", "test", "--cpu",
                     "--weights", str(_untrained(tmp_path)), "--out", str(csv),
                     "--misreads", str(sheet), "--misreads-max", "5"]) == 0
    preds = pd.read_csv(csv)
    wrong = int((preds["label"] != preds["pred"]).sum())
    assert wrong >= 5  # an untrained net misreads most drawn digits
    out = capsys.readouterr().out
    assert "precision" in out and "avg / total" in out and "commonest misreads" in out
    assert "5 misread digit(s) drawn" in out
    width, height = Image.open(sheet).size
    cell, caption, gap = misreads.CELL, misreads.CAPTION, misreads.GAP
    assert (width, height) == (5 * (cell + gap) - gap, cell + caption)


def test_classify_files_keeps_the_numbered_photos(root, tmp_path) -> None:
    csv = tmp_path / "preds.csv"
    assert cli.main(["classify", "--data", str(root), "--split", "test", "--cpu",
                     "--weights", str(_untrained(tmp_path)), "--out", str(csv),
                     "--files", "2-4"]) == 0
    assert sorted(set(pd.read_csv(csv)["file"])) == ["2.png", "3.png", "4.png"]


def test_no_misreads_gives_a_note(root, tmp_path) -> None:
    table = crops.load_split_table(root / "test")
    right = table[["file", "digit_index", "label"]].assign(pred=table["label"], prob=0.9)
    out = tmp_path / "none.png"
    assert misreads.misread_sheet(root / "test", right, table, out) == 0
    assert Image.open(out).size == (240, 40)


@pytest.mark.parametrize("where, message", [("inside", "inside the split's folder"),
                                            ("csv", "the same file as --out"),
                                            ("ext", "unknown image file extension")])
def test_bad_misreads_path_is_refused(root, tmp_path, capsys, where, message) -> None:
    csv = tmp_path / "preds.png" if where == "csv" else tmp_path / "preds.csv"
    sheet = {"inside": root / "test" / "sheet.png", "csv": csv,
             "ext": tmp_path / "sheet.nope"}[where]
    code = cli.main(["classify", "--data", str(root), "--split", "test", "--cpu",
                     "--weights", str(_untrained(tmp_path)), "--out", str(csv),
                     "--misreads", str(sheet)])
    assert code == 2 and message in capsys.readouterr().err
    assert not sheet.exists() and not csv.exists()
