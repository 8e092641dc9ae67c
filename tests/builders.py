"""Tiny Format 1 splits for the tests: PIL-drawn digits on noisy backgrounds, with or without
ground truth (SPEC §3). The fixtures in ``conftest.py`` and a few tests call these."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from svhn_erase.boxes import union_mask
from svhn_erase.data.digitstruct import write_digitstruct
from svhn_erase.removal.methods.base import Erased, RemovalMethod


def make_split(root: Path, name: str = "train", count: int = 30, seed: int = 0,
               corrupt: int = 0) -> Path:
    """Write ``root/name`` with ``count`` parents of 1-3 digits each; the last ``corrupt``
    images are replaced by bytes that do not decode."""
    rng = np.random.default_rng(seed)
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=22)
    names, boxes = [], []
    for i in range(count):
        k = int(rng.integers(1, 4))
        width, height = 30 + 22 * k + int(rng.integers(0, 30)), 40 + int(rng.integers(0, 20))
        bg = rng.integers(0, 256, size=3)
        noise = rng.normal(0, 12, size=(height, width, 3))
        image = Image.fromarray(np.clip(bg + noise, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        fg = tuple(int(v) for v in (255 - bg))
        x = 10 + int(rng.integers(0, 8))
        y = 8 + int(rng.integers(0, 8))
        rows = []
        for _ in range(k):
            digit = int(rng.integers(0, 10))
            x0, y0, x1, y1 = draw.textbbox((x, y), str(digit), font=font)
            draw.text((x, y), str(digit), fill=fg, font=font)
            rows.append([digit if digit else 10, x0, y0, x1 - x0 + 1, y1 - y0 + 1])
            x = x1 + 6
        file = f"{i + 1}.png"
        image.save(path / file)
        names.append(file)
        boxes.append(np.asarray(rows, dtype=float))
    return finish_split(path, names, boxes, corrupt)


def finish_split(path: Path, names: list[str], boxes: list[np.ndarray], corrupt: int) -> Path:
    """Write the split's digitStruct.mat, then overwrite the last ``corrupt`` images with
    bytes that do not decode."""
    write_digitstruct(path / "digitStruct.mat", names, boxes)
    for name in names[len(names) - corrupt:] if corrupt else []:
        (path / name).write_bytes(b"not a png")
    return path


def make_gt_split(root: Path, name: str = "test", count: int = 5, seed: int = 0,
                  corrupt: int = 0) -> Path:
    """``root/name`` with ``count`` parents of 1-3 digits on smooth noisy backgrounds, plus
    ``groundtruth/N_clean.png`` and ``N_mask.png``; the last ``corrupt`` images do not decode."""
    rng = np.random.default_rng(seed)
    path = root / name
    (path / "groundtruth").mkdir(parents=True, exist_ok=True)
    font = ImageFont.load_default(size=20)
    names, boxes = [], []
    for i in range(count):
        k = int(rng.integers(1, 4))
        width, height = 24 + 20 * k + int(rng.integers(0, 20)), 36 + int(rng.integers(0, 12))
        yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
        c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        clean = c0 + (c1 - c0) * (0.5 * xx + 0.5 * yy)[..., None]
        clean = np.clip(clean + rng.normal(0, 3, clean.shape), 0, 255).astype(np.uint8)
        image = clean.copy()
        mask = np.zeros((height, width), np.uint8)
        fg = np.array(255 - c0, float)
        x, y = 6 + int(rng.integers(0, 5)), 5 + int(rng.integers(0, 5))
        rows = []
        for j in range(k):
            digit = int(rng.integers(0, 10))
            layer = Image.new("L", (width, height), 0)
            draw = ImageDraw.Draw(layer)
            x0, y0, x1, y1 = draw.textbbox((x, y), str(digit), font=font)
            draw.text((x, y), str(digit), fill=255, font=font)
            alpha = np.asarray(layer, float)[..., None] / 255.0
            image = np.round(image * (1 - alpha) + fg * alpha).astype(np.uint8)
            mask[alpha[..., 0] > 0] = j + 1
            rows.append([digit if digit else 10, x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2])
            x = x1 + 4
        file = f"{i + 1}.png"
        Image.fromarray(image).save(path / file)
        Image.fromarray(clean).save(path / "groundtruth" / f"{i + 1}_clean.png")
        Image.fromarray(mask).save(path / "groundtruth" / f"{i + 1}_mask.png")
        names.append(file)
        boxes.append(np.asarray(rows, dtype=float))
    return finish_split(path, names, boxes, corrupt)


@dataclass(frozen=True)
class FillLevel:
    """The setting of ``BoxFill``: the grey level every box is painted."""

    level: int = 0


class BoxFill(RemovalMethod):
    """A toy removal method for the registry tests: every box painted one grey level."""

    name = "toy_boxfill"
    description = "a toy registered by the test: every box painted one grey level"

    def __init__(self, config: FillLevel | None = None) -> None:
        super().__init__(config or FillLevel())

    def erase(self, scenes, model=None):
        out = []
        for scene in scenes:
            mask = union_mask(scene.boxes, scene.image.shape)
            image = scene.image.copy()
            image[mask] = self.config.level
            out.append(Erased(image, mask, mask))
        return out


@functools.cache
def rgb_icc_profile() -> bytes:
    """An RGB ICC colour profile (Little CMS's sRGB), as a phone embeds its own (Display P3);
    made once, as its header holds the time it was made."""
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def embed_profile(path: Path, profile: bytes) -> None:
    """Re-save the image at ``path`` in its own format with ``profile`` embedded."""
    with Image.open(path) as im:
        im.load()
        fmt = im.format
    im.save(path, format=fmt, icc_profile=profile)


def add_alpha(path: Path, mode: str = "RGBA") -> np.ndarray:
    """Re-save the PNG at ``path`` with transparency, as a cut-out photo has it, and return its
    alpha as Pillow reads it: ``RGBA`` or ``LA`` (grey) with an alpha ramp from 0 on the left
    to 255 on the right, or ``P`` (a palette of 32 colours) whose top-left pixel's colour is
    transparent."""
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    if mode == "P":
        image = rgb.quantize(32)
        image.save(path, format="PNG", transparency=image.getpixel((0, 0)))
    else:
        width, height = rgb.size
        ramp = np.linspace(0, 255, width).round().astype(np.uint8)
        image = rgb.convert(mode[:-1])  # RGB or L, then its alpha
        image.putalpha(Image.fromarray(np.tile(ramp, (height, 1))))
        image.save(path, format="PNG")
    with Image.open(path) as im:
        assert im.mode == mode  # the premise of the tests that use it
        return np.asarray(im.convert("RGBA"))[:, :, 3]
