"""Blind deblurring in the encoded blur-kernel space (Tran et al., CVPR 2021, Sec. 3.2).

Given a blurry image y and a trained, frozen blur operator F (a :class:`~camdeblur.nets.kernel_wizard.KernelWizard`),
search a sharp image x and an encoded kernel k minimising (paper Eq. 6)::

    rho(y, F(x, k)) + lambda * ||k||_2 + gamma * mean((g_u(x)^2 + g_v(x)^2)^(alpha/2))

with rho the Charbonnier loss and g_u, g_v image derivatives (the hyper-Laplacian gradient prior).
The paper reparameterises both unknowns by deep image priors, ``x = G^x(z_x)`` (a skip U-Net on a
fixed noise input, :class:`ImageDIP`) and ``k = G^k(z_k)`` (a network shaped like the kernel
extractor's head, :class:`KernelDIP`), warms them up towards initial guesses and then optimises
them (Algorithm 1; the official code updates both networks at every step). That "original" recipe
runs 5000 iterations (209 s per 256^2 image on a V100, paper supplement).

Everything here is one functional call with a dataclass config::

    from camdeblur.methods.kernel_space_deblur import blind_deblur, preset
    kw = camdeblur.load_model(weights="runs/kernels/model.safetensors")
    x, k, history = blind_deblur(kw, y, preset("fast"))       # y (B, 3, H, W) in [0, 1], any size

Presets (:data:`PRESETS`):

* ``original``: the paper/official recipe -- DIPs for x (skip U-Net 5 x 128 channels, 16-channel
  skips, non-local blocks, noise input 8 channels) and k (6 residual blocks, 64-channel noise), 300
  warm-up steps per DIP (x towards y, k towards a start kernel), 5000 joint Adam steps at 5e-4 with
  the lr x0.7 every 1000 steps, lambda 6e-4, gamma 2e-2, alpha 0.66, input noise 1e-3.
* ``fast``: our measured replacement (see ``benchmarks/kernel_space_blind.py`` and
  ``benchmarks/kernel_space.md``): no DIPs, x and k optimised directly, x starting from a mildly
  unsharp-masked y (amount 0.25; or from a deblurrer's output), k from the kernel extractor
  ``G(x0, y)``, 150 Adam steps (x lr 1e-3, k lr 1e-2) with a cosine schedule. x lr 1e-2 and amount 1.0
  (the earlier values) were measured worse on two sets of 5 simulated images.

The start kernel: ``k_init="identity"`` is ``G(y, y)`` (the kernel of "no blur"), ``"extract"`` is
``G(x0, y)`` with x0 the start image (a deblurrer's output, or y sharpened by an unsharp mask with
``x_init="sharpen"``), or pass a kernel tensor (e.g. a typical kernel of the training set; the
official code warms up towards a saved kernel file).

Kernel retrieval (paper Table 3: optimise k alone so that F(x, k) reproduces y for a known pair) is
:func:`camdeblur.methods.kernel_space.retrieve_kernel`; :func:`retrieve` wraps it for a batch.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.errors import CamdeblurError

__all__ = [
    "ImageDIPConfig",
    "KernelDIPConfig",
    "BlindDeblurConfig",
    "PRESETS",
    "preset",
    "ImageDIP",
    "KernelDIP",
    "NonLocalBlock",
    "hyper_laplacian_prior",
    "unsharp_mask",
    "blind_deblur_loss",
    "blind_deblur",
    "retrieve",
]


# ------------------------------------------------------------------------------------------ config
@dataclass
class ImageDIPConfig:
    """Skip U-Net deep image prior for x (the official ``ImageDIP``: 5 levels of 128 channels)."""

    input_channels: int = field(default=8, metadata={"help": "channels of the fixed noise input z_x"})
    channels: Sequence[int] = field(default=(128, 128, 128, 128, 128), metadata={
        "help": "channels per level (down and up paths), coarsest last; the input is padded to 2**levels"})
    skip_channels: Sequence[int] = field(default=(16, 16, 16, 16, 16), metadata={"help": "skip-branch channels per level"})
    nonlocal_from: int | None = field(default=2, metadata={
        "help": "levels >= this get a non-local (self-attention) block; null = none"})


@dataclass
class KernelDIPConfig:
    """Deep image prior for k, shaped like the kernel extractor's head (official ``KernelDIP``)."""

    input_channels: int = field(default=64, metadata={"help": "channels of the noise z_k (32 x the kernel grid)"})
    nf: int = field(default=64, metadata={"help": "width of the first convolution (doubled per stride-2 level)"})
    blocks: int = field(default=6, metadata={"help": "residual blocks at kernel resolution"})


