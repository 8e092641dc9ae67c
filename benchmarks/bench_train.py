"""Training throughput: ``svhn-erase train`` against the original's per-item PNG pipeline.

Trains ConvNet48_Dropout5 (SGD, lr 0.005, batch 32) for the same number of batches several
ways, in one run on the same machine, interleaved in rounds (the machine may be shared),
and prints images per second with the ratio to the first row:

- ``original style`` (the baseline): a torch ``Dataset`` that, per item and every epoch,
  opens the parent PNG with PIL, crops the box, grays, resizes to 40 x 40 and normalizes
  (what the 2018 project did), through a ``DataLoader`` (batch 32, shuffled, no worker
  processes), into a plain NCHW fp32 model with torch's default SGD and a loss read back
  per batch;
- ``SVHNDigits + DataLoader``: this package's dataset, per item from the crop cache, into the
  package's training step (``TrainStep``: channels_last, fused SGD, fp32);
- ``cached tensors fp32``: what ``svhn-erase train`` does: the whole split normalized once,
  batches indexed straight out of one channels_last tensor, ``TrainStep``;
- ``cached tensors bf16``: the same with ``--precision bf16`` (autocast mixed precision);
- ``network only``: one fixed batch over and over, no data work at all: the ceiling.

The package rows use ``make_training_model`` / ``make_optimizer`` / ``TrainStep`` of
``svhn_erase.model.train.step``, the code ``svhn-erase train`` runs, not a copy of its loop.

Usage: ``python benchmarks/bench_train.py [--data ROOT --split train] [--batches 150]``.
Without ``--data`` a 400-image split is generated into a temporary folder.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from svhn_erase import allocator
from svhn_erase.data import crops, split
from svhn_erase.data.datasets import SVHNDigits
from svhn_erase.model.nets import ConvNet
from svhn_erase.model.train import step as train_step

NET = "ConvNet48_Dropout5"


class OriginalStyleDigits(Dataset):
    """Per item: open the PNG, crop, gray, resize, normalize: no caching at all."""

    def __init__(self, path: Path) -> None:
        table = crops.load_split_table(path)
        self.path = path
        self.rows = list(table[["file", "left", "top", "width", "height", "label"]]
                         .itertuples(index=False))

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        file, left, top, width, height, label = self.rows[i]
        with Image.open(self.path / file) as im:
            piece = im.convert("RGB").crop((round(left), round(top), round(left + width),
                                            round(top + height)))
        piece = piece.convert("L").resize((40, 40), Image.BILINEAR)
        x = torch.from_numpy(np.asarray(piece, dtype=np.float32) / 255.0)
        return ((x - 0.5) / 0.5).unsqueeze(0), int(label)


def _train_batches_original(batches, n_batches: int) -> tuple[int, float]:
    """The baseline's loop: NCHW fp32 model, default SGD, loss read per batch."""
    torch.manual_seed(267)
    model = ConvNet(NET)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.005)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    seen, total = 0, 0.0
    start = time.perf_counter()
    for xb, yb in _take(batches, n_batches):
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item() * len(yb)
        seen += len(yb)
    return seen, time.perf_counter() - start


def _package_trainer(precision: str):
    """Train a fresh model with the package's ``TrainStep`` on ``n_batches`` batches."""
    def run(batches, n_batches: int) -> tuple[int, float]:
        torch.manual_seed(267)
        model = train_step.make_training_model(NET)
        model.train()
        optimizer = train_step.make_optimizer("SGD", model.parameters(), 0.005, 0.0)
        step = train_step.TrainStep(model, optimizer, precision)
        seen, loss_sum = 0, torch.zeros((), dtype=torch.float64)
        start = time.perf_counter()
        for xb, yb in _take(batches, n_batches):
            loss, _ = step(xb, yb)
            loss_sum += loss.double() * len(yb)
            seen += len(yb)
        float(loss_sum)  # the one read-back per epoch
        return seen, time.perf_counter() - start
    return run


