"""Erasing digits from their boxes without pixel labels.

- ``config``: the settings of the two key-pixel methods (``RemovalConfig``, ``SeedConfig``);
- ``keypixels``: the original's key pixels (first-layer feature maps, input gradients);
- ``first_layer``: the classifier's first-layer maps (and their per-pixel statistics) at a
  crop's own size;
- ``segment`` and ``kmeans``: the default's digit mask (feature-map statistics and colours
  clustered with the box border as the background prior);
- ``grnn``: the GRNN (kernel, exact solve, the original's Adagrad training and fill);
- ``fill``: the default's local GRNN fill from the outside in;
- ``paste``: regenerated pixels back into the photo, blended at the seam;
- ``methods``: every removal method behind one interface and registry.
"""
