"""What a weights file's metadata records besides the tensors: the crop shape a classifier
reads and how it normalizes its input. Each field round-trips, reads as the original's
behaviour in files from before it existed, and refuses a value it does not know."""

from __future__ import annotations

import pytest
from safetensors import safe_open
from safetensors.torch import save_file

from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, save_classifier


@pytest.mark.parametrize(("field", "value", "missing", "bad"),
                         [("crop_shape", "square", "stretch", "round"),
                          ("input_norm", "crop", "global", "local")])
def test_a_metadata_field_round_trips_defaults_when_missing_and_refuses_bad_values(
        tmp_path, field: str, value: str, missing: str, bad: str) -> None:
    model = ConvNet("ConvNet32", num_classes=10, image_size=32).eval()
    save_classifier(model, tmp_path / "plain.safetensors")
    assert getattr(load_classifier(tmp_path / "plain.safetensors"), field) == missing
    setattr(model, field, value)
    save_classifier(model, tmp_path / "set.safetensors")
    with safe_open(str(tmp_path / "set.safetensors"), framework="pt") as fh:
        assert fh.metadata()[field] == value
    assert getattr(load_classifier(tmp_path / "set.safetensors"), field) == value
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(tmp_path / "old.safetensors"), metadata={"net": "ConvNet32",
                                                                    "image_size": "32"})
    assert getattr(load_classifier(tmp_path / "old.safetensors"), field) == missing
    save_file(state, str(tmp_path / "bad.safetensors"), metadata={field: bad})
    with pytest.raises(SvhnEraseError, match=f"{field} '{bad}'"):
        load_classifier(tmp_path / "bad.safetensors")