def _read_batches(batches, n_batches: int) -> tuple[int, float]:
    """Only produce ``n_batches`` batches (no training); (images, seconds)."""
    seen = 0
    start = time.perf_counter()
    for _, yb in _take(batches, n_batches):
        seen += len(yb)
    return seen, time.perf_counter() - start


def _take(batches, n_batches: int):
    done = 0
    while done < n_batches:
        for batch in batches():
            yield batch
            done += 1
            if done == n_batches:
                return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="folder holding the split")
    parser.add_argument("--split", default="train", help="split name (default: train)")
    parser.add_argument("--batches", type=int, default=150, help="batches of 32 per method")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default: 3)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice)")
    parser.add_argument("--default-malloc", action="store_true",
                        help="leave glibc's allocator as it is (the svhn-erase command keeps "
                             "freed buffers for reuse, see svhn_erase.allocator)")
    args = parser.parse_args()
    heap = allocator.heap_setting(keep=not args.default_malloc)
    torch.set_num_threads(args.threads or max(1, torch.get_num_threads()))

    tmp = None
    if args.data is None:
        from svhn_erase.data import synth

        tmp = tempfile.TemporaryDirectory()
        args.data = Path(tmp.name)
        synth.generate_split(args.data, args.split, count=400, seed=5, style="train", workers=2)
    path = split.split_dir(args.data, args.split)

    start = time.perf_counter()
    cache = crops.build_crop_cache(path, progress=False)
    build_s = time.perf_counter() - start
    x_all = crops.normalize(cache.crops).contiguous(memory_format=torch.channels_last)
    y_all = torch.as_tensor(cache.labels)

    def cached():
        order = torch.randperm(len(y_all))
        for b in range(0, len(order), 32):
            idx = order[b:b + 32]
            yield x_all[idx], y_all[idx]

    def loader(dataset):
        return lambda: iter(DataLoader(dataset, batch_size=32, shuffle=True, num_workers=0))

    fixed = (x_all[:32].clone(), y_all[:32].clone())

    def network_only():
        while True:
            yield fixed

    fp32, bf16 = _package_trainer("fp32"), _package_trainer("bf16")
    # name: (batches, trainer)
    methods = {"original style (PNG per item)": (loader(OriginalStyleDigits(path)),
                                                 _train_batches_original),
               "SVHNDigits + DataLoader": (loader(SVHNDigits(args.data, args.split)), fp32),
               "cached tensors fp32 (train)": (cached, fp32),
               "cached tensors bf16 (--precision)": (cached, bf16),
               "network only fp32 (no data)": (network_only, fp32),
               "network only bf16 (no data)": (network_only, bf16)}
    for trainer in (_train_batches_original, fp32, bf16):  # warm-up: first batches pay setup
        trainer(cached, 10)
    # the machine is shared: interleave the methods in rounds so that load hits all alike
    totals = {name: np.zeros(4) for name in methods}
    per_round = max(1, args.batches // args.rounds)
    for _ in range(args.rounds):
        for name, (batches, trainer) in methods.items():
            totals[name] += (*_read_batches(batches, per_round),
                             *trainer(batches, per_round))
    print(f"split {path}: {len(cache)} digits; crop cache built once in {build_s:.2f} s "
          f"(read back from disk on later runs); {args.rounds} x {per_round} batches of 32 "
          f"per method, interleaved; {NET} SGD lr 0.005; {torch.get_num_threads()} threads; "
          f"heap: {heap} (every row)")
    base_read = totals[next(iter(methods))][0] / totals[next(iter(methods))][1]
    base_train = totals[next(iter(methods))][2] / totals[next(iter(methods))][3]
    print(f"{'method':<36}{'data only img/s':>16}{'ratio':>8}{'training img/s':>16}{'ratio':>8}")
    for name, (n_read, s_read, n_train, s_train) in totals.items():
        data = (f"{n_read / s_read:>16.1f}{n_read / s_read / base_read:>7.1f}x"
                if methods[name][0] is not network_only else f"{'-':>16}{'-':>8}")
        print(f"{name:<36}{data}"
              f"{n_train / s_train:>16.1f}{n_train / s_train / base_train:>7.2f}x")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
