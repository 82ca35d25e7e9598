"""Small layers shared by the deblurring backbones (padding helpers, channel LayerNorm, gates)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def pad_to_multiple(x: torch.Tensor, multiple: int, mode: str = "constant") -> tuple[torch.Tensor, int, int]:
    """Pad right/bottom so H and W are multiples of ``multiple``.

    Args:
        x: (B,C,H,W).
        multiple: the required divisor.
        mode: ``"constant"`` (zeros) or ``"reflect"``; reflect falls back to ``"replicate"`` when the
            image is too small to reflect (pad >= size).

    Returns:
        (padded (B,C,H',W'), H, W) with the original size for cropping back.
    """
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    if ph == 0 and pw == 0:
        return x, h, w
    if mode == "reflect" and (ph >= h or pw >= w):
        mode = "replicate"
    if mode == "constant":
        return F.pad(x, (0, pw, 0, ph)), h, w
    return F.pad(x, (0, pw, 0, ph), mode=mode), h, w


def layer_norm_2d(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm over the channel dimension of (B,C,H,W), biased variance (NAFNet's ``LayerNorm2d``)."""
    mu = x.mean(1, keepdim=True)
    var = (x - mu).pow(2).mean(1, keepdim=True)
    y = (x - mu) / (var + eps).sqrt()
    return weight.view(1, -1, 1, 1) * y + bias.view(1, -1, 1, 1)


class LayerNorm2d(nn.Module):
    """Channel LayerNorm for (B,C,H,W) tensors with affine ``weight``/``bias`` of shape (C,)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return layer_norm_2d(x, self.weight, self.bias, self.eps)


class SimpleGate(nn.Module):
    """(B,2C,H,W) -> (B,C,H,W): product of the two channel halves (NAFNet's non-linearity)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return a * b
