"""The key-pixel methods and the erase commands: digits go, the rest of the image stays."""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from builders import embed_profile, make_split, rgb_icc_profile
from svhn_erase import cli
from svhn_erase.apps import erase as erase_app
from svhn_erase.apps.erase import erase_split
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import save_classifier
from svhn_erase.removal import paste
from svhn_erase.removal.config import RemovalConfig, SeedConfig
from svhn_erase.removal.methods import Erased, Scene, create
from svhn_erase.removal.methods.default import DefaultMethod
from svhn_erase.removal.methods.records import classifier_inputs, classify, digit_records
from svhn_erase.removal.methods.seed import SeedMethod


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory, model: ConvNet) -> Path:
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_classifier(model, path)
    return path


def _scene(seed: int, textured: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(image, clean, boxes) with two drawn digits on a flat or textured background."""
    rng = np.random.default_rng(seed)
    h, w = 48, 70
    yy, xx = np.mgrid[0:h, 0:w]
    clean = np.stack([60 + yy, 90 + 0.5 * xx, 120 + 0 * xx], -1).astype(np.float32)
    if textured:
        clean += rng.normal(0, 4, clean.shape)
    clean = np.clip(clean, 0, 255).astype(np.uint8)
    image = Image.fromarray(clean.copy())
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=28)
    boxes = []
    x = 12
    for digit in "47":
        x0, y0, x1, y1 = draw.textbbox((x, 8), digit, font=font)
        draw.text((x, 8), digit, fill=(250, 240, 60), font=font)
        boxes.append([x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2])
        x = x1 + 10
    return np.asarray(image), clean, np.array(boxes)


def _erase(image: np.ndarray, boxes: np.ndarray, model: ConvNet, method: str = "default",
           config: object = None) -> Erased:
    (result,) = create(method, config).erase([Scene(image, boxes)], model)
    return result


def _psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    mse = ((a.astype(float) - b.astype(float))[region] ** 2).mean()
    return 10 * np.log10(255**2 / max(mse, 1e-10))


@pytest.mark.parametrize("textured", [False, True])
def test_default_erase_removes_drawn_digits(model: ConvNet, textured: bool) -> None:
    image, clean, boxes = _scene(1, textured)
    res = _erase(image, boxes, model)
    inside = np.zeros(image.shape[:2], bool)
    for left, top, w, h in boxes:
        inside[top:top + h, left:left + w] = True
    before, after = _psnr(image, clean, inside), _psnr(res.image, clean, inside)
    assert after > before + 10 and after > 28
    np.testing.assert_array_equal(res.image[~inside], image[~inside])
    assert not res.replaced[~inside].any()
    assert res.replaced.shape == image.shape[:2] and res.image.dtype == np.uint8
    for (_, _, w, h), kp, dm in zip(boxes, res.keypix, res.digit_masks, strict=True):
        assert kp.shape == (h, w) and dm.shape == (h, w)
        assert dm.any() and kp.any()
    assert res.preds.shape == (2,)
    assert res.mask.sum() == sum(dm.sum() for dm in res.digit_masks)  # boxes apart


def test_seed_erase_pastes_the_whole_box(model: ConvNet) -> None:
    image, _, boxes = _scene(2, False)
    small = boxes[:1]
    res = _erase(image, small, model, "seed", SeedConfig(epochs=200))
    left, top, w, h = small[0]
    assert res.replaced[top:top + h, left:left + w].all()
    assert res.replaced.sum() == w * h
    assert res.keypix[0].shape == (h, w)


def test_boxes_are_clipped_and_empty_boxes_skipped(model: ConvNet) -> None:
    image, _, _ = _scene(3, False)
    odd = np.array([[-5, -5, 20, 20], [500, 500, 10, 10]])
    res = _erase(image, odd, model)
    assert res.keypix[0].shape == (15, 15)
    assert res.keypix[1].size == 0 and res.preds[1] == -1


def test_erase_command_writes_images_masks_timing(tmp_path: Path, weights_file: Path) -> None:
    make_split(tmp_path, "tiny", count=4, seed=3, corrupt=1)
    out = tmp_path / "out"
    code = cli.main(["erase", "--data", str(tmp_path), "--split", "tiny", "--weights",
                     str(weights_file), "--out", str(out)])
    assert code == 0
    for n in (1, 2, 3):
        src = Image.open(tmp_path / "tiny" / f"{n}.png")
        img = Image.open(out / f"{n}.png")
        mask = np.asarray(Image.open(out / "masks" / f"{n}.png"))
        assert img.size == src.size and mask.shape == (src.size[1], src.size[0])
        assert set(np.unique(mask)) <= {0, 255} and mask.max() == 255
    assert not (out / "4.png").exists()  # the corrupt one is skipped
    timing = json.loads((out / "timing.json").read_text())
    assert timing["digits"] > 0 and timing["seconds"] > 0
    assert timing["weights"] == str(weights_file)
    settings = json.loads(json.dumps(dataclasses.asdict(RemovalConfig())))  # tuples as lists
    assert timing["method"] == {"method": "default", **settings}


def test_erase_command_writes_the_seed_config(tmp_path: Path, weights_file: Path) -> None:
    make_split(tmp_path, "tiny", count=1, seed=4)
    out = tmp_path / "out"
    assert cli.main(["erase", "--data", str(tmp_path), "--split", "tiny", "--weights",
                     str(weights_file), "--out", str(out), "--method", "seed"]) == 0
    timing = json.loads((out / "timing.json").read_text())
    assert timing["method"] == {"method": "seed", **dataclasses.asdict(SeedConfig())}


def test_a_classical_method_runs_without_weights(tmp_path: Path) -> None:
    make_split(tmp_path, "tiny", count=2, seed=5)
    embed_profile(tmp_path / "tiny" / "1.png", rgb_icc_profile())
    out = tmp_path / "out"
    assert cli.main(["erase", "--data", str(tmp_path), "--split", "tiny", "--weights",
                     str(tmp_path / "missing.safetensors"), "--out", str(out), "--method",
                     "ns_box"]) == 0
    timing = json.loads((out / "timing.json").read_text())
    assert timing["method"] == {"method": "ns_box", "radius": 3, "grow": 0}
    assert timing["weights"] is None
    assert np.asarray(Image.open(out / "masks" / "1.png")).max() == 255
    assert Image.open(out / "1.png").info.get("icc_profile") == rgb_icc_profile()
    assert "icc_profile" not in Image.open(out / "2.png").info  # none given, none made up


def test_erase_image_command_and_bad_boxes(tmp_path: Path, weights_file: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    image, _, boxes = _scene(4, False)
    src = tmp_path / "photo.png"
    Image.fromarray(image).save(src)
    out = tmp_path / "erased.png"
    box = ",".join(map(str, boxes[0]))
    assert cli.main(["erase-image", str(src), "--box", box, "--weights", str(weights_file),
                     "--out", str(out)]) == 0
    assert Image.open(out).size == (image.shape[1], image.shape[0])
    for bad in ("1,2,3", "a,b,c,d", "10,10,0,5", "900,900,10,10"):
        code = cli.main(["erase-image", str(src), "--box", bad, "--weights",
                         str(weights_file), "--out", str(tmp_path / "x.png")])
        err = capsys.readouterr().err
        assert code == 2 and "box" in err and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_seam_distance_and_graded_paste() -> None:
    hole = np.zeros((9, 9), bool)
    hole[4, 4] = True
    dist = paste.seam_distance(hole, 2)
    assert dist[4, 4] == 0 and dist[3, 3] == 1 and dist[2, 4] == 2 and dist[0, 0] == 0
    ring = paste.seam_ring(hole, width=2)
    assert ring.sum() == 24 and not ring[4, 4]
    parent = np.zeros((9, 9, 3), np.uint8)
    patch = np.full((9, 9, 3), 200.0, np.float32)
    written = paste.paste(parent, 0, 0, patch, hole, ring, (0.5, 0.25))
    assert parent[4, 4, 0] == 200 and parent[3, 4, 0] == 100 and parent[2, 4, 0] == 50
    assert parent[0, 0, 0] == 0 and written.sum() == 25
    one = np.zeros((9, 9, 3), np.uint8)
    paste.paste(one, 0, 0, patch, hole, paste.seam_ring(hole, width=1), (0.7,))
    assert one[3, 3, 0] == 140 and one[2, 4, 0] == 0
    assert not paste.seam_distance(np.zeros((5, 5), bool), 2).any()


def test_default_key_pixels_exclude_the_regenerated_seam(model: ConvNet) -> None:
    image, _, boxes = _scene(1, False)
    res = _erase(image, boxes, model)
    for (left, top, w, h), kp, dm in zip(boxes, res.keypix, res.digit_masks, strict=True):
        written = res.replaced[top:top + h, left:left + w]
        assert not (kp & dm).any()
        assert not (kp & written).any()  # a key pixel is one left exactly as it was
        assert (written | kp).all()


@pytest.mark.parametrize("net", ["ConvNet48_Dropout3", "ConvNet48_Dropout"])
def test_classify_reads_what_the_model_forward_reads(net: str) -> None:
    torch.manual_seed(1)
    model = ConvNet(net)
    for norm in (model.layer1[1], model.layer2[1], model.layer3[1]):  # some negative scales
        with torch.no_grad():
            norm.weight.copy_(torch.randn_like(norm.weight))
            norm.running_mean.copy_(torch.randn_like(norm.running_mean) * 0.1)
            norm.running_var.copy_(torch.rand_like(norm.running_var) + 0.5)
    model.eval()
    rng = np.random.default_rng(1)
    scenes = [Scene(rng.integers(0, 256, (30, 50, 3), dtype=np.uint8),
                    np.array([[2, 3, 14, 20], [20, 1, 18, 25], [30, 5, 30, 30]]))
              for _ in range(70)]  # 210 digits: three classifier batches of 96
    digits = digit_records(scenes)
    x40 = classifier_inputs(digits)
    classify(digits, model, x40, batch=96)
    with torch.no_grad():
        expected = model(x40).argmax(1).numpy()
    np.testing.assert_array_equal([d.pred for d in digits], expected)


def test_default_fill_switches_other_branches(model: ConvNet) -> None:
    image, clean, boxes = _scene(1, False)
    inside = np.zeros(image.shape[:2], bool)
    for left, top, w, h in boxes:
        inside[top:top + h, left:left + w] = True
    base = _erase(image, boxes, model)
    for config in (RemovalConfig(onion_peel=False), RemovalConfig(sigma_rule="validation")):
        res = DefaultMethod(config).erase([Scene(image, boxes)], model)[0]
        np.testing.assert_array_equal(res.replaced, base.replaced)  # same key pixels
        assert not np.array_equal(res.image, base.image)
        assert _psnr(res.image, clean, inside) > _psnr(image, clean, inside) + 10
    with pytest.raises(ValueError, match="sigma_rule"):
        RemovalConfig(sigma_rule="guess")


def test_seed_method_pastes_its_generated_crops(model: ConvNet) -> None:
    image, _, boxes = _scene(2, False)
    res = SeedMethod(SeedConfig(epochs=50, rounds=3)).erase([Scene(image, boxes)], model)[0]
    for kp, dm in zip(res.keypix, res.digit_masks, strict=True):
        np.testing.assert_array_equal(dm, ~kp)
    assert res.replaced.sum() == sum(w * h for _, _, w, h in boxes)


def test_grain_option_puts_noise_back_only_where_the_default_wrote(
        tmp_path: Path, weights_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image, _, boxes = _scene(6, True)
    src = tmp_path / "photo.png"
    Image.fromarray(image).save(src)
    box_args = [a for b in boxes for a in ("--box", ",".join(map(str, b)))]
    common = ["erase-image", str(src), *box_args, "--weights", str(weights_file)]
    paths = {name: tmp_path / f"{name}.png" for name in ("plain", "grain", "again")}
    assert cli.main([*common, "--out", str(paths["plain"])]) == 0
    assert cli.main([*common, "--grain", "1", "--out", str(paths["grain"])]) == 0
    assert cli.main([*common, "--grain", "1", "--out", str(paths["again"])]) == 0
    plain, grainy, again = (np.asarray(Image.open(p)).astype(int) for p in paths.values())
    np.testing.assert_array_equal(grainy, again)  # seeded by the pixels: the same each run
    changed = (plain != grainy).any(-1)
    written = (plain != image).any(-1) | (grainy != image).any(-1)
    assert changed.sum() > 20 and not (changed & ~written).any()
    assert grainy[changed].std() > plain[changed].std()  # the fill is less flat with grain
    assert cli.main([*common, "--grain", "1", "--method", "ns_box", "--out",
                     str(tmp_path / "x.png")]) == 2
    assert "--grain goes with --method default" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it
        cli.main([*common, "--grain", "9", "--out", str(tmp_path / "x.png")])
    assert exit_info.value.code == 2 and "from 0 to 3" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_erase_command_records_the_grain_it_used(tmp_path: Path, weights_file: Path) -> None:
    make_split(tmp_path, "tiny", count=1, seed=5)
    out = tmp_path / "out"
    assert cli.main(["erase", "--data", str(tmp_path), "--split", "tiny", "--weights",
                     str(weights_file), "--out", str(out), "--grain", "0.5"]) == 0
    timing = json.loads((out / "timing.json").read_text())
    assert timing["method"]["method"] == "default" and timing["method"]["grain"] == 0.5


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_erase_counts_seed_digits_as_their_grnns_finish(tmp_path: Path, weights_file: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[tuple[str, int]] = []

    class Recorded(erase_app.tqdm):
        def close(self) -> None:
            if not self.disable:
                closed.append((self.desc, self.n))
            super().close()

    make_split(tmp_path, "tiny", count=2, seed=4)
    monkeypatch.setattr(erase_app, "tqdm", Recorded)
    monkeypatch.setattr(sys, "stderr", _Terminal())
    method = SeedMethod(SeedConfig(epochs=100))
    timing = erase_split(tmp_path, "tiny", tmp_path / "out", weights_file, method)
    assert closed == [("seed GRNNs trained", timing["digits"]), ("erase (seed)", 2)]
    assert method.progress is None  # unhooked after the split
    # without a terminal: no bars, no hook
    closed.clear()
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    erase_split(tmp_path, "tiny", tmp_path / "out2", weights_file, method)
    assert closed == [] and method.progress is None
