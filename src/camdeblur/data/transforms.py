"""Joint random crops, flips and 90-degree rotations for samples whose tensors belong together.

A *sample* is a dict; every tensor value with at least 3 dimensions is treated as image data whose
last two dimensions are ``(H, W)`` — ``(C, H, W)`` images and ``(T, C, H, W)`` frame stacks alike —
and receives **the same** crop, flips and rotation, so blur/sharp pairs (or a centre frame and its
references) stay pixel-aligned. Other values (names, metadata) pass through untouched.

All randomness comes from one ``numpy.random.Generator`` passed in by the caller; datasets get it
from :func:`worker_rng`, which gives every DataLoader worker its own reproducible stream.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F

from camdeblur.errors import CamdeblurError

CropSize = int | tuple[int, int]
PAD_MODES = ("reflect", "replicate", "constant")


# ------------------------------------------------------------------------------------- seeding
def worker_rng(seed: int) -> np.random.Generator:
    """A generator for the calling process.

    In the main process it is seeded by ``seed`` (and the distributed rank from ``RANK``, so
    ``torchrun`` processes augment differently; rank 0 / no ``torchrun`` -> the same stream). Inside a ``DataLoader`` worker it is seeded
    by ``(seed, worker seed)``; PyTorch derives the worker seed from the main process's torch RNG
    (``base_seed + worker_id``), so workers draw different numbers, a new epoch draws new ones, and
    ``torch.manual_seed(s)`` before iterating reproduces everything.
    """
    info = torch.utils.data.get_worker_info()
    entropy = [int(seed) & 0xFFFFFFFFFFFFFFFF, _rank()]
    if info is not None:
        entropy.append(int(info.seed) & 0xFFFFFFFFFFFFFFFF)
    return np.random.default_rng(np.random.SeedSequence(entropy))


def _rank() -> int:
    try:
        return max(0, int(os.environ.get("RANK", "0")))
    except ValueError:
        return 0


def seed_worker(worker_id: int) -> None:  # noqa: ARG001 - DataLoader's worker_init_fn signature
    """``worker_init_fn`` that seeds Python's and numpy's global RNGs from the worker's torch seed.

    Our datasets do not need it (they use :func:`worker_rng`); it is for user code that draws from
    the global ``random``/``np.random`` inside a worker.
    """
    s = torch.initial_seed() % 2**32
    np.random.seed(s)
    random.seed(s)


class SeededMixin:
    """Gives a dataset ``self.rng()``: a per-process generator (see :func:`worker_rng`), created lazily."""

    seed: int = 0

    def rng(self) -> np.random.Generator:
        info = torch.utils.data.get_worker_info()
        key = (_rank(), None if info is None else (info.id, info.seed))
        state = getattr(self, "_rng_state", None)
        if state is None or state[0] != key:
            state = (key, worker_rng(self.seed))
            self._rng_state = state
        return state[1]

    def reseed(self, seed: int) -> None:
        """Restart the random stream from ``seed`` (e.g. for a repeatable validation pass)."""
        self.seed = int(seed)
        self._rng_state = None


# ------------------------------------------------------------------------------------- helpers
def _hw(size: CropSize) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def _images(sample: Mapping) -> list[str]:
    return [k for k, v in sample.items() if isinstance(v, torch.Tensor) and v.ndim >= 3]


def common_size(sample: Mapping, where: str | None = None) -> tuple[int, int]:
    """The ``(H, W)`` shared by all image tensors of ``sample``; a clear error if they differ."""
    keys = _images(sample)
    if not keys:
        raise ValueError("sample has no image tensors (need tensors of shape (..., H, W) with ndim >= 3)")
    sizes = {k: tuple(sample[k].shape[-2:]) for k in keys}
    first = sizes[keys[0]]
    for k, s in sizes.items():
        if s != first:
            desc = ", ".join(f"{key} {v[1]}x{v[0]}" for key, v in sizes.items())
            raise CamdeblurError(f"images that belong together differ in size ({desc})", where=where,
                                 fix="pairs/sequences must be aligned captures of the same width and height")
    return first


def pad_to(sample: Mapping, size: CropSize, mode: str = "reflect") -> dict:
    """Pad all image tensors at the bottom/right so they are at least ``size``; returns a new dict."""
    if mode not in PAD_MODES:
        raise ValueError(f"pad mode must be one of {PAD_MODES}, got {mode!r}")
    ch, cw = _hw(size)
    h, w = common_size(sample)
    ph, pw = max(0, ch - h), max(0, cw - w)
    if ph == 0 and pw == 0:
        return dict(sample)
    out = dict(sample)
    for k in _images(sample):
        x = sample[k]
        m = mode
        if m == "reflect" and (ph >= h or pw >= w):
            m = "replicate"  # reflection cannot pad more than the image is wide
        x4 = x if x.ndim == 4 else x.reshape(-1, *x.shape[-3:]) if x.ndim > 4 else x.unsqueeze(0)
        y = F.pad(x4, (0, pw, 0, ph), mode=m)
        out[k] = y.reshape(*x.shape[:-2], h + ph, w + pw)
    return out


def crop_params(h: int, w: int, size: CropSize, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """Random ``(top, left, height, width)`` of a ``size`` crop inside an ``h x w`` image."""
    ch, cw = _hw(size)
    if ch > h or cw > w:
        raise ValueError(f"crop {ch}x{cw} larger than image {h}x{w}")
    return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw


def paired_random_crop(sample: Mapping, size: CropSize, rng: np.random.Generator, *, pad_mode: str | None = None,
                       where: str | None = None) -> dict:
    """Crop every image tensor of ``sample`` at the same random position.

    Args:
        sample: dict of tensors ``(..., H, W)`` (same H, W) and other values.
        size: crop size ``s`` or ``(h, w)``.
        rng: the random generator.
        pad_mode: ``None`` -> an image smaller than the crop is an error; ``"reflect"``,
            ``"replicate"`` or ``"constant"`` -> pad it (bottom/right) up to the crop first.
        where: the sample's name/path, for error messages.
    """
    ch, cw = _hw(size)
    h, w = common_size(sample, where)
    if ch > h or cw > w:
        if pad_mode is None:
            raise CamdeblurError(f"image is {w}x{h} pixels, smaller than the {cw}x{ch} crop", where=where,
                                 fix="use a smaller crop size, remove the small image, or pad small images (pad_mode='reflect')")
        sample = pad_to(sample, (ch, cw), pad_mode)
        h, w = max(h, ch), max(w, cw)
    top, left, ch, cw = crop_params(h, w, (ch, cw), rng)
    out = dict(sample)
    for k in _images(sample):
        out[k] = sample[k][..., top : top + ch, left : left + cw]
    return out


def random_flip_rot(sample: Mapping, rng: np.random.Generator, *, hflip: bool = True, vflip: bool = True,
                    rot90: bool = True) -> dict:
    """Apply one random horizontal flip, vertical flip and 90-degree rotation to all image tensors.

    Rotations by 90/270 degrees swap H and W, so they are drawn only for square images (batches of
    non-square crops still collate); non-square images get 0 or 180 degrees.
    """
    h, w = common_size(sample)
    draws = rng.random(2)
    do_h = hflip and draws[0] < 0.5
    do_v = vflip and draws[1] < 0.5
    k = int(rng.integers(0, 4 if h == w else 2)) * (1 if h == w else 2) if rot90 else 0
    out = dict(sample)
    for key in _images(sample):
        x = sample[key]
        if do_h:
            x = x.flip(-1)
        if do_v:
            x = x.flip(-2)
        if k:
            x = torch.rot90(x, k, dims=(-2, -1))
        out[key] = x.contiguous()
    return out


@dataclass
class Augment:
    """Crop (optional) then flips/rotations (optional), the same for every image tensor of a sample.

    Attributes:
        crop_size: ``None`` (keep full size), ``s`` or ``(h, w)``.
        flip: random horizontal and vertical flips.
        rot90: random rotations by multiples of 90 degrees (0/180 only for non-square crops).
        pad_mode: ``None`` (error on images smaller than the crop) or a padding mode.
    """

    crop_size: CropSize | None = None
    flip: bool = False
    rot90: bool = False
    pad_mode: str | None = None

    def __post_init__(self):
        if self.crop_size is not None and min(_hw(self.crop_size)) < 1:
            raise ValueError(f"crop_size must be positive, got {self.crop_size}")
        if self.pad_mode is not None and self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be None or one of {PAD_MODES}, got {self.pad_mode!r}")

    @property
    def is_random(self) -> bool:
        return self.crop_size is not None or self.flip or self.rot90

    def __call__(self, sample: Mapping, rng: np.random.Generator, where: str | None = None) -> dict:
        out = dict(sample)
        if self.crop_size is not None:
            out = paired_random_crop(out, self.crop_size, rng, pad_mode=self.pad_mode, where=where)
        else:
            common_size(out, where)
        if self.flip or self.rot90:
            out = random_flip_rot(out, rng, hflip=self.flip, vflip=self.flip, rot90=self.rot90)
        return out


def hwc_to_chw(a: np.ndarray) -> torch.Tensor:
    """numpy ``(H, W, C)`` -> contiguous float32 torch ``(C, H, W)``."""
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).permute(2, 0, 1).contiguous()
