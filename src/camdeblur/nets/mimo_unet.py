"""MIMO-UNet and MIMO-UNet+ (Cho et al., ICCV 2021, "Rethinking Coarse-to-Fine Approach in Single Image Deblurring").

State-dict keys follow chosj95/MIMO-UNet (``Encoder``, ``feat_extract``, ``Decoder``, ``Convs``,
``ConvsOut``, ``AFFs``, ``FAM1``/``FAM2``, ``SCM1``/``SCM2``; every conv wrapped as ``*.main.0``), so the
released ``MIMO-UNet.pkl`` / ``MIMO-UNetPlus.pkl`` (``{'model': state_dict}``) load unchanged.

``forward`` returns the official list of three estimates ``[1/4, 1/2, full]`` resolution.
Any H, W: the official network needs multiples of 4; other sizes are reflect-padded right/bottom to
a multiple of 4 and every scale is cropped back to ``ceil(H/s) x ceil(W/s)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.nets.base import Deblurrer
from camdeblur.nets.layers import pad_to_multiple
from camdeblur.nets.registry import register_model


class BasicConv(nn.Module):
    """Conv (or transposed conv) + optional BatchNorm + optional ReLU, in ``self.main`` (official keys)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1, bias: bool = True,
                 norm: bool = False, relu: bool = True, transpose: bool = False) -> None:
        super().__init__()
        if bias and norm:
            bias = False
        layers: list[nn.Module] = []
        if transpose:
            layers.append(nn.ConvTranspose2d(in_channel, out_channel, kernel_size, stride=stride,
                                             padding=kernel_size // 2 - 1, bias=bias))
        else:
            layers.append(nn.Conv2d(in_channel, out_channel, kernel_size, stride=stride,
                                    padding=kernel_size // 2, bias=bias))
        if norm:
            layers.append(nn.BatchNorm2d(out_channel))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class ResBlock(nn.Module):
    """x + conv3x3(ReLU(conv3x3(x))). (B,C,H,W) -> (B,C,H,W)."""

    def __init__(self, in_channel: int, out_channel: int) -> None:
        super().__init__()
        self.main = nn.Sequential(BasicConv(in_channel, out_channel, 3, 1, relu=True),
                                  BasicConv(out_channel, out_channel, 3, 1, relu=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x) + x


class ResStage(nn.Module):
    """``num_res`` residual blocks in ``self.layers`` (official EBlock/DBlock)."""

    def __init__(self, channel: int, num_res: int = 8) -> None:
        super().__init__()
        self.layers = nn.Sequential(*[ResBlock(channel, channel) for _ in range(num_res)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class AFF(nn.Module):
    """Asymmetric feature fusion: concat three scales' features -> 1x1 (ReLU) -> 3x3."""

    def __init__(self, in_channel: int, out_channel: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(BasicConv(in_channel, out_channel, 1, 1, relu=True),
                                  BasicConv(out_channel, out_channel, 3, 1, relu=False))

    def forward(self, x1: torch.Tensor, x2: torch.Tensor, x4: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x1, x2, x4], dim=1))


class SCM(nn.Module):
    """Shallow convolutional module: (B,3,h,w) image -> (B,out_plane,h,w) features (keeps the image channels)."""

    def __init__(self, out_plane: int) -> None:
        super().__init__()
        self.main = nn.Sequential(
            BasicConv(3, out_plane // 4, 3, 1, relu=True),
            BasicConv(out_plane // 4, out_plane // 2, 1, 1, relu=True),
            BasicConv(out_plane // 2, out_plane // 2, 3, 1, relu=True),
            BasicConv(out_plane // 2, out_plane - 3, 1, 1, relu=True),
        )
        self.conv = BasicConv(out_plane, out_plane, 1, 1, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat([x, self.main(x)], dim=1))


class FAM(nn.Module):
    """Feature attention module: x1 + conv3x3(x1 * x2)."""

    def __init__(self, channel: int) -> None:
        super().__init__()
        self.merge = BasicConv(channel, channel, 3, 1, relu=False)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        return x1 + self.merge(x1 * x2)


class MIMOUNet(Deblurrer):
    """MIMO-UNet (official constructor argument ``num_res``; base channels 32).

    Forward: (B,3,H,W) -> [(B,3,H/4,W/4), (B,3,H/2,W/2), (B,3,H,W)] (sizes rounded up for odd inputs).
    """

    #: wrapper key of the official checkpoint files (used when converting back to the official format)
    official_checkpoint_key = "model"

    pad_multiple = 4
    _dropout: float = 0.0

    def __init__(self, num_res: int = 8, base_channel: int = 32) -> None:
        super().__init__()
        b = base_channel
        self.Encoder = nn.ModuleList([ResStage(b, num_res), ResStage(b * 2, num_res), ResStage(b * 4, num_res)])
        self.feat_extract = nn.ModuleList([
            BasicConv(3, b, 3, relu=True, stride=1),
            BasicConv(b, b * 2, 3, relu=True, stride=2),
            BasicConv(b * 2, b * 4, 3, relu=True, stride=2),
            BasicConv(b * 4, b * 2, 4, relu=True, stride=2, transpose=True),
            BasicConv(b * 2, b, 4, relu=True, stride=2, transpose=True),
            BasicConv(b, 3, 3, relu=False, stride=1),
        ])
        self.Decoder = nn.ModuleList([ResStage(b * 4, num_res), ResStage(b * 2, num_res), ResStage(b, num_res)])
        self.Convs = nn.ModuleList([BasicConv(b * 4, b * 2, 1, relu=True, stride=1),
                                    BasicConv(b * 2, b, 1, relu=True, stride=1)])
        self.ConvsOut = nn.ModuleList([BasicConv(b * 4, 3, 3, relu=False, stride=1),
                                       BasicConv(b * 2, 3, 3, relu=False, stride=1)])
        self.AFFs = nn.ModuleList([AFF(b * 7, b), AFF(b * 7, b * 2)])
        self.FAM1 = FAM(b * 4)
        self.SCM1 = SCM(b * 4)
        self.FAM2 = FAM(b * 2)
        self.SCM2 = SCM(b * 2)
        if self._dropout > 0:
            self.drop1 = nn.Dropout2d(self._dropout)
            self.drop2 = nn.Dropout2d(self._dropout)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        x, _, _ = pad_to_multiple(x, self.pad_multiple, mode="reflect")
        outs = self._forward(x)
        if x.shape[-2:] != (h, w):
            outs = [o[:, :, : -(-h // s), : -(-w // s)] for o, s in zip(outs, (4, 2, 1))]
        return outs

    def _forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x_2 = F.interpolate(x, scale_factor=0.5)
        x_4 = F.interpolate(x_2, scale_factor=0.5)
        z2 = self.SCM2(x_2)
        z4 = self.SCM1(x_4)

        res1 = self.Encoder[0](self.feat_extract[0](x))
        z = self.FAM2(self.feat_extract[1](res1), z2)
        res2 = self.Encoder[1](z)
        z = self.FAM1(self.feat_extract[2](res2), z4)
        z = self.Encoder[2](z)

        z12 = F.interpolate(res1, scale_factor=0.5)
        z21 = F.interpolate(res2, scale_factor=2)
        z42 = F.interpolate(z, scale_factor=2)
        z41 = F.interpolate(z42, scale_factor=2)
        res2 = self.AFFs[1](z12, res2, z42)
        res1 = self.AFFs[0](res1, z21, z41)
        if self._dropout > 0:
            res2 = self.drop2(res2)
            res1 = self.drop1(res1)

        outputs = []
        z = self.Decoder[0](z)
        outputs.append(self.ConvsOut[0](z) + x_4)
        z = self.feat_extract[3](z)
        z = self.Decoder[1](self.Convs[0](torch.cat([z, res2], dim=1)))
        outputs.append(self.ConvsOut[1](z) + x_2)
        z = self.feat_extract[4](z)
        z = self.Decoder[2](self.Convs[1](torch.cat([z, res1], dim=1)))
        outputs.append(self.feat_extract[5](z) + x)
        return outputs


class MIMOUNetPlus(MIMOUNet):
    """MIMO-UNet+ (20 residual blocks per stage, Dropout2d(0.1) on the fused skips while training)."""

    _dropout = 0.1

    def __init__(self, num_res: int = 20, base_channel: int = 32) -> None:
        super().__init__(num_res=num_res, base_channel=base_channel)


register_model(MIMOUNet)
register_model(MIMOUNetPlus)


@register_model
def mimo_unet(num_res: int = 8) -> MIMOUNet:
    """Released MIMO-UNet (GoPro) configuration."""
    return MIMOUNet(num_res=num_res)


@register_model
def mimo_unet_plus(num_res: int = 20) -> MIMOUNetPlus:
    """Released MIMO-UNet+ (GoPro) configuration."""
    return MIMOUNetPlus(num_res=num_res)


@register_model
def mimo_unet_tiny(num_res: int = 1, base_channel: int = 8) -> MIMOUNet:
    """Tiny CPU MIMO-UNet (1 residual block per stage, 8 base channels) for tests and benchmarks."""
    return MIMOUNet(num_res=num_res, base_channel=base_channel)
