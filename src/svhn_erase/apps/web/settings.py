"""The web app's settings: the limits it enforces and the folder it may write in.

One frozen dataclass, ``WebSettings``; ``svhn-erase serve`` builds it from its options and
``GET /api/settings`` shows it, so that the page and a client know the limits up front.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class WebSettings:
    """Limits of one server. Every upload over a limit is refused with HTTP 413 or 422.

    ``workdir``: the only folder the server writes in (batch results); None makes a fresh
    temporary folder, removed when the server stops. ``weights``: the classifier for the
    methods that use one (None: the packaged checkpoint); ``detector``: the digit detector's
    weights (None: the packaged one).
    """

    workdir: Path | None = None
    weights: Path | None = None
    detector: Path | None = None
    max_upload_bytes: int = 20_000_000  # one photo (or one photo inside a zip)
    max_pixels: int = 12_000_000  # one photo, width x height
    max_boxes: int = 64  # per photo
    max_batch_files: int = 100  # photos in one batch (files or zip members)
    max_batch_bytes: int = 200_000_000  # one batch request
    max_waiting: int = 64  # erase/detect requests queued at once; more get HTTP 429
    workers: int = 1  # requests computed at once (the classifier is shared)
    examples: int = 4  # generated example photos
    example_seed: int = 17

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, int) and field.name != "example_seed" and value < 1:
                raise ValueError(f"{field.name} must be at least 1, not {value}")

    def public(self) -> dict:
        """The limits a client needs (no paths)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if f.name not in ("workdir", "weights", "detector", "example_seed")}
