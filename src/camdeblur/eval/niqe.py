"""NIQE, the no-reference Natural Image Quality Evaluator (Mittal, Soundararajan, Bovik, IEEE SPL 2013).

Lower is better (closer to the statistics of pristine natural images). The algorithm follows the
official MATLAB code (as re-implemented and checked against MATLAB R2021a in BasicSR):

1. luminance: MATLAB ``rgb2ycbcr`` Y of the RGB image in [0, 255] (studio range 16..235), or OpenCV grey,
   ``crop_border`` pixels removed on each side, rounded to integers;
2. crop to a whole number of 96x96 blocks;
3. at two scales (full, then MATLAB ``imresize(.., 0.5)`` bicubic with antialiasing): MSCN coefficients
   ``(I - mu) / (sigma + 1)`` with the model's 7x7 Gaussian window (``nearest`` borders), and per block
   (96x96, then 48x48) 18 features: a GGD fit (shape, spread) of the coefficients and AGGD fits (shape,
   mean, left and right spread) of the products of horizontal, vertical and both diagonal neighbours;
4. fit a multivariate Gaussian to the block features and compare with the pristine model:
   ``sqrt((mu_p - mu_d) pinv((S_p + S_d) / 2) (mu_p - mu_d)^T)``.

The pristine model is *not* shipped: pass the path of an ``.npz`` with ``mu_pris_param`` (1x36),
``cov_pris_param`` (36x36) and ``gaussian_window`` (7x7) (the LIVE model, e.g. BasicSR's
``niqe_pris_params.npz``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from camdeblur.errors import CamdeblurError

__all__ = ["NiqeModel", "load_niqe_model", "niqe", "niqe_features", "imresize_matlab", "to_luminance"]

MODEL_KEYS = ("mu_pris_param", "cov_pris_param", "gaussian_window")


@dataclass(frozen=True)
class NiqeModel:
    """Pristine multivariate-Gaussian model: ``mu`` (36,), ``cov`` (36, 36), MSCN ``window`` (k, k)."""

    mu: np.ndarray
    cov: np.ndarray
    window: np.ndarray
    path: str = ""


def load_niqe_model(path: str | os.PathLike) -> NiqeModel:
    """Read a NIQE model file (``.npz`` with :data:`MODEL_KEYS`); cached per file and modification time.

    Raises:
        CamdeblurError: missing/unreadable file, missing keys or wrong shapes.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise CamdeblurError("NIQE model file not found", where=p,
                             fix="pass the .npz with mu_pris_param, cov_pris_param, gaussian_window")
    return _load_cached(str(p.resolve()), p.stat().st_mtime_ns)


@lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int) -> NiqeModel:
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: np.asarray(z[k], dtype=np.float64) for k in z.files if k in MODEL_KEYS}
    except Exception as exc:  # noqa: BLE001 - any reading failure is a user-facing file problem
        raise CamdeblurError(f"not a readable NIQE model (.npz) file ({type(exc).__name__}: {exc})", where=path,
                             fix="pass the .npz with mu_pris_param, cov_pris_param, gaussian_window") from None
    missing = [k for k in MODEL_KEYS if k not in data]
    if missing:
        raise CamdeblurError(f"NIQE model lacks key(s) {', '.join(missing)}", where=path,
                             fix="the .npz must hold mu_pris_param (1x36), cov_pris_param (36x36), gaussian_window")
    mu, cov, win = data["mu_pris_param"].reshape(-1), data["cov_pris_param"], data["gaussian_window"]
    if mu.shape != (36,) or cov.shape != (36, 36) or win.ndim != 2:
        raise CamdeblurError(f"NIQE model has wrong shapes (mu {mu.shape}, cov {cov.shape}, window {win.shape})",
                             where=path, fix="expected mu 1x36, cov 36x36, a 2-D window")
    return NiqeModel(mu, cov, win, path)


# --------------------------------------------------------------------------- MATLAB bicubic imresize
def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    return ((1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
            + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2)))


