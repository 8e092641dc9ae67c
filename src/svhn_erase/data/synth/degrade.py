"""Stage 5 of the recipe: the camera. One set of draws (capture size, blur, motion, lighting,
haze, colour grading, sensor noise, JPEG at the capture size, then scaling to the final size)
applied the *same* way to the composite and to the clean scene; the linear geometric part
alone is what every digit's cover goes through. Real SVHN parents are mostly soft crops of
larger JPEG photos scaled up: captured below the final size, their block grid off the corner."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from svhn_erase.data.synth.difficulty import Difficulty


@dataclass(frozen=True, eq=False)
class Degradation:
    """The drawn camera effects for one scene of ``out_w`` x ``out_h`` final pixels.

    The camera captures the scene at ``sensor_w`` x ``sensor_h`` (at most the final size),
    where lighting, haze, grading, noise and JPEG happen; the result is scaled up to the
    final size. The JPEG block grid sits ``jpeg_offset`` pixels off the image's corner, as in
    a crop of a larger photo."""

    out_w: int
    out_h: int
    sensor_w: int
    sensor_h: int
    light: np.ndarray  # (sensor_h, sensor_w, 1) multiplicative illumination
    haze: float  # share of the way to ``haze_level``
    haze_level: float
    grade_gain: np.ndarray  # per-channel gain
    desat: float  # share of the way to gray
    gamma: float
    blur_sigma: float  # in final pixels
    motion: np.ndarray | None  # motion-blur kernel
    noise_sigma: float
    jpeg_q: int  # 0: no JPEG round trip
    jpeg_offset: tuple[int, int]  # rows, columns of the block grid's offset
    noise: np.ndarray  # (sensor_h, sensor_w, 3) sensor noise, 0..255 units

    @property
    def lowres(self) -> float:
        """The capture's width over the final width (1: captured at the final size)."""
        return self.sensor_w / self.out_w

    def _capture(self, img: np.ndarray) -> np.ndarray:
        """Linear: resize to the capture size, blur, motion."""
        img = cv2.resize(img, (self.sensor_w, self.sensor_h), interpolation=cv2.INTER_AREA)
        if self.blur_sigma > 0.05:
            img = cv2.GaussianBlur(img, (0, 0), self.blur_sigma * self.lowres)
        if self.motion is not None:
            img = cv2.filter2D(img, -1, self.motion, borderType=cv2.BORDER_REFLECT)
        return img

    def _to_final(self, img: np.ndarray) -> np.ndarray:
        if img.shape[:2] == (self.out_h, self.out_w):
            return img
        return cv2.resize(img, (self.out_w, self.out_h), interpolation=cv2.INTER_LINEAR)

    def geometry(self, img: np.ndarray) -> np.ndarray:
        """The linear, shared geometric part (what a digit's cover goes through): capture
        (resize, blur, motion) and the scaling to the final size."""
        return self._to_final(self._capture(img))

    def _jpeg(self, img: np.ndarray) -> np.ndarray:
        dy, dx = self.jpeg_offset
        padded = cv2.copyMakeBorder(img[:, :, ::-1], dy, 0, dx, 0, cv2.BORDER_REFLECT)
        _, buf = cv2.imencode(".jpg", padded, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_q])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR)[dy:, dx:, ::-1]

    def apply(self, img: np.ndarray) -> np.ndarray:
        """A float RGB scene at work resolution to the final uint8 image."""
        img = self._capture(img) * self.light
        img = img + (self.haze_level - img) * self.haze
        gray = img.mean(axis=2, keepdims=True)
        img = (img + (gray - img) * self.desat) * self.grade_gain
        img = 255.0 * (np.clip(img, 0, 255) / 255.0) ** self.gamma
        img = np.clip(img + self.noise, 0, 255).round().astype(np.uint8)
        if self.jpeg_q:
            img = self._jpeg(img)
        img = self._to_final(img.astype(np.float32))
        return np.ascontiguousarray(np.clip(img, 0, 255).round().astype(np.uint8))


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


def _motion_kernel(rng: np.random.Generator, share: float) -> np.ndarray:
    """A normalised straight motion-blur kernel 2-5 final pixels long (``share``: capture
    pixels per final pixel) at a random angle."""
    length, angle = max(1.0, rng.uniform(2.0, 5.0) * share), rng.uniform(0, np.pi)
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
    share = rng.uniform(*diff.sensor_share) if rng.random() < diff.sensor_p else 1.0
    sensor_w, sensor_h = max(8, int(round(out_w * share))), max(8, int(round(out_h * share)))
    sensor_w, sensor_h = min(sensor_w, out_w), min(sensor_h, out_h)
    light = _lighting(rng, sensor_h, sensor_w)
    haze, haze_level = rng.uniform(*diff.haze), rng.uniform(90, 200)
    grade_gain = rng.uniform(1 - diff.colour_cast, 1 + diff.colour_cast, size=3)
    grade_gain = grade_gain.astype(np.float32)
    desat = rng.uniform(0.0, 0.35)
    gamma = rng.uniform(0.8, 1.25)
    blur_sigma = rng.uniform(*diff.blur_sigma) if rng.random() < diff.blur_p else 0.0
    motion = _motion_kernel(rng, sensor_w / out_w) if rng.random() < 0.15 else None
    noise_sigma = rng.uniform(*diff.noise_sigma)
    jpeg_q = int(rng.integers(*diff.jpeg_quality)) if rng.random() < 0.85 else 0
    jpeg_offset = (int(rng.integers(0, 8)), int(rng.integers(0, 8)))
    noise = rng.standard_normal((sensor_h, sensor_w, 3), dtype=np.float32)
    noise = noise_sigma * (0.6 * noise + 0.8 * noise.mean(axis=2, keepdims=True))
    return Degradation(out_w, out_h, sensor_w, sensor_h, light, haze, haze_level, grade_gain,
                       desat, gamma, blur_sigma, motion, noise_sigma, jpeg_q, jpeg_offset, noise)
