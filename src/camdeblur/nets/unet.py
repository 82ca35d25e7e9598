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
    def __init__(self, cin: int, cout: int, norm: bool, padding_mode: str = "zeros") -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, 3, padding=1, padding_mode=padding_mode)]
        if norm:
            layers.append(nn.InstanceNorm2d(cout, affine=True))
        layers += [nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(cout, cout, 3, padding=1, padding_mode=padding_mode)]
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
        upsample: ``"transpose"`` (2x2 stride-2 transposed conv) or ``"bilinear"`` (bilinear x2 then a 3x3
            conv: no stride-periodic checkerboard, which an adversarially trained translator otherwise amplifies).
        padding_mode: of every 3x3/4x4 conv: ``"zeros"`` or ``"reflect"`` (no zero-border cue telling the
            net where the frame edge is, so a translator cannot paint edge-specific patterns).

    Forward: (B,C,H,W) -> (B,C,H,W).
    """

    def __init__(self, in_ch: int = 3, out_ch: int = 3, width: int = 32, depth: int = 3, norm: bool = False,
                 upsample: str = "transpose", padding_mode: str = "zeros") -> None:
        super().__init__()
        if depth < 1 or width < 1:
            raise ValueError(f"UNet needs depth >= 1 and width >= 1, got depth={depth}, width={width}")
        if upsample not in ("transpose", "bilinear"):
            raise ValueError(f"UNet upsample must be 'transpose' or 'bilinear', got '{upsample}'")
        if padding_mode not in ("zeros", "reflect"):
            raise ValueError(f"UNet padding_mode must be 'zeros' or 'reflect', got '{padding_mode}'")
        pm = padding_mode
        self.depth, self.residual = depth, in_ch == out_ch
        chs = [width * 2**i for i in range(depth + 1)]
        self.inc = _DoubleConv(in_ch, chs[0], norm, pm)
        self.down = nn.ModuleList([nn.Sequential(nn.Conv2d(chs[i], chs[i], 4, stride=2, padding=1, padding_mode=pm),
                                                 _DoubleConv(chs[i], chs[i + 1], norm, pm)) for i in range(depth)])

        def up(cin: int, cout: int) -> nn.Module:
            if upsample == "transpose":
                return nn.ConvTranspose2d(cin, cout, 2, stride=2)
            return nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                 nn.Conv2d(cin, cout, 3, padding=1, padding_mode=pm))

        self.up = nn.ModuleList([up(chs[i + 1], chs[i]) for i in reversed(range(depth))])
        self.dec = nn.ModuleList([_DoubleConv(2 * chs[i], chs[i], norm, pm) for i in reversed(range(depth))])
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
def unet(width: int = 32, depth: int = 3, norm: bool = False, upsample: str = "transpose",
         padding_mode: str = "zeros") -> UNet:
    """UNet translator/deblurrer (3 stages, 32 base channels)."""
    return UNet(width=width, depth=depth, norm=norm, upsample=upsample, padding_mode=padding_mode)


@register_model
def unet_tiny(width: int = 8, depth: int = 2, norm: bool = False, upsample: str = "transpose",
              padding_mode: str = "zeros") -> UNet:
    """Tiny UNet for CPU tests."""
    return UNet(width=width, depth=depth, norm=norm, upsample=upsample, padding_mode=padding_mode)
