"""Point-spread functions: random camera-shake kernels, kernel files, and trajectory rasterisation.

A PSF here is a float32 ``(k, k)`` array, ``k`` odd, summing to 1. It acts by true convolution
(``scipy.signal.convolve2d`` semantics): ``blur = sharp (*) psf``.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path

import numpy as np

from camdeblur.errors import CamdeblurError

PathLike = str | os.PathLike


def rasterize_path(points: np.ndarray, size: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Splat a 2-D path ``(T, 2)`` (pixel offsets ``(x, y)``, 0 = kernel centre) bilinearly into a
    ``(size, size)`` kernel that sums to 1. Points are densified so consecutive samples are at most
    0.25 px apart (a continuous path, not dots)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    w = np.ones(len(pts)) if weights is None else np.asarray(weights, dtype=np.float64)
    if len(pts) > 1:
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        n = np.maximum(1, np.ceil(seg / 0.25).astype(int))
        dense, dw = [], []
        for i in range(len(pts) - 1):
            a = np.linspace(0, 1, n[i], endpoint=False)[:, None]
            dense.append(pts[i] + a * (pts[i + 1] - pts[i]))
            dw.append(w[i] + a[:, 0] * (w[i + 1] - w[i]))
        dense.append(pts[-1:])
        dw.append(w[-1:])
        pts, w = np.concatenate(dense), np.concatenate(dw)
    k = np.zeros((size, size))
    c = (size - 1) / 2.0
    x, y = pts[:, 0] + c, pts[:, 1] + c
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    for dx, dy, ww in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < size) & (yi >= 0) & (yi < size)
        np.add.at(k, (yi[ok], xi[ok]), (ww * w)[ok])
    s = k.sum()
    if s <= 0:
        k[size // 2, size // 2] = 1.0
        s = 1.0
    return (k / s).astype(np.float32)


def random_trajectory(rng: np.random.Generator, length: float, n: int = 64) -> np.ndarray:
    """A random camera-shake path ``(n, 2)`` of total length ``length`` px, centred on its mean.

    Velocity with inertia plus random impulses and occasional abrupt turns (after Boracchi & Foi 2012,
    "Modeling the performance of image restoration from motion blur").
    """
    if length <= 0:
        return np.zeros((1, 2))
    anxiety = rng.uniform(0.0, 0.5)
    v = np.exp(1j * rng.uniform(0, 2 * math.pi))
    x = np.zeros(n, dtype=complex)
    for i in range(1, n):
        if rng.random() < 0.1 * anxiety:
            v = v * np.exp(1j * rng.uniform(-math.pi / 2, math.pi / 2)) * 0.9
        dv = anxiety * (rng.standard_normal() + 1j * rng.standard_normal()) * 0.5 - 0.1 * x[i - 1] / max(length, 1)
        v = v + dv
        v = v / max(abs(v), 1e-9)
        x[i] = x[i - 1] + v
    steps = np.abs(np.diff(x)).sum()
    x = x * (length / max(steps, 1e-9))
    x = x - x.mean()
    return np.stack([x.real, x.imag], axis=1)


def random_psf(rng: np.random.Generator, size_range=(9, 25), length_range=(3.0, 16.0)) -> np.ndarray:
    """A random camera-shake PSF: odd size drawn from ``size_range``, path length from ``length_range``
    (clipped so the path fits inside the kernel)."""
    k = int(size_range[0] + min(int(rng.random() * (size_range[1] - size_range[0] + 1)), size_range[1] - size_range[0]))
    k += 1 - k % 2
    length = float(rng.uniform(*length_range))
    path = random_trajectory(rng, length)
    ext = np.abs(path).max() if len(path) else 0.0
    limit = (k - 1) / 2.0 - 0.5
    if ext > limit > 0:
        path = path * (limit / ext)
    elif limit <= 0:
        path = np.zeros((1, 2))
    return rasterize_path(path, k)


@functools.lru_cache(maxsize=8)
def _load_kernels_cached(path: str, mtime: float) -> tuple[np.ndarray, ...]:
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            keys = sorted(z.files, key=lambda s: (len(s), s))
            ks = [np.asarray(z[k], dtype=np.float64) for k in keys]
    except Exception as exc:  # noqa: BLE001 - any unreadable file is a user error
        raise CamdeblurError(f"cannot read kernel file ({type(exc).__name__}: {exc})", where=p,
                             fix="give a .npz whose arrays are 2-D PSFs") from None
    out = []
    for key, k in zip(keys, ks):
        if k.ndim != 2 or not np.isfinite(k).all() or k.sum() <= 0 or (k < 0).any():
            raise CamdeblurError(f"kernel '{key}' is not a non-negative 2-D PSF (shape {k.shape})", where=p,
                                 fix="each array must be a 2-D non-negative kernel with a positive sum")
        h, w = k.shape
        s = max(h, w)
        s += 1 - s % 2
        pad = np.zeros((s, s))
        y0, x0 = (s - h) // 2, (s - w) // 2
        pad[y0:y0 + h, x0:x0 + w] = k
        out.append((pad / pad.sum()).astype(np.float32))
    if not out:
        raise CamdeblurError("kernel file holds no arrays", where=p, fix="give a .npz of 2-D PSFs")
    return tuple(out)


def load_kernels(path: PathLike) -> tuple[np.ndarray, ...]:
    """All PSFs of a ``.npz`` (keys in natural order), each padded to an odd square and normalised to sum 1."""
    p = Path(path)
    if not p.is_file():
        raise CamdeblurError("kernel file not found", where=p, fix="check the camera's kernel_file path")
    return _load_kernels_cached(str(p.resolve()), p.stat().st_mtime)


def psf_from_meta(meta: dict) -> np.ndarray:
    """The PSF of a rendered sample in convolution semantics (``blur ~= sharp (*) psf``).

    Uniform samples: their exact kernel. Shake samples: the blur of the output centre — the path of
    the scene point seen there, mirrored (the camera sees ``x + d(t)``, i.e. a convolution with
    ``delta(-d(t))``), rasterised. Exact for pure translation, local otherwise."""
    if meta.get("kernel"):
        return np.asarray(meta["kernel"]["psf"], dtype=np.float32)
    path = -np.asarray(meta.get("centre_path", [[0.0, 0.0]]), dtype=np.float64).reshape(-1, 2)
    k = int(2 * np.ceil(np.abs(path).max() + 1) + 1) if len(path) else 3
    return rasterize_path(path, max(k, 3))
