"""svhn-erase: read street-view house numbers and remove them from the photos, unsupervised.

The package follows the data's path, one module per step:

- data in: ``download`` (official archives), ``digitstruct`` (Format 1 boxes),
  ``cropped`` (Format 2), ``synth`` (realistic generated SVHN with ground truth),
  ``crops`` and ``datasets`` (cached digit crops, torchvision-style datasets);
- classifier: ``nets`` (the original architectures), ``train``, ``classify``;
- removal: ``keypixels`` (background pixels inside a box), ``infill`` (GRNN),
  ``paste`` (back into the parent), ``erase`` (the pipeline), ``explain`` (figures);
- measurement: ``evaluate`` (metrics against ground truth), ``bench``, ``report``;
- ``demo`` runs the whole mission; ``cli`` is the thin command line on top.
"""

__version__ = "0.1.0"
