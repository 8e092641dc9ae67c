"""Several classifiers read as one (``model.ensemble``): the logit mean, the weight mean
("soup") and ``classify`` with several ``--weights``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from builders import make_split
from svhn_erase import cli
from svhn_erase.data import crops
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model import classify
from svhn_erase.model.ensemble import LogitMean, average_weights, load_ensemble
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.weights import load_classifier, save_classifier


def _net(seed: int, name: str = "ConvNet48_333", size: int = 40) -> ConvNet:
    torch.manual_seed(seed)
    model = ConvNet(name, image_size=size)
    with torch.no_grad():  # batch-norm statistics that differ between members
        model.layer1[1].running_mean.normal_()
    return model.eval()


@pytest.fixture(scope="module")
def members(tmp_path_factory):
    folder = tmp_path_factory.mktemp("members")
    paths = [folder / f"m{seed}.safetensors" for seed in (1, 2)]
    for seed, path in zip((1, 2), paths, strict=True):
        save_classifier(_net(seed), path)
    return paths


def test_logit_mean_is_the_mean_of_the_members_logits(members) -> None:
    one, two = (load_classifier(p) for p in members)
    both = load_ensemble(members)
    x = torch.randn(3, 1, 40, 40)
    torch.testing.assert_close(both(x), (one(x) + two(x)) / 2)
    assert isinstance(both, LogitMean) and both.num_classes == 10 and both.image_size == 40
    assert not isinstance(load_ensemble(members[:1]), LogitMean)
    with pytest.raises(SvhnEraseError, match="differ"):
        LogitMean([one, _net(3, size=32)])


def test_average_weights_is_the_mean_of_every_tensor(members, tmp_path) -> None:
    one, two = (load_classifier(p).state_dict() for p in members)
    soup = average_weights(members).state_dict()
    for key, value in soup.items():
        if value.is_floating_point():
            torch.testing.assert_close(value, (one[key] + two[key]) / 2)
    same = average_weights([members[0], members[0]]).state_dict()
    assert all(torch.equal(same[k], one[k]) for k in one)
    other = tmp_path / "other.safetensors"
    save_classifier(_net(4, name="ConvNet48_Dropout5"), other)
    with pytest.raises(SvhnEraseError, match="different networks"):
        average_weights([members[0], other])


def test_classify_reads_an_ensemble(members, tmp_path, capsys) -> None:
    make_split(tmp_path, "test", count=6, seed=3)
    result = classify.classify_split(tmp_path, "test", members, progress=False)
    plain = crops.build_crop_cache(tmp_path / "test", size=40, progress=False)
    want = load_ensemble(members)(crops.normalize(plain.crops)).argmax(1).numpy()
    assert np.array_equal(result["pred"].to_numpy(), want)
    out = tmp_path / "both.csv"
    cli.main(["classify", "--data", str(tmp_path), "--split", "test", "--weights",
              str(members[0]), "--weights", str(members[1]), "--out", str(out), "--cpu"])
    assert "accuracy" in capsys.readouterr().out and out.is_file()
