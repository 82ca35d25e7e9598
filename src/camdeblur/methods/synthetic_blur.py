"""Synthetic linear motion blur: the Blur2Blur paper's baseline "deblurrer trained on S with synthetic
blur" (imgaug-style ``MotionBlur``).

A kernel is a line of ``size`` pixels through the centre of a ``size x size`` grid, rotated by
``angle`` degrees; ``direction`` in [-1, 1] tilts the weights along the line (0 = uniform,
+-1 = all weight at one end), as imgaug's ``MotionBlur(k, angle, direction)``. The kernel is
normalised to sum 1 and applied per channel with reflect padding.

    >>> ds = SyntheticMotionBlur(UnpairedImages("S/", key="sharp", crop_size=64), size=(3, 15))
    >>> ds[0]  # {"blur": (3,64,64), "sharp": (3,64,64), "name": ..., "meta": {"size", "angle", "direction"}}

Train a deblurrer on it with :mod:`camdeblur.methods.supervised` (any paired dataset).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = ["SyntheticMotionBlur", "linear_motion_kernel", "motion_blur"]


def linear_motion_kernel(size: int, angle: float, direction: float = 0.0) -> np.ndarray:
    """(size, size) float32 kernel summing to 1: a ``size``-pixel line at ``angle`` degrees (counter-
    clockwise from horizontal), weights linear from ``(1 + direction) / 2`` to ``(1 - direction) / 2``."""
    from scipy.ndimage import rotate

    size = int(size)
    if size < 1:
        raise ValueError(f"kernel size must be >= 1, got {size}")
    if not -1.0 <= direction <= 1.0:
        raise ValueError(f"direction must be in [-1, 1], got {direction}")
    if size == 1:
        return np.ones((1, 1), np.float32)
    d = (float(direction) + 1.0) / 2.0
    k = np.zeros((size, size), np.float64)
    k[size // 2, :] = np.linspace(d, 1.0 - d, num=size)
    k = rotate(k, angle, reshape=False, order=1, mode="constant")
    k = np.clip(k, 0, None)
    if k.sum() <= 0:  # degenerate (all weight at a rotated-away end): fall back to the centre tap
        k = np.zeros((size, size)); k[size // 2, size // 2] = 1.0  # noqa: E702
    return (k / k.sum()).astype(np.float32)


def motion_blur(image: torch.Tensor, kernel: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Blur (C,H,W) or (B,C,H,W) with one (k,k) kernel per channel (reflect padding, same size out)."""
    x = image[None] if image.dim() == 3 else image
    k = torch.as_tensor(kernel, dtype=x.dtype, device=x.device)
    kh, kw = k.shape
    c = x.shape[1]
    pad = (kw // 2, kw - 1 - kw // 2, kh // 2, kh - 1 - kh // 2)
    mode = "reflect" if min(x.shape[-2:]) > max(kh, kw) else "replicate"
    w = k.flip(0, 1).expand(c, 1, kh, kw)  # convolution (not correlation)
    out = F.conv2d(F.pad(x, pad, mode=mode), w, groups=c)
    return out[0] if image.dim() == 3 else out


class SyntheticMotionBlur(Dataset):
    """Pairs ``{"blur", "sharp"}`` from a dataset of sharp images by random linear motion blur.

    Args:
        sharp: dataset whose items hold ``"sharp"`` (3,H,W) (e.g. ``UnpairedImages(S, key="sharp")``).
        size: kernel length range ``(lo, hi)`` (inclusive; imgaug's ``k``), or one int.
        angle: degrees range (default the full circle).
        direction: range in [-1, 1].
        noise: std of optional Gaussian noise added to the blurred image.
        seed: random stream (``reseed`` per sample, as the trainer does).
    """

    def __init__(self, sharp: Dataset, size: int | Sequence[int] = (3, 15), angle: Sequence[float] = (0.0, 360.0),
                 direction: Sequence[float] = (-1.0, 1.0), noise: float = 0.0, seed: int = 0):
        self.sharp = sharp
        self.size = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
        if self.size[0] < 1 or self.size[1] < self.size[0]:
            raise ValueError(f"size range must satisfy 1 <= lo <= hi, got {self.size}")
        self.angle, self.direction, self.noise = tuple(angle), tuple(direction), float(noise)
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.sharp)

    def reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0x1B1])
        if callable(getattr(self.sharp, "reseed", None)):
            self.sharp.reseed(int(self._rng.integers(2**31)))

    def __getitem__(self, i: int) -> dict:
        item = self.sharp[i]
        s = item["sharp"]
        k = int(self._rng.integers(self.size[0], self.size[1] + 1))
        a = float(self._rng.uniform(*self.angle))
        d = float(self._rng.uniform(*self.direction))
        b = motion_blur(s, linear_motion_kernel(k, a, d))
        if self.noise > 0:
            b = b + self.noise * torch.from_numpy(self._rng.standard_normal(b.shape).astype(np.float32))
        return {"blur": b.clamp(0, 1), "sharp": s, "name": item.get("name", str(i)),
                "meta": {"size": k, "angle": a, "direction": d}}
