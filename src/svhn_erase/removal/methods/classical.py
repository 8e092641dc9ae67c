"""The classical baselines: inpainting that knows nothing of digits, given a mask to fill.

OpenCV's Telea and Navier-Stokes inpainting with three masks: the whole box (``*_box``),
the digit pixels the default method finds (``*_ours``: ``Scene.found_mask``, or found here)
and the true digit pixels (``*_true``, ground truth: the benchmark only);
scikit-image's biharmonic inpainting with the true mask, solved on the rectangle around the
boxes (``biharmonic_true``); and the input left as it is (``untouched``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np
from skimage.restoration import inpaint_biharmonic

from svhn_erase.boxes import bounding_rect, union_mask
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet
from svhn_erase.removal.methods.base import Erased, RemovalMethod, Scene, register
from svhn_erase.removal.methods.default import found_masks


@dataclass(frozen=True)
class InpaintConfig:
    """OpenCV inpainting: the neighbourhood radius in pixels."""

    radius: int = 3


@dataclass(frozen=True)
class BiharmonicConfig:
    """Biharmonic inpainting: pixels of context around the boxes' bounding rectangle."""

    margin: int = 6


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


class OpenCVInpaint(RemovalMethod):
    """OpenCV inpainting (``flag``) of the mask ``masks`` gives per scene."""

    flag: ClassVar[int]
    masks: Callable[[Sequence[Scene], ConvNet | None], list[np.ndarray]]

    def __init__(self, config: InpaintConfig | None = None) -> None:
        super().__init__(config or InpaintConfig())

    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        out = []
        for scene, mask in zip(scenes, self.masks(scenes, model), strict=True):
            image = inpaint_opencv(scene.image, mask, self.flag, self.config.radius)
            out.append(Erased(image, mask.copy(), mask))
        return out


@register
class TeleaBox(OpenCVInpaint):
    name = "telea_box"
    description = "OpenCV Telea, mask = the whole box"
    flag = cv2.INPAINT_TELEA
    masks = staticmethod(box_masks)


@register
class NavierStokesBox(OpenCVInpaint):
    name = "ns_box"
    description = "OpenCV Navier-Stokes, mask = the whole box"
    flag = cv2.INPAINT_NS
    masks = staticmethod(box_masks)


@register
class TeleaOurs(OpenCVInpaint):
    name = "telea_ours"
    description = "OpenCV Telea, mask = the digit mask found by default"
    uses_classifier = True
    flag = cv2.INPAINT_TELEA
    masks = staticmethod(ours_masks)


@register
class NavierStokesOurs(OpenCVInpaint):
    name = "ns_ours"
    description = "OpenCV Navier-Stokes, mask = the digit mask found by default"
    uses_classifier = True
    flag = cv2.INPAINT_NS
    masks = staticmethod(ours_masks)


@register
class TeleaTrue(OpenCVInpaint):
    name = "telea_true"
    description = "OpenCV Telea, mask = the true digit mask (oracle)"
    needs_truth = True
    flag = cv2.INPAINT_TELEA
    masks = staticmethod(true_masks)


@register
class NavierStokesTrue(OpenCVInpaint):
    name = "ns_true"
    description = "OpenCV Navier-Stokes, mask = the true digit mask (oracle)"
    needs_truth = True
    flag = cv2.INPAINT_NS
    masks = staticmethod(true_masks)


@register
class BiharmonicTrue(RemovalMethod):
    """scikit-image biharmonic inpainting of the true digit pixels."""

    name = "biharmonic_true"
    description = "scikit-image biharmonic, mask = the true digit mask (oracle)"
    needs_truth = True

    def __init__(self, config: BiharmonicConfig | None = None) -> None:
        super().__init__(config or BiharmonicConfig())

    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        out = []
        for scene, mask in zip(scenes, true_masks(scenes, model), strict=True):
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
