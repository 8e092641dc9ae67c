"""The removal pipeline and its commands: digits go, the rest of the image stays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from builders import make_split
from svhn_erase import cli
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import save_classifier
from svhn_erase.removal import paste
from svhn_erase.removal import pipeline as erase


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


def _psnr(a: np.ndarray, b: np.ndarray, region: np.ndarray) -> float:
    mse = ((a.astype(float) - b.astype(float))[region] ** 2).mean()
    return 10 * np.log10(255**2 / max(mse, 1e-10))


@pytest.mark.parametrize("textured", [False, True])
def test_default_erase_removes_drawn_digits(model: ConvNet, textured: bool) -> None:
    image, clean, boxes = _scene(1, textured)
    (res,) = erase.erase_images([image], [boxes], model)
    inside = np.zeros(image.shape[:2], bool)
    for left, top, w, h in boxes:
        inside[top:top + h, left:left + w] = True
    before, after = _psnr(image, clean, inside), _psnr(res.image, clean, inside)
    assert after > before + 10 and after > 28
    np.testing.assert_array_equal(res.image[~inside], image[~inside])
    assert not res.replaced[~inside].any()
    assert res.replaced.shape == image.shape[:2] and res.image.dtype == np.uint8
    for (_, _, w, h), kp, dm in zip(boxes, res.keypix, res.digit_mask, strict=True):
        assert kp.shape == (h, w) and dm.shape == (h, w)
        assert dm.any() and kp.any()
    assert res.preds.shape == (2,)


def test_seed_erase_pastes_the_whole_box(model: ConvNet) -> None:
    image, _, boxes = _scene(2, False)
    small = boxes[:1]
    (res,) = erase.erase_images([image], [small], model, method="seed")
    left, top, w, h = small[0]
    assert res.replaced[top:top + h, left:left + w].all()
    assert res.replaced.sum() == w * h
    assert res.keypix[0].shape == (h, w)


def test_boxes_are_clipped_and_empty_boxes_skipped(model: ConvNet) -> None:
    image, _, boxes = _scene(3, False)
    odd = np.array([[-5, -5, 20, 20], [500, 500, 10, 10]])
    (res,) = erase.erase_images([image], [odd], model)
    assert res.keypix[0].shape == (15, 15)
    assert res.keypix[1].size == 0 and res.preds[1] == -1
    with pytest.raises(SvhnEraseError):
        erase.erase_images([image], [boxes], model, method="nope")


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
    assert set(timing) == {"digits", "seconds"} and timing["digits"] > 0
    assert timing["seconds"] > 0


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
    written = paste.paste(parent, 0, 0, patch, hole, ring, ring_alpha=(0.5, 0.25))
    assert parent[4, 4, 0] == 200 and parent[3, 4, 0] == 100 and parent[2, 4, 0] == 50
    assert parent[0, 0, 0] == 0 and written.sum() == 25
    one = np.zeros((9, 9, 3), np.uint8)
    paste.paste(one, 0, 0, patch, hole, paste.seam_ring(hole, width=1), ring_alpha=0.7)
    assert one[3, 3, 0] == 140 and one[2, 4, 0] == 0


def test_default_key_pixels_exclude_the_regenerated_seam(model: ConvNet) -> None:
    image, _, boxes = _scene(1, False)
    (res,) = erase.erase_images([image], [boxes], model)
    for (left, top, w, h), kp, dm in zip(boxes, res.keypix, res.digit_mask, strict=True):
        written = res.replaced[top:top + h, left:left + w]
        assert not (kp & dm).any()
        assert not (kp & written).any()  # a key pixel is one left exactly as it was
        assert (written | kp).all()


@pytest.mark.parametrize("net", ["ConvNet48_Dropout3", "ConvNet48_Dropout"])
def test_class_scores_equal_the_model_forward(net: str) -> None:
    torch.manual_seed(1)
    model = ConvNet(net)
    for norm in (model.layer1[1], model.layer2[1], model.layer3[1]):  # some negative scales
        with torch.no_grad():
            norm.weight.copy_(torch.randn_like(norm.weight))
            norm.running_mean.copy_(torch.randn_like(norm.running_mean) * 0.1)
            norm.running_var.copy_(torch.rand_like(norm.running_var) + 0.5)
    model.eval()
    x = torch.randn(6, 1, 40, 40)
    with torch.no_grad():
        np.testing.assert_allclose(erase.class_scores(model, x).numpy(), model(x).numpy(),
                                   rtol=0, atol=1e-5)
    assert (erase.classify(model, x) == model(x).argmax(1).numpy()).all()
