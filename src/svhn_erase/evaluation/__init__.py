"""How well digits were removed, against ground truth: the ``bench`` command's stage.

- ``bench``: the run: every registered removal method on chunks of a split's images;
- ``metrics``: PSNR, SSIM and key-pixel precision / recall over the boxes;
- ``judge``: the independent 11-class judge's "no digit" verdicts (the removal rate);
- ``scoring``: per-image and per-digit scores, the per-method summary, ``results.csv``;
- ``thumbnails``: the report gallery's small PNGs;
- ``report``: the self-contained HTML page (``templates/report.html.j2``) and the text table.
"""
