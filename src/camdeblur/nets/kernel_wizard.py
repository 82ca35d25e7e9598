"""Encoded blur-kernel space (Tran et al., CVPR 2021): kernel extractor G and blur operator F.

Paper notation (used here): the **kernel extractor** ``G(x, y)`` maps a sharp/blurry pair to an
encoded kernel ``k`` of shape ``(B, kernel_dim, H/128, W/128)``; the **blur operator** ``F(x, k)``
re-blurs a sharp image ``x`` with ``k`` so that ``F(x, G(x, y)) ~= y``. (The official code comments
swap the letters; its modules are ``kernel_extractor`` = G and ``adapter`` (+ trunk) = F.)

Both share one **feature trunk** (``feature_extractor``: conv, two stride-2 convs, residual blocks ->
``nf x H/4 x W/4``). F is that trunk, a 5-level U-Net (``adapter``) whose bottleneck is concatenated
with ``k``, and a reconstruction trunk (``recon_trunk``, residual blocks + two PixelShuffle x2) with
a global residual ``+ x``. G is the trunk applied to x and y, concatenated, then a ResNet encoder
(``kernel_extractor``) with 5 stride-2 convs (H/4 -> H/128). With ``use_vae`` G outputs a mean and a
sigma (``2*kernel_dim`` channels split in half); sigma is used **directly** as a standard deviation
(no exp/softplus), exactly as the official training and consumers do.

:class:`KernelWizard` reproduces the official module and state_dict key layout (released
``GOPRO_woVAE.pth``, ``GOPRO_wVAE.pth``, ``REDS_woVAE.pth`` load with ``strict=True``) and adds:

* :meth:`KernelWizard.extract_kernel` (G) and :meth:`KernelWizard.apply_kernel` (F) for ANY image
  size: inputs are padded internally to the network multiple (128; >= 256 for G), outputs cropped.
* :func:`resample_kernel` to move a kernel grid extracted at one image size onto another size.

Extension (not official): ``out_nf`` (default 64, the official fixed width) sets the width of the
reconstruction trunk's last full-resolution convolutions; the tiny CPU variants use 16.

Official options are accepted as keyword arguments (``KernelWizard(nf=64, ..., KernelExtractor={...},
Adapter={...})``) or as one dict (``KernelWizard(opt)``).
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.errors import CamdeblurError
from camdeblur.nets.registry import register_model

__all__ = [
    "ResidualBlockNoBN",
    "ResnetBlock",
    "KernelExtractor",
    "UnetSkipBlock",
    "KernelAdapter",
    "BlurOperator",
    "KernelWizard",
    "resample_kernel",
    "pad_to_multiple",
    "he_init_",
    "kernel_wizard_gopro",
    "kernel_wizard_gopro_vae",
    "kernel_wizard_tiny",
    "kernel_wizard_tiny_vae",
    "kernel_wizard_small",
    "kernel_wizard_small_vae",
]

#: Spatial reduction from image to kernel grid (two stride-2 convs in the trunk, five in G / U-Net).
KERNEL_STRIDE = 128


# ----------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------
def _norm_layer(norm: str):
    """Official ``get_norm_layer``: returns a factory; 'none' gives Identity (and convs keep no bias)."""
    norm = (norm or "none").lower()
    if norm == "none":
        return (lambda c: nn.Identity()), False
    if norm == "instance":
        return (lambda c: nn.InstanceNorm2d(c, affine=False, track_running_stats=False)), True
    if norm == "batch":
        return (lambda c: nn.BatchNorm2d(c, affine=True, track_running_stats=True)), False
    raise CamdeblurError(f"unknown norm '{norm}' for KernelWizard", fix="use 'none', 'instance' or 'batch'")


class ResidualBlockNoBN(nn.Module):
    """conv3x3 -> ReLU -> conv3x3, plus identity. (B, nf, H, W) -> (B, nf, H, W).

    Initialised like the official one (Kaiming normal scaled by 0.1, zero bias) so that a deep
    trunk starts close to the identity.
    """

    def __init__(self, nf: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        for conv in (self.conv1, self.conv2):
            nn.init.kaiming_normal_(conv.weight, a=0, mode="fan_in")
            conv.weight.data.mul_(0.1)
            nn.init.zeros_(conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(x)))


class ResnetBlock(nn.Module):
    """pix2pix ResNet block: pad -> conv3x3 -> norm -> ReLU [-> dropout] -> pad -> conv3x3 -> norm, + x.

    Kept as ``conv_block`` (nn.Sequential) so the official indices (convs at 1 and 5) hold.
    """

    def __init__(self, dim: int, padding_type: str = "reflect", norm: str = "none",
                 use_dropout: bool = False, use_bias: bool | None = None) -> None:
        super().__init__()
        norm_layer, default_bias = _norm_layer(norm)
        bias = default_bias if use_bias is None else use_bias
        layers: list[nn.Module] = []
        for second in (False, True):
            pad = 0
            if padding_type == "reflect":
                layers.append(nn.ReflectionPad2d(1))
            elif padding_type == "replicate":
                layers.append(nn.ReplicationPad2d(1))
            elif padding_type == "zero":
                pad = 1
            else:
                raise CamdeblurError(f"unknown padding_type '{padding_type}'", fix="reflect, replicate or zero")
            layers += [nn.Conv2d(dim, dim, 3, padding=pad, bias=bias), norm_layer(dim)]
            if not second:
                layers.append(nn.ReLU(True))
                if use_dropout:
                    layers.append(nn.Dropout(0.5))
        self.conv_block = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= 2:
            return x + self.conv_block(x)
        # a 1-pixel-wide grid (128-px image side): reflection is undefined, replicate is its limit
        h = x
        for m in self.conv_block:
            h = F.pad(h, (1, 1, 1, 1), mode="replicate") if isinstance(m, nn.ReflectionPad2d) else m(h)
        return x + h


class KernelExtractor(nn.Module):
    """G's head: features of (sharp, blurry) -> encoded kernel.

    Input: two feature maps (B, nf, h, w) with h, w = H/4, W/4 (multiples of 32, >= 64).
    Output: ``(mean, sigma)``, each (B, kernel_dim, h/32, w/32); without the VAE head sigma is zeros.
    ``n_down`` (official 5) stride-2 convolutions; small variants use fewer (grid h / 2**n_down).
    ``first_kernel`` (official 7) is the size of the first convolution.
    """

    def __init__(self, nf: int = 64, kernel_dim: int = 512, use_vae: bool = False, use_sharp: bool = True,
                 n_blocks: int = 4, norm: str = "none", padding_type: str = "reflect",
                 use_dropout: bool = False, n_down: int = 5, first_kernel: int = 7) -> None:
        super().__init__()
        self.kernel_dim = kernel_dim
        self.use_vae = use_vae
        self.use_sharp = use_sharp
        norm_layer, bias = _norm_layer(norm)
        in_c = nf * 2 if use_sharp else nf
        out_c = kernel_dim * 2 if use_vae else kernel_dim
        layers: list[nn.Module] = [nn.ReflectionPad2d(first_kernel // 2), nn.Conv2d(in_c, nf, first_kernel, padding=0, bias=bias),
                                   norm_layer(nf), nn.ReLU(True)]
        for i in range(n_down):
            c0, c1 = min(nf * 2 ** i, out_c), min(nf * 2 ** (i + 1), out_c)
            layers += [nn.Conv2d(c0, c1, 3, stride=2, padding=1, bias=bias), norm_layer(nf * 2 ** (i + 1)),
                       nn.ReLU(True)]
        for _ in range(n_blocks):
            layers.append(ResnetBlock(out_c, padding_type=padding_type, norm=norm, use_dropout=use_dropout,
                                      use_bias=bias))
        self.model = nn.Sequential(*layers)

    def forward(self, sharp_feat: torch.Tensor, blur_feat: torch.Tensor | None = None):
        inp = torch.cat((sharp_feat, blur_feat), 1) if self.use_sharp else (blur_feat if blur_feat is not None
                                                                             else sharp_feat)
        out = self.model(inp)
        if self.use_vae:
            return out[:, : self.kernel_dim], out[:, self.kernel_dim:]
        return out, torch.zeros_like(out)


_KernelExtractorHead = KernelExtractor  # KernelWizard's official kwarg 'KernelExtractor' shadows the class


class UnetSkipBlock(nn.Module):
    """One pix2pix U-Net level (official ``UnetSkipConnectionBlock``) with the kernel at the bottleneck.

    * outermost: ``down = [conv]``, ``up = [ReLU, ConvT(+bias), Tanh]``, no skip;
    * middle: ``down = [LeakyReLU(0.2), conv, norm]``, ``up = [ReLU, ConvT, norm]``, output ``cat(up, x)``;
    * innermost: as middle but ``up`` consumes ``cat(down(x), k)`` (so only ``max(k, 0)`` matters).
    All convs are k4 s2 p1.

    Extension (not official): ``outer_skip`` adds the outermost block's input to its output (an additive
    skip at the trunk resolution; the official outermost level has none, so every bit of x reaching
    F's residual has to pass the H/8 level, which a narrow CPU model cannot learn in minutes).
    """

    def __init__(self, outer_nc: int, inner_nc: int, input_nc: int | None = None,
                 submodule: "UnetSkipBlock | None" = None, outermost: bool = False, innermost: bool = False,
                 norm: str = "none", use_dropout: bool = False, kernel_dim: int | None = None,
                 outer_skip: bool = False) -> None:
        super().__init__()
        self.outermost, self.innermost, self.outer_skip = outermost, innermost, outer_skip
        kernel_dim = inner_nc if kernel_dim is None else kernel_dim
        norm_layer, bias = _norm_layer(norm)
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, 2, 1, bias=bias)
        if outermost:
            self.down = nn.Sequential(downconv)
            self.submodule = submodule
            self.up = nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1), nn.Tanh())
        elif innermost:
            self.down = nn.Sequential(nn.LeakyReLU(0.2, True), downconv)
            self.submodule = None
            self.up = nn.Sequential(nn.ReLU(True), nn.ConvTranspose2d(inner_nc + kernel_dim, outer_nc, 4, 2, 1,
                                                                      bias=bias), norm_layer(outer_nc))
        else:
            self.down = nn.Sequential(nn.LeakyReLU(0.2, True), downconv, norm_layer(inner_nc))
            self.submodule = submodule
            up = [nn.ReLU(True), nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, 2, 1, bias=bias), norm_layer(outer_nc)]
            if use_dropout:
                up.append(nn.Dropout(0.5))
            self.up = nn.Sequential(*up)
        # never modify the caller's tensor in place (the official in-place LeakyReLU does; numerically
        # irrelevant because every skip first meets the parent's ReLU, but it breaks autograd reuse)
        for seq in (self.down, self.up):
            for m in seq:
                if isinstance(m, (nn.ReLU, nn.LeakyReLU)):
                    m.inplace = False

    def forward(self, x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        h = self.down(x)
        h = torch.cat([h, k], 1) if self.innermost else self.submodule(h, k)
        h = self.up(h)
        if self.outermost:
            return h + x if self.outer_skip else h
        return torch.cat([h, x], 1)


class KernelAdapter(nn.Module):
    """F's bottleneck network: ``levels``-level U-Net (official 5) on trunk features (B, nf, h, w) with
    k (B, kernel_dim, h/2**levels, w/2**levels) joined at the bottleneck.

    Level widths (outermost first) are nf, 2nf, 4nf, 8nf, 8nf, ... (the official 5-level layout).
    """

    def __init__(self, nf: int = 64, norm: str = "none", use_dropout: bool = False, levels: int = 5,
                 kernel_dim: int | None = None, outer_skip: bool = False) -> None:
        super().__init__()
        if levels < 2:
            raise CamdeblurError(f"the kernel adapter needs at least 2 U-Net levels, got {levels}")
        inner = [nf * min(2 ** i, 8) for i in range(levels)]  # inner width of level i (0 = outermost)
        outer = [nf] + inner[:-1]
        block = UnetSkipBlock(outer[-1], inner[-1], innermost=True, norm=norm, kernel_dim=kernel_dim)
        for i in range(levels - 2, 0, -1):
            block = UnetSkipBlock(outer[i], inner[i], submodule=block, norm=norm, use_dropout=use_dropout)
        self.model = UnetSkipBlock(nf, nf, input_nc=nf, submodule=block, outermost=True, norm=norm,
                                   outer_skip=outer_skip)

    def forward(self, feat: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        return self.model(feat, k)


def _feature_trunk(input_nc: int, nf: int, front_RBs: int, down: int = 2) -> nn.Sequential:  # noqa: N803
    """conv3x3 + LReLU, ``down`` (official 2) stride-2 conv3x3 + LReLU, residual blocks: (B,C,H,W) -> (B,nf,H/2**down,.)."""
    lrelu = nn.LeakyReLU(0.1)
    layers: list[nn.Module] = [nn.Conv2d(input_nc, nf, 3, 1, 1), lrelu]
    for _ in range(down):
        layers += [nn.Conv2d(nf, nf, 3, 2, 1), lrelu]
    layers += [ResidualBlockNoBN(nf) for _ in range(front_RBs)]
    return nn.Sequential(*layers)


def _recon_trunk(input_nc: int, nf: int, back_RBs: int, out_nf: int = 64, up: int = 2) -> nn.Sequential:  # noqa: N803
    """Residual blocks, ``up`` (official 2) conv + PixelShuffle(2) + LReLU stages, conv + LReLU, conv to image."""
    lrelu = nn.LeakyReLU(0.1)
    layers: list[nn.Module] = [ResidualBlockNoBN(nf) for _ in range(back_RBs)]
    c = nf
    for j in range(up):
        c_out = out_nf if j == up - 1 else nf
        layers += [nn.Conv2d(c, c_out * 4, 3, 1, 1), nn.PixelShuffle(2), lrelu]
        c = c_out
    layers += [nn.Conv2d(c, out_nf, 3, 1, 1), lrelu, nn.Conv2d(out_nf, input_nc, 3, 1, 1)]
    return nn.Sequential(*layers)


# ----------------------------------------------------------------------------------------------
# size handling
# ----------------------------------------------------------------------------------------------
def pad_to_multiple(x: torch.Tensor, multiple: int = KERNEL_STRIDE, minimum: int = 0) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (B, C, H, W) at bottom/right to a multiple of ``multiple`` (and at least ``minimum``).

    Reflect padding where possible (keeps image statistics), replicate where the pad is larger than
    the image. Returns the padded tensor and the original (H, W) for cropping.
    """
    h, w = x.shape[-2:]
    th = max(math.ceil(h / multiple) * multiple, minimum)
    tw = max(math.ceil(w / multiple) * multiple, minimum)
    ph, pw = th - h, tw - w
    if ph == 0 and pw == 0:
        return x, (h, w)
    mode = "reflect" if (ph < h and pw < w) else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode), (h, w)