@dataclass
class BlindDeblurConfig:
    """``kernels deblur``: blind deblurring through a frozen blur operator F (paper Sec. 3.2)."""

    steps: int = field(default=5000, metadata={"help": "main optimisation steps (after the warm-up)"})
    x_param: str = field(default="dip", metadata={"help": "dip: x = ImageDIP(z_x); direct: optimise the pixels"})
    k_param: str = field(default="dip", metadata={"help": "dip: k = KernelDIP(z_k); direct: optimise k itself"})
    x_init: str = field(default="blurry", metadata={
        "help": "start image x0: blurry (y), sharpen (unsharp-masked y), deblurrer (the given deblurrer's output)"})
    k_init: str = field(default="identity", metadata={
        "help": "start kernel: identity = G(y, y); extract = G(x0, y); (a tensor can be passed to blind_deblur)"})
    warmup_steps: int = field(default=300, metadata={"help": "DIP warm-up steps (MSE towards x0 and k0), each"})
    schedule: str = field(default="joint", metadata={
        "help": "joint: x and k updated from one gradient per step (official code); alternate: k_steps\n"
                "updates of k with x fixed, then one of x with k fixed (paper Algorithm 1)"})
    k_steps: int = field(default=1, metadata={"help": "alternate: k updates per x update"})
    fixed_k_steps: int = field(default=0, metadata={"help": "first main steps with k frozen at k0 (non-blind start)"})
    x_lr: float = field(default=5e-4, metadata={"help": "Adam learning rate of x (or of its DIP)"})
    k_lr: float = field(default=5e-4, metadata={"help": "Adam learning rate of k (or of its DIP)"})
    lr_schedule: str = field(default="step", metadata={
        "help": "step: x0.7 every steps/5 (official); cosine: to 1% at the end; constant"})
    charbonnier_eps: float = field(default=1e-3, metadata={"help": "Charbonnier epsilon of the data term"})
    kernel_weight: float = field(default=6e-4, metadata={"help": "lambda: weight of ||k||_2 (paper 6e-4)"})
    prior_weight: float = field(default=2e-2, metadata={"help": "gamma: weight of the hyper-Laplacian prior (paper 2e-2)"})
    prior_alpha: float = field(default=0.66, metadata={"help": "alpha of the hyper-Laplacian prior (official 0.66)"})
    reg_noise_std: float = field(default=1e-3, metadata={"help": "DIP input perturbation per step (official 1e-3)"})
    sharpen_amount: float = field(default=1.0, metadata={"help": "x_init=sharpen: unsharp-mask amount"})
    x_dip: ImageDIPConfig = field(default_factory=ImageDIPConfig, metadata={"help": "image DIP"})
    k_dip: KernelDIPConfig = field(default_factory=KernelDIPConfig, metadata={"help": "kernel DIP"})
    log_every: int = field(default=50, metadata={"help": "history entry every N steps (and at the end)"})
    seed: int = field(default=0, metadata={"help": "seed of the DIP weights and noise inputs"})

    def __post_init__(self):
        checks = {"x_param": ("dip", "direct"), "k_param": ("dip", "direct"),
                  "x_init": ("blurry", "sharpen", "deblurrer"), "k_init": ("identity", "extract"),
                  "schedule": ("joint", "alternate"), "lr_schedule": ("step", "cosine", "constant")}
        for name, allowed in checks.items():
            if getattr(self, name) not in allowed:
                raise CamdeblurError(f"unknown {name} '{getattr(self, name)}'", where=name,
                                     fix="use one of " + ", ".join(allowed))
        for name in ("steps", "warmup_steps", "fixed_k_steps"):
            if getattr(self, name) < 0:
                raise CamdeblurError(f"{name} must be >= 0, got {getattr(self, name)}", where=name)
        if self.k_steps < 1 or self.log_every < 1:
            raise CamdeblurError("k_steps and log_every must be >= 1", where="k_steps/log_every")


