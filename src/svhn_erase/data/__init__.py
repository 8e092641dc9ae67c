"""Data in: photos of house numbers with their digit boxes.

- ``download``: the official SVHN archives (resumable, verified);
- ``digitstruct``: read and write ``digitStruct.mat`` (Format 1) and index it per digit;
- ``format2``: the 32 x 32 cropped digits (Format 2);
- ``split``: a Format 1 split on disk: its table, its parent images, its ground truth;
- ``crops``: one digit cut out, grayed and resized as the classifier reads it (cached);
- ``cache``: where a split's index and crop caches live, and what keys them;
- ``datasets``: torchvision-style ``Dataset``s over crops and parents;
- ``synth``: realistic generated SVHN-like splits with ground truth (SPEC §3).
"""
