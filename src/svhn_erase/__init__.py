"""svhn-erase: read street-view house numbers and remove them from the photos, unsupervised.

The package follows the data's path, one sub-package per stage:

- ``data``: photos and boxes in: the official archives, ``digitStruct.mat`` (Format 1) and
  Format 2 files, a split on disk, digit crops and torchvision-style datasets, and the
  generator of realistic SVHN-like splits with ground truth (``data.synth``);
- ``model``: the digit classifier: the original networks, weights, batched inference,
  training and ``classify``;
- ``removal``: erasing digits: key pixels, GRNN fill and paste, and every removal method
  behind one interface and registry (``removal.methods``);
- ``evaluation``: how well digits were removed: metrics, the judge, ``bench`` and its
  report;
- ``apps``: what the commands run: ``erase``, ``explain`` and ``demo``;
- ``cli``: the thin command line on top.

Shared by all stages: ``boxes`` (the box type), ``atomic_io`` (outputs written atomically),
``errors`` (the user-error type) and ``allocator`` (the heap setting the CLI applies).
"""

__version__ = "0.1.0"
