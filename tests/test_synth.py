"""The SVHN-like generator: Format 1 layout, ground truth, determinism, style partitions."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from svhn_erase import cli
from svhn_erase.data import synth
from svhn_erase.data.digitstruct import read_digitstruct
from svhn_erase.data.synth import backgrounds, fonts, photos, stats
from svhn_erase.errors import SvhnEraseError

COUNT = 24


@pytest.fixture(scope="module")
def split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("synth")
    return synth.generate_split(root, "train", COUNT, seed=7, workers=1, progress=False)


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name != "summary.json"}


def test_layout_is_format1_with_groundtruth(split: Path) -> None:
    names = {p.name for p in split.iterdir() if p.is_file()}
    assert names == {f"{i}.png" for i in range(1, COUNT + 1)} | {"digitStruct.mat",
                                                                  "summary.json"}
    gt = {p.name for p in (split / "groundtruth").iterdir()}
    assert gt == ({f"{i}_clean.png" for i in range(1, COUNT + 1)}
                  | {f"{i}_mask.png" for i in range(1, COUNT + 1)})
    assert not list(split.rglob(".*"))  # no temporary files left behind
    table = read_digitstruct(split / "digitStruct.mat")
    for i in range(1, COUNT + 1):
        image = Image.open(split / f"{i}.png")
        clean = Image.open(split / "groundtruth" / f"{i}_clean.png")
        mask = Image.open(split / "groundtruth" / f"{i}_mask.png")
        assert image.mode == "RGB" and clean.mode == "RGB" and mask.mode == "L"
        assert image.size == clean.size == mask.size
        w, h = image.size
        assert 30 <= w <= 500 and 20 <= h <= 200  # real SVHN parents: 13-429 px high
        k = int((table.file == f"{i}.png").sum())
        assert 1 <= k <= 5
        values = set(np.unique(np.asarray(mask)).tolist())
        assert values - {0} == set(range(1, k + 1))  # every digit visible, no stray labels
    summary = json.loads((split / "summary.json").read_text())
    assert summary["seed"] == 7 and summary["style"] == "all"
    assert summary["count"] == COUNT and summary["digits"] == len(table)


def test_digitstruct_round_trip_matches_render_sample(split: Path) -> None:
    table = read_digitstruct(split / "digitStruct.mat")
    for i in range(COUNT):
        sample = synth.render_sample(7, i, "all")
        rows = table[table.file == f"{i + 1}.png"].sort_values("digit_index")
        expected = sample.boxes.copy()
        expected[:, 0] %= 10
        got = rows[["label", "left", "top", "width", "height"]].to_numpy(np.float64)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(np.asarray(Image.open(split / f"{i + 1}.png")), sample.image)
        mask = np.asarray(Image.open(split / "groundtruth" / f"{i + 1}_mask.png"))
        np.testing.assert_array_equal(mask, sample.mask)


@pytest.mark.parametrize("difficulty", ["realistic", "hard"])
def test_ground_truth_is_consistent(difficulty: str) -> None:
    diff = synth.DIFFICULTIES[difficulty]
    for i in range(30):
        s = synth.render_sample(3, i, "all", difficulty)
        h, w = s.mask.shape
        assert s.image.shape == s.clean.shape == (h, w, 3)
        # outside the dilated mask the image is the clean scene, exactly
        zone = cv2.dilate((s.mask > 0).astype(np.uint8),
                          np.ones((2 * diff.halo_px + 1,) * 2, np.uint8))
        assert np.array_equal(s.image[zone == 0], s.clean[zone == 0])
        # the digits change the image where the mask says they are
        change = np.abs(s.image.astype(int) - s.clean.astype(int)).max(axis=2)
        assert change[s.mask > 0].mean() > 3
        for j, (label, left, top, bw, bh) in enumerate(s.boxes):
            assert 1 <= label <= 10
            assert left >= 0 and top >= 0 and left + bw <= w and top + bh <= h
            ys, xs = np.nonzero(s.mask == j + 1)
            assert len(xs) > 0
            inside = (xs >= left) & (xs < left + bw) & (ys >= top) & (ys < top + bh)
            if diff.box_threshold <= diff.mask_threshold:
                assert inside.all()  # the box holds every touched pixel
            else:  # the box holds the visible ink; the faintest touched pixels may lie out
                assert inside.mean() > 0.75
            # tight up to the annotator's 0-2 px; a later digit may hide part of this one
            # (the later one wins in the mask), so compare with this digit and later ones
            ys, xs = np.nonzero(s.mask >= j + 1)
            assert left >= xs.min() - 2 and left + bw - 1 <= xs.max() + 2
            assert top >= ys.min() - 2 and top + bh - 1 <= ys.max() + 2
            assert 8 <= bh <= 100


def test_difficulty_presets_differ_and_unknown_is_refused() -> None:
    easy = synth.render_sample(4, 1, "heldout", "realistic")
    hard = synth.render_sample(4, 1, "heldout", "hard")
    assert not np.array_equal(easy.clean, hard.clean)
    with pytest.raises(SvhnEraseError, match="difficulty"):
        synth.render_sample(4, 1, "heldout", "impossible")


def test_same_seed_same_bytes_whatever_the_workers(tmp_path: Path) -> None:
    a = synth.generate_split(tmp_path / "a", "s", 12, seed=5, style="heldout", workers=1,
                             progress=False)
    b = synth.generate_split(tmp_path / "b", "s", 12, seed=5, style="heldout", workers=2,
                             progress=False)
    c = synth.generate_split(tmp_path / "c", "s", 12, seed=6, style="heldout", workers=1,
                             progress=False)
    fa, fb, fc = _files(a), _files(b), _files(c)
    assert fa == fb
    assert fa["1.png"] != fc["1.png"]


def test_render_sample_accepts_a_generator() -> None:
    s1 = synth.render_sample(np.random.default_rng([1, 2]))
    s2 = synth.render_sample(1, 2)
    assert np.array_equal(s1.image, s2.image) and np.array_equal(s1.boxes, s2.boxes)


def test_styles_partition_fonts_and_backgrounds() -> None:
    train, held, every = (synth.style_sources(s) for s in ("train", "heldout", "all"))
    for t, h, a in zip(train, held, every, strict=True):
        assert t and h
        assert not set(t) & set(h)
        assert set(t) | set(h) == set(a)
    # the held-out faces are really other font files
    faces = {s: {f for fam in synth.style_sources(s)[0] for f in synth.FONT_FAMILIES[fam]}
             for s in ("train", "heldout")}
    assert not faces["train"] & faces["heldout"]


def test_every_source_renders_offline() -> None:
    for family, faces in synth.FONT_FAMILIES.items():
        for kind, name in faces:
            glyphs, height = fonts.face_glyphs(kind, name)
            assert len(glyphs) == 10 and height > 30, family
            assert all(g.alpha.max() > 0.5 for g in glyphs)
    for name in synth.PHOTOS:
        assert photos.photo(name).shape[2] == 3


def _stroke_over_height(alpha: np.ndarray) -> float:
    """Stroke width (twice the median distance to the edge along the skeleton) / height."""
    from skimage.morphology import skeletonize

    ink = alpha > 0.5
    inside = cv2.distanceTransform(ink.astype(np.uint8), cv2.DIST_L2, 5)
    return 2.0 * float(np.median(inside[skeletonize(ink)])) / alpha.shape[0]


def test_every_face_has_the_weight_of_real_type() -> None:
    # regular to bold type: 0.08 (Computer Modern) to 0.20 (DejaVu Sans Bold) of the digit
    # height; recipe 2 drew the Hershey faces with thick lines that merged into 0.27 blobs
    for family, faces in synth.FONT_FAMILIES.items():
        for kind, name in faces:
            glyphs, _ = fonts.face_glyphs(kind, name)
            weight = float(np.mean([_stroke_over_height(g.alpha) for g in glyphs]))
            assert 0.07 < weight < 0.215, (family, name, weight)


def test_footless_one_loses_its_foot_and_keeps_its_flag() -> None:
    one = fonts.face_glyphs("ttf", "DejaVuSans.ttf")[0][1]  # a "1" standing on a foot
    plain = fonts.footless_one("ttf", "DejaVuSans.ttf")
    widths = [(a > 0.5).sum(axis=1) for a in (one.alpha, plain.alpha)]
    assert widths[0][-1] > 2.5 * np.median(widths[0])  # the foot: far wider than the stem
    assert widths[1][-1] <= np.median(widths[1]) + 3  # gone: the stem reaches the bottom
    top = plain.alpha.shape[0] // 2  # the flag and the stem's top are untouched
    x0 = int(plain.left - one.left)
    np.testing.assert_array_equal(plain.alpha[:top],
                                  one.alpha[:top, x0:x0 + plain.alpha.shape[1]])
    assert plain.advance == one.advance
    # Pillow's default face is the only one here whose "1" has no foot: it stays as it is
    np.testing.assert_array_equal(fonts.footless_one("pil", "").alpha,
                                  fonts.face_glyphs("pil", "")[0][1].alpha)


def test_digit_count_distribution_is_svhn_like() -> None:
    counts = np.bincount([len(synth.render_sample(11, i).boxes) for i in range(150)],
                         minlength=7)
    assert counts[0] == 0 and counts[6] == 0
    assert counts[2] + counts[3] > 0.6 * 150


def test_bad_requests_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(SvhnEraseError, match="style"):
        synth.generate_split(tmp_path, "x", 2, style="fancy")
    with pytest.raises(SvhnEraseError, match="count"):
        synth.generate_split(tmp_path, "x", 0)
    with pytest.raises(SvhnEraseError, match="plain folder"):
        synth.generate_split(tmp_path, "a/b", 2)



def test_mask_threshold_changes_the_masks_alone(split: Path, tmp_path: Path) -> None:
    """``--mask-threshold``: the same images, clean scenes and boxes; each mask inside the
    default's, strictly smaller, and the threshold recorded."""
    code = cli.main(["data", "synth", "--root", str(tmp_path), "--split", "train", "--count",
                     str(COUNT), "--seed", "7", "--workers", "1", "--mask-threshold", "0.25"])
    assert code == 0
    thin = tmp_path / "train"
    ours, theirs = _files(thin), _files(split)
    assert {k for k in ours if ours[k] != theirs[k]} == {
        f"groundtruth/{i}_mask.png" for i in range(1, COUNT + 1)}
    for i in range(1, COUNT + 1):
        fat = np.asarray(Image.open(split / "groundtruth" / f"{i}_mask.png"))
        narrow = np.asarray(Image.open(thin / "groundtruth" / f"{i}_mask.png"))
        assert ((narrow == 0) | (fat > 0)).all()
        assert (narrow > 0).sum() < (fat > 0).sum()
    assert json.loads((thin / "summary.json").read_text())["mask_threshold"] == 0.25
    assert cli.main(["data", "synth", "--root", str(tmp_path), "--split", "x", "--count", "1",
                     "--mask-threshold", "1.5"]) == 2

