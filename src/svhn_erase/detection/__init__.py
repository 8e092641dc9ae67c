"""Find house-number digits in whole photos (no boxes given), grouped into numbers.

- ``net``: the network, a light backbone with a CenterNet-style head at stride 4;
- ``targets``: photo resizing, the training targets and the decoding of the heat map;
- ``dataset``: real and generated photos with their boxes as a torch ``Dataset``;
- ``train``: training (``train-detector``); ``detect``: ``load_detector`` and ``Detector``;
- ``calibrate``: without retraining, the box-width scale (measured on training photos) and
  the score a digit outside a photo's main number needs (``calibrate-detector``);
- ``ensemble``: several trained detectors as one, their maps averaged (``combine-detectors``);
- ``evaluate``: precision and recall at IoU >= 0.5, per-number recall, images per second;
- ``pyramid``: the baseline, the 11-class judge run over an image pyramid.

Public API: ``load_detector(weights=None, device=None) -> Detector``;
``Detector.detect(images, min_score=None, every_number=False) -> list[list[Detection]]``;
``Detection``.
"""

from svhn_erase.detection.detect import Detection, Detector, load_detector

__all__ = ["Detection", "Detector", "load_detector"]