def _resize_matrix(n_in: int, n_out: int, scale: float, antialias: bool) -> np.ndarray:
    """(n_out, n_in) matrix of MATLAB's ``imresize`` bicubic contributions with symmetric borders."""
    width = 4.0
    aa = scale < 1 and antialias
    if aa:
        width /= scale
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - width / 2)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps)[None, :]
    dist = u[:, None] - idx
    w = scale * _cubic(dist * scale) if aa else _cubic(dist)
    w /= w.sum(1, keepdims=True)
    # MATLAB: out-of-range taps read the mirrored image (edge pixel repeated), period 2 * n_in
    aux = np.concatenate([np.arange(n_in), np.arange(n_in)[::-1]])
    src = aux[np.mod(idx.astype(np.int64) - 1, 2 * n_in)]
    m = np.zeros((n_out, n_in), dtype=np.float64)
    np.add.at(m, (np.repeat(np.arange(n_out), taps), src.reshape(-1)), w.reshape(-1))
    return m


def imresize_matlab(img: np.ndarray, scale: float, antialias: bool = True) -> np.ndarray:
    """MATLAB ``imresize(img, scale)`` (bicubic, antialiasing when shrinking), no rounding.

    Args:
        img: (H, W) or (H, W, C) float array.
        scale: the same factor for both axes; output size ``ceil(H * scale) x ceil(W * scale)``.
    Returns:
        float64 array of the resized image.
    """
    a = np.asarray(img, dtype=np.float64)
    h, w = a.shape[:2]
    oh, ow = int(math.ceil(h * scale)), int(math.ceil(w * scale))
    mh, mw = _resize_matrix(h, oh, scale, antialias), _resize_matrix(w, ow, scale, antialias)
    return np.einsum("oh,hw...,pw->op...", mh, a, mw, optimize=True)


# ------------------------------------------------------------------------------------ GGD / AGGD fits
_GAM = np.arange(0.2, 10.001, 0.001)
_R_GAM = None


def _r_gam() -> np.ndarray:
    global _R_GAM
    if _R_GAM is None:
        from scipy.special import gamma

        g = 1.0 / _GAM
        _R_GAM = gamma(2 * g) ** 2 / (gamma(g) * gamma(3 * g))
    return _R_GAM