def test_regenerating_replaces_an_earlier_split(tmp_path: Path) -> None:
    synth.generate_split(tmp_path, "s", 6, seed=1, workers=1, progress=False)
    folder = synth.generate_split(tmp_path, "s", 3, seed=2, workers=1, progress=False)
    assert sorted(p.name for p in folder.glob("*.png")) == ["1.png", "2.png", "3.png"]
    assert len(list((folder / "groundtruth").glob("*.png"))) == 6
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(SvhnEraseError, match="not a generated split"):
        synth.generate_split(tmp_path, "mine", 2, workers=1, progress=False)
    assert (other / "notes.txt").read_text() == "keep me"


def test_preview_sheet(split: Path, tmp_path: Path) -> None:
    out = synth.preview_sheet(split, tmp_path / "sheet.png", n=6)
    sheet = np.asarray(Image.open(out))
    assert sheet.ndim == 3 and sheet.shape[0] >= 3 * 96


# --------------------------------------------------------------------------- realism statistics


def test_colourfulness_and_sharpness_known_answers() -> None:
    assert stats.colourfulness(np.full((4, 4, 3), 128, np.uint8)) == 0.0
    # half pure red, half pure green: rg = +-255 (std 255), yb = 127.5 everywhere (mean)
    red_green = np.zeros((2, 2, 3), np.uint8)
    red_green[0, :, 0] = 255
    red_green[1, :, 1] = 255
    assert stats.colourfulness(red_green) == pytest.approx(255 + 0.3 * 127.5)
    assert stats.laplacian_variance(np.full((5, 5), 7.0)) == 0.0
    dot = np.zeros((5, 5))
    dot[2, 2] = 1.0  # Laplacian: -4 at the dot, +1 at its four neighbours, 0 elsewhere
    assert stats.laplacian_variance(dot) == pytest.approx((16 + 4) / 25)


