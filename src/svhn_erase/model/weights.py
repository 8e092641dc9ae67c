"""Load and save classifier weights: run folders, ``.safetensors`` files, original ``.pkl``.

Weights are saved as safetensors with the architecture in the file's metadata. The
original project's checkpoints are ``torch.save`` state dicts; they are read with
``weights_only=True`` (never arbitrary pickles) and mapped to the CPU. A file's metadata is
checked before a network is built from it (a known network, a crop size the networks take),
and anything wrong with a file is a ``SvhnEraseError`` of one line naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from svhn_erase.atomic_io import write_safetensors
from svhn_erase.data.crops import CROP_SHAPES, MAX_SIZE, MIN_SIZE, crop_shape_of
from svhn_erase.errors import SvhnEraseError
from svhn_erase.model.nets import (
    ARCHITECTURES,
    INPUT_NORMS,
    NETWORKS,
    ConvNet,
    build_network,
    infer_architecture,
)

WEIGHTS_FILE = "model.safetensors"
CHECKPOINTS_DIR = Path(__file__).resolve().parents[1] / "checkpoints"


def packaged_checkpoint(name: str) -> Path | None:
    """``checkpoints/<name>.safetensors`` shipped in the package (``classifier`` or
    ``judge``), or None if the package ships no such file."""
    path = CHECKPOINTS_DIR / f"{name}.safetensors"
    return path if path.is_file() else None


def resolve_weights(path: str | os.PathLike[str] | None, name: str = "classifier") -> Path:
    """``path`` if given, else the packaged checkpoint ``name``, else a clear error."""
    if path is not None:
        return Path(path)
    packaged = packaged_checkpoint(name)
    if packaged is None:
        raise SvhnEraseError(f"no packaged {name} checkpoint ({CHECKPOINTS_DIR}); pass "
                             "--weights (a run folder, .safetensors or original .pkl) or "
                             "train one with 'svhn-erase train'")
    return packaged


def weights_digest(path: str | os.PathLike[str]) -> str:
    """A weights file's sha256, 16 hex digits (a run folder: its ``model.safetensors``), so
    that outputs notice replaced weights."""
    file = Path(path) / WEIGHTS_FILE if Path(path).is_dir() else Path(path)
    return hashlib.sha256(file.read_bytes()).hexdigest()[:16]


def save_classifier(model: ConvNet, path: str | os.PathLike[str],
                    extra: dict | None = None) -> None:
    """Save ``model`` as safetensors (atomically), with name, classes, size, crop shape
    (``crops.crop_shape_of``) and input normalization (``nets.INPUT_NORMS``) as metadata."""
    meta = {"net": model.name, "num_classes": str(model.num_classes),
            "image_size": str(model.image_size), "crop_shape": crop_shape_of(model),
            "input_norm": getattr(model, "input_norm", "global")}
    if extra:
        meta["extra"] = json.dumps(extra)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    write_safetensors(path, state, meta)


def _read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if path.is_dir():
        candidate = path / WEIGHTS_FILE
        if not candidate.is_file():
            raise SvhnEraseError(f"{path}: a run folder must hold {WEIGHTS_FILE}")
        path = candidate
    if not path.is_file():
        raise SvhnEraseError(f"{path}: no such weights file or run folder")
    if path.suffix == ".safetensors":
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = dict(fh.metadata() or {})
            return load_file(str(path)), meta
        except Exception as exc:  # safetensors raises several types for a damaged file
            raise SvhnEraseError(f"{path}: not a readable safetensors file ({exc})") from exc
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise SvhnEraseError(f"{path}: refused: it holds Python objects besides tensors, "
                             "which are never loaded (they could run code); give a state dict "
                             "of tensors or a .safetensors file") from exc
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SvhnEraseError(f"{path}: not a readable PyTorch state dict ({first})") from exc
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise SvhnEraseError(f"{path}: expected a state dict of tensors")
    return state, {}


def load_classifier(path: str | os.PathLike[str], net: str | None = None,
                    device: str | torch.device = "cpu") -> ConvNet:
    """Load a classifier in eval mode from a run folder, a .safetensors file or a .pkl state dict.

    The architecture comes from ``net`` if given, else from the file's metadata, else it is
    inferred from the tensor shapes. The crop shape it reads (``model.crop_shape``) is the
    metadata's ``crop_shape``, "stretch" when the file has none; its ``input_norm``, the
    metadata's ``input_norm``, "global" when the file has none.
    """
    path = Path(path)
    state, meta = _read_state(path)
    try:
        inferred_net, classes = infer_architecture(state)
    except (KeyError, ValueError, IndexError, TypeError, AttributeError, RuntimeError) as exc:
        raise SvhnEraseError(f"{path}: the weights match none of the known networks") from exc
    name = net or meta.get("net") or inferred_net
    if name not in NETWORKS:
        raise SvhnEraseError(f"{path}: names an unknown network {name!r}; known: "
                             f"{', '.join(NETWORKS)}")
    image_size = _metadata_size(path, meta)
    crop_shape = _metadata_crop_shape(path, meta)
    input_norm = _metadata_input_norm(path, meta, name)
    try:
        model = build_network(name, num_classes=classes, image_size=image_size)
        model.load_state_dict(state)
    except (RuntimeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise SvhnEraseError(f"{path}: weights do not fit {name} at {image_size}x{image_size} "
                             f"({first})") from exc
    model.crop_shape = crop_shape
    if input_norm != "global":
        model.input_norm = input_norm
    return model.to(device).eval()


def _metadata_input_norm(path: Path, meta: dict[str, str], net: str) -> str:
    """The input normalization a file's metadata gives ("global" when it gives none),
    checked; "crop" only for the original networks (``ConvNet``)."""
    norm = str(meta.get("input_norm", "global"))
    if norm not in INPUT_NORMS:
        raise SvhnEraseError(f"{path}: metadata input_norm {norm!r} is not one of "
                             f"{', '.join(INPUT_NORMS)}")
    if norm != "global" and net not in ARCHITECTURES:
        raise SvhnEraseError(f"{path}: input_norm {norm!r} is only for the original networks, "
                             f"not {net}")
    return norm


def _metadata_crop_shape(path: Path, meta: dict[str, str]) -> str:
    """The crop shape a file's metadata gives ("stretch" when it gives none), checked."""
    shape = str(meta.get("crop_shape", "stretch"))
    if shape not in CROP_SHAPES:
        raise SvhnEraseError(f"{path}: metadata crop_shape {shape!r} is not one of "
                             f"{', '.join(CROP_SHAPES)}")
    return shape


def _metadata_size(path: Path, meta: dict[str, str]) -> int:
    """The crop size a file's metadata gives (40 when it gives none), checked."""
    text = str(meta.get("image_size", "40")).strip()
    if not (text.isascii() and text.isdigit()) or not MIN_SIZE <= int(text) <= MAX_SIZE:
        raise SvhnEraseError(f"{path}: metadata image_size {text!r} is not a crop size of "
                             f"{MIN_SIZE}..{MAX_SIZE} pixels")
    return int(text)
