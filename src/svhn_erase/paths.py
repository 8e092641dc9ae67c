"""The one type alias for a path argument: a ``str`` or anything ``os.fspath`` takes."""

from __future__ import annotations

import os

PathLike = str | os.PathLike[str]
