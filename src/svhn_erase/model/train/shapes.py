"""Real-shape composites: new training crops made of the real digits' own shapes.

The real training digits are few (about 3,100 in photos 1-1400) but the project can already
separate a digit from its background without labels: the ``student`` removal method gives
every box a digit mask and an erased background. ``cut_pieces`` runs it over the training
photos and keeps, per digit, three crops cut exactly as the training crops are (same size
and margin): the photo, the erased photo and the mask. ``composites`` then adds each
digit's signal (its crop minus its erased background: zero outside the mask, so no paste
edge) to the erased background of another real box or its own, scaled to a new contrast
and polarity, shifted a little, sometimes blurred, with some noise. The label is the real
digit's label; validation photos are never read (the caller passes the training range).
With ``warp`` > 0 the signal is also warped before it is added (``train.warp``: a small
rotation, per-axis scale, slant and elastic field), so the composites carry new digit shapes,
not only the real ones; the warps come from their own random stream, so every other choice
(background, contrast, shift, blur, noise) stays what it is without them.

Everything is seeded (``seed``), so a run's composites are the same each time, for the same
student weights (their digest is in the run's fingerprint) and the same student code (its
fill makes the erased backgrounds; a change there changes the composites).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage
from tqdm import tqdm

from svhn_erase.data import crops as crops_mod
from svhn_erase.data import split as split_mod
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.train import warp as warp_mod
from svhn_erase.model.train.real import photo_table
from svhn_erase.paths import PathLike

CHUNK = 64  # photos erased per call of the removal method
MIN_COVER, MAX_COVER = 0.03, 0.95  # masks covering less / more of the crop are not trusted
OWN_BACKGROUND = 0.3  # share of composites pasted back onto the digit's own erased box
CONTRAST = (0.6, 1.4)  # the digit's contrast to its background is scaled by this range
FLIP = 0.2  # share of composites whose polarity goes against the background's room
SHIFT = 2.0  # pixels (at crop size 40; scaled with the size) the shape moves at most
BLUR_P, BLUR_SIGMA = 0.3, (0.4, 1.0)
NOISE = 2.0  # std of added Gaussian noise, grey levels
WARP_STREAM = 1  # the warps' random stream: default_rng([seed, WARP_STREAM])


@dataclass(frozen=True)
class Pieces:
    """Per real digit, float32 ``(n, size, size)``: the crop, its erased background, its
    digit mask (0..1); ``labels`` (n,) the digits' labels."""

    crop: np.ndarray
    background: np.ndarray
    mask: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _mask_image(mask: np.ndarray) -> np.ndarray:
    """A bool (H, W) mask as an RGB uint8 image, so it is cut as a photo is."""
    return np.repeat((mask.astype(np.uint8) * 255)[..., None], 3, axis=2)


def cut_pieces(split_dir: PathLike, photo_range: str | None, size: int, margin: float,
               progress: bool = True, student: str | None = None,
               shape: str = "stretch") -> tuple[Pieces, str]:
    """Run the ``student`` removal method over the photos in ``photo_range`` of a Format 1
    split and cut every digit's crop, erased background and mask at ``size`` with
    ``margin``. Digits whose mask covers under ``MIN_COVER`` or over ``MAX_COVER`` of the
    crop are left out (the mask missed the digit or took its background). ``student``: the
    student weights (None: the packaged ones); ``shape``: the crop shape of all three
    (``crops.CROP_SHAPES``). Also returns the fingerprint of what the
    pieces depend on: the student weights' digest and the photos' table."""
    from svhn_erase.model.weights import weights_digest
    from svhn_erase.removal.methods.base import Scene, create
    from svhn_erase.removal.methods.student import StudentConfig

    path = Path(split_dir)
    table = photo_table(crops_mod.load_split_table(path), photo_range)
    if len(table) == 0:
        raise SvhnEraseError(f"{path}: no digits in photos {photo_range}")
    method = create("student", StudentConfig(weights=student))
    parents = list(split_mod.iter_parents(path, table))
    out: dict[str, list] = {"crop": [], "background": [], "mask": [], "labels": []}
    for start in tqdm(range(0, len(parents), CHUNK), desc="real-shape pieces", unit="chunk",
                      leave=False, disable=None if progress else True):
        chunk = parents[start:start + CHUNK]
        erased = method.erase([Scene(p.image, p.boxes) for p in chunk])
        for parent, done in zip(chunk, erased, strict=True):
            mask_image = _mask_image(done.mask)
            for box, label in zip(parent.boxes, parent.labels, strict=True):
                mask = crops_mod.crop_digit(mask_image, box, size, margin,
                                            shape=shape) / 255.0
                if not MIN_COVER <= mask.mean() <= MAX_COVER:
                    continue
                out["mask"].append(mask.astype(np.float32))
                out["crop"].append(crops_mod.crop_digit(parent.image, box, size, margin,
                                                        shape=shape))
                out["background"].append(crops_mod.crop_digit(done.image, box, size, margin,
                                                              shape=shape))
                out["labels"].append(int(label))
    if not out["labels"]:
        raise SvhnEraseError(f"{path}: no digit of photos {photo_range} has a usable mask")
    pieces = Pieces(*(np.stack(out[k]).astype(np.float32)
                      for k in ("crop", "background", "mask")),
                    labels=np.asarray(out["labels"], np.int64))
    return pieces, f"{weights_digest(method.weights_path())}-{crops_mod.table_fingerprint(table)}"


