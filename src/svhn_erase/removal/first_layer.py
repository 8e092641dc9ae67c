"""The classifier's first-layer by-products at a crop's own size, for the default's key pixels.

A convolution does not care about the input's size, so the first layer runs on each digit
crop (box plus context) at its native resolution, not the 40 x 40 the classifier reads:
``native_feature_maps`` gives the maps themselves (for ``explain`` and tests),
``native_map_stats`` only their per-pixel mean and standard deviation, the two features
``segment`` clusters on, computed in closed form without building the maps. A classifier
that standardizes each crop (``input_norm`` "crop") gets each crop standardized at its own
size first (``model_input``), as its ``first_conv`` does at 40 x 40.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from svhn_erase.model.nets import ConvNet, standardize_crops


def normalized_luma(rgb: np.ndarray) -> np.ndarray:
    """Luma (the PIL "L" weights) of an (h, w, 3) uint8 image, normalized as the classifier's
    input ``(x / 255 - 0.5) / 0.5``: float32 in [-1, 1]. Unlike ``crops.luma`` and
    ``crops.normalize`` (the classifier's uint8 path) the luma is not rounded to integers:
    the key pixels were tuned on the unrounded values."""
    rgb = rgb.astype(np.float32)
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return ((luma / 255.0 - 0.5) / 0.5).astype(np.float32)


def model_input(model: ConvNet, rgb: np.ndarray) -> np.ndarray:
    """``normalized_luma(rgb)`` as ``model``'s first layer reads it: standardized over the
    whole crop when the model's ``input_norm`` is "crop" (``nets.standardize_crops``)."""
    g = normalized_luma(rgb)
    if getattr(model, "input_norm", "global") != "crop":
        return g
    return standardize_crops(torch.from_numpy(g)[None, None])[0, 0].numpy()


def native_feature_maps(model: ConvNet, crops: list[np.ndarray]) -> list[np.ndarray]:
    """First-layer feature maps of each crop at its own size: list of (K, h, w) float32
    (crops edge-padded to one size and run in one batch)."""
    if not crops:
        return []
    hmax = max(c.shape[0] for c in crops)
    wmax = max(c.shape[1] for c in crops)
    batch = np.zeros((len(crops), 1, hmax, wmax), np.float32)
    for i, c in enumerate(crops):
        g = model_input(model, c)
        batch[i, 0] = np.pad(g, ((0, hmax - g.shape[0]), (0, wmax - g.shape[1])), mode="edge")
    conv = model.layer1[0]
    with torch.no_grad():
        x = torch.from_numpy(batch).to(conv.weight.device)
        pad = conv.kernel_size[0] // 2
        x = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        maps = F.conv2d(x, conv.weight, conv.bias).cpu().numpy()
    return [m[:, : c.shape[0], : c.shape[1]] for m, c in zip(maps, crops, strict=True)]


def native_map_stats(model: ConvNet, crops: list[np.ndarray]) -> list[np.ndarray]:
    """Per-pixel mean and std (ddof 1) over the first layer's maps at each crop's own size:
    list of (2, h, w) float32, equal to reducing ``native_feature_maps`` but far cheaper.

    With f_k = w_k . p + b_k (p the pixel's k x k patch), the mean is one filter and
    E[f^2] = p' M p + 2 v . p + mean(b^2) with M = sum_k w_k w_k' / K; M's eigenvectors
    turn the quadratic form into k*k filters instead of K maps.
    """
    conv = model.layer1[0]
    weight = conv.weight.detach().cpu().double().numpy()  # (K, 1, k, k)
    n_maps, _, ks, _ = weight.shape
    flat = weight.reshape(n_maps, -1)
    bias = (conv.bias.detach().cpu().double().numpy() if conv.bias is not None
            else np.zeros(n_maps))
    m = flat.T @ flat / n_maps
    v = flat.T @ bias / n_maps
    eigval, eigvec = np.linalg.eigh(m)
    keep = eigval > eigval.max() * 1e-9
    filters = [(np.float32(lam), vec.reshape(ks, ks).astype(np.float32))
               for lam, vec in zip(eigval[keep], eigvec.T[keep], strict=True)]
    mean_filter = flat.mean(0).reshape(ks, ks).astype(np.float32)
    v_filter = v.reshape(ks, ks).astype(np.float32)
    b_mean, b_sq = float(bias.mean()), float((bias**2).mean())
    border = cv2.BORDER_REPLICATE
    out = []
    for c in crops:
        g = model_input(model, c)
        mean = cv2.filter2D(g, -1, mean_filter, borderType=border) + b_mean
        sq = 2.0 * cv2.filter2D(g, -1, v_filter, borderType=border) + b_sq
        for lam, f in filters:  # sq += lam * filtered ** 2, without the temporaries
            t = cv2.filter2D(g, -1, f, borderType=border)
            np.multiply(t, t, out=t)
            t *= lam
            sq += t
        var = np.maximum(sq - mean**2, 0.0) * (n_maps / max(n_maps - 1, 1))
        out.append(np.stack([mean, np.sqrt(var)]).astype(np.float32))
    return out
