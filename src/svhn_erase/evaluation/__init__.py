"""How well digits were removed: the ``bench`` command's stage.

- ``bench``: the run: the removal methods on chunks of a split's images, scored against
  ground truth; a split without it goes to ``real``;
- ``selection``: which methods (``--methods``; the headline ones by default) and which
  photos (``--files``) a run takes;
- ``metrics``: PSNR, SSIM and key-pixel precision / recall over the boxes;
- ``judge``: the independent 11-class judge's "no digit" verdicts (the removal rate);
- ``scoring``: per-image and per-digit scores, the per-method summary, ``results.csv``;
- ``real``: the real-photo mode (no ground truth): still read by an independent ``reader``,
  its floor on ``decoys`` (the boxes moved onto digit-free background) and decoy fidelity;
- ``tuning``: each classical baseline's mask growth, chosen on a tuning split;
- ``thumbnails``: the report galleries' small PNGs;
- ``report`` / ``real_report``: the self-contained HTML pages (``templates/``) and text tables.
"""
