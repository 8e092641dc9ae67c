"""Stage 5 of the recipe: the camera. One set of draws (lighting, colour grading, resize to
the final size, optional low-resolution round trip, blur, motion, sensor noise, JPEG) applied
the *same* way to the composite and to the clean scene; the geometric part alone is what
every digit's cover goes through."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svhn_erase.data.synth.difficulty import Difficulty


@dataclass(frozen=True, eq=False)
class Degradation:
    """The drawn camera effects for one scene of ``out_w`` x ``out_h`` final pixels."""

    out_w: int
    out_h: int
    light: np.ndarray  # (h, w, 1) multiplicative illumination
    grade_gain: np.ndarray  # per-channel gain
    desat: float  # share of the way to gray
    gamma: float
    lowres: float  # < 1: down to this share of the size and back up
    blur_sigma: float
    motion: np.ndarray | None  # motion-blur kernel
    noise_sigma: float
    jpeg_q: int  # 0: no JPEG round trip
    noise: np.ndarray  # (h, w, 3) sensor noise, 0..255 units

    def geometry(self, img: np.ndarray) -> np.ndarray:
        """The linear, shared geometric part: resize, low-res round trip, blur, motion."""
        img = cv2.resize(img, (self.out_w, self.out_h), interpolation=cv2.INTER_AREA)
        if self.lowres < 1.0:
            lw = max(8, int(round(self.out_w * self.lowres)))
            lh = max(8, int(round(self.out_h * self.lowres)))
            img = cv2.resize(img, (lw, lh), interpolation=cv2.INTER_AREA)
            img = cv2.resize(img, (self.out_w, self.out_h), interpolation=cv2.INTER_LINEAR)
        if self.blur_sigma > 0.05:
            img = cv2.GaussianBlur(img, (0, 0), self.blur_sigma)
        if self.motion is not None:
            img = cv2.filter2D(img, -1, self.motion, borderType=cv2.BORDER_REFLECT)
        return img

    def apply(self, img: np.ndarray) -> np.ndarray:
        """A float RGB scene at work resolution to the final uint8 image."""
        img = self.geometry(img) * self.light
        gray = img.mean(axis=2, keepdims=True)
        img = (img + (gray - img) * self.desat) * self.grade_gain
        img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** self.gamma
        img = np.clip(img + self.noise, 0, 255).round().astype(np.uint8)
        if self.jpeg_q:
            _, buf = cv2.imencode(".jpg", img[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_q])
            img = cv2.imdecode(buf, cv2.IMREAD_COLOR)[:, :, ::-1]
        return np.ascontiguousarray(img)


def _lighting(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Multiplicative illumination: a soft gradient, vignette, sometimes a cast shadow."""
    yy = np.linspace(-1, 1, h, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, w, dtype=np.float32)[None, :]
    a, b = rng.normal(0, 0.12, size=2)
    light = 1 + a * xx + b * yy - rng.uniform(0, 0.2) * (xx**2 + yy**2) / 2
    light = light * rng.uniform(0.75, 1.2)
    if rng.random() < 0.15:  # a soft cast shadow edge across the scene
        t = rng.uniform(0, np.pi)
        off = rng.uniform(-0.8, 0.8)
        edge = (np.cos(t) * xx + np.sin(t) * yy - off) / rng.uniform(0.03, 0.2)
        light = light * (1 - rng.uniform(0.3, 0.6) / (1 + np.exp(-np.clip(edge, -30, 30))))
    return light[:, :, None].astype(np.float32)


def _motion_kernel(rng: np.random.Generator) -> np.ndarray:
    """A normalised straight motion-blur kernel 2-5 px long at a random angle."""
    length, angle = rng.uniform(2.0, 5.0), rng.uniform(0, np.pi)
    n = 2 * int(np.ceil(length / 2)) + 1
    ss = 8
    big = np.zeros((n * ss, n * ss), np.float32)
    c = n * ss / 2
    dx, dy = np.cos(angle) * length * ss / 2, np.sin(angle) * length * ss / 2
    cv2.line(big, (int(c - dx), int(c - dy)), (int(c + dx), int(c + dy)), 1.0, ss)
    kernel = cv2.resize(big, (n, n), interpolation=cv2.INTER_AREA)
    return kernel / kernel.sum()


def pick_degradation(rng: np.random.Generator, out_w: int, out_h: int,
                     diff: Difficulty) -> Degradation:
    """Draw the camera effects for a scene of ``out_w`` x ``out_h`` final pixels."""
    light = _lighting(rng, out_h, out_w)
    grade_gain = rng.uniform(0.85, 1.15, size=3).astype(np.float32)
    desat = rng.uniform(0.0, 0.5)
    gamma = rng.uniform(0.8, 1.25)
    lowres = rng.uniform(0.35, 0.8) if rng.random() < 0.35 else 1.0
    blur_sigma = rng.uniform(0.0, 1.3) if rng.random() < 0.7 else 0.0
    motion = _motion_kernel(rng) if rng.random() < 0.15 else None
    noise_sigma = rng.uniform(*diff.noise_sigma)
    jpeg_q = int(rng.integers(*diff.jpeg_quality)) if rng.random() < 0.85 else 0
    noise = rng.standard_normal((out_h, out_w, 3), dtype=np.float32)
    noise = noise_sigma * (0.6 * noise + 0.8 * noise.mean(axis=2, keepdims=True))
    return Degradation(out_w, out_h, light, grade_gain, desat, gamma, lowres, blur_sigma,
                       motion, noise_sigma, jpeg_q, noise)
