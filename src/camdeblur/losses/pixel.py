"""Pixel-space losses with one signature: ``loss(pred, target, weight=None) -> scalar``.

All take ``pred`` and ``target`` of the same shape (B,C,H,W) (any shape works for the element-wise
ones) and reduce by the mean over elements, so values do not depend on image size. ``weight`` (a
tensor broadcastable to ``pred``, e.g. a (B,1,H,W) confidence mask) gives a weighted mean
``sum(w * err) / sum(w)`` with ``w`` broadcast to ``pred``'s shape.

Multi-scale variants (:class:`MultiScaleLoss`) apply a base loss to each output of a multi-output
network (MIMO-UNet returns ``[1/4, 1/2, 1]`` scales, coarse to fine) against the target resized
(bilinear) to that output's size.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.errors import CamdeblurError

Tensor = torch.Tensor


def _check(pred: Tensor, target: Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise CamdeblurError(f"{name}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape",
                             fix="resize the target to the prediction (multi-scale outputs need a multi-scale loss)")


def weighted_mean(err: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean of ``err``; with ``weight``, ``sum(w * err) / sum(w)`` with ``w`` broadcast to ``err``."""
    if weight is None:
        return err.mean()
    w = weight.to(err.dtype).expand_as(err)
    return (w * err).sum() / w.sum().clamp_min(torch.finfo(err.dtype).tiny)


