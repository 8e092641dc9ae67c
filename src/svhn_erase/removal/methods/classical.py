"""The classical baselines: inpainting that knows nothing of digits, given a mask to fill.

OpenCV's Telea and Navier-Stokes inpainting with three masks: the whole box (``*_box``),
the digit pixels the default method finds (``*_ours``: ``Scene.found_mask``, or found here)
and the true digit pixels (``*_true``, ground truth: the benchmark only);
scikit-image's biharmonic inpainting with the true mask, solved on the rectangle around the
boxes (``biharmonic_true``); and the input left as it is (``untouched``).

Fair baselines: digit edges are blurred and anti-aliased a pixel or two past a tight box or
mask, and an inpainter that starts from those pixels smears digit colour inward, so a user
grows the mask first. Every mask-based baseline grows its mask by ``grow`` pixels (a 3 x 3
dilation, ``grow`` times) before filling; ``TUNED_GROWTH`` holds each one's default, chosen
on a tuning split (below). The same baselines without growth stay registered as
``NAME_raw``, off the benchmark's headline comparison (``headline = False``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic

from svhn_erase.boxes import Rect, bounding_rect, union_mask
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene, register
from svhn_erase.removal.methods.default import found_masks

# Pixels each mask-based baseline grows its mask by (a 3 x 3 dilation, that many times),
# chosen per baseline from 0-4 by mean PSNR over the boxes on a tuning split that no reported
# figure comes from (ties: the smaller growth):
#   svhn-erase data synth --root R --split tune --count 300 --seed 21 --style heldout
#   python benchmarks/tune_baselines.py --data R --split tune
# (generator recipe 3). Its boxes leave a margin around the digit, so growing the box only
# moves the fill's source away (d = 0 wins for *_box); growing a digit mask by one pixel
# covers its anti-aliased edge (d = 1 wins for the others).
TUNED_GROWTH = {"telea_box": 0, "ns_box": 0, "telea_ours": 1, "ns_ours": 1,
                "telea_true": 1, "ns_true": 1, "biharmonic_true": 1}
GROWTH_CHOICES = range(0, 5)  # what tuning tries


@dataclass(frozen=True)
class InpaintConfig:
    """OpenCV inpainting: the neighbourhood radius in pixels, and the pixels the mask grows by
    first (``grow`` 3 x 3 dilations)."""

    radius: int = 3
    grow: int = 0


@dataclass(frozen=True)
class BiharmonicConfig:
    """Biharmonic inpainting: pixels of context around the boxes' bounding rectangle, and the
    pixels the mask grows by first (``grow`` 3 x 3 dilations)."""

    margin: int = 6
    grow: int = 0


def grow_mask(mask: np.ndarray, pixels: int) -> np.ndarray:
    """(H, W) bool: ``mask`` grown by ``pixels`` (3 x 3 dilation, ``pixels`` times), clipped
    to the image; a copy of it for 0."""
    if pixels < 0:
        raise ValueError(f"a mask grows by 0 pixels or more, not {pixels}")
    mask = np.asarray(mask, bool)
    if pixels == 0 or not mask.any():
        return mask.copy()
    kernel = np.ones((3, 3), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel, iterations=int(pixels)) > 0


def inpaint_opencv(image: np.ndarray, mask: np.ndarray, flag: int, radius: int) -> np.ndarray:
    """``cv2.inpaint`` of the ``mask`` pixels (``flag``: ``cv2.INPAINT_TELEA`` or
    ``cv2.INPAINT_NS``); a copy of ``image`` when the mask is empty."""
    if not mask.any():
        return image.copy()
    return cv2.inpaint(np.ascontiguousarray(image), mask.astype(np.uint8), radius, flag)


def inpaint_biharmonic_crop(image: np.ndarray, mask: np.ndarray, boxes: np.ndarray,
                            margin: int) -> tuple[np.ndarray, np.ndarray]:
    """Biharmonic inpainting of the ``mask`` pixels, solved on the rectangle holding the boxes
    grown by ``margin`` (the whole image would cost far more for the same result). Returns
    the image and the pixels written."""
    out = image.copy()
    written = np.zeros(mask.shape, bool)
    rect = bounding_rect(boxes, image.shape, margin=margin)
    if rect is not None and mask.any():  # the rectangle holds the whole mask too
        rows, cols = np.nonzero(mask)
        rect = Rect(min(rect.top, int(rows.min())), min(rect.left, int(cols.min())),
                    max(rect.bottom, int(rows.max()) + 1), max(rect.right, int(cols.max()) + 1))
    if rect is None or not mask[rect.slices].any():
        return out, written
    sub_mask = mask[rect.slices]
    filled = inpaint_biharmonic(image[rect.slices].astype(np.float64) / 255.0, sub_mask,
                                channel_axis=-1)
    region = out[rect.slices]
    region[sub_mask] = np.clip(np.round(filled[sub_mask] * 255.0), 0, 255).astype(np.uint8)
    written[rect.slices] = sub_mask
    return out, written


def box_masks(scenes: Sequence[Scene], model: ConvNet | None) -> list[np.ndarray]:
    """Per scene, the union of its boxes."""
    return [union_mask(s.boxes, s.image.shape) for s in scenes]


def true_masks(scenes: Sequence[Scene], model: ConvNet | None) -> list[np.ndarray]:
    """Per scene, its true digit pixels (a user error when a scene has none)."""
    if any(s.true_mask is None for s in scenes):
        raise SvhnEraseError("this method needs the true digit masks (a split with ground "
                             "truth, through 'svhn-erase bench')")
    return [np.asarray(s.true_mask, bool) for s in scenes]


def ours_masks(scenes: Sequence[Scene], model: ConvNet | None) -> list[np.ndarray]:
    """Per scene, the digit pixels the default method finds: ``Scene.found_mask`` where
    given, else found here (with the classifier's first layer)."""
    todo = [s for s in scenes if s.found_mask is None]
    if todo and model is None:
        raise SvhnEraseError("finding the default method's digit mask needs the classifier")
    found = iter(found_masks(todo, model) if todo else [])
    return [np.asarray(s.found_mask, bool) if s.found_mask is not None else next(found)
            for s in scenes]


def _grown(what: str, name: str) -> str:
    """A baseline's one-line description: what it is and its tuned growth."""
    return f"{what}, grown by {TUNED_GROWTH[name]} px"


def tuned_growth(name: str) -> int:
    """The growth a baseline ships with: ``TUNED_GROWTH`` of its name, none for ``*_raw``."""
    return 0 if name.endswith("_raw") else TUNED_GROWTH.get(name, 0)


class OpenCVInpaint(RemovalMethod):
    """OpenCV inpainting (``flag``) of the mask ``masks`` gives per scene, grown first by
    ``config.grow`` pixels (default: the tuned growth of the method's name)."""

    what: ClassVar[str]  # the description without the growth
    flag: ClassVar[int]
    masks: Callable[[Sequence[Scene], ConvNet | None], list[np.ndarray]]

    def __init__(self, config: InpaintConfig | None = None) -> None:
        super().__init__(config or InpaintConfig(grow=tuned_growth(self.name)))

    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        out = []
        for scene, mask in zip(scenes, self.masks(scenes, model), strict=True):
            mask = grow_mask(mask, self.config.grow)
            image = inpaint_opencv(scene.image, mask, self.flag, self.config.radius)
            out.append(Erased(image, mask.copy(), mask))
        return out


def _opencv_baseline(class_name: str, name: str, what: str, flag: int,
                     masks: Callable[[Sequence[Scene], ConvNet | None], list[np.ndarray]],
                     **flags: bool) -> type[OpenCVInpaint]:
    """Register the OpenCV baseline ``name``: ``flag`` inpainting of ``masks``' pixels;
    ``flags`` sets ``uses_classifier`` or ``needs_truth``."""
    return register(type(class_name, (OpenCVInpaint,), {
        "name": name, "what": what, "description": _grown(what, name), "flag": flag,
        "masks": staticmethod(masks), "__doc__": f"{what}.", "__module__": __name__,
        **flags}))


_BOX, _OURS, _TRUE = ("mask = the whole box", "mask = the digit mask found by default",
                      "mask = the true digit mask (oracle)")
TeleaBox = _opencv_baseline("TeleaBox", "telea_box", f"OpenCV Telea, {_BOX}",
                            cv2.INPAINT_TELEA, box_masks)
NavierStokesBox = _opencv_baseline("NavierStokesBox", "ns_box", f"OpenCV Navier-Stokes, {_BOX}",
                                   cv2.INPAINT_NS, box_masks)
TeleaOurs = _opencv_baseline("TeleaOurs", "telea_ours", f"OpenCV Telea, {_OURS}",
                             cv2.INPAINT_TELEA, ours_masks, uses_classifier=True)
NavierStokesOurs = _opencv_baseline("NavierStokesOurs", "ns_ours",
                                    f"OpenCV Navier-Stokes, {_OURS}", cv2.INPAINT_NS,
                                    ours_masks, uses_classifier=True)
TeleaTrue = _opencv_baseline("TeleaTrue", "telea_true", f"OpenCV Telea, {_TRUE}",
                             cv2.INPAINT_TELEA, true_masks, needs_truth=True)
NavierStokesTrue = _opencv_baseline("NavierStokesTrue", "ns_true",
                                    f"OpenCV Navier-Stokes, {_TRUE}", cv2.INPAINT_NS,
                                    true_masks, needs_truth=True)


@register
class BiharmonicTrue(RemovalMethod):
    """scikit-image biharmonic inpainting of the true digit pixels."""

    name = "biharmonic_true"
    what = "scikit-image biharmonic, mask = the true digit mask (oracle)"
    description = _grown(what, name)
    needs_truth = True

    def __init__(self, config: BiharmonicConfig | None = None) -> None:
        super().__init__(config or BiharmonicConfig(grow=tuned_growth(self.name)))

    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        out = []
        for scene, mask in zip(scenes, true_masks(scenes, model), strict=True):
            mask = grow_mask(mask, self.config.grow)
            image, written = inpaint_biharmonic_crop(scene.image, mask, scene.boxes,
                                                     self.config.margin)
            out.append(Erased(image, written, mask))
        return out


@register
class Untouched(RemovalMethod):
    """The input as it is: the benchmark's floor."""

    name = "untouched"
    description = "the input image, nothing removed"
    reference = True

    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        return [Erased(s.image.copy(), np.zeros(s.image.shape[:2], bool),
                       np.zeros(s.image.shape[:2], bool)) for s in scenes]


def _raw(cls: type[RemovalMethod]) -> type[RemovalMethod]:
    """Register the baseline ``cls`` without growth as ``NAME_raw``, off the headline."""
    raw = type(f"{cls.__name__}Raw", (cls,), {
        "name": f"{cls.name}_raw", "description": f"{cls.what}, as given (not grown)",
        "headline": False, "__doc__": f"{cls.name} without growth (as given).",
        "__module__": __name__})
    return register(raw)


for _baseline in (TeleaBox, NavierStokesBox, TeleaOurs, NavierStokesOurs, TeleaTrue,
                  NavierStokesTrue, BiharmonicTrue):
    _raw(_baseline)