#: Named recipes. ``original`` = paper/official; ``fast`` = the measured winner (see the module docstring).
PRESETS: dict[str, BlindDeblurConfig] = {
    "original": BlindDeblurConfig(),
    "fast": BlindDeblurConfig(
        steps=150, x_param="direct", k_param="direct", x_init="sharpen", k_init="extract", warmup_steps=0,
        schedule="joint", fixed_k_steps=0, x_lr=1e-3, k_lr=1e-2, lr_schedule="cosine", kernel_weight=6e-4,
        prior_weight=2e-2, sharpen_amount=0.25, log_every=10),
}


def preset(name: str, **overrides: Any) -> BlindDeblurConfig:
    """A copy of :data:`PRESETS` ``[name]`` with ``overrides`` (field=value) applied."""
    if name not in PRESETS:
        raise CamdeblurError(f"unknown blind-deblurring preset '{name}'", where="--preset",
                             fix="use one of " + ", ".join(PRESETS))
    cfg = copy.deepcopy(PRESETS[name])
    names = {f.name for f in fields(cfg)}
    bad = [k for k in overrides if k not in names]
    if bad:
        raise CamdeblurError(f"unknown option(s) {', '.join(bad)} for blind deblurring", fix="see BlindDeblurConfig")
    return replace(cfg, **overrides)