def _aggd(x: np.ndarray) -> tuple[float, float, float]:
    """Asymmetric generalised Gaussian fit by moment matching on the MATLAB grid of shapes 0.2:0.001:10.

    Returns (alpha, beta_left, beta_right); NaN when one side has no samples (MATLAB behaviour)."""
    from scipy.special import gamma

    x = x.reshape(-1)
    neg, pos = x[x < 0], x[x > 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        left = math.sqrt(np.mean(neg * neg)) if neg.size else math.nan
        right = math.sqrt(np.mean(pos * pos)) if pos.size else math.nan
        g_hat = left / right
        r_hat = np.mean(np.abs(x)) ** 2 / np.mean(x * x)
        r_norm = r_hat * (g_hat ** 3 + 1) * (g_hat + 1) / (g_hat ** 2 + 1) ** 2
    if not np.isfinite(r_norm):
        return math.nan, math.nan, math.nan
    alpha = float(_GAM[np.argmin((_r_gam() - r_norm) ** 2)])
    k = math.sqrt(gamma(1 / alpha) / gamma(3 / alpha))
    return alpha, left * k, right * k


def _block_features(block: np.ndarray) -> list[float]:
    from scipy.special import gamma

    alpha, bl, br = _aggd(block)
    feat = [alpha, (bl + br) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (1, -1)):
        prod = block * np.roll(block, shift, axis=(0, 1))
        alpha, bl, br = _aggd(prod)
        mean = (br - bl) * (gamma(2 / alpha) / gamma(1 / alpha)) if np.isfinite(alpha) else math.nan
        feat.extend([alpha, mean, bl, br])
    return feat


# ----------------------------------------------------------------------------------------- NIQE
def to_luminance(img, convert_to: str = "y") -> np.ndarray:
    """(H, W[, C]) image in [0, 1] -> (H, W) float64 luminance in [0, 255] (MATLAB Y or OpenCV grey)."""
    a = np.asarray(img, dtype=np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim == 2:
        return a * 255.0
    if a.ndim != 3 or a.shape[2] not in (3, 4):
        raise CamdeblurError(f"NIQE expects an (H, W) or (H, W, 3) image, got shape {a.shape}", where="niqe")
    r, g, b = a[..., 0], a[..., 1], a[..., 2]
    if convert_to == "y":
        return 65.481 * r + 128.553 * g + 24.966 * b + 16.0
    if convert_to == "gray":
        return 255.0 * (0.299 * r + 0.587 * g + 0.114 * b)
    raise CamdeblurError(f"unknown NIQE colour conversion '{convert_to}'", where="niqe", fix="use 'y' or 'gray'")


def niqe_features(lum: np.ndarray, window: np.ndarray, block_size: int = 96) -> np.ndarray:
    """Per-block NIQE features of a luminance image in [0, 255].

    Args:
        lum: (H, W) float, already cropped to whole blocks.
    Returns:
        (n_blocks, 36) features: 18 at full scale then 18 at half scale, blocks in column-major order.
    """
    from scipy.ndimage import convolve

    h, w = lum.shape
    nh, nw = h // block_size, w // block_size
    img = lum
    out = []
    for scale in (1, 2):
        mu = convolve(img, window, mode="nearest")
        sigma = np.sqrt(np.abs(convolve(img * img, window, mode="nearest") - mu * mu))
        mscn = (img - mu) / (sigma + 1)
        bs = block_size // scale
        out.append(np.array([_block_features(mscn[i * bs:(i + 1) * bs, j * bs:(j + 1) * bs])
                             for j in range(nw) for i in range(nh)]))
        if scale == 1:
            img = imresize_matlab(img / 255.0, 0.5) * 255.0
    return np.concatenate(out, axis=1)


def _niqe_one(img, model: NiqeModel, crop_border: int, convert_to: str, block_size: int) -> float:
    lum = to_luminance(img, convert_to)
    if crop_border:
        lum = lum[crop_border:-crop_border, crop_border:-crop_border]
    # MATLAB works on integer-valued luminance. Round half up (MATLAB's round for positives) after snapping to
    # 1e-4 so float32 and float64 copies of the same 8/16-bit image give the same integers.
    lum = np.floor(np.round(lum, 4) + 0.5)
    h, w = lum.shape
    nh, nw = h // block_size, w // block_size
    if nh * nw < 2:
        raise CamdeblurError(
            f"image of {h}x{w} pixels (after crop_border={crop_border}) is too small for NIQE: it needs at least "
            f"two {block_size}x{block_size} blocks", where="niqe", fix=f"use images of at least {block_size}x{2 * block_size}")
    feats = niqe_features(lum[:nh * block_size, :nw * block_size], model.window, block_size)
    mu_d = np.nanmean(feats, axis=0)
    good = feats[~np.isnan(feats).any(axis=1)]
    if len(good) < 2:
        raise CamdeblurError("NIQE features are undefined for this image (flat or constant blocks)", where="niqe",
                             fix="NIQE needs textured natural images")
    cov_d = np.cov(good, rowvar=False)
    d = model.mu - mu_d
    q = d @ np.linalg.pinv((model.cov + cov_d) / 2) @ d
    return float(np.sqrt(q))


def niqe(img, model_path: str | os.PathLike | NiqeModel, crop_border: int = 0, convert_to: str = "y",
         block_size: int = 96):
    """NIQE score (lower = more natural).

    Args:
        img: numpy (H, W) or (H, W, 3) in [0, 1] -> float; or torch (B, C, H, W) in [0, 1] -> (B,) float64
            tensor (not differentiable: the fits are table look-ups).
        model_path: ``.npz`` pristine model (see module doc) or a loaded :class:`NiqeModel`.
        crop_border: pixels removed on each side before the block grid.
        convert_to: ``"y"`` (MATLAB BT.601 Y, the reference protocol) or ``"gray"`` (OpenCV weights).
        block_size: block side (96 in the reference).
    Raises:
        CamdeblurError: model file missing/invalid, image too small for two blocks.
    """
    model = model_path if isinstance(model_path, NiqeModel) else load_niqe_model(model_path)
    if hasattr(img, "detach"):
        import torch

        if img.ndim != 4:
            raise CamdeblurError(f"NIQE expects a (B, C, H, W) tensor, got shape {tuple(img.shape)}", where="niqe")
        arr = img.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
        return torch.tensor([_niqe_one(a, model, crop_border, convert_to, block_size) for a in arr],
                            dtype=torch.float64)
    a = np.asarray(img)
    if a.dtype.kind in "ui":
        raise CamdeblurError(f"NIQE expects a float image in [0, 1], got {a.dtype}", where="niqe",
                             fix="divide by 255 (or 65535) first")
    return _niqe_one(a, model, crop_border, convert_to, block_size)