def resample_kernel(kernel: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resample an encoded kernel grid (B, D, h, w) to (B, D, *size).

    Used to transfer a kernel extracted on an image of one size onto an image of another size: the
    grid cell i covers image rows [128 i, 128 (i+1)), so a spatially uniform blur is preserved by any
    mode, and a slowly varying one is interpolated (``mode`` 'bilinear' or 'nearest'; 'mean' takes
    the grid average everywhere, i.e. treats the blur as uniform).
    """
    if kernel.dim() != 4:
        raise CamdeblurError(f"kernel must be (B, D, h, w), got shape {tuple(kernel.shape)}")
    if mode not in ("bilinear", "nearest", "mean"):
        raise CamdeblurError(f"unknown kernel resampling mode '{mode}'", fix="use 'bilinear', 'nearest' or 'mean'")
    size = (int(size[0]), int(size[1]))
    if tuple(kernel.shape[-2:]) == size:
        return kernel
    if mode == "mean":
        return kernel.mean((-2, -1), keepdim=True).expand(*kernel.shape[:2], *size).contiguous()
    if kernel.shape[-2:] == (1, 1):
        return kernel.expand(*kernel.shape[:2], *size).contiguous()
    if mode == "nearest":
        return F.interpolate(kernel, size=size, mode="nearest")
    return F.interpolate(kernel, size=size, mode="bilinear", align_corners=False)


def _check_image(x: torch.Tensor, channels: int, what: str) -> None:
    if not torch.is_tensor(x) or x.dim() != 4:
        raise CamdeblurError(f"{what} must be a (B, C, H, W) tensor, got "
                             f"{tuple(x.shape) if torch.is_tensor(x) else type(x).__name__}")
    if x.shape[1] != channels:
        raise CamdeblurError(f"{what} has {x.shape[1]} channels, the model expects {channels}",
                             fix="convert to RGB (or build the model with input_nc matching your images)")


# ----------------------------------------------------------------------------------------------
# F and the full model
# ----------------------------------------------------------------------------------------------
class BlurOperator(nn.Module):
    """F(x, k): re-blur sharp ``x`` (B, C, H, W) with encoded kernel ``k`` (B, 8nf, H/128, W/128).

    Same key names as the corresponding parts of :class:`KernelWizard` (``feature_extractor``,
    ``adapter``, ``recon_trunk``), so ``BlurOperator.load_state_dict(wizard_sd, strict=False)``
    works; :meth:`KernelWizard.blur_operator` returns one sharing the wizard's parameters.
    Any size: ``x`` is padded to a multiple of 128 and the kernel grid resampled to match.
    """

    def __init__(self, input_nc: int = 3, nf: int = 64, back_RBs: int = 20, front_RBs: int = 10,  # noqa: N803
                 adapter_norm: str = "none", adapter_dropout: bool = False, out_nf: int = 64,
                 kernel_dim: int | None = None, trunk_down: int = 2, unet_levels: int = 5,
                 outer_skip: bool = False) -> None:
        super().__init__()
        kernel_dim = nf * min(2 ** (unet_levels - 1), 8) if kernel_dim is None else kernel_dim
        self.input_nc, self.nf, self.kernel_dim = input_nc, nf, kernel_dim
        self.kernel_stride = 2 ** (trunk_down + unet_levels)
        self.feature_extractor = _feature_trunk(input_nc, nf, front_RBs, trunk_down)
        self.adapter = KernelAdapter(nf, norm=adapter_norm, use_dropout=adapter_dropout, levels=unet_levels,
                                     kernel_dim=kernel_dim, outer_skip=outer_skip)
        self.recon_trunk = _recon_trunk(input_nc, nf, back_RBs, out_nf, trunk_down)

    def adaptKernel(self, x_sharp: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """Official F on sizes that are multiples of 128 (kernel grid H/128 x W/128). (B,C,H,W)."""
        feat = self.feature_extractor(x_sharp)
        return self.recon_trunk(self.adapter(feat, kernel)) + x_sharp

    def apply_kernel(self, sharp: torch.Tensor, kernel: torch.Tensor, resample: str = "bilinear") -> torch.Tensor:
        """F(x, k) for any size: (B, C, H, W), kernel (B or 1, kernel_dim, h, w) -> (B, C, H, W).

        The image is padded to a multiple of 128, the kernel grid resampled to the padded grid
        (see :func:`resample_kernel`), and the result cropped back.
        """
        _check_image(sharp, self.input_nc, "sharp image")
        if kernel.dim() != 4 or kernel.shape[1] != self.kernel_dim:
            raise CamdeblurError(f"kernel must be (B, {self.kernel_dim}, h, w), got {tuple(kernel.shape)}",
                                 fix="use a kernel produced by extract_kernel of the same model")
        if kernel.shape[0] not in (1, sharp.shape[0]):
            raise CamdeblurError(f"kernel batch {kernel.shape[0]} does not match image batch {sharp.shape[0]}")
        stride = getattr(self, "kernel_stride", KERNEL_STRIDE)
        xp, (h, w) = pad_to_multiple(sharp, stride)
        grid = (xp.shape[-2] // stride, xp.shape[-1] // stride)
        k = resample_kernel(kernel.to(xp.dtype), grid, resample)
        if k.shape[0] != xp.shape[0]:
            k = k.expand(xp.shape[0], -1, -1, -1)
        return self.adaptKernel(xp, k)[..., :h, :w]

    def forward(self, sharp: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
        return self.apply_kernel(sharp, kernel)


class KernelWizard(nn.Module):
    """The official kernel-space model: shared trunk, G (``kernel_extractor``) and F (``adapter`` + trunk).

    ``forward(x_sharp, x_blur)`` is the official one: returns ``(kernel_mean, kernel_sigma)`` of
    shape (B, kernel_dim, H/128, W/128) (sigma is zeros without the VAE); here it also accepts any
    size by padding to a multiple of 128 and at least 256 (the kernel grid then covers the padded
    image). ``adaptKernel(x, k)`` is the official F.

    Convenience API:

    * :meth:`extract_kernel` (G): woVAE -> kernel tensor; VAE -> ``(mean, sigma)`` tuple (use
      :meth:`sample_kernel` to draw ``mean + sigma * eps``).
    * :meth:`encode` always returns ``(mean, sigma)``.
    * :meth:`apply_kernel` (F), any size, kernel grid resampled to the image.
    * :meth:`transfer` = ``F(target, G(x, y))``.
    """

    def __init__(self, opt: Mapping[str, Any] | None = None, *, input_nc: int = 3, nf: int = 64,
                 front_RBs: int = 10, back_RBs: int = 20, N_frames: int = 1, kernel_dim: int = 512,  # noqa: N803
                 img_size: int = 256, use_vae: bool = False, KernelExtractor: Mapping[str, Any] | None = None,  # noqa: N803
                 Adapter: Mapping[str, Any] | None = None, out_nf: int = 64, trunk_down: int = 2,  # noqa: N803
                 unet_levels: int = 5, outer_skip: bool = False) -> None:
        super().__init__()
        if opt is not None:  # official call style KernelWizard(opt)
            opt = dict(opt)
            input_nc, nf = opt.get("input_nc", input_nc), opt.get("nf", nf)
            front_RBs, back_RBs = opt.get("front_RBs", front_RBs), opt.get("back_RBs", back_RBs)
            N_frames, kernel_dim = opt.get("N_frames", N_frames), opt.get("kernel_dim", kernel_dim)
            img_size, use_vae = opt.get("img_size", img_size), opt.get("use_vae", use_vae)
            KernelExtractor, Adapter = opt.get("KernelExtractor", KernelExtractor), opt.get("Adapter", Adapter)
        official = trunk_down == 2 and unet_levels == 5 and not outer_skip
        if official and kernel_dim != 8 * nf:
            raise CamdeblurError(f"KernelWizard needs kernel_dim == 8*nf, got kernel_dim={kernel_dim}, nf={nf}",
                                 fix=f"set kernel_dim={8 * nf} (the kernel joins the U-Net bottleneck of 8*nf channels)")
        if trunk_down < 0 or unet_levels < 2:
            raise CamdeblurError(f"invalid KernelWizard sizes trunk_down={trunk_down}, unet_levels={unet_levels}",
                                 fix="trunk_down >= 0, unet_levels >= 2 (official: 2 and 5)")
        ke = {"norm": "none", "use_sharp": True, "n_blocks": 4, "padding_type": "reflect", "use_dropout": False,
              "first_kernel": 7}
        ke.update(dict(KernelExtractor or {}))
        ad = {"norm": "none", "use_dropout": False}
        ad.update(dict(Adapter or {}))
        self.input_nc, self.nf, self.kernel_dim, self.use_vae = input_nc, nf, kernel_dim, bool(use_vae)
        self.img_size, self.N_frames = img_size, N_frames
        self.kernel_stride = 2 ** (trunk_down + unet_levels)  # image pixels per kernel-grid cell (official 128)
        self.feature_extractor = _feature_trunk(input_nc, nf, front_RBs, trunk_down)
        self.kernel_extractor = _KernelExtractorHead(
            nf=nf, kernel_dim=kernel_dim, use_vae=bool(use_vae), use_sharp=ke["use_sharp"], n_blocks=ke["n_blocks"],
            norm=ke["norm"], padding_type=ke["padding_type"], use_dropout=ke["use_dropout"], n_down=unet_levels,
            first_kernel=ke["first_kernel"])
        self.adapter = KernelAdapter(nf, norm=ad["norm"], use_dropout=ad["use_dropout"], levels=unet_levels,
                                     kernel_dim=kernel_dim, outer_skip=outer_skip)
        self.recon_trunk = _recon_trunk(input_nc, nf, back_RBs, out_nf, trunk_down)
        self._front_RBs, self._back_RBs, self._adapter_opts = front_RBs, back_RBs, ad

    # -- official API --------------------------------------------------------------------------
    def adaptKernel(self, x_sharp: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:  # noqa: N802
        """Official F for multiples of 128: (B, C, H, W), (B, kernel_dim, H/128, W/128) -> (B, C, H, W)."""
        feat = self.feature_extractor(x_sharp)
        return self.recon_trunk(self.adapter(feat, kernel)) + x_sharp

    def forward(self, x_sharp: torch.Tensor, x_blur: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Official G: ``(kernel_mean, kernel_sigma)``, each (B, kernel_dim, H'/128, W'/128).

        H', W' = H, W rounded up to a multiple of 128; identical to the official model on the sizes it
        accepts. A 128-px side gives a 1-wide grid, where the extractor's reflection padding (undefined
        there) becomes replication, its limit; the official code cannot run that case.
        """
        _check_image(x_sharp, self.input_nc, "sharp image")
        _check_image(x_blur, self.input_nc, "blurry image")
        if x_sharp.shape != x_blur.shape:
            raise CamdeblurError(f"sharp {tuple(x_sharp.shape)} and blurry {tuple(x_blur.shape)} shapes differ",
                                 fix="pass an aligned pair of the same size")
        xs, _ = pad_to_multiple(x_sharp, self.kernel_stride)
        xb, _ = pad_to_multiple(x_blur, self.kernel_stride)
        if self.kernel_extractor.use_sharp:
            # one trunk pass over both images (batched) -- same numbers as two passes
            feats = self.feature_extractor(torch.cat([xs, xb], 0))
            fs, fb = feats.chunk(2, 0)
            return self.kernel_extractor(fs, fb)
        return self.kernel_extractor(None, self.feature_extractor(xb))

    # -- paper-named API -----------------------------------------------------------------------
    def encode(self, sharp: torch.Tensor, blurry: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """G(x, y) as ``(mean, sigma)``; sigma is zeros without the VAE head."""
        return self.forward(sharp, blurry)

    def extract_kernel(self, sharp: torch.Tensor, blurry: torch.Tensor):
        """G(x, y). woVAE: the kernel (B, kernel_dim, h, w). VAE: the tuple ``(mean, sigma)``.

        h, w = ceil(H/128), ceil(W/128) (the image is padded at the bottom/right to a multiple of 128).
        """
        mean, sigma = self.forward(sharp, blurry)
        return (mean, sigma) if self.use_vae else mean

    @staticmethod
    def sample_kernel(mean: torch.Tensor, sigma: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Official reparameterisation: ``mean + sigma * eps``, eps ~ N(0, 1) (sigma used as a std)."""
        eps = torch.randn(mean.shape, generator=generator, dtype=mean.dtype,
                          device=mean.device if generator is None else generator.device).to(mean.device)
        return mean + sigma * eps

    def apply_kernel(self, sharp: torch.Tensor, kernel: torch.Tensor, resample: str = "bilinear") -> torch.Tensor:
        """F(x, k) for any image size; see :meth:`BlurOperator.apply_kernel`."""
        return BlurOperator.apply_kernel(self, sharp, kernel, resample)  # type: ignore[arg-type]

    def transfer(self, target: torch.Tensor, sharp: torch.Tensor, blurry: torch.Tensor,
                 resample: str = "bilinear", sample: bool = False,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """Blur transfer ``F(target, G(sharp, blurry))``; sizes of target and the pair may differ."""
        mean, sigma = self.forward(sharp, blurry)
        k = self.sample_kernel(mean, sigma, generator) if (sample and self.use_vae) else mean
        return self.apply_kernel(target, k, resample)

    def blur_operator(self) -> BlurOperator:
        """F as its own module, sharing this model's parameters (e.g. to freeze it for deblurring)."""
        op = BlurOperator.__new__(BlurOperator)
        nn.Module.__init__(op)
        op.input_nc, op.nf, op.kernel_dim, op.kernel_stride = self.input_nc, self.nf, self.kernel_dim, self.kernel_stride
        op.feature_extractor, op.adapter, op.recon_trunk = self.feature_extractor, self.adapter, self.recon_trunk
        return op

    def extra_repr(self) -> str:
        return f"nf={self.nf}, kernel_dim={self.kernel_dim}, use_vae={self.use_vae}"


register_model(KernelWizard)


def he_init_(model: KernelWizard, zero_residual: bool = True, diff_gain: float | None = 30.0) -> KernelWizard:
    """Re-initialise G's head and the U-Net adapter with He (Kaiming normal) weights, zero biases.

    PyTorch's default conv init shrinks activations through the bias-free, norm-free 6-conv extractor,
    so a fresh model's kernels are ~1e-3 and F ignores them for many steps; He init keeps the kernel
    path at unit scale, which shortens training a lot. Residual trunks keep their 0.1-scaled init.

    ``zero_residual`` also zeroes F's last convolution, so F starts as the exact identity
    (``F(x, k) = x``) instead of adding a large random residual: otherwise the first Adam steps
    spend themselves switching the random residual off, which kills ReLUs and leaves F stuck at
    the identity (measured: transfer gain -0.01 dB after 150 steps).

    ``diff_gain`` (G with ``use_sharp`` only) makes G's first convolution start antisymmetric,
    ``W_y = -W_x = diff_gain * W_he``: G then sees trunk features of y minus those of x, so a sharp/sharp
    pair gives exactly the zero kernel and a blurry pair a kernel that grows with its blur residual;
    the gain (30) brings the kernels of typical residuals (feature differences ~0.03) to unit scale.
    Without it G's random kernels only describe image content, F learns to ignore them (kernels
    collapse to ~0 within 50 steps) and training ends in a generic, kernel-independent blur.
    ``None`` keeps the plain He init.
    """
    with torch.no_grad():
        for part, slope in ((model.kernel_extractor, 0.0), (model.adapter, 0.2)):
            for m in part.modules():
                if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                    nn.init.kaiming_normal_(m.weight, a=slope, nonlinearity="leaky_relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        head = model.kernel_extractor
        if diff_gain is not None and getattr(head, "use_sharp", False):
            first = next(m for m in head.model if isinstance(m, nn.Conv2d))
            half = first.weight.shape[1] // 2
            first.weight[:, :half] *= diff_gain
            first.weight[:, half:] = -first.weight[:, :half]
        if zero_residual:
            last = model.recon_trunk[-1]
            nn.init.zeros_(last.weight)
            if last.bias is not None:
                nn.init.zeros_(last.bias)
    return model


def _official(nf: int, front_RBs: int, back_RBs: int, use_vae: bool, n_blocks: int = 4, **kw: Any) -> KernelWizard:  # noqa: N803
    return KernelWizard(input_nc=kw.pop("input_nc", 3), nf=nf, out_nf=kw.pop("out_nf", 64), front_RBs=front_RBs, back_RBs=back_RBs,
                        kernel_dim=8 * nf, use_vae=use_vae,
                        KernelExtractor={"norm": "none", "use_sharp": True, "n_blocks": n_blocks,
                                         "padding_type": "reflect", "use_dropout": False},
                        Adapter={"norm": "none", "use_dropout": False}, **kw)


@register_model
def kernel_wizard_gopro(nf: int = 64, front_RBs: int = 10, back_RBs: int = 20, n_blocks: int = 4) -> KernelWizard:  # noqa: N803
    """Official GOPRO/REDS woVAE size (49.2 M params; ``GOPRO_woVAE.pth``, ``REDS_woVAE.pth``)."""
    return _official(nf, front_RBs, back_RBs, False, n_blocks)


@register_model
def kernel_wizard_gopro_vae(nf: int = 64, front_RBs: int = 10, back_RBs: int = 20, n_blocks: int = 4) -> KernelWizard:  # noqa: N803
    """Official GOPRO wVAE size (115.3 M params; ``GOPRO_wVAE.pth``)."""
    return _official(nf, front_RBs, back_RBs, True, n_blocks)


@register_model
def kernel_wizard_tiny(nf: int = 8, front_RBs: int = 1, back_RBs: int = 2, n_blocks: int = 1,
                       out_nf: int = 16) -> KernelWizard:  # noqa: N803
    """Small CPU variant for tests and quick training (official layout, narrower last convs)."""
    return _official(nf, front_RBs, back_RBs, False, n_blocks, out_nf=out_nf)


@register_model
def kernel_wizard_tiny_vae(nf: int = 8, front_RBs: int = 1, back_RBs: int = 2, n_blocks: int = 1,
                           out_nf: int = 16) -> KernelWizard:  # noqa: N803
    """Small CPU variant with the VAE head."""
    return _official(nf, front_RBs, back_RBs, True, n_blocks, out_nf=out_nf)


def _small(use_vae: bool, nf: int, kernel_dim: int, unet_levels: int, **kw: Any) -> KernelWizard:
    return KernelWizard(input_nc=kw.pop("input_nc", 3), nf=nf, out_nf=kw.pop("out_nf", nf), front_RBs=kw.pop("front_RBs", 0),
                        back_RBs=kw.pop("back_RBs", 1), kernel_dim=kernel_dim, use_vae=use_vae, trunk_down=0,
                        unet_levels=unet_levels, outer_skip=True,
                        KernelExtractor={"norm": "none", "use_sharp": True, "n_blocks": kw.pop("n_blocks", 1),
                                         "padding_type": "reflect", "use_dropout": False, "first_kernel": 3},
                        Adapter={"norm": "none", "use_dropout": False}, **kw)


@register_model
def kernel_wizard_small(nf: int = 16, kernel_dim: int = 64, unet_levels: int = 5, front_RBs: int = 0,  # noqa: N803
                        back_RBs: int = 1, n_blocks: int = 1) -> KernelWizard:  # noqa: N803
    """CPU variant that LEARNS blur transfer in minutes (paper structure, documented deviations).

    Same structure as the paper (G on concatenated trunk features of x and y; F an encoder-decoder on
    x with k at the bottleneck and a global residual), but sized for 64-128 px crops on a CPU:

    * the trunk keeps full resolution (``trunk_down=0`` instead of two stride-2 convs) and the
      5-level U-Net's outermost level has an additive skip (``outer_skip``). In the official layout
      everything F knows about x passes an H/8 x nf bottleneck; a narrow model then cannot represent
      the high-frequency residual ``psf (*) x - x`` and training collapses to ``F(x, k) = x``;
    * kernel grid H/32 x W/32 (``unet_levels=5`` over full resolution; official H/128), so 64-px
      crops give a 2 x 2 grid instead of one cell mostly made of padding;
    * ``kernel_dim`` 64 (official 8 nf), G's first conv 3x3 (official 7x7, run at H/4 there).
    """
    return _small(False, nf, kernel_dim, unet_levels, front_RBs=front_RBs, back_RBs=back_RBs, n_blocks=n_blocks)


@register_model
def kernel_wizard_small_vae(nf: int = 16, kernel_dim: int = 64, unet_levels: int = 5, front_RBs: int = 0,  # noqa: N803
                            back_RBs: int = 1, n_blocks: int = 1) -> KernelWizard:  # noqa: N803
    """:func:`kernel_wizard_small` with the VAE head."""
    return _small(True, nf, kernel_dim, unet_levels, front_RBs=front_RBs, back_RBs=back_RBs, n_blocks=n_blocks)
