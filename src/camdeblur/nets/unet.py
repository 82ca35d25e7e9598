"""A small residual UNet (Blur2Blur's translator ablation, paper Table 4, and a generic baseline).

``UNet`` maps (B,3,H,W) -> (B,3,H,W) as ``x + body(x)`` (so an untrained net is near the identity,
which is what a blur *translator* should start from). ``depth`` down-sampling stages double the
width each time; any input size works (reflect padding to a multiple of ``2**depth``, cropped back).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.nets.base import Deblurrer
from camdeblur.nets.registry import register_model

__all__ = ["UNet", "unet", "unet_tiny"]


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: bool) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        layers += [nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(cout, cout, 3, padding=1)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        super().__init__(*layers)


class UNet(Deblurrer):
    """Residual UNet.

    Args:
        in_ch, out_ch: channels (``out_ch == in_ch`` for the residual connection).
        width: channels of the first stage.
        depth: number of 2x down-sampling stages.
        norm: instance norm after each convolution.

    Forward: (B,C,H,W) -> (B,C,H,W).
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, width: int = 32, depth: int = 3, norm: bool = False) -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"UNet needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
        self.depth, self.residual = depth, in_ch == out_ch
        chs = [width * 2**i for i in range(depth + 1)]
        self.inc = _DoubleConv(in_ch, chs[0], norm)
        self.down = nn.ModuleList([nn.Sequential(nn.Conv2d(chs[i], chs[i], 4, stride=2, padding=1),
                                                 _DoubleConv(chs[i], chs[i + 1], norm)) for i in range(depth)])
        self.up = nn.ModuleList([nn.ConvTranspose2d(chs[i + 1], chs[i], 2, stride=2) for i in reversed(range(depth))])
        self.dec = nn.ModuleList([_DoubleConv(2 * chs[i], chs[i], norm) for i in reversed(range(depth))])
        self.out = nn.Conv2d(chs[0], out_ch, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2**self.depth
        ph, pw = (-h) % m, (-w) % m
        xp = F.pad(x, (0, pw, 0, ph), mode="reflect" if min(h, w) > max(ph, pw) else "replicate")
        skips = [self.inc(xp)]
        for d in self.down:
            skips.append(d(skips[-1]))
        z = skips.pop()
        for up, dec in zip(self.up, self.dec):
            z = dec(torch.cat([up(z), skips.pop()], dim=1))
        y = self.out(z)
        if self.residual:
            y = y + xp
        return y[..., :h, :w]


@register_model
def unet(width: int = 32, depth: int = 3, norm: bool = False) -> UNet:
    """UNet translator/deblurrer (3 stages, 32 base channels)."""
    return UNet(width=width, depth=depth, norm=norm)


@register_model
def unet_tiny(width: int = 8, depth: int = 2, norm: bool = False) -> UNet:
    """Tiny UNet for CPU tests."""
    return UNet(width=width, depth=depth, norm=norm)