@dataclass(frozen=True)
class Warping:
    """How ``_one`` warps the signals: ``strength`` (``train.warp``), the elastic field or
    not, and the warps' own generator."""

    strength: float
    elastic: bool
    rng: np.random.Generator


def _one(pieces: Pieces, i: int, rng: np.random.Generator,
         warping: Warping | None = None) -> np.ndarray:
    """One composite of digit ``i`` (float, 0..255): its signal (the crop minus its erased
    background: zero outside the mask, the digit's strokes and texture inside, no mask edge)
    scaled, perhaps negated, shifted (and warped, with ``warping``) and added to another
    box's erased background."""
    size = pieces.crop.shape[-1]
    signal = pieces.crop[i] - pieces.background[i]
    j = i if rng.random() < OWN_BACKGROUND else int(rng.integers(len(pieces)))
    ground = pieces.background[j]
    lighter = float((signal * pieces.mask[i]).sum()) > 0  # a light digit on its own box
    room_up = float(ground.mean()) < 128  # a dark background leaves room for a light digit
    up = room_up != (rng.random() < FLIP)
    gain = rng.uniform(*CONTRAST) * (1.0 if lighter == up else -1.0)
    shift = rng.uniform(-SHIFT, SHIFT, 2) * size / 40
    if warping is None:
        moved = ndimage.shift(signal, shift, order=1, mode="constant", cval=0.0)
    else:
        how = warp_mod.draw(size, shift, warping.strength, warping.rng, warping.elastic)
        moved = warp_mod.apply(how, signal)[0]
    out = ground + gain * moved
    if rng.random() < BLUR_P:
        out = ndimage.gaussian_filter(out, rng.uniform(*BLUR_SIGMA))
    return out + rng.normal(0.0, NOISE, out.shape)


def composites(pieces: Pieces, per_digit: int, seed: int, warp: float = 0.0,
               elastic: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(crops (n * per_digit, size, size) uint8, labels)``: ``per_digit`` composites of
    every digit of ``pieces``, seeded; ``warp`` > 0 warps each signal at that strength
    (``elastic``: with the elastic field), 0 leaves them as they are."""
    rng = np.random.default_rng(seed)
    warping = Warping(warp, elastic, np.random.default_rng([seed, WARP_STREAM])) \
        if warp > 0 else None
    made = [_one(pieces, i, rng, warping) for _ in range(per_digit)
            for i in range(len(pieces))]
    crops = np.clip(np.rint(np.stack(made)), 0, 255).astype(np.uint8)
    return crops, np.tile(pieces.labels, per_digit)


def composite_set(split_dir: PathLike, photo_range: str | None, size: int, margin: float,
                  per_digit: int, seed: int, progress: bool = True,
                  student: str | None = None, shape: str = "stretch", warp: float = 0.0,
                  elastic: bool = True) -> tuple[np.ndarray, np.ndarray, str]:
    """``(crops, labels, fingerprint)`` of ``per_digit`` composites per real digit of the
    photos in ``photo_range`` (``cut_pieces``, then ``composites``), cut as ``shape``,
    their signals warped at strength ``warp`` (0: not warped)."""
    pieces, source = cut_pieces(split_dir, photo_range, size, margin, progress, student,
                                shape)
    crops, labels = composites(pieces, per_digit, seed, warp, elastic)
    cut = "" if shape == "stretch" else f"-{shape}"  # stretch keeps earlier fingerprints
    if warp > 0:  # unwarped runs keep earlier fingerprints
        cut += f"-warp{warp:g}" + ("" if elastic else "-rigid")
    return crops, labels, f"shapes{per_digit}-{seed}-{size}-{margin}{cut}-{source}"