def l1_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean absolute error."""
    _check(pred, target, "l1")
    return weighted_mean((pred - target).abs(), weight)


def mse_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """Mean squared error."""
    _check(pred, target, "mse")
    return weighted_mean((pred - target) ** 2, weight)


def charbonnier_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None, eps: float = 1e-3) -> Tensor:
    """Mean of ``sqrt((pred - target)^2 + eps^2)`` (a smooth L1; ``eps=1e-3`` is the MPRNet/kernel-space value)."""
    _check(pred, target, "charbonnier")
    d = pred - target
    return weighted_mean(torch.sqrt(d * d + eps * eps), weight)


def psnr_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None, eps: float = 1e-8) -> Tensor:
    """NAFNet's PSNR loss: ``(10 / ln 10) * mean_b log(MSE_b + eps)`` = -PSNR (dB, peak 1) averaged over the batch.

    ``MSE_b`` is the (weighted) mean over each sample's C,H,W. Minimising it maximises PSNR.
    """
    _check(pred, target, "psnr")
    err = (pred - target) ** 2
    dims = tuple(range(1, err.ndim))
    if weight is None:
        mse = err.mean(dim=dims)
    else:
        w = weight.to(err.dtype).expand_as(err)
        mse = (w * err).sum(dim=dims) / w.sum(dim=dims).clamp_min(torch.finfo(err.dtype).tiny)
    return (10.0 / math.log(10.0)) * torch.log(mse + eps).mean()


def fft_loss(pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
    """MIMO-UNet's frequency loss: L1 between the real/imag parts of ``rfft2`` of pred and target.

    Mean over all (B, C, H, W//2+1, 2) spectrum elements (unnormalised FFT as in the official code).
    ``weight`` is not defined in the frequency domain and must be ``None``.
    """
    _check(pred, target, "fft")
    if weight is not None:
        raise CamdeblurError("fft loss does not take a spatial weight", fix="drop weight or use l1/charbonnier")
    fp = torch.view_as_real(torch.fft.rfft2(pred.float() if pred.dtype in (torch.float16, torch.bfloat16) else pred))
    ft = torch.view_as_real(torch.fft.rfft2(target.float() if target.dtype in (torch.float16, torch.bfloat16) else target))
    return (fp - ft).abs().mean()


class _PixelLoss(nn.Module):
    fn: Callable[..., Tensor]

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """pred, target: (B,C,H,W); weight: broadcastable to pred or None -> scalar."""
        return type(self).fn(pred, target, weight)


class L1Loss(_PixelLoss):
    """Mean absolute error (see :func:`l1_loss`)."""

    fn = staticmethod(l1_loss)


class MSELoss(_PixelLoss):
    """Mean squared error (see :func:`mse_loss`)."""

    fn = staticmethod(mse_loss)


class FFTLoss(_PixelLoss):
    """MIMO-UNet frequency loss (see :func:`fft_loss`)."""

    fn = staticmethod(fft_loss)


class CharbonnierLoss(nn.Module):
    """Mean of ``sqrt((pred - target)^2 + eps^2)`` (see :func:`charbonnier_loss`)."""

    def __init__(self, eps: float = 1e-3):
        super().__init__()
        self.eps = float(eps)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return charbonnier_loss(pred, target, weight, eps=self.eps)

    def extra_repr(self) -> str:
        return f"eps={self.eps}"


class PSNRLoss(nn.Module):
    """NAFNet's PSNR loss, ``-PSNR`` in dB averaged over the batch (see :func:`psnr_loss`)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = float(eps)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        return psnr_loss(pred, target, weight, eps=self.eps)


def pyramid(target: Tensor, sizes: Sequence[tuple[int, int]], mode: str = "bilinear") -> list[Tensor]:
    """``target`` (B,C,H,W) resized to each (h, w) in ``sizes`` (bilinear, ``align_corners=False`` as MIMO-UNet)."""
    out = []
    for size in sizes:
        size = tuple(int(s) for s in size)
        if tuple(target.shape[-2:]) == size:
            out.append(target)
        else:
            out.append(F.interpolate(target, size=size, mode=mode, align_corners=False if mode in ("bilinear", "bicubic") else None))
    return out


class MultiScaleLoss(nn.Module):
    """Apply ``base`` to every scale of a multi-output prediction.

    ``pred`` is a list/tuple of (B,C,H_i,W_i) tensors (MIMO-UNet order: coarse to fine) or a single
    tensor (then this is just ``base``). ``target`` is the full-resolution (B,C,H,W) tensor, resized
    bilinearly to each prediction's size, or a list matching ``pred``. ``weight`` (e.g. a mask) is
    resized the same way. Each scale's loss is already a mean over its elements; scales are combined
    with ``scale_weights`` (default 1 each) and ``reduction`` ``"sum"`` (MIMO-UNet and the official
    Blur2Blur code) or ``"mean"`` (the Blur2Blur paper's 1/M).
    """

    def __init__(self, base: nn.Module, scale_weights: Sequence[float] | None = None, reduction: str = "sum"):
        super().__init__()
        if reduction not in ("sum", "mean"):
            raise CamdeblurError(f"multi-scale reduction must be 'sum' or 'mean', got '{reduction}'")
        self.base = base
        self.scale_weights = None if scale_weights is None else [float(w) for w in scale_weights]
        self.reduction = reduction

    def forward(self, pred: Tensor | Sequence[Tensor], target: Tensor | Sequence[Tensor],
                weight: Tensor | None = None) -> Tensor:
        if isinstance(pred, Tensor):
            pred = [pred]
        preds = list(pred)
        sizes = [tuple(p.shape[-2:]) for p in preds]
        if isinstance(target, Tensor):
            targets = pyramid(target, sizes)
        else:
            targets = list(target)
            if len(targets) != len(preds):
                raise CamdeblurError(f"multi-scale loss got {len(preds)} predictions but {len(targets)} targets")
        weights = [None] * len(preds) if weight is None else pyramid(weight.to(preds[0].dtype), sizes)
        sw = self.scale_weights or [1.0] * len(preds)
        if len(sw) != len(preds):
            raise CamdeblurError(f"multi-scale loss has {len(sw)} scale weights for {len(preds)} outputs")
        total = sum(w * self.base(p, t, m) for w, p, t, m in zip(sw, preds, targets, weights))
        return total / len(preds) if self.reduction == "mean" else total

    def extra_repr(self) -> str:
        return f"scale_weights={self.scale_weights}, reduction={self.reduction!r}"


class MIMOLoss(nn.Module):
    """MIMO-UNet's training loss: sum over scales of L1 + ``fft_weight`` * sum over scales of the FFT loss."""

    def __init__(self, fft_weight: float = 0.1):
        super().__init__()
        self.fft_weight = float(fft_weight)
        self.content = MultiScaleLoss(L1Loss(), reduction="sum")
        self.frequency = MultiScaleLoss(FFTLoss(), reduction="sum")

    def forward(self, pred: Tensor | Sequence[Tensor], target: Tensor | Sequence[Tensor],
                weight: Tensor | None = None) -> Tensor:
        loss = self.content(pred, target, weight)
        if self.fft_weight:
            loss = loss + self.fft_weight * self.frequency(pred, target)
        return loss