# ------------------------------------------------------------------------------------------ priors
class NonLocalBlock(nn.Module):
    """Embedded dot-product self-attention with a 2x2-pooled key/value path and a zero-initialised
    BN-gated residual (starts as the identity). (B, C, H, W) -> (B, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inner = max(channels // 2, 1)
        self.query = nn.Conv2d(channels, inner, 1)
        self.key = nn.Conv2d(channels, inner, 1)
        self.value = nn.Conv2d(channels, inner, 1)
        self.out = nn.Conv2d(inner, channels, 1)
        self.gate = nn.BatchNorm2d(channels)
        nn.init.zeros_(self.gate.weight)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, c)
        pool = (lambda t: F.max_pool2d(t, 2)) if min(h, w) >= 2 else (lambda t: t)
        k = pool(self.key(x)).flatten(2)  # (B, c, N)
        v = pool(self.value(x)).flatten(2).transpose(1, 2)  # (B, N, c)
        att = (q @ k) / k.shape[-1]
        y = (att @ v).transpose(1, 2).reshape(b, -1, h, w)
        return x + self.gate(self.out(y))


def _conv(cin: int, cout: int, size: int, stride: int = 1) -> nn.Sequential:
    pad = (size - 1) // 2
    layers: list[nn.Module] = [nn.ReflectionPad2d(pad)] if pad else []
    layers.append(nn.Conv2d(cin, cout, size, stride))
    return nn.Sequential(*layers)


def _bn_act(c: int) -> list[nn.Module]:
    return [nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]


class _SkipLevel(nn.Module):
    """One level of the skip U-Net: ``cat(skip(x), up(deeper(down(x))))`` -> BN -> conv3 -> conv1."""

    def __init__(self, cin: int, channels: Sequence[int], skips: Sequence[int], level: int,
                 nonlocal_from: int | None) -> None:
        super().__init__()
        c, s = channels[0], skips[0]
        self.skip = nn.Sequential(_conv(cin, s, 1), *_bn_act(s)) if s else None
        down: list[nn.Module] = [_conv(cin, c, 3, 2), *_bn_act(c)]
        if nonlocal_from is not None and level >= nonlocal_from:
            down.append(NonLocalBlock(c))
        down += [_conv(c, c, 3), *_bn_act(c)]
        self.down = nn.Sequential(*down)
        self.deeper = (_SkipLevel(c, channels[1:], skips[1:], level + 1, nonlocal_from)
                       if len(channels) > 1 else None)
        below = channels[1] if len(channels) > 1 else c
        self.merge = nn.Sequential(nn.BatchNorm2d(s + below), _conv(s + below, c, 3), *_bn_act(c),
                                   _conv(c, c, 1), *_bn_act(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.down(x)
        if self.deeper is not None:
            h = self.deeper(h)
        h = F.interpolate(h, size=x.shape[-2:], mode="bilinear", align_corners=False)
        if self.skip is not None:
            h = torch.cat([self.skip(x), h], 1)
        return self.merge(h)


class ImageDIP(nn.Module):
    """Skip U-Net deep image prior: noise (B, input_channels, H, W) -> image (B, out_channels, H, W) in (0, 1).

    BatchNorm, LeakyReLU(0.2), reflection padding, stride-2 convs down, bilinear up, 1x1 skip
    branches, sigmoid output (the DIP of Ulyanov et al. as used by the official code). Any H, W:
    the input is padded (reflect/replicate) to a multiple of 2**levels and the output cropped.
    """

    def __init__(self, cfg: ImageDIPConfig | None = None, out_channels: int = 3) -> None:
        super().__init__()
        cfg = cfg or ImageDIPConfig()
        if len(cfg.channels) != len(cfg.skip_channels) or not cfg.channels:
            raise CamdeblurError("image DIP: channels and skip_channels need the same, non-zero length",
                                 where="x_dip")
        self.input_channels, self.levels = cfg.input_channels, len(cfg.channels)
        self.body = _SkipLevel(cfg.input_channels, list(cfg.channels), list(cfg.skip_channels), 0, cfg.nonlocal_from)
        self.head = nn.Conv2d(cfg.channels[0], out_channels, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        m = 2 ** self.levels
        h, w = z.shape[-2:]
        ph, pw = max(-(-h // m), 2) * m - h, max(-(-w // m), 2) * m - w  # >= 2 px at the coarsest level (BN)
        if ph or pw:
            z = F.pad(z, (0, pw, 0, ph), mode="reflect" if (ph < h and pw < w) else "replicate")
        return torch.sigmoid(self.head(self.body(z)))[..., :h, :w]


class KernelDIP(nn.Module):
    """Deep image prior for an encoded kernel: noise (B, input_channels, 32 h, 32 w) -> k (B, kernel_dim, h, w).

    conv7 -> five stride-2 conv3 (width nf doubling, capped at kernel_dim; the last reaches
    kernel_dim) -> residual blocks, ReLU activations, no normalisation (the official ``KernelDIP``).
    """

    def __init__(self, kernel_dim: int, cfg: KernelDIPConfig | None = None) -> None:
        super().__init__()
        from camdeblur.nets.kernel_wizard import ResnetBlock

        cfg = cfg or KernelDIPConfig()
        self.input_channels, self.kernel_dim = cfg.input_channels, kernel_dim
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(cfg.input_channels, cfg.nf, 7), nn.ReLU()]
        c = cfg.nf
        for i in range(5):
            nxt = kernel_dim if i == 4 else min(cfg.nf * 2 ** (i + 1), kernel_dim)
            layers += [nn.Conv2d(c, nxt, 3, 2, 1), nn.ReLU()]
            c = nxt
        layers += [ResnetBlock(kernel_dim, padding_type="reflect", norm="none", use_bias=True) for _ in range(cfg.blocks)]
        self.model = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.model(z)


def hyper_laplacian_prior(x: torch.Tensor, alpha: float = 0.66, eps: float = 1e-6) -> torch.Tensor:
    """Mean of ``(g_u(x)^2 + g_v(x)^2 + eps)^(alpha/2)`` over pixels and channels (scalar).

    g_u, g_v are forward differences (zero at the last column/row). x (B, C, H, W).
    """
    gu = F.pad(x[..., :, 1:] - x[..., :, :-1], (0, 1, 0, 0))
    gv = F.pad(x[..., 1:, :] - x[..., :-1, :], (0, 0, 0, 1))
    return (gu * gu + gv * gv + eps).pow(alpha / 2).mean()


def unsharp_mask(x: torch.Tensor, amount: float = 1.0, sigma: float = 1.5) -> torch.Tensor:
    """``x + amount * (x - gaussian(x, sigma))`` clamped to [0, 1]. (B, C, H, W) -> (B, C, H, W)."""
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    c = x.shape[1]
    mode = "reflect" if min(x.shape[-2:]) > r else "replicate"
    blur = F.conv2d(F.pad(x, (r, r, 0, 0), mode=mode), g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    blur = F.conv2d(F.pad(blur, (0, 0, r, r), mode=mode), g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return (x + amount * (x - blur)).clamp(0, 1)


# ------------------------------------------------------------------------------------------ objective
def blind_deblur_loss(model, blurry: torch.Tensor, x: torch.Tensor, k: torch.Tensor,
                      cfg: BlindDeblurConfig) -> dict[str, torch.Tensor]:
    """Eq. 6 for one estimate: ``{"loss", "data", "kernel", "prior"}`` (scalars).

    data = Charbonnier(F(x, k), y); kernel = ||k||_2; prior = hyper-Laplacian of x.
    """
    from camdeblur.losses.pixel import charbonnier_loss

    data = charbonnier_loss(model.apply_kernel(x, k), blurry, eps=cfg.charbonnier_eps)
    knorm = torch.linalg.vector_norm(k)
    prior = hyper_laplacian_prior(x, cfg.prior_alpha)
    loss = data + cfg.kernel_weight * knorm + cfg.prior_weight * prior
    return {"loss": loss, "data": data, "kernel": knorm, "prior": prior}


def _lr_factor(cfg: BlindDeblurConfig, step: int) -> float:
    if cfg.lr_schedule == "constant" or cfg.steps == 0:
        return 1.0
    if cfg.lr_schedule == "step":
        return 0.7 ** (step // max(cfg.steps // 5, 1))
    return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * step / cfg.steps))


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    from camdeblur.eval.metrics import psnr

    return float(psnr(a.detach().clamp(0, 1), b.detach().clamp(0, 1)).mean())


class _Frozen:
    """Context: model in eval mode with no parameter gradients; restores both on exit."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def __enter__(self):
        self.was = self.model.training
        self.req = [p.requires_grad for p in self.model.parameters()]
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        return self.model

    def __exit__(self, *exc):
        for p, r in zip(self.model.parameters(), self.req):
            p.requires_grad_(r)
        self.model.train(self.was)
        return False