def test_noise_sigma_and_blockiness_known_answers() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(100, 5.0, (256, 256))
    assert stats.noise_sigma(noise) == pytest.approx(5.0, rel=0.03)
    assert stats.noise_sigma(np.full((8, 8), 3.0)) == 0.0
    keep = np.zeros((256, 256), bool)
    keep[:, :128] = True  # only the left half counts: noise there, a step edge on the right
    stepped = noise.copy()
    stepped[:, 129::2] += 80
    assert stats.noise_sigma(stepped, keep) == pytest.approx(5.0, rel=0.05)
    assert np.isnan(stats.noise_sigma(noise, np.zeros_like(keep)))
    assert stats.blockiness(noise) == pytest.approx(1.0, abs=0.05)
    blocks = np.kron(rng.uniform(0, 200, (8, 8)), np.ones((8, 8))) + rng.normal(0, 1, (64, 64))
    assert stats.blockiness(blocks) > 10
    assert np.isnan(stats.blockiness(noise[:10, :10]))


def test_digit_contrast_and_records_known_answers() -> None:
    image = np.full((40, 40, 3), 200, np.uint8)
    image[10:30, 12:16] = (50, 50, 50)  # a dark bar inside the first box
    boxes = np.array([[10, 10, 10, 20], [22, 10, 10, 20]], np.float64)  # gap 2 px
    c = stats.digit_contrast(image, boxes, 0)
    assert c.ink_minus_ring == pytest.approx(-150)
    assert c.ink_share == pytest.approx(4 / 10)
    assert c.ink_saturation == 0.0 and c.ring_saturation == 0.0
    per_image, digits = stats.image_records(image, boxes)
    assert per_image["digits"] == 2 and per_image["width"] == 40
    assert per_image["number_w_share"] == pytest.approx(22 / 40)
    assert digits[0]["aspect"] == pytest.approx(0.5) and digits[0]["box_h"] == 20
    assert digits[0]["gap"] == pytest.approx(2 / 20) and np.isnan(digits[1]["gap"])
    assert digits[0]["dark_ink"] == 1.0 and digits[0]["contrast"] == pytest.approx(150)
    cells = stats.summarize([per_image, {**per_image, "digits": 4}], digits)
    assert cells["digits"] == "0/50/0/50" and cells["aspect"] == "0.50/0.50/0.50"


