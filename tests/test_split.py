"""A split on disk: folder checks, parents in table order with clipped boxes, a parent that
does not decode skipped with a report, ground truth read and checked."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from svhn_erase.data import split
from svhn_erase.data.digitstruct import write_digitstruct
from svhn_erase.errors import SvhnEraseError

pytestmark = pytest.mark.usefixtures("cli_logging")  # log records on stderr, as the CLI shows


@pytest.fixture
def split_path(tmp_path: Path) -> Path:
    path = tmp_path / "eval"
    path.mkdir()
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(40, 30), (50, 20), (30, 30)]):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            path / f"{i + 1}.png")
    write_digitstruct(path / "digitStruct.mat", ["1.png", "2.png", "3.png"], [
        np.array([[1, 2, 3, 10, 12], [10, 30, -2, 20, 10]]),
        np.array([[7, 5, 5, 5, 5]]),
        np.array([[4, 1, 1, 5, 5]]),
    ])
    return path


def test_split_dir_errors(tmp_path: Path, split_path: Path) -> None:
    assert split.split_dir(tmp_path, "eval") == split_path
    with pytest.raises(SvhnEraseError, match="split folder not found"):
        split.split_dir(tmp_path, "nope")
    (tmp_path / "bare").mkdir()
    with pytest.raises(SvhnEraseError, match="digitStruct.mat"):
        split.split_dir(tmp_path, "bare")


def test_iter_parents_with_clipped_boxes(split_path: Path) -> None:
    parents = list(split.iter_parents(split_path))
    assert [p.file for p in parents] == ["1.png", "2.png", "3.png"]
    first = parents[0]
    assert first.image.shape == (30, 40, 3) and first.image.dtype == np.uint8
    np.testing.assert_array_equal(first.boxes, [[2, 3, 10, 12], [30, 0, 10, 8]])
    np.testing.assert_array_equal(first.labels, [1, 0])
    assert [p.file for p in split.iter_parents(split_path, limit=2)] == ["1.png", "2.png"]


def test_parent_that_does_not_decode_is_skipped(split_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = (split_path / "2.png").read_bytes()
    (split_path / "2.png").write_bytes(data[:60])  # header fine, pixels cut off
    table = split.load_table(split_path)
    assert "2.png" in set(table["file"])
    files = [p.file for p in split.iter_parents(split_path, table)]
    assert files == ["1.png", "3.png"]
    err = capsys.readouterr().err
    assert "skipped" in err and "2.png" in err and "Traceback" not in err
    with pytest.raises(SvhnEraseError, match="does not decode"):
        split.read_rgb(split_path / "2.png")
    with pytest.raises(SvhnEraseError, match="not found"):
        split.read_rgb(split_path / "9.png")


def test_groundtruth(split_path: Path) -> None:
    assert not split.has_groundtruth(split_path)
    gt = split_path / "groundtruth"
    gt.mkdir()
    assert split.has_groundtruth(split_path)
    clean = np.full((30, 40, 3), 7, np.uint8)
    mask = np.zeros((30, 40), np.uint8)
    mask[3:15, 2:12] = 1
    Image.fromarray(clean).save(gt / "1_clean.png")
    Image.fromarray(mask).save(gt / "1_mask.png")
    got_clean, got_mask = split.read_groundtruth(split_path, "1.png")
    np.testing.assert_array_equal(got_clean, clean)
    np.testing.assert_array_equal(got_mask, mask)
    with pytest.raises(SvhnEraseError, match="2_clean.png"):
        split.read_groundtruth(split_path, "2.png")
    Image.fromarray(clean).save(gt / "3_clean.png")
    Image.fromarray(clean).save(gt / "3_mask.png")
    with pytest.raises(SvhnEraseError, match="single channel"):
        split.read_groundtruth(split_path, "3.png")
    Image.fromarray(mask[:10]).save(gt / "3_mask.png")
    with pytest.raises(SvhnEraseError, match="3_mask.png: mask is 40x10"):
        split.read_groundtruth(split_path, "3.png")


def _scene(h: int = 24, w: int = 36) -> np.ndarray:
    """A grey picture that is not symmetric, so that a turn shows."""
    yy, xx = np.mgrid[0:h, 0:w]
    return ((xx * 7 + yy * 2) % 256).astype(np.uint8)


def test_sixteen_bit_grey_reads_as_its_eight_bit_values(tmp_path: Path) -> None:
    grey = _scene()
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I;16")
    image = split.read_rgb(tmp_path / "g16.png")
    assert image.dtype == np.uint8 and image.shape == (*grey.shape, 3)
    np.testing.assert_array_equal(image[:, :, 1], grey)  # not clipped to white


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_photo_stored_sideways_reads_upright(tmp_path: Path, suffix: str) -> None:
    """Read and sized upright (the index sizes PNGs from their chunks, not through Pillow)."""
    from svhn_erase.data.digitstruct import image_size

    rgb = np.repeat(_scene()[:, :, None], 3, axis=2)
    exif = Image.Exif()
    exif[0x0112] = 6  # "turn 90 degrees clockwise to show", as phones write it
    Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_90).save(
        tmp_path / f"phone{suffix}", exif=exif, quality=100)
    image = split.read_rgb(tmp_path / f"phone{suffix}")
    assert image.shape == rgb.shape
    assert np.abs(image.astype(int) - rgb).mean() < 3  # JPEG's rounding only
    assert image_size(tmp_path / f"phone{suffix}") == (rgb.shape[1], rgb.shape[0])


def test_floating_point_pixels_are_refused_naming_the_file(tmp_path: Path) -> None:
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(tmp_path / "float.tiff")
    with pytest.raises(SvhnEraseError, match=r"float\.tiff: floating-point pixels"):
        split.read_rgb(tmp_path / "float.tiff")


def test_an_erased_photo_carries_no_metadata_of_the_original(tmp_path: Path) -> None:
    """A street photo's EXIF may hold where it was taken: the erased one holds none."""
    from svhn_erase import cli

    exif = Image.Exif()
    exif[0x8825] = {1: "N", 2: (52.0, 22.0, 1.0)}  # GPS latitude
    Image.fromarray(np.repeat(_scene()[:, :, None], 3, axis=2)).save(
        tmp_path / "street.jpg", exif=exif)
    assert Image.open(tmp_path / "street.jpg").getexif()  # the test's premise
    assert cli.main(["erase-image", str(tmp_path / "street.jpg"), "--box", "4,4,10,10",
                     "--out", str(tmp_path / "out.jpg"), "--method", "telea_box"]) == 0
    assert not Image.open(tmp_path / "out.jpg").getexif()


