"""What every command's parser shares: argument types and help texts."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _whole(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number of at least ``low``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, not {value}")
        return value
    parse.__name__ = "whole number"
    return parse


positive, non_negative = _whole(1), _whole(0)

CPU_HELP = "use the CPU even if CUDA is present"

WEIGHTS_HELP = ("classifier weights: a run folder, .safetensors or the original .pkl "
                "(default: the packaged checkpoint, if there is one)")


def method_choices() -> tuple[list[str], str]:
    """The removal methods a user can run (from the registry) and their help text."""
    from svhn_erase.removal.methods import method_class, method_names

    names = method_names(with_truth=False)
    return names, "; ".join(f"{n}: {method_class(n).description}" for n in names)



STUDENT_WEIGHTS_HELP = ("the student method's network: a .safetensors written by "
                        "'svhn-erase train-student' (default: the packaged "
                        "checkpoints/student.safetensors)")


def add_student_weights(p: argparse.ArgumentParser) -> None:
    """``--student-weights``: run the ``student`` method with weights of the user's."""
    p.add_argument("--student-weights", type=Path, default=None, metavar="WEIGHTS",
                   help=STUDENT_WEIGHTS_HELP)


def student_config(path: Path | None) -> Any:
    """The ``student`` method's settings for ``--student-weights`` (None: its defaults); a
    user error when the file is missing."""
    if path is None:
        return None
    from svhn_erase.errors import SvhnEraseError
    from svhn_erase.removal.methods.student import StudentConfig

    if not path.is_file():
        raise SvhnEraseError(f"{path}: no such student weights file (--student-weights)")
    return StudentConfig(weights=str(path))


def chosen_method(args: argparse.Namespace) -> Any:
    """``--method``, as a name; the configured ``student`` when ``--student-weights`` is
    given, the configured ``default`` when ``--grain`` is (each refused with another
    method)."""
    grain = getattr(args, "grain", 0.0)
    if grain:
        if args.student_weights is not None:
            from svhn_erase.errors import SvhnEraseError
            raise SvhnEraseError("--grain goes with --method default, --student-weights "
                                 "with --method student: not both")
        return _default_with_grain(args.method, grain)
    config = student_config(args.student_weights)
    if config is None:
        return args.method
    if args.method != "student":
        from svhn_erase.errors import SvhnEraseError
        raise SvhnEraseError("--student-weights goes with --method student")
    from svhn_erase.removal.methods import create
    return create("student", config)


MAX_GRAIN = 3.0
GRAIN_HELP = ("with --method default: put noise back into the filled pixels at G times the "
              "level of the background around them (0: none, the default; 1: the same level). "
              "A fill is smooth, so in a noisy photo it can show as a flat patch; grain makes "
              "it blend in, at a cost in PSNR against a digit-free scene (README, 'Grain')")


def grain_amount(text: str) -> float:
    """An argparse type: a grain amount, from 0 to ``MAX_GRAIN``."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, not {text!r}") from None
    if not 0.0 <= value <= MAX_GRAIN:
        raise argparse.ArgumentTypeError(f"must be from 0 to {MAX_GRAIN:g}, not {text}")
    return value


def add_grain(p: argparse.ArgumentParser) -> None:
    """``--grain G``: the default method with noise of the background's level put back."""
    p.add_argument("--grain", type=grain_amount, default=0.0, metavar="G", help=GRAIN_HELP)


def _default_with_grain(method: str, grain: float) -> Any:
    """The ``default`` method with ``RemovalConfig(grain=grain)``; a user error with
    another method."""
    from svhn_erase.errors import SvhnEraseError
    from svhn_erase.removal.config import RemovalConfig
    from svhn_erase.removal.methods import create

    if method != "default":
        raise SvhnEraseError(f"--grain goes with --method default, not {method}")
    return create("default", RemovalConfig(grain=grain))