def _check_inputs(model, blurry: torch.Tensor) -> None:
    if not (hasattr(model, "apply_kernel") and hasattr(model, "encode")):
        raise CamdeblurError(f"{type(model).__name__} is not a kernel-space model (KernelWizard)",
                             fix="load a model trained with camdeblur.methods.kernel_space.train or an official "
                                 "GOPRO_woVAE.pth / REDS_woVAE.pth")
    if not torch.is_tensor(blurry) or blurry.dim() != 4:
        raise CamdeblurError("blurry must be a (B, C, H, W) tensor, got "
                             f"{tuple(blurry.shape) if torch.is_tensor(blurry) else type(blurry).__name__}")
    if blurry.shape[1] != model.input_nc:
        raise CamdeblurError(f"blurry image has {blurry.shape[1]} channels, the kernel model expects {model.input_nc}",
                             fix="convert the image to RGB")
    if min(blurry.shape[-2:]) < 4:
        raise CamdeblurError(f"image {tuple(blurry.shape[-2:])} is too small to deblur (min side 4 px)")


def _start_image(y: torch.Tensor, cfg: BlindDeblurConfig, deblurrer: nn.Module | None) -> torch.Tensor:
    if cfg.x_init == "blurry":
        return y.clone()
    if cfg.x_init == "sharpen":
        return unsharp_mask(y, cfg.sharpen_amount)
    if deblurrer is None:
        raise CamdeblurError("x_init='deblurrer' needs a deblurrer", where="x_init",
                             fix="pass deblurrer=camdeblur.load_model(...) (CLI: --deblurrer) or use x_init blurry/sharpen")
    from camdeblur.engine.inference import deblur

    return deblur(deblurrer, y).to(y).clamp(0, 1)


