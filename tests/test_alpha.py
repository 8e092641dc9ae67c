"""Photos with transparency keep it: the removal sees their RGB, the outputs get the alpha back.

The web API's and the Ray engine's side of it are tested with their other tests
(``test_web_api.py``, ``test_ray_engine.py``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from builders import add_alpha, make_split
from svhn_erase import atomic_io, cli
from svhn_erase.boxes import union_mask
from svhn_erase.data import split
from web_server import photo

NAMES = ("rgba.png", "la.png", "palette.png")


def _rgba(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGBA"))


def _erase_image(src: Path, out: Path, *extra: str) -> None:
    boxes = [f"--box={','.join(map(str, b))}" for b in photo()[1]]
    assert cli.main(["erase-image", str(src), *boxes, "--out", str(out), "--method",
                     "telea_box", *extra]) == 0


@pytest.mark.parametrize("name", NAMES)
def test_a_photo_is_read_as_the_rgb_pillow_stores_and_its_alpha(transparent_photos,
                                                                 name: str) -> None:
    pixels, _, alpha = split.read_photo(transparent_photos[name])
    stored = _rgba(transparent_photos[name])
    assert np.array_equal(pixels, stored[:, :, :3])  # not composited on black
    assert np.array_equal(alpha, stored[:, :, 3]) and alpha.min() == 0


def test_a_sideways_photo_turns_its_alpha_with_it(transparent_photos, tmp_path: Path) -> None:
    stored = _rgba(transparent_photos["rgba.png"])
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: turn 90 degrees clockwise to view
    Image.fromarray(stored).save(tmp_path / "sideways.png", exif=exif)
    pixels, _, alpha = split.read_photo(tmp_path / "sideways.png")
    assert np.array_equal(alpha, np.rot90(stored[:, :, 3], -1))
    assert np.array_equal(pixels, np.rot90(stored[:, :, :3], -1))


def test_an_opaque_photo_has_no_alpha(tmp_path: Path) -> None:
    Image.fromarray(photo()[0]).save(tmp_path / "wall.png")
    assert split.read_photo(tmp_path / "wall.png").alpha is None


@pytest.mark.parametrize("name", NAMES)
def test_erase_image_gives_the_alpha_back(transparent_photos, tmp_path: Path,
                                          name: str) -> None:
    """Erased as the same photo without its alpha is, with the alpha written back unchanged."""
    stored = _rgba(transparent_photos[name])
    _erase_image(transparent_photos[name], tmp_path / "out.png")
    Image.fromarray(stored[:, :, :3]).save(tmp_path / "opaque.png")
    _erase_image(tmp_path / "opaque.png", tmp_path / "opaque-out.png")
    with Image.open(tmp_path / "out.png") as out:
        assert out.mode == "RGBA"
        erased = np.asarray(out)
    assert np.array_equal(erased[:, :, 3], stored[:, :, 3])
    assert np.array_equal(erased[:, :, :3], np.asarray(Image.open(tmp_path / "opaque-out.png")))
    boxes = union_mask(np.array(photo()[1]), stored.shape)
    assert (erased[boxes, :3] != stored[boxes, :3]).any()


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
def test_formats_with_an_alpha_channel_keep_it_unchanged(tmp_path: Path, suffix: str) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (24, 32, 3), np.uint8)
    alpha = rng.integers(0, 256, (24, 32), np.uint8)
    atomic_io.write_image(tmp_path / f"out{suffix}", rgb, alpha=alpha)
    with Image.open(tmp_path / f"out{suffix}") as out:
        assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[:, :, 3], alpha)


def test_jpeg_output_is_rgb_and_says_so_once(transparent_photos, tmp_path: Path,
                                             cli_logging, capsys) -> None:
    _erase_image(transparent_photos["rgba.png"], tmp_path / "out.jpg")
    assert Image.open(tmp_path / "out.jpg").mode == "RGB"
    lines = [line for line in capsys.readouterr().err.splitlines() if "transparency" in line]
    assert len(lines) == 1 and str(tmp_path / "out.jpg") in lines[0]


def test_erase_gives_each_photo_its_alpha_back(tmp_path: Path) -> None:
    """RGBA, grey with alpha and palette photos keep their alpha, an opaque photo of the split
    is written as before, and masks stay grey."""
    for name in ("plain", "cut"):
        make_split(tmp_path, name, count=4, seed=7)
    alphas = {f"{n}.png": add_alpha(tmp_path / "cut" / f"{n}.png", mode)
              for n, mode in ((1, "RGBA"), (2, "LA"), (3, "P"))}
    for name in ("plain", "cut"):
        assert cli.main(["erase", "--data", str(tmp_path), "--split", name, "--out",
                         str(tmp_path / f"{name}-out"), "--method", "telea_box"]) == 0
    plain, cut = tmp_path / "plain-out", tmp_path / "cut-out"
    for file, alpha in alphas.items():
        with Image.open(cut / file) as out:
            assert out.mode == "RGBA" and np.array_equal(np.asarray(out)[:, :, 3], alpha)
    assert np.array_equal(np.asarray(Image.open(cut / "1.png"))[:, :, :3],
                          np.asarray(Image.open(plain / "1.png")))  # the RGB erased as before
    assert (cut / "4.png").read_bytes() == (plain / "4.png").read_bytes()
    for n in range(1, 5):
        assert Image.open(cut / "masks" / f"{n}.png").mode == "L"


def test_erase_detect_and_erase_image_without_boxes_give_the_alpha_back(
        transparent_photos, tmp_path: Path) -> None:
    folder = tmp_path / "street" / "walls"
    folder.mkdir(parents=True)
    for name in ("rgba.png", "la.png"):
        shutil.copy(transparent_photos[name], folder / name)
    assert cli.main(["erase", "--detect", "--data", str(folder.parent), "--split", "walls",
                     "--out", str(tmp_path / "erased"), "--method", "telea_box",
                     "--min-score", "0"]) == 0
    assert cli.main(["erase-image", str(folder / "rgba.png"), "--out", str(tmp_path / "one.png"),
                     "--method", "telea_box", "--min-score", "0"]) == 0
    for out, name in ((tmp_path / "erased" / "rgba.png", "rgba.png"),
                      (tmp_path / "erased" / "la.png", "la.png"),
                      (tmp_path / "one.png", "rgba.png")):
        with Image.open(out) as im:
            assert im.mode == "RGBA", out
            assert np.array_equal(np.asarray(im)[:, :, 3], _rgba(folder / name)[:, :, 3]), out
    assert Image.open(tmp_path / "erased" / "masks" / "rgba.png").mode == "L"
