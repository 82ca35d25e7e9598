"""Restormer (Zamir et al., CVPR 2022, "Efficient Transformer for High-Resolution Image Restoration").

State-dict keys follow swz30/Restormer (``patch_embed.proj``, ``encoder_level1.i.{norm1,attn,norm2,ffn}``,
``down1_2.body.0``, ``latent``, ``up4_3``, ``reduce_chan_level3``, ``refinement``, ``output``, ...), so the
released ``motion_deblurring.pth`` loads unchanged.

Any H, W: the input is reflect-padded right/bottom to a multiple of 8 and the output cropped back,
which is exactly the official ``Motion_Deblurring/test.py`` recipe (the bare official forward needs
multiples of 8).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.nets.base import Deblurrer
from camdeblur.nets.layers import pad_to_multiple
from camdeblur.nets.registry import register_model


class _TokenNorm(nn.Module):
    """LayerNorm over the last dim of (..., C); bias-free variant scales without centring the output."""

    def __init__(self, dim: int, with_bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.bias = nn.Parameter(torch.zeros(dim)) if with_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(-1, keepdim=True, unbiased=False)
        if self.bias is None:
            return x / torch.sqrt(var + 1e-5) * self.weight
        mu = x.mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + 1e-5) * self.weight + self.bias


class ChannelLayerNorm(nn.Module):
    """(B,C,H,W) LayerNorm over channels, ``'WithBias'`` or ``'BiasFree'`` (keys ``body.weight``/``body.bias``)."""

    def __init__(self, dim: int, layer_norm_type: str = "WithBias") -> None:
        super().__init__()
        self.body = _TokenNorm(dim, with_bias=layer_norm_type != "BiasFree")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        t = x.flatten(2).transpose(1, 2)  # (B, HW, C)
        return self.body(t).transpose(1, 2).reshape(b, c, h, w)


class GatedDconvFFN(nn.Module):
    """Gated-Dconv feed-forward: 1x1 -> depthwise 3x3 -> GELU(x1)*x2 -> 1x1. (B,C,H,W) -> (B,C,H,W)."""

    def __init__(self, dim: int, ffn_expansion_factor: float, bias: bool) -> None:
        super().__init__()
        hidden = int(dim * ffn_expansion_factor)
        self.project_in = nn.Conv2d(dim, hidden * 2, 1, bias=bias)
        self.dwconv = nn.Conv2d(hidden * 2, hidden * 2, 3, 1, 1, groups=hidden * 2, bias=bias)
        self.project_out = nn.Conv2d(hidden, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class MDTA(nn.Module):
    """Multi-Dconv-head transposed attention (channel attention, per-head learnable ``temperature``)."""

    def __init__(self, dim: int, num_heads: int, bias: bool) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.temperature = nn.Parameter(torch.ones(num_heads, 1, 1))
        self.qkv = nn.Conv2d(dim, dim * 3, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(dim * 3, dim * 3, 3, 1, 1, groups=dim * 3, bias=bias)
        self.project_out = nn.Conv2d(dim, dim, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        heads = self.num_heads
        q = F.normalize(q.reshape(b, heads, c // heads, h * w), dim=-1)
        k = F.normalize(k.reshape(b, heads, c // heads, h * w), dim=-1)
        v = v.reshape(b, heads, c // heads, h * w)
        attn = ((q @ k.transpose(-2, -1)) * self.temperature).softmax(dim=-1)
        out = (attn @ v).reshape(b, c, h, w)
        return self.project_out(out)


class TransformerBlock(nn.Module):
    """x + MDTA(LN(x)), then x + GDFN(LN(x)). (B,C,H,W) -> (B,C,H,W)."""

    def __init__(self, dim: int, num_heads: int, ffn_expansion_factor: float, bias: bool, layer_norm_type: str) -> None:
        super().__init__()
        self.norm1 = ChannelLayerNorm(dim, layer_norm_type)
        self.attn = MDTA(dim, num_heads, bias)
        self.norm2 = ChannelLayerNorm(dim, layer_norm_type)
        self.ffn = GatedDconvFFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, in_c: int, dim: int, bias: bool = False) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_c, dim, 3, 1, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class _Down(nn.Module):
    """(B,C,H,W) -> (B,2C,H/2,W/2): 3x3 conv to C/2 then pixel-unshuffle."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c // 2, 3, 1, 1, bias=False), nn.PixelUnshuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class _Up(nn.Module):
    """(B,C,H,W) -> (B,C/2,2H,2W): 3x3 conv to 2C then pixel-shuffle."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c * 2, 3, 1, 1, bias=False), nn.PixelShuffle(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Restormer(Deblurrer):
    """Restormer (official constructor arguments and key layout).

    Forward: (B,inp_channels,H,W) -> (B,out_channels,H,W); residual on the input unless
    ``dual_pixel_task``. Any H, W (reflect-pad to a multiple of 8, crop back).
    """

    #: wrapper key of the official checkpoint files (used when converting back to the official format)
    official_checkpoint_key = "params"

    pad_multiple = 8

    def __init__(self, inp_channels: int = 3, out_channels: int = 3, dim: int = 48,
                 num_blocks: Sequence[int] = (4, 6, 6, 8), num_refinement_blocks: int = 4,
                 heads: Sequence[int] = (1, 2, 4, 8), ffn_expansion_factor: float = 2.66, bias: bool = False,
                 LayerNorm_type: str = "WithBias", dual_pixel_task: bool = False) -> None:  # noqa: N803 - official name
        super().__init__()

        def stage(c: int, h: int, n: int) -> nn.Sequential:
            return nn.Sequential(*[TransformerBlock(c, h, ffn_expansion_factor, bias, LayerNorm_type) for _ in range(n)])

        d1, d2, d3, d4 = dim, dim * 2, dim * 4, dim * 8
        self.patch_embed = _PatchEmbed(inp_channels, dim)
        self.encoder_level1 = stage(d1, heads[0], num_blocks[0])
        self.down1_2 = _Down(d1)
        self.encoder_level2 = stage(d2, heads[1], num_blocks[1])
        self.down2_3 = _Down(d2)
        self.encoder_level3 = stage(d3, heads[2], num_blocks[2])
        self.down3_4 = _Down(d3)
        self.latent = stage(d4, heads[3], num_blocks[3])
        self.up4_3 = _Up(d4)
        self.reduce_chan_level3 = nn.Conv2d(d4, d3, 1, bias=bias)
        self.decoder_level3 = stage(d3, heads[2], num_blocks[2])
        self.up3_2 = _Up(d3)
        self.reduce_chan_level2 = nn.Conv2d(d3, d2, 1, bias=bias)
        self.decoder_level2 = stage(d2, heads[1], num_blocks[1])
        self.up2_1 = _Up(d2)
        self.decoder_level1 = stage(d2, heads[0], num_blocks[0])
        self.refinement = stage(d2, heads[0], num_refinement_blocks)
        self.dual_pixel_task = dual_pixel_task
        if dual_pixel_task:
            self.skip_conv = nn.Conv2d(d1, d2, 1, bias=bias)
        self.output = nn.Conv2d(d2, out_channels, 3, 1, 1, bias=bias)

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        inp_img, h, w = pad_to_multiple(inp_img, self.pad_multiple, mode="reflect")
        e1_in = self.patch_embed(inp_img)
        e1 = self.encoder_level1(e1_in)
        e2 = self.encoder_level2(self.down1_2(e1))
        e3 = self.encoder_level3(self.down2_3(e2))
        lat = self.latent(self.down3_4(e3))
        d3 = self.decoder_level3(self.reduce_chan_level3(torch.cat([self.up4_3(lat), e3], 1)))
        d2 = self.decoder_level2(self.reduce_chan_level2(torch.cat([self.up3_2(d3), e2], 1)))
        d1 = self.refinement(self.decoder_level1(torch.cat([self.up2_1(d2), e1], 1)))
        if self.dual_pixel_task:
            out = self.output(d1 + self.skip_conv(e1_in))
        else:
            out = self.output(d1) + inp_img
        return out[:, :, :h, :w]


register_model(Restormer)


@register_model
def restormer_motion_deblurring(inp_channels: int = 3, out_channels: int = 3, dim: int = 48,
                                num_blocks: Sequence[int] = (4, 6, 6, 8), num_refinement_blocks: int = 4,
                                heads: Sequence[int] = (1, 2, 4, 8), ffn_expansion_factor: float = 2.66,
                                bias: bool = False, LayerNorm_type: str = "WithBias") -> Restormer:  # noqa: N803
    """Released Restormer motion-deblurring configuration (Motion_Deblurring/Options, GoPro)."""
    return Restormer(inp_channels, out_channels, dim, list(num_blocks), num_refinement_blocks, list(heads),
                     ffn_expansion_factor, bias, LayerNorm_type, False)


@register_model
def restormer_tiny(inp_channels: int = 3, out_channels: int = 3, dim: int = 8,
                   num_blocks: Sequence[int] = (1, 1, 1, 1), num_refinement_blocks: int = 1,
                   heads: Sequence[int] = (1, 1, 2, 2), ffn_expansion_factor: float = 2.0,
                   bias: bool = False, LayerNorm_type: str = "WithBias") -> Restormer:  # noqa: N803
    """Tiny CPU Restormer for tests and benchmarks."""
    return Restormer(inp_channels, out_channels, dim, list(num_blocks), num_refinement_blocks, list(heads),
                     ffn_expansion_factor, bias, LayerNorm_type, False)
