"""The removal-method interface and its registry.

A removal method takes scenes (a photo and its digit boxes) and returns them erased. Every
method the project knows, its own (``default``, ``seed``) and every classical baseline
(OpenCV, scikit-image, the untouched image), is a ``RemovalMethod`` subclass registered here
with ``@register``. The command line's ``--method`` choices, ``bench`` and its report read
the registry; adding a method is one module with one registered class (and its import in
``svhn_erase.removal.methods``).
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet


@dataclass(frozen=True)
class Scene:
    """One photo to erase.

    ``boxes``: (k, 4) ``left, top, width, height``, as given (they are clipped here, a box
    wholly outside the image is ignored). ``true_mask``: the true digit pixels, (H, W) bool,
    only on splits with ground truth (oracle baselines need it). ``found_mask``: the digit
    pixels the default method found, when the caller already has them (the ``*_ours``
    baselines use it, and find it themselves when it is None).
    """

    image: np.ndarray
    boxes: np.ndarray
    true_mask: np.ndarray | None = None
    found_mask: np.ndarray | None = None


@dataclass
class Erased:
    """One erased photo and what the method decided.

    ``mask``: the pixels the method took as digit (the ones it set out to fill).
    ``replaced``: the pixels it wrote (the mask, plus any blended seam or whole box).
    ``keypix`` / ``digit_masks``: per box, at its clipped size, the pixels kept as background /
    judged digit (key-pixel methods only). ``preds``: per box, the classifier's digit (-1 for
    a box outside the image; None for methods without a classifier).
    """

    image: np.ndarray
    replaced: np.ndarray
    mask: np.ndarray
    keypix: list[np.ndarray] | None = None
    digit_masks: list[np.ndarray] | None = None
    preds: np.ndarray | None = None


class RemovalMethod(ABC):
    """A way to erase digits. Subclasses set the class attributes and implement ``erase``.

    ``config`` is a frozen dataclass of the method's settings (or None); it is written into
    the outputs the method shaped (``timing.json``, ``summary.json``).
    """

    name: ClassVar[str]
    description: ClassVar[str]  # one line, for --help and the report
    uses_classifier: ClassVar[bool] = False  # erase() needs the digit classifier
    needs_truth: ClassVar[bool] = False  # needs Scene.true_mask (ground truth): bench only
    finds_key_pixels: ClassVar[bool] = False  # Erased.keypix is meaningful
    reference: ClassVar[bool] = False  # a yardstick (untouched): bench neither times nor ranks it
    headline: ClassVar[bool] = True  # in bench's default comparison (False: run on request)
    counts_digits: ClassVar[bool] = False  # calls ``progress`` as digits finish (slow methods)

    def __init__(self, config: Any = None) -> None:
        self.config = config
        # set by a caller showing progress (``erase --method seed``); a method that
        # ``counts_digits`` calls it with the number of digits done, as they get done
        self.progress: Callable[[int], object] | None = None

    @abstractmethod
    def erase(self, scenes: Sequence[Scene], model: ConvNet | None = None) -> list[Erased]:
        """Erase every scene's boxes; one ``Erased`` per scene, in order. A method leaves
        ``model`` as it found it (training flag, memory format, weights)."""

    def require_model(self, model: ConvNet | None) -> ConvNet:
        """``model``, or a user error when it is missing (for methods that need it)."""
        if model is None:
            raise SvhnEraseError(f"the {self.name} method needs the digit classifier")
        return model

    def settings(self) -> dict:
        """The method's name and settings, for the outputs it shaped."""
        config = dataclasses.asdict(self.config) if dataclasses.is_dataclass(self.config) else {}
        return {"method": self.name, **config}


_REGISTRY: dict[str, type[RemovalMethod]] = {}


def register(cls: type[RemovalMethod]) -> type[RemovalMethod]:
    """Class decorator: make ``cls`` available by its ``name`` (in registration order)."""
    if not getattr(cls, "name", None):
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a removal method named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def unregister(name: str) -> None:
    """Remove a method from the registry (tests register toy methods)."""
    _REGISTRY.pop(name, None)


def method_names(with_truth: bool = True) -> list[str]:
    """Registered method names in registration order; ``with_truth=False`` leaves out those
    that need ground truth (what a user can run on their own photos)."""
    return [n for n, c in _REGISTRY.items() if with_truth or not c.needs_truth]


def method_class(name: str) -> type[RemovalMethod]:
    """The registered class called ``name``; a user error naming the choices otherwise."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise SvhnEraseError(f"unknown removal method {name!r}; choose one of "
                             f"{', '.join(_REGISTRY)}") from None


def create(name: str, config: Any = None) -> RemovalMethod:
    """An instance of the method called ``name`` (with ``config``, or its defaults)."""
    cls = method_class(name)
    return cls(config) if config is not None else cls()


def resolve(method: str | RemovalMethod) -> RemovalMethod:
    """``method`` itself when it is a method (e.g. one made with settings of the user's),
    else a new instance of the method of that name with its defaults."""
    return method if isinstance(method, RemovalMethod) else create(method)


def method_tag(method: RemovalMethod) -> str:
    """How output manifests name the method: its name, and the weights it loads when they
    are not its packaged ones (so two erasures with other weights do not mix in a folder)."""
    weights = getattr(method.config, "weights", None)
    return method.name if weights is None else f"{method.name} (weights {weights})"
