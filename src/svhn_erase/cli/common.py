"""What every command's parser shares: argument types and help texts."""

from __future__ import annotations

import argparse
from collections.abc import Callable


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

WEIGHTS_HELP = ("classifier weights: a run folder, .safetensors or the original .pkl "
                "(default: the packaged checkpoint, if there is one)")


def method_choices() -> tuple[list[str], str]:
    """The removal methods a user can run (from the registry) and their help text."""
    from svhn_erase.removal.methods import method_class, method_names

    names = method_names(with_truth=False)
    return names, "; ".join(f"{n}: {method_class(n).description}" for n in names)