# ------------------------------------------------------------------------------------------ main entry
def blind_deblur(model, blurry: torch.Tensor, config: BlindDeblurConfig | str | None = None, *,
                 deblurrer: nn.Module | None = None, k_init: torch.Tensor | None = None,
                 reference: torch.Tensor | None = None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """Blind deblurring through the frozen blur operator F of ``model`` (paper Sec. 3.2).

    Args:
        model: a KernelWizard (``apply_kernel`` = F, ``encode`` = G); frozen and put in eval mode for
            the call, restored afterwards.
        blurry: (B, C, H, W) in [0, 1], any size (F pads to its multiple internally). Each image of
            the batch is deblurred on its own (own DIPs / unknowns).
        config: a :class:`BlindDeblurConfig`, a preset name (``"original"``, ``"fast"``) or None (fast).
        deblurrer: a deblurring network for ``x_init="deblurrer"`` (any ``camdeblur.load_model`` model).
        k_init: optional start kernel (1 or B, kernel_dim, h, w); overrides ``config.k_init``.
        reference: optional sharp ground truth (B, C, H, W); the history then carries ``psnr``.
        progress: ``progress(done, total)`` after every optimisation step (warm-up included).

    Returns:
        ``(x, k, history)``: x (B, C, H, W) in [0, 1], k (B, kernel_dim, ceil(H/s), ceil(W/s)) with s the
        model's ``kernel_stride`` (128 for the official layout),
        history a list of dicts (``image``, ``step``, ``phase``, ``seconds``, ``loss``, ``data``,
        ``kernel``, ``prior``, ``psnr_reblur`` = PSNR(F(x, k), y), and ``psnr`` with ``reference``).
        ``seconds`` counts from the start of that image's run (start guesses and warm-up included,
        the history's own evaluations excluded).
    """
    if config is None:
        config = "fast"
    cfg = preset(config) if isinstance(config, str) else config
    _check_inputs(model, blurry)
    if reference is not None and reference.shape != blurry.shape:
        raise CamdeblurError(f"reference {tuple(reference.shape)} and blurry {tuple(blurry.shape)} differ in shape")
    dev = next(model.parameters()).device
    blurry = blurry.to(dev, torch.float32)
    xs, ks, history = [], [], []
    per_image = cfg.steps + (cfg.warmup_steps * ((cfg.x_param == "dip") + (cfg.k_param == "dip")))
    per_image += cfg.steps * (cfg.k_steps - 1) if cfg.schedule == "alternate" else 0
    total = per_image * blurry.shape[0]
    done = [0]

    def tick():
        done[0] += 1
        if progress is not None:
            progress(done[0], total)

    with _Frozen(model):
        for i in range(blurry.shape[0]):
            ki = None
            if k_init is not None:
                ki = k_init[i:i + 1] if k_init.shape[0] > 1 else k_init
            ref = reference[i:i + 1].to(dev) if reference is not None else None
            x, k, hist = _deblur_one(model, blurry[i:i + 1], cfg, deblurrer, ki, ref, tick)
            for h in hist:
                h["image"] = i
            xs.append(x)
            ks.append(k)
            history += hist
    return torch.cat(xs), torch.cat(ks), history


def _deblur_one(model, y: torch.Tensor, cfg: BlindDeblurConfig, deblurrer, k_given, ref, tick):
    t0 = time.perf_counter()
    dev = y.device
    gen = torch.Generator(device="cpu").manual_seed(cfg.seed)
    torch_state = torch.random.get_rng_state()
    torch.manual_seed(cfg.seed)  # DIP weight init is reproducible; the caller's RNG is restored below
    try:
        return _run(model, y, cfg, deblurrer, k_given, ref, tick, t0, gen, dev)
    finally:
        torch.random.set_rng_state(torch_state)


def _run(model, y, cfg, deblurrer, k_given, ref, tick, t0, gen, dev):
    history: list[dict] = []
    with torch.no_grad():
        x0 = _start_image(y, cfg, deblurrer)
        if k_given is not None:
            k0 = k_given.to(dev, torch.float32)
            stride = getattr(model, "kernel_stride", 128)  # image pixels per kernel-grid cell
            grid = (-(-y.shape[-2] // stride), -(-y.shape[-1] // stride))
            if k0.dim() != 4 or k0.shape[1] != model.kernel_dim:
                raise CamdeblurError(f"k_init must be (1, {model.kernel_dim}, h, w), got {tuple(k0.shape)}")
            from camdeblur.nets.kernel_wizard import resample_kernel

            k0 = resample_kernel(k0, grid)
        else:
            k0 = model.encode(y if cfg.k_init == "identity" else x0, y)[0]

    # -- unknowns ------------------------------------------------------------------------------
    noise = lambda *shape: (torch.rand(*shape, generator=gen) * 0.1).to(dev)  # noqa: E731 (DIP's U(0, 0.1))
    if cfg.x_param == "dip":
        x_net = ImageDIP(cfg.x_dip, y.shape[1]).to(dev).train()
        z_x = noise(1, cfg.x_dip.input_channels, *y.shape[-2:])
        x_params = list(x_net.parameters())
    else:
        x_var = x0.clone().requires_grad_(True)
        x_params = [x_var]
    if cfg.k_param == "dip":
        k_net = KernelDIP(model.kernel_dim, cfg.k_dip).to(dev)
        z_k = noise(1, cfg.k_dip.input_channels, 32 * k0.shape[-2], 32 * k0.shape[-1])
        k_params = list(k_net.parameters())
    else:
        k_var = k0.clone().requires_grad_(True)
        k_params = [k_var]

    def perturb(z):
        if cfg.reg_noise_std <= 0:
            return z
        return z + cfg.reg_noise_std * torch.randn(z.shape, generator=gen).to(dev)

    def current_x(train: bool = True):
        return x_net(perturb(z_x) if train else z_x) if cfg.x_param == "dip" else x_var

    def current_k(train: bool = True):
        return k_net(perturb(z_k) if train else z_k) if cfg.k_param == "dip" else k_var

    x_opt = torch.optim.Adam(x_params, lr=cfg.x_lr)
    k_opt = torch.optim.Adam(k_params, lr=cfg.k_lr)

    log_time = [0.0]

    def log(step: int, phase: str, terms: dict | None = None):
        t_start = time.perf_counter()
        with torch.no_grad():
            x, k = current_x(False), current_k(False)
            if terms is None:
                terms = blind_deblur_loss(model, y, x, k, cfg)
            rec = {"step": step, "phase": phase, "seconds": t_start - t0 - log_time[0],
                   **{n: float(v) for n, v in terms.items()},
                   "psnr_reblur": _psnr(model.apply_kernel(x, k), y)}
            if ref is not None:
                rec["psnr"] = _psnr(x, ref)
        history.append(rec)
        log_time[0] += time.perf_counter() - t_start

    # -- warm-up of the DIPs (MSE towards the start guesses) -----------------------------------
    for net_is_dip, params, opt, target, fn in ((cfg.x_param == "dip", x_params, x_opt, x0, current_x),
                                                (cfg.k_param == "dip", k_params, k_opt, k0, current_k)):
        if not net_is_dip:
            continue
        for _ in range(cfg.warmup_steps):
            loss = F.mse_loss(fn(), target)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            tick()
    log(0, "start")

    # -- main optimisation (Eq. 6) --------------------------------------------------------------
    def project():
        if cfg.x_param == "direct":
            with torch.no_grad():
                x_var.clamp_(0, 1)

    for step in range(cfg.steps):
        f = _lr_factor(cfg, step)
        for opt, lr in ((x_opt, cfg.x_lr), (k_opt, cfg.k_lr)):
            for g in opt.param_groups:
                g["lr"] = lr * f
        k_free = step >= cfg.fixed_k_steps
        if cfg.schedule == "alternate" and k_free:
            xd = current_x().detach()
            for _ in range(cfg.k_steps):
                loss = blind_deblur_loss(model, y, xd, current_k(), cfg)["loss"]
                k_opt.zero_grad(set_to_none=True)
                loss.backward()
                k_opt.step()
                tick()
            terms = blind_deblur_loss(model, y, current_x(), current_k().detach(), cfg)
            x_opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            x_opt.step()
        else:
            k_cur = current_k() if k_free else current_k().detach()
            terms = blind_deblur_loss(model, y, current_x(), k_cur, cfg)
            x_opt.zero_grad(set_to_none=True)
            k_opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            x_opt.step()
            if k_free:
                k_opt.step()
        project()
        tick()
        if (step + 1) % cfg.log_every == 0 or step + 1 == cfg.steps:
            log(step + 1, "main")

    with torch.no_grad():
        x, k = current_x(False).clamp(0, 1), current_k(False)
    return x.detach(), k.detach(), history


# ------------------------------------------------------------------------------------------ retrieval
def retrieve(model, sharp: torch.Tensor, blurry: torch.Tensor, steps: int = 100, lr: float = 1e-2
             ) -> tuple[torch.Tensor, list[dict[str, float]]]:
    """Kernel retrieval (paper Table 3) for a batch of aligned pairs, one kernel per pair.

    Uses :func:`camdeblur.methods.kernel_space.retrieve_kernel` (k alone optimised through frozen F,
    starting from G(x, y)). Returns ``(k (B, kernel_dim, h, w), [{"psnr_init", "psnr"}, ...])`` with
    PSNR(F(x, k), y) before/after the optimisation.
    """
    from camdeblur.methods.kernel_space import retrieve_kernel

    if sharp.shape != blurry.shape:
        raise CamdeblurError(f"sharp {tuple(sharp.shape)} and blurry {tuple(blurry.shape)} differ in shape",
                             fix="pass an aligned pair of the same size")
    ks, rows = [], []
    for i in range(sharp.shape[0]):
        k, r = retrieve_kernel(model, sharp[i:i + 1], blurry[i:i + 1], steps=steps, lr=lr)
        ks.append(k)
        rows.append(r)
    return torch.cat(ks), rows
