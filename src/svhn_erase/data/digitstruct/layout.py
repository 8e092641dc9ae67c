"""What a ``digitStruct.mat`` holds (SPEC §1): the box fields, the digit table's columns,
and the error for a file that cannot be read."""

from __future__ import annotations

from svhn_erase.errors import SvhnEraseError

BOX_FIELDS = ("height", "label", "left", "top", "width")  # the datasets of a bbox group
TABLE_FIELDS = ("label", "left", "top", "width", "height")  # a digit's row, in table order
INDEX_COLUMNS = ["file", "digit_index", "label", "left", "top", "width", "height"]
USERBLOCK_SIZE = 512


class DigitStructError(SvhnEraseError):
    """A digitStruct.mat that cannot be read; the message names the file and the problem."""