# --------------------------------------------------------------------------- real backgrounds


@pytest.fixture(scope="module")
def real_split(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny split standing in for real photos (digits drawn by PIL), wide enough to leave
    digit-free strips beside its numbers."""
    from builders import finish_split

    root = tmp_path_factory.mktemp("real")
    path = root / "train"
    path.mkdir()
    rng = np.random.default_rng(3)
    names, boxes = [], []
    for i in range(10):
        h, w = 40 + 4 * i, 90 + 10 * i
        image = rng.integers(0, 255, (h, w, 3)).astype(np.uint8)
        x = 30 + 2 * i
        rows = np.array([[1 + i % 9, x, 10, 12, 20], [10, x + 13, 11, 12, 20]], np.float64)
        Image.fromarray(image).save(path / f"{i + 1}.png")
        names.append(f"{i + 1}.png")
        boxes.append(rows)
    return finish_split(path, names, boxes, 0)


def test_real_strips_overlap_no_box(real_split: Path) -> None:
    table = read_digitstruct(real_split / "digitStruct.mat")
    count = 0
    for file, rows in table.groupby("file"):
        shape = np.asarray(Image.open(real_split / file)).shape
        xywh = rows[["left", "top", "width", "height"]].to_numpy()
        strips = backgrounds.free_strips(shape, xywh)
        assert strips  # left and right of the number at least
        for r in strips:
            assert min(r.height, r.width) >= backgrounds.MIN_SIDE
            for left, top, bw, bh in xywh:  # no pixel of a strip within a box (+ 2 px)
                assert (r.right <= left - 2 or r.left >= left + bw + 2
                        or r.bottom <= top - 2 or r.top >= top + bh + 2)
        count += len(strips)
    real = backgrounds.load_backgrounds(real_split, (1, 10))
    assert len(real.strips) == count
    part = backgrounds.load_backgrounds(real_split, (3, 6))
    assert set(part.photo_numbers.tolist()) == {3, 4, 5, 6}
    # styles use disjoint photos
    train, held = (set(real.photo_numbers[real.pool(s)].tolist()) for s in ("train", "heldout"))
    assert held == {5, 10} and not train & held and train | held == set(range(1, 11))


def test_real_backgrounds_split_is_deterministic_and_recorded(real_split: Path,
                                                              tmp_path: Path) -> None:
    kw = {"seed": 4, "style": "train", "progress": False, "real_backgrounds": real_split,
          "real_range": (1, 10)}
    a = synth.generate_split(tmp_path / "a", "s", 10, workers=1, **kw)
    b = synth.generate_split(tmp_path / "b", "s", 10, workers=2, **kw)
    plain = synth.generate_split(tmp_path / "c", "s", 10, seed=4, style="train", workers=1,
                                 progress=False)
    assert _files(a) == _files(b) != _files(plain)
    recipe = json.loads((a / "summary.json").read_text())["real_backgrounds"]
    assert recipe["photos"] == "1-10" and recipe["strips"] > 0
    assert json.loads((plain / "summary.json").read_text())["real_backgrounds"] is None
    real = backgrounds.load_backgrounds(real_split, (1, 10))
    kinds = {synth.render_sample(4, i, "train", backgrounds=real).info["background"]
             for i in range(10)}
    assert "real" in kinds


def test_real_backgrounds_bad_requests_are_user_errors(real_split: Path, tmp_path: Path) -> None:
    with pytest.raises(SvhnEraseError, match="Format 1"):
        backgrounds.load_backgrounds(tmp_path, (1, 5))
    with pytest.raises(SvhnEraseError, match="no strips for style 'heldout'"):
        synth.generate_split(tmp_path, "x", 2, style="heldout", real_backgrounds=real_split,
                             real_range=(1, 4))  # held-out strips come from photos 5, 10
    for bad in ("1600", "0-5", "9-3", "a-b"):
        with pytest.raises(SvhnEraseError, match="real-range"):
            backgrounds.parse_range(bad)
    assert backgrounds.parse_range(" 1-1600 ") == (1, 1600)