def test_the_colour_profile_of_an_rgb_photo_is_found(tmp_path: Path) -> None:
    from builders import rgb_icc_profile

    rgb = np.repeat(_scene()[:, :, None], 3, axis=2)
    profile = rgb_icc_profile()
    Image.fromarray(rgb).save(tmp_path / "phone.jpg", icc_profile=profile)
    assert split.rgb_profile(tmp_path / "phone.jpg") == profile
    with open(tmp_path / "phone.jpg", "rb") as fh:  # a file object is left where it was
        assert split.rgb_profile(fh) == profile and fh.tell() == 0
    grey = profile[:16] + b"GRAY" + profile[20:]  # describes other pixels than those read
    Image.fromarray(rgb).save(tmp_path / "grey.jpg", icc_profile=grey)
    Image.fromarray(rgb).save(tmp_path / "plain.png")
    (tmp_path / "text.png").write_text("not an image")
    for name in ("grey.jpg", "plain.png", "text.png", "missing.png"):
        assert split.rgb_profile(tmp_path / name) is None, name


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_an_erased_photo_keeps_its_colour_profile(tmp_path: Path, suffix: str) -> None:
    """A phone's photo is in its own colour space (Display P3): written without its profile,
    every colour of it would be shown shifted."""
    from builders import rgb_icc_profile
    from svhn_erase import cli

    profile = rgb_icc_profile()
    Image.fromarray(np.repeat(_scene()[:, :, None], 3, axis=2)).save(
        tmp_path / f"phone{suffix}", icc_profile=profile)
    assert cli.main(["erase-image", str(tmp_path / f"phone{suffix}"), "--box", "4,4,10,10",
                     "--out", str(tmp_path / f"out{suffix}"), "--method", "telea_box"]) == 0
    assert Image.open(tmp_path / f"out{suffix}").info.get("icc_profile") == profile


def test_a_phones_heic_photo_is_read_and_erased_into_heic(tmp_path: Path) -> None:
    pytest.importorskip("pillow_heif", reason="the heif extra is not installed")
    from builders import rgb_icc_profile
    from svhn_erase import cli
    from svhn_erase.data.digitstruct import image_size

    rgb = np.repeat(_scene()[:, :, None], 3, axis=2)
    Image.fromarray(rgb).save(tmp_path / "phone.heic", quality=100,
                              icc_profile=rgb_icc_profile())
    image = split.read_rgb(tmp_path / "phone.heic")
    assert image.shape == rgb.shape and np.abs(image.astype(int) - rgb).mean() < 3
    assert image_size(tmp_path / "phone.heic") == (rgb.shape[1], rgb.shape[0])
    assert cli.main(["erase-image", str(tmp_path / "phone.heic"), "--box", "4,4,10,10",
                     "--out", str(tmp_path / "out.heic"), "--method", "telea_box"]) == 0
    with Image.open(tmp_path / "out.heic") as out:
        assert out.format == "HEIF" and out.size == (rgb.shape[1], rgb.shape[0])
        assert out.info["icc_profile"] == rgb_icc_profile()


def test_without_the_heif_extra_a_heic_photo_says_how_to_read_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from svhn_erase import image_formats

    (tmp_path / "phone.HEIC").write_bytes(b"\x00\x00\x00\x18ftypheic not decodable")
    monkeypatch.setattr(image_formats, "HEIF_READY", False)
    with pytest.raises(SvhnEraseError, match=r"phone\.HEIC: .*pip install \"svhn-erase\[heif\]\""):
        split.read_rgb(tmp_path / "phone.HEIC")
    monkeypatch.setattr(image_formats, "HEIF_READY", True)  # installed: a damaged file, no hint
    with pytest.raises(SvhnEraseError, match="phone.HEIC: image does not decode") as err:
        split.read_rgb(tmp_path / "phone.HEIC")
    assert "pip install" not in str(err.value)
