"""``digitStruct.mat``, the box file of SVHN Format 1 (SPEC §1), and a split's digit index.

- ``layout``: the box fields, the table's columns, ``DigitStructError``;
- ``writer``: ``write_digitstruct`` (a file in the real layout, for generated splits);
- ``reader``: ``read_digitstruct`` (every box as stored, one row per digit), through the
  direct HDF5 parser of ``_hdf5`` with h5py as the fallback;
- ``pngsize``: an image's size from its header;
- ``index``: ``load_index`` (boxes clipped to the images, unusable rows dropped and
  reported, cached beside the split) and ``write_index_csv``.
"""

from svhn_erase.data.digitstruct.index import (
    INDEX_CACHE_NAME,
    INDEX_STAMP_NAME,
    clip_boxes,
    load_index,
    write_index_csv,
)
from svhn_erase.data.digitstruct.layout import BOX_FIELDS, INDEX_COLUMNS, DigitStructError
from svhn_erase.data.digitstruct.pngsize import image_size
from svhn_erase.data.digitstruct.reader import read_digitstruct, read_digitstruct_naive
from svhn_erase.data.digitstruct.writer import write_digitstruct

__all__ = [
    "BOX_FIELDS", "INDEX_CACHE_NAME", "INDEX_COLUMNS", "INDEX_STAMP_NAME", "DigitStructError",
    "clip_boxes", "image_size", "load_index", "read_digitstruct", "read_digitstruct_naive",
    "write_digitstruct", "write_index_csv",
]
