"""Full-reference image metrics (PSNR, SSIM) with named, documented presets, and the blur degree
(variance of the Laplacian) used by Blur2Blur's curriculum.

Inputs follow the shared image contract:

* numpy ``(H, W, C)`` or ``(H, W)`` float in [0, 1] -> a Python ``float`` (computed in float64);
* torch ``(B, C, H, W)`` float in [0, 1] -> a tensor of shape ``(B,)``, one value per image, computed in
  the input's dtype on the input's device, differentiable and batched (SSIM is a depthwise ``conv2d``),
  so training validation and an SSIM loss (``1 - ssim(pred, gt).mean()``) use the same code.

Presets (:data:`PRESETS`):

``gopro``
    RGB, no border crop, SSIM per channel with a 7x7 uniform window and sample covariance, averaged over
    channels: exactly ``skimage.metrics.structural_similarity(pred, gt, channel_axis=-1, data_range=1)``
    (the protocol of the reblurring paper, Nah et al., on GoPro/REDS). PSNR on RGB.
``y``
    Luma only, ITU-R BT.601 studio range as MATLAB's ``rgb2ycbcr`` (Y in [16, 235] / 255), Gaussian
    11x11 window (sigma 1.5) with population covariance, valid region only: the ``test_y_channel``
    protocol of BasicSR (used by NAFNet/Restormer tables). ``crop_border`` removes that many pixels
    on every side first.
``gaussian``
    RGB, SSIM per channel with the Gaussian window of Wang et al. (sigma 1.5, 11x11, population
    covariance), averaged over channels: ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, channel_axis=-1, data_range=1)``.

Single-channel images are used as they are by every preset (the ``y`` conversion only applies to RGB).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from camdeblur.errors import CamdeblurError

__all__ = ["MetricPreset", "PRESETS", "psnr", "ssim", "laplacian_variance", "rgb_to_y", "SSIM", "PSNR"]

ImageLike = Union[np.ndarray, Tensor]


@dataclass(frozen=True)
class MetricPreset:
    """How PSNR/SSIM are computed.

    Attributes:
        name: preset name.
        color: ``"rgb"`` (all channels) or ``"y"`` (BT.601 luma of RGB inputs).
        crop_border: pixels removed on each side before computing (overridable per call).
        window: ``"uniform"`` (``win_size`` x ``win_size`` box) or ``"gaussian"`` (sigma ``sigma``, radius
            ``int(3.5 * sigma + 0.5)`` as scipy's ``gaussian_filter``).
        win_size: box size for the uniform window.
        sigma: standard deviation of the Gaussian window.
        sample_covariance: divide (co)variances by ``N - 1`` instead of ``N`` (skimage's default for the box).
        k1, k2: SSIM stabilising constants (``C1 = (k1 L)^2``, ``C2 = (k2 L)^2`` with data range ``L``).
        doc: one-line description (shown by ``camdeblur eval --help``).
    """

    name: str
    color: str = "rgb"
    crop_border: int = 0
    window: str = "uniform"
    win_size: int = 7
    sigma: float = 1.5
    sample_covariance: bool = True
    k1: float = 0.01
    k2: float = 0.03
    doc: str = ""


PRESETS: dict[str, MetricPreset] = {
    "gopro": MetricPreset(
        "gopro", doc="RGB, crop 0, SSIM 7x7 box per channel averaged (= skimage channel_axis=-1, data_range=1)"),
    "y": MetricPreset(
        "y", color="y", window="gaussian", sample_covariance=False,
        doc="BT.601 Y channel (MATLAB rgb2ycbcr), SSIM Gaussian 11x11 sigma 1.5 (= BasicSR test_y_channel)"),
    "gaussian": MetricPreset(
        "gaussian", window="gaussian", sample_covariance=False,
        doc="RGB, SSIM Gaussian 11x11 sigma 1.5 per channel averaged (Wang et al. / MATLAB ssim)"),
}


def get_preset(preset: str | MetricPreset) -> MetricPreset:
    if isinstance(preset, MetricPreset):
        return preset
    if preset not in PRESETS:
        raise CamdeblurError(f"unknown metric preset '{preset}'", where="preset",
                             fix=f"use one of: {', '.join(PRESETS)}")
    return PRESETS[preset]


# ------------------------------------------------------------------------------------------ helpers
def _to_batch(x: ImageLike, name: str) -> tuple[Tensor | np.ndarray, bool]:
    """numpy (H, W[, C]) -> float64 numpy (1, C, H, W); torch must already be (B, C, H, W).

    The numpy path stays in numpy (single-threaded, float64): the arithmetic below is written so it runs
    unchanged on numpy arrays and torch tensors."""
    if isinstance(x, Tensor):
        if x.ndim != 4:
            raise CamdeblurError(f"{name} must be a (B, C, H, W) tensor, got shape {tuple(x.shape)}", where=name)
        if not x.is_floating_point():
            raise CamdeblurError(f"{name} must be a float tensor in [0, 1], got {x.dtype}", where=name)
        return x, False
    a = np.asarray(x)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3:
        raise CamdeblurError(f"{name} must be an (H, W) or (H, W, C) array, got shape {a.shape}", where=name)
    if a.dtype.kind in "ui":
        raise CamdeblurError(f"{name} is an integer array ({a.dtype}); metrics expect float images in [0, 1]",
                             where=name, fix="divide by 255 (or 65535) first")
    return np.ascontiguousarray(a.transpose(2, 0, 1)[None], dtype=np.float64), True


def _pair(pred: ImageLike, gt: ImageLike) -> tuple[Tensor, Tensor, bool]:
    if isinstance(pred, Tensor) != isinstance(gt, Tensor):
        raise CamdeblurError("pred and gt must both be numpy arrays or both torch tensors", where="metrics")
    p, is_np = _to_batch(pred, "pred")
    g, _ = _to_batch(gt, "gt")
    if p.shape != g.shape:
        raise CamdeblurError(f"pred and gt differ in size: {tuple(p.shape)} vs {tuple(g.shape)}", where="metrics",
                             fix="compare images of the same size")
    if not is_np:
        g = g.to(dtype=p.dtype, device=p.device)
    return p, g, is_np


def rgb_to_y(x: Tensor) -> Tensor:
    """BT.601 luma as MATLAB's ``rgb2ycbcr`` (studio range, Y in [16, 235] / 255).

    Args:
        x: (B, 3, H, W) RGB in [0, 1].
    Returns:
        (B, 1, H, W) Y in [16/255, 235/255].
    """
    r, g, b = x[:, 0:1], x[:, 1:2], x[:, 2:3]
    return (65.481 * r + 128.553 * g + 24.966 * b + 16.0) / 255.0


def _prepare(x: Tensor, p: MetricPreset, crop: int) -> Tensor:
    if p.color == "y" and x.shape[1] == 3:
        x = rgb_to_y(x)
    elif p.color not in ("y", "rgb"):
        raise CamdeblurError(f"unknown colour mode '{p.color}' in preset '{p.name}'", where="preset")
    if crop:
        if crop < 0 or 2 * crop >= min(x.shape[-2:]):
            raise CamdeblurError(f"crop_border={crop} leaves nothing of a {x.shape[-2]}x{x.shape[-1]} image",
                                 where="crop_border")
        x = x[..., crop:-crop, crop:-crop]
    return x


def _finish(v: Tensor, is_np: bool):
    return float(v[0]) if is_np else v


# --------------------------------------------------------------------------------------------- PSNR
def psnr(pred: ImageLike, gt: ImageLike, preset: str | MetricPreset = "gopro", data_range: float = 1.0,
         crop_border: int | None = None):
    """Peak signal-to-noise ratio in dB, ``10 log10(L^2 / MSE)`` over all pixels and channels of each image.

    Args:
        pred, gt: numpy (H, W[, C]) or torch (B, C, H, W), values in [0, data_range].
        preset: name in :data:`PRESETS` (colour mode and default border crop).
        data_range: peak value ``L``.
        crop_border: pixels removed on each side (default: the preset's).
    Returns:
        float for numpy inputs, (B,) tensor for torch inputs (``inf`` for identical images).
    """
    p = get_preset(preset)
    x, y, is_np = _pair(pred, gt)
    crop = p.crop_border if crop_border is None else int(crop_border)
    x, y = _prepare(x, p, crop), _prepare(y, p, crop)
    mse = ((x - y) ** 2).reshape(x.shape[0], -1).mean(1)
    if is_np:
        with np.errstate(divide="ignore"):
            return _finish(10.0 * np.log10(data_range ** 2 / mse), is_np)
    return 10.0 * torch.log10(data_range ** 2 / mse)


# --------------------------------------------------------------------------------------------- SSIM
def _window(p: MetricPreset, like) -> Tensor | np.ndarray:
    """(k,) normalised 1-D window (the 2-D window is its outer product); the Gaussian is scipy's
    ``gaussian_filter`` kernel (truncate 3.5)."""
    if p.window == "uniform":
        w = np.full(p.win_size, 1.0 / p.win_size)
    elif p.window == "gaussian":
        r = int(3.5 * p.sigma + 0.5)
        w = np.exp(-0.5 * (np.arange(-r, r + 1) / p.sigma) ** 2)
        w /= w.sum()
    else:
        raise CamdeblurError(f"unknown SSIM window '{p.window}' in preset '{p.name}'", where="preset")
    if isinstance(like, Tensor):
        return torch.tensor(w, dtype=like.dtype, device=like.device)
    return w


def _filter_valid(x, w, dim: int):
    """Valid 1-D correlation of ``x`` (numpy or torch) with ``w`` along ``dim`` as a weighted sum of shifted
    views: exact, differentiable, and much faster on CPU than a depthwise ``conv2d`` (also in float64)."""
    k, n = w.shape[0], x.shape[dim] - w.shape[0] + 1
    index = [slice(None)] * x.ndim

    def view(i):
        index[dim] = slice(i, i + n)
        return x[tuple(index)]

    out = view(0) * w[0]
    for i in range(1, k):
        out = out + view(i) * w[i]
    return out


def ssim_map(x, y, preset: str | MetricPreset = "gopro", data_range: float = 1.0):
    """Per-pixel SSIM over the valid region (no padding).

    Args:
        x, y: (B, C, H, W) torch tensors or float numpy arrays, already converted/cropped.
    Returns:
        (B, C, H - k + 1, W - k + 1) with ``k`` the window size.
    """
    p = get_preset(preset)
    w = _window(p, x)
    k = w.shape[0]
    if min(x.shape[-2:]) < k:
        raise CamdeblurError(f"image of {x.shape[-2]}x{x.shape[-1]} pixels is smaller than the {k}x{k} SSIM window",
                             where="ssim", fix="use images of at least that size")
    # separable valid filtering (columns, then rows) of x, y, x*x, y*y, x*y
    mx, my, exx, eyy, exy = (_filter_valid(_filter_valid(t, w, -2), w, -1) for t in (x, y, x * x, y * y, x * y))
    n = k * k
    cov_norm = n / (n - 1) if p.sample_covariance else 1.0
    vx = cov_norm * (exx - mx * mx)
    vy = cov_norm * (eyy - my * my)
    vxy = cov_norm * (exy - mx * my)
    c1 = (p.k1 * data_range) ** 2
    c2 = (p.k2 * data_range) ** 2
    return ((2 * mx * my + c1) * (2 * vxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))


def ssim(pred: ImageLike, gt: ImageLike, preset: str | MetricPreset = "gopro", data_range: float = 1.0,
         crop_border: int | None = None):
    """Structural similarity (Wang et al. 2004), mean over the valid region, averaged over channels.

    Args:
        pred, gt: numpy (H, W[, C]) or torch (B, C, H, W) in [0, data_range].
        preset: name in :data:`PRESETS`; ``gopro`` equals ``skimage.metrics.structural_similarity(pred, gt,
            channel_axis=-1, data_range=1)``.
        data_range: dynamic range ``L`` of the images.
        crop_border: pixels removed on each side (default: the preset's).
    Returns:
        float for numpy inputs, (B,) tensor for torch inputs (differentiable).
    """
    p = get_preset(preset)
    x, y, is_np = _pair(pred, gt)
    crop = p.crop_border if crop_border is None else int(crop_border)
    x, y = _prepare(x, p, crop), _prepare(y, p, crop)
    return _finish(ssim_map(x, y, p, data_range).reshape(x.shape[0], -1).mean(1), is_np)


class PSNR(nn.Module):
    """Module form of :func:`psnr`: ``(B, C, H, W) x 2 -> (B,)``."""

    def __init__(self, preset: str = "gopro", data_range: float = 1.0, crop_border: int | None = None):
        super().__init__()
        self.preset, self.data_range, self.crop_border = get_preset(preset), data_range, crop_border

    def forward(self, pred: Tensor, gt: Tensor) -> Tensor:
        return psnr(pred, gt, self.preset, self.data_range, self.crop_border)


class SSIM(nn.Module):
    """Module form of :func:`ssim`: ``(B, C, H, W) x 2 -> (B,)``; ``1 - SSIM()(pred, gt).mean()`` is an SSIM loss."""

    def __init__(self, preset: str = "gopro", data_range: float = 1.0, crop_border: int | None = None):
        super().__init__()
        self.preset, self.data_range, self.crop_border = get_preset(preset), data_range, crop_border

    def forward(self, pred: Tensor, gt: Tensor) -> Tensor:
        return ssim(pred, gt, self.preset, self.data_range, self.crop_border)


# ------------------------------------------------------------------------------- blur degree (B2B)
_GRAY = (0.299, 0.587, 0.114)


def laplacian_variance(x: ImageLike, scale: float = 255.0):
    """Blur degree of Blur2Blur's curriculum: variance of the Laplacian of the grey image (lower = blurrier).

    Grey is ``0.299 R + 0.587 G + 0.114 B`` (OpenCV ``COLOR_RGB2GRAY``), scaled by ``scale`` (255 gives the
    values of ``cv2.Laplacian(gray_uint8, cv2.CV_64F).var()`` up to 8-bit rounding); the Laplacian is the
    4-neighbour kernel with reflect-101 borders (OpenCV's default ``ksize=1``); the variance is the
    population variance over all pixels.

    Args:
        x: numpy (H, W[, C]) or torch (B, C, H, W) in [0, 1], C in {1, 3}.
        scale: multiplier applied to the grey image.
    Returns:
        float for numpy, (B,) tensor for torch.
    """
    t, is_np = _to_batch(x, "image")
    if t.shape[1] == 3:
        g = sum(wc * t[:, i:i + 1] for i, wc in enumerate(_GRAY))
    elif t.shape[1] == 1:
        g = t
    else:
        raise CamdeblurError(f"laplacian_variance expects 1 or 3 channels, got {t.shape[1]}", where="image")
    if min(g.shape[-2:]) < 2:
        raise CamdeblurError("image too small for a Laplacian (needs at least 2x2 pixels)", where="image")
    g = g * scale
    if is_np:  # reflect-101 borders (OpenCV's default), as torch's "reflect"
        gp = np.pad(g, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="reflect")
    else:
        gp = F.pad(g, (1, 1, 1, 1), mode="reflect")
    c = gp[..., 1:-1, 1:-1]
    lap = gp[..., :-2, 1:-1] + gp[..., 2:, 1:-1] + gp[..., 1:-1, :-2] + gp[..., 1:-1, 2:] - 4 * c
    lap = lap.reshape(lap.shape[0], -1)
    return _finish(lap.var(1) if is_np else lap.var(1, unbiased=False), is_np)
