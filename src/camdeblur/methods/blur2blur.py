"""Blur2Blur (Pham et al., CVPR 2024): learn a translator from a camera's blur to a known blur domain.

A camera C gives a blurry set B and a sharp set S (unpaired). A *known blur domain* K has a
deblurrer trained on its pairs. The translator ``G_t`` (MIMO-UNet by default; UNet/NAFNet as in the
paper's Table 4) maps ``y in B`` to an image with K's blur and the same content; deblurring is then
``deblurrer(G_t(y))`` (:class:`camdeblur.nets.pipeline.Pipeline`).

Training (one step, :func:`blur2blur_step`): a PatchGAN ``D`` shared over the translator's three
scales learns K (real) vs ``G_t(y)`` (fake) with a gradient penalty; ``G_t`` learns
``L_adv + lambda_rec * L_rec``, ``L_rec`` the multi-scale perceptual distance between ``G_t(y)`` and
``y``. The objectives and the ``paper``/``official`` presets are :mod:`camdeblur.losses.blur2blur`.
Adam 2e-4, betas (0.5, 0.999); the learning rate is constant for the first ``constant_fraction`` of
the steps (paper: 500K of 1M) and then decays linearly to 0. Optional blur-degree curriculum (paper
Sec. 4): for the first ``curriculum.hold`` of the steps only the blurriest ``start_fraction`` of each
batch (lowest variance of the Laplacian) trains the translator, then the share grows linearly to the
full batch at ``curriculum.full_at``.

Known domain K (``known.source``):

- a folder of known-domain blurry images (e.g. written by ``camdeblur kernels transfer``);
- ``kernels``: on the fly, a random known pair ``(x, y)`` of ``known.pairs`` gives a kernel through
  the kernel-space model (``known.kernel_model``), applied to a random sharp crop of S;
- ``sim:<camera>``: the simulated known camera (e.g. ``sim:gopro``) applied to the sharp photos S
  (for benchmarks without a trained kernel model).

    from camdeblur.engine.config import load_config
    from camdeblur.methods.blur2blur import Blur2BlurConfig, train
    cfg = load_config(Blur2BlurConfig, None, ["data.blurry=B/", "data.sharp=S/", "known.source=K/"])
    summary = train(cfg, out="runs/b2b")        # -> runs/b2b/translator.safetensors
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from camdeblur.engine.optim import EMAConfig, OptimConfig, SchedConfig
from camdeblur.engine.trainer import TrainConfig
from camdeblur.errors import CamdeblurError

__all__ = ["Blur2BlurConfig", "CurriculumConfig", "DataConfig", "KnownConfig", "LossConfig", "NetConfig",
           "ValConfig", "Blur2BlurData", "KernelTransferDomain", "as_scales", "blur2blur_step", "build_data",
           "build_known", "curriculum_fraction", "lr_factor", "select_blurriest", "translate", "train",
           "evaluate_translator", "identity_init", "preset_overrides", "CONFIG_PRESETS", "PRESET_NAMES"]

SIM = "sim:"
PRESET_NAMES = ("paper", "official")

#: Whole-config presets (``key=value`` overrides of :class:`Blur2BlurConfig`), see :func:`preset_overrides`.
#: ``mini``: the CPU recipe of the miniature benchmark and of ``test_translator_learns``. Departures from the
#: paper, each needed at a budget of hundreds to thousands of steps instead of a million (measured numbers and
#: commands: benchmarks/blur2blur_translator.md):
#:
#: - tiny residual UNet translator started as the exact identity (``translator.init=identity``): at 150 steps
#:   it moved a held-out sigma-0.5 crop 4.8 dB toward its sigma-1.8 render, a tiny MIMO-UNet only 1.9 dB;
#:   bilinear upsampling and reflect padding (``translator.args``): with transposed convs and zero padding
#:   the translator fooled D by painting a stride-periodic grid inside a frame inset from the borders
#:   (``camdeblur demo``, seeds 0/1, PSNR/SSIM via Blur2Blur: phone 21.27/0.226 -> 29.02/0.798 and
#:   21.04/0.500 -> 21.08/0.502, rsblur 26.48/0.574 -> 26.91/0.555 and 19.50/0.341 -> 21.06/0.509);
#: - PatchGAN on the high-pass residual (``discriminator.args.highpass``): on raw images the tiny PatchGAN
#:   stayed at chance for 200+ steps (also in the phone benchmark: K, inputs and translations all 4% "K"),
#:   so the translator had no signal; no gradient penalty (the official sum-over-patches GP is ~1e3 at 48 px
#:   and swamped the adversarial term: D never learnt);
#: - pixel-MSE reconstruction on an area (box-average) pyramid, weighted 20/5/1 coarse to fine: the high-pass
#:   D is blind to low frequencies, so they must be held by L_rec (with a plain lambda 5 MSE the phone
#:   translator repainted colour blotches: -5.2 dB vs direct; with this: -0.2 dB, 92% judged K). A pretrained
#:   perceptual distance is so stiff at 12-48 px that any change of the output costs more than D can pay;
#: - D warm-up, G lr 2e-3 and D lr 5e-4 (``d_lr_scale=0.25``), gradient norms clipped at 1 (at G lr 5e-3
#:   without clipping the translator diverged after ~450 steps of the phone benchmark).
CONFIG_PRESETS: dict[str, list[str]] = {
    "mini": ["translator.arch=unet_tiny", "translator.args={upsample: bilinear, padding_mode: reflect}",
             "translator.init=identity", "discriminator.arch=patchgan_tiny",
             "discriminator.args={highpass: true}", "loss.preset=official", "loss.reconstruction=mse",
             "loss.overrides={lambda_rec: 20.0, pyramid_mode: area, lambda_gp: 0.0, rec_scale_weights: [20.0, 5.0, 1.0]}",
             "train.optim.lr=2e-3", "d_lr_scale=0.25", "train.optim.grad_clip=1.0", "d_warmup=200",
             "constant_fraction=0.5"],
}


def preset_overrides(name: str) -> list[str]:
    """The ``key=value`` overrides of a whole-config preset (:data:`CONFIG_PRESETS`), to apply before the
    user's own (``load_config(Blur2BlurConfig, None, preset_overrides("mini") + sets)``)."""
    if name not in CONFIG_PRESETS:
        raise CamdeblurError(f"unknown Blur2Blur config preset '{name}'", fix=f"use one of {', '.join(CONFIG_PRESETS)}")
    return list(CONFIG_PRESETS[name])


# ------------------------------------------------------------------------------------------ config
@dataclass
class NetConfig:
    arch: str = field(default="mimo_unet_tiny", metadata={"help": "registry name (mimo_unet, mimo_unet_tiny, MIMOUNet, unet, unet_tiny, nafnet_tiny, ...)"})
    args: dict[str, Any] = field(default_factory=dict, metadata={"help": "constructor kwargs, e.g. {num_res: 2, base_channel: 16}"})
    weights: str | None = field(default=None, metadata={"help": "initial weights (null = random init)"})
    init: str = field(default="default", metadata={
        "help": "default (the net's own init) | identity (translator: zero the output convs of the global\n"
                "residual so G_t starts as the exact identity and only learns the change of blur)"})


def _disc() -> NetConfig:
    return NetConfig(arch="patchgan_tiny")


@dataclass
class LossConfig:
    preset: str = field(default="official", metadata={"help": "paper (log-likelihood GAN, VGG19, lambda_grad 0.005) | official (hinge, VGG16 taps, lambda_gp 1e-4)"})
    perceptual_weights: str | None = field(default=None, metadata={
        "help": "torchvision-format VGG weight file; null = hub cache or the pretrained EfficientNet-Lite0 fallback"})
    overrides: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "Blur2BlurLossConfig fields to change, e.g. {lambda_rec: 0.8, gp_scales: all}"})
    reconstruction: str = field(default="perceptual", metadata={
        "help": "perceptual (the paper's) | l1 | mse (pixel losses per scale: cheap CPU stand-ins for tests/mini runs;\n"
                "L1's constant-magnitude gradient pins a small translator to the identity, MSE does not)"})


@dataclass
class DataConfig:
    blurry: str = field(default="", metadata={"help": "blurry set B of camera C: a folder, or sim:<camera> (simulated, photos split B:S)"})
    sharp: str | None = field(default=None, metadata={"help": "sharp set S of camera C: a folder (null with a sim: B = the S part of the photo split)"})
    photos: str | list[str] | None = field(default=None, metadata={"help": "sim only: the photos split into B and S (null = scikit-image photos)"})
    split: float = field(default=0.6, metadata={"help": "sim only: B:S photo split ratio (paper 6:4)"})
    crop: int = field(default=64, metadata={"help": "training crop (square, pixels)"})
    augment: bool = field(default=True, metadata={"help": "random flips/rot90 of folder images"})
    length: int = field(default=2048, metadata={"help": "sim only: items per epoch"})
    seed: int = field(default=0, metadata={"help": "sim only: render seed"})
    cache: int = field(default=0, metadata={"help": "render this many sim/kernel items once and reuse them (0 = on the fly)"})


@dataclass
class KnownConfig:
    source: str = field(default="", metadata={"help": "known domain K: a folder of blurry images | kernels | sim:<camera>"})
    pairs: str | None = field(default=None, metadata={"help": "kernels: paired folder P of the known domain"})
    kernel_model: str | None = field(default=None, metadata={"help": "kernels: kernel-space checkpoint (KernelWizard)"})
    kernel_arch: str | None = field(default=None, metadata={"help": "kernels: registry arch when the checkpoint does not carry one"})
    seed: int = field(default=12345, metadata={"help": "sim/kernels: seed of the known-domain renders"})


@dataclass
class CurriculumConfig:
    enabled: bool = field(default=False, metadata={"help": "blur-degree curriculum (variance of Laplacian)"})
    start_fraction: float = field(default=0.5, metadata={"help": "share of each batch (the blurriest) used at first"})
    hold: float = field(default=0.2, metadata={"help": "fraction of the steps at start_fraction (paper 200K of 1M)"})
    full_at: float = field(default=0.5, metadata={"help": "fraction of the steps at which the full batch is reached"})

    def __post_init__(self):
        if not 0 < self.start_fraction <= 1:
            raise ValueError(f"curriculum.start_fraction must be in (0, 1], got {self.start_fraction}")
        if not 0 <= self.hold <= self.full_at <= 1:
            raise ValueError("curriculum needs 0 <= hold <= full_at <= 1")


@dataclass
class ValConfig:
    source: str | None = field(default=None, metadata={
        "help": "held-out images of camera C: paired folder (blur/ + sharp/), blurry folder, or sim:<camera>; null = none"})
    photos: str | list[str] | None = field(default=None, metadata={"help": "sim only: held-out photos"})
    length: int = field(default=8, metadata={"help": "sim only / max images"})
    crop: int = field(default=64, metadata={"help": "validation crop"})
    seed: int = field(default=999_001, metadata={"help": "sim only: seed"})


def _default_train() -> TrainConfig:
    return TrainConfig(steps=2000, batch_size=4, log_every=50, val_every=500, ckpt_every=250, best_metric="",
                       optim=OptimConfig(name="adam", lr=2e-4, betas=(0.5, 0.999)),
                       sched=SchedConfig(name="constant"), ema=EMAConfig(enabled=False))


@dataclass
class Blur2BlurConfig:
    """``camdeblur blur2blur train``: a translator from camera C's blur to a known blur domain."""

    translator: NetConfig = field(default_factory=NetConfig, metadata={"help": "the translator G_t"})
    discriminator: NetConfig = field(default_factory=_disc, metadata={"help": "PatchGAN shared over scales (patchgan = paper size)"})
    loss: LossConfig = field(default_factory=LossConfig, metadata={"help": "objectives (camdeblur.losses.blur2blur)"})
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "camera C's unpaired B and S"})
    known: KnownConfig = field(default_factory=KnownConfig, metadata={"help": "the known blur domain K"})
    curriculum: CurriculumConfig = field(default_factory=CurriculumConfig, metadata={"help": "blur-degree curriculum"})
    constant_fraction: float = field(default=0.5, metadata={"help": "lr constant for this share of steps, then linear to 0"})
    d_lr_scale: float = field(default=1.0, metadata={"help": "discriminator lr = train.optim.lr * this (1 = paper)"})
    d_steps: int = field(default=1, metadata={"help": "discriminator updates per translator update (1 = paper)"})
    d_warmup: int = field(default=0, metadata={
        "help": "steps during which only D trains (G_t stays as initialised, e.g. the identity), so the translator's\n"
                "first gradients come from a discriminator that already separates K from B (0 = paper)"})
    deblurrer: str | None = field(default=None, metadata={"help": "known-domain deblurrer weights (validation + Pipeline)"})
    val: ValConfig = field(default_factory=ValConfig, metadata={"help": "held-out images of camera C"})
    train: TrainConfig = field(default_factory=_default_train, metadata={"help": "training loop"})


# ---------------------------------------------------------------------------------- schedule etc.
def lr_factor(step: int, total: int, constant_fraction: float) -> float:
    """Constant for ``constant_fraction * total`` steps, then linear to 0 at ``total`` (paper / pix2pix)."""
    hold = int(round(constant_fraction * total))
    if step < hold:
        return 1.0
    return max(0.0, 1.0 - (step - hold) / max(1, total - hold))


class _HoldLinear:
    def __init__(self, total: int, constant_fraction: float):
        self.total, self.constant_fraction = total, constant_fraction

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.total, self.constant_fraction)


def _install_schedule(tr, total: int, constant_fraction: float) -> None:
    """Replace the trainer's schedules by constant-then-linear ones, keeping the (resumed) step count."""
    from camdeblur.engine.optim import _Scheduler

    for name, opt in tr.optimizers.items():
        old = tr.schedulers[name]
        last = int(old.last_epoch)
        new = _Scheduler(opt, [_HoldLinear(total, constant_fraction) for _ in opt.param_groups])
        new.last_epoch = last
        for g, base in zip(opt.param_groups, new.base_lrs):
            g["lr"] = base * lr_factor(max(last, 0), total, constant_fraction)
        new._last_lr = [g["lr"] for g in opt.param_groups]
        tr.schedulers[name] = new


def curriculum_fraction(step: int, total: int, cfg: CurriculumConfig) -> float:
    """Share of the batch used at ``step``: ``start_fraction`` until ``hold``, linear to 1 at ``full_at``."""
    if not cfg.enabled:
        return 1.0
    t = step / max(1, total)
    if t < cfg.hold:
        return cfg.start_fraction
    if t >= cfg.full_at or cfg.full_at <= cfg.hold:
        return 1.0
    return cfg.start_fraction + (1 - cfg.start_fraction) * (t - cfg.hold) / (cfg.full_at - cfg.hold)


def select_blurriest(y: torch.Tensor, fraction: float) -> torch.Tensor:
    """Indices of the ``ceil(fraction * B)`` blurriest images of ``y`` (B,3,H,W) (lowest Laplacian variance)."""
    from camdeblur.eval.metrics import laplacian_variance

    n = max(1, int(math.ceil(fraction * y.shape[0] - 1e-9)))
    if n >= y.shape[0]:
        return torch.arange(y.shape[0], device=y.device)
    v = laplacian_variance(y.detach().float().clamp(0, 1))
    return torch.argsort(v)[:n]


def as_scales(out: torch.Tensor | Sequence[torch.Tensor], num_scales: int = 3, mode: str = "bilinear") -> list[torch.Tensor]:
    """Translator output as a coarse-to-fine list: MIMO-UNet's three outputs, or for a single-output
    translator (UNet, NAFNet) its output with 1/2, 1/4 downsamples (``mode``: bilinear | nearest | area,
    the loss's ``pyramid_mode``), so D sees three scales."""
    if isinstance(out, (list, tuple)):
        return list(out)
    from camdeblur.losses.blur2blur import scale_pyramid

    h, w = out.shape[-2:]
    sizes = [(-(-h // 2**i), -(-w // 2**i)) for i in reversed(range(num_scales))]
    return scale_pyramid(out, sizes, mode=mode)


def translate(translator: nn.Module, y: torch.Tensor, clamp: bool = True) -> torch.Tensor:
    """Full-resolution ``G_t(y)`` for (B,3,H,W) in [0, 1]."""
    out = translator(y)
    if isinstance(out, (list, tuple)):
        out = out[-1]
    return out.clamp(0, 1) if clamp else out


# --------------------------------------------------------------------------------------- datasets
class KernelTransferDomain(Dataset):
    """Known-domain images made on the fly: a random known pair ``(x, y)`` -> kernel ``G(x, y)`` of the
    kernel-space model -> applied to a sharp crop ``s`` of S: ``{"known": F(s, k)}``.

    Args:
        pairs: paired dataset of the known domain (``{"blur", "sharp"}`` items, cropped).
        sharp: dataset of sharp crops (``{"sharp"}`` items).
        model: a KernelWizard (``extract_kernel``/``apply_kernel``); it runs on CPU in no-grad mode.
    """

    def __init__(self, pairs: Dataset, sharp: Dataset, model: nn.Module, seed: int = 0, length: int | None = None):
        self.pairs, self.sharp, self.model = pairs, sharp, model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.length = int(length or len(sharp))
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.length

    def reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0xB2B])
        for ds in (self.pairs, self.sharp):
            if callable(getattr(ds, "reseed", None)):
                ds.reseed(int(self._rng.integers(2**31)))

    @torch.no_grad()
    def __getitem__(self, i: int) -> dict:
        p = self.pairs[int(self._rng.integers(len(self.pairs)))]
        s = self.sharp[int(i) % len(self.sharp)]["sharp"]
        k = self.model.extract_kernel(p["sharp"][None], p["blur"][None])
        if isinstance(k, tuple):
            k = k[0]
        out = self.model.apply_kernel(s[None], k)[0].clamp(0, 1)
        return {"known": out.float()}


class _Keyed(Dataset):
    """Renames one tensor of a dataset's items (e.g. a simulated pair's ``blur`` -> ``known``)."""

    def __init__(self, dataset: Dataset, src: str, dst: str):
        self.dataset, self.src, self.dst = dataset, src, dst

    def __len__(self) -> int:
        return len(self.dataset)

    def reseed(self, seed: int) -> None:
        if callable(getattr(self.dataset, "reseed", None)):
            self.dataset.reseed(seed)

    def __getitem__(self, i: int) -> dict:
        return {self.dst: self.dataset[i][self.src]}


class _Cached(Dataset):
    """Items rendered once (tensors only) and served with random flips/rot90 from ``reseed``."""

    def __init__(self, dataset: Dataset, n: int, augment: bool = True):
        keys = None
        store: dict[str, list] = {}
        render = getattr(dataset, "batch", None)
        n = min(n, len(dataset))
        if callable(render):
            for a in range(0, n, 16):
                b = render(list(range(a, min(n, a + 16))))
                for k, v in b.items():
                    if isinstance(v, torch.Tensor):
                        store.setdefault(k, []).extend(v)
        else:
            for i in range(n):
                for k, v in dataset[i].items():
                    if isinstance(v, torch.Tensor):
                        store.setdefault(k, []).append(v)
        keys = keys or list(store)
        self.data = {k: torch.stack(v) for k, v in store.items()}
        self.n, self.augment = n, augment
        self._rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return self.n

    def reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0xCAC])

    def __getitem__(self, i: int) -> dict:
        out = {k: v[i] for k, v in self.data.items()}
        if self.augment:
            r, f = int(self._rng.integers(4)), bool(self._rng.integers(2))
            out = {k: torch.rot90(v, r, (-2, -1)) for k, v in out.items()}
            if f:
                out = {k: v.flip(-1) for k, v in out.items()}
        return out


class Blur2BlurData(Dataset):
    """Item ``i`` = blurry image ``i`` of B with an independent random known-domain image:
    ``{"blur": (3,H,W), "known": (3,H,W)}``."""

    def __init__(self, blurry: Dataset, known: Dataset, seed: int = 0):
        self.blurry, self.known = blurry, known
        self._rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return len(self.blurry)

    def reseed(self, seed: int) -> None:
        self._rng = np.random.default_rng([seed, 0xB10B])
        for ds in (self.blurry, self.known):
            if callable(getattr(ds, "reseed", None)):
                ds.reseed(int(self._rng.integers(2**31)))

    def __getitem__(self, i: int) -> dict:
        j = int(self._rng.integers(len(self.known)))
        return {"blur": self.blurry[i]["blur"], "known": self.known[j]["known"]}


def _folder(path: str, what: str, key: str, crop: int | None, augment: bool, seed: int):
    from camdeblur.data import UnpairedImages

    if not Path(path).is_dir():
        raise CamdeblurError(f"{what} folder not found", where=path, fix="give a folder of images")
    return UnpairedImages(path, key=key, crop_size=crop, augment=augment, seed=seed, pad_mode="reflect")


def _sim_split(cfg: Blur2BlurConfig, part: str):
    from camdeblur.sim.datasets import SimulatedUnpaired

    d = cfg.data
    return SimulatedUnpaired(d.blurry[len(SIM):], photos=d.photos, size=d.crop, length=d.length, seed=d.seed,
                             part=part, fraction=d.split)


def build_sharp(cfg: Blur2BlurConfig):
    """S as a dataset of ``{"sharp"}`` items, and the photos it comes from (for simulated K)."""
    d = cfg.data
    if d.sharp:
        ds = _folder(d.sharp, "sharp set S (--sharp)", "sharp", d.crop, d.augment, d.seed + 1)
        return ds, d.sharp
    if d.blurry.startswith(SIM):
        ds = _sim_split(cfg, "sharp")
        return ds, list(ds.photos)
    return None, None


def build_known(cfg: Blur2BlurConfig, device: str | torch.device = "cpu") -> tuple[Dataset, str]:
    """The known domain K as a dataset of ``{"known"}`` items and a description of which one ran."""
    k, d = cfg.known, cfg.data
    if not k.source:
        raise CamdeblurError("no known blur domain given", fix="pass --known K/ or --known-pairs P --kernel-model KCKPT")
    if k.source.startswith(SIM):
        from camdeblur.sim import SimulatedPairs

        sharp, photos = build_sharp(cfg)
        if photos is None:
            raise CamdeblurError("a simulated known domain needs the sharp set S", fix="pass --sharp S/")
        ds = SimulatedPairs(k.source[len(SIM):], photos=photos, size=d.crop, length=max(d.length, 64), seed=k.seed)
        ds = _Keyed(ds, "blur", "known")
        return ds, f"simulated camera '{k.source[len(SIM):]}' applied to S"
    if k.source == "kernels":
        if not (k.pairs and k.kernel_model):
            raise CamdeblurError("the kernel-space known domain needs known pairs and a kernel model",
                                 fix="pass --known-pairs P/ --kernel-model KCKPT")
        from camdeblur.data import open_paired
        from camdeblur.nets.registry import load_model

        sharp, _ = build_sharp(cfg)
        if sharp is None:
            raise CamdeblurError("the kernel-space known domain needs the sharp set S", fix="pass --sharp S/")
        if not Path(k.kernel_model).exists():
            raise CamdeblurError("kernel model not found", where=k.kernel_model, fix="train one: camdeblur train kernels")
        model = load_model(k.kernel_arch, weights=k.kernel_model, device="cpu")
        pairs = open_paired(k.pairs, crop_size=d.crop, augment=d.augment, seed=k.seed, pad_mode="reflect")
        return KernelTransferDomain(pairs, sharp, model, seed=k.seed), f"kernel transfer {k.pairs} via {k.kernel_model}"
    ds = _folder(k.source, "known domain K (--known)", "known", d.crop, d.augment, k.seed)
    return ds, f"folder {k.source}"


def build_data(cfg: Blur2BlurConfig) -> tuple[Blur2BlurData, str]:
    d = cfg.data
    if not d.blurry:
        raise CamdeblurError("no blurry set given", fix="pass --blurry B/ (a folder of camera C's blurry images)")
    if d.blurry.startswith(SIM):
        blurry = _sim_split(cfg, "blur")
    else:
        blurry = _folder(d.blurry, "blurry set B (--blurry)", "blur", d.crop, d.augment, d.seed)
    known, desc = build_known(cfg)
    if d.cache:
        blurry = _Cached(blurry, d.cache, d.augment)
        known = _Cached(known, d.cache, d.augment)
    return Blur2BlurData(blurry, known, seed=d.seed), desc


def build_val(cfg: Blur2BlurConfig):
    v = cfg.val
    if not v.source:
        return None
    if v.source.startswith(SIM):
        from camdeblur.sim import SimulatedPairs

        return SimulatedPairs(v.source[len(SIM):], photos=v.photos, size=v.crop, length=v.length, seed=v.seed)
    root = Path(v.source)
    if not root.is_dir():
        raise CamdeblurError("validation folder not found", where=root)
    from camdeblur.data import open_paired

    try:
        return open_paired(root, crop_size=v.crop, augment=False, seed=0, pad_mode="reflect")
    except CamdeblurError:
        return _folder(str(root), "validation images", "blur", v.crop, False, 0)


# ------------------------------------------------------------------------------------------- step
def _set_grad(net: nn.Module, flag: bool) -> None:
    for p in net.parameters():
        p.requires_grad_(flag)


def blur2blur_step(tr, batch: dict, step: int, criterion, cfg: Blur2BlurConfig) -> dict[str, torch.Tensor]:
    """One Blur2Blur step: D on K (real) vs ``G_t(y)`` (fake) with GP, then ``G_t`` on adv + rec."""
    G, D = tr.modules["translator"], tr.modules["discriminator"]
    y, k = batch["blur"], batch["known"]
    frac = curriculum_fraction(step, cfg.train.steps, cfg.curriculum)
    if frac < 1.0:
        y = y[select_blurriest(y, frac)]
        k = k[: y.shape[0]]  # same count, so the GP pairs (known, fake) per sample
    fake = as_scales(G(y), mode=criterion.config.pyramid_mode)
    _set_grad(D, True)
    for _ in range(max(1, cfg.d_steps)):
        loss_d, logs_d = criterion.discriminator_loss(D, fake, known=k, blurry=y)
        tr.optimize("D", loss_d)
    _set_grad(D, False)
    logs_g: dict[str, torch.Tensor] = {}
    if step >= cfg.d_warmup:
        loss_g, logs_g = criterion.generator_loss(D, fake, blurry=y)
        tr.optimize("G", loss_g)
    _set_grad(D, True)
    out = {**logs_d, **logs_g}
    if frac < 1.0:
        out["curriculum"] = torch.tensor(frac)
    return out


@torch.no_grad()
def evaluate_translator(translator: nn.Module, discriminator: nn.Module | None, blurry: torch.Tensor,
                        known: torch.Tensor | None = None, sharp: torch.Tensor | None = None,
                        deblurrer: nn.Module | None = None, pyramid_mode: str = "bilinear") -> dict[str, float]:
    """Held-out numbers: content PSNR of ``G_t(y)`` vs ``y``; mean D logits of ``y``, ``G_t(y)`` and K
    (each shown to D as the three-scale pyramid of the full-resolution image, resized with ``pyramid_mode``
    as in training); Laplacian variance of each; with ``sharp`` and a ``deblurrer``: PSNR of
    ``deblurrer(G_t(y))`` and of ``deblurrer(y)`` vs sharp."""
    from camdeblur.eval.metrics import laplacian_variance, psnr

    was = translator.training
    translator.eval()
    t = translate(translator, blurry)
    translator.train(was)
    out = {"content_psnr": float(psnr(t, blurry).mean()),
           "lapvar_input": float(laplacian_variance(blurry).mean()),
           "lapvar_translated": float(laplacian_variance(t).mean())}
    if discriminator is not None:
        def score(x):
            s = discriminator(as_scales(x, mode=pyramid_mode))
            return float(torch.stack([o.mean() for o in (s if isinstance(s, (list, tuple)) else [s])]).mean())

        out["D_input"] = score(blurry)
        out["D_translated"] = score(t)
        if known is not None:
            out["D_known"] = score(known)
    if known is not None:
        out["lapvar_known"] = float(laplacian_variance(known).mean())
    if sharp is not None and deblurrer is not None:
        from camdeblur.nets.pipeline import _restore

        out["psnr_blur2blur"] = float(psnr(_restore(deblurrer, t).clamp(0, 1), sharp).mean())
        out["psnr_direct"] = float(psnr(_restore(deblurrer, blurry).clamp(0, 1), sharp).mean())
        out["psnr_input"] = float(psnr(blurry, sharp).mean())
    return out


def _stack(ds, key: str, n: int) -> torch.Tensor | None:
    if ds is None:
        return None
    if callable(getattr(ds, "reseed", None)):
        ds.reseed(0)
    items = [ds[i] for i in range(min(n, len(ds)))]
    if not items or key not in items[0]:
        return None
    return torch.stack([it[key] for it in items])


# ------------------------------------------------------------------------------------------ train
def _output_convs(net: nn.Module) -> list[nn.Conv2d]:
    """The convolutions whose outputs are added to the input by a translator's global residual."""
    from camdeblur.nets.mimo_unet import MIMOUNet
    from camdeblur.nets.nafnet import NAFNet
    from camdeblur.nets.unet import UNet

    if isinstance(net, MIMOUNet):
        return [net.ConvsOut[0].main[0], net.ConvsOut[1].main[0], net.feat_extract[5].main[0]]
    if isinstance(net, NAFNet):
        return [net.ending]
    if isinstance(net, UNet) and net.residual:
        return [net.out]
    raise CamdeblurError(f"identity init is not defined for {type(net).__name__}",
                         fix="use translator.init=default, or a MIMO-UNet/NAFNet/UNet translator")


def identity_init(net: nn.Module) -> nn.Module:
    """Zero the output convolutions of a residual translator (MIMO-UNet's three heads, NAFNet's
    ending conv, UNet's 1x1 head) so that ``G_t(y) == y`` at every scale before training: the translator
    then starts from "change nothing" and the adversarial loss only has to learn the change of blur.
    The zeroed heads still receive gradients (their inputs are non-zero), so the net trains normally."""
    with torch.no_grad():
        for conv in _output_convs(net):
            conv.weight.zero_()
            if conv.bias is not None:
                conv.bias.zero_()
    return net


def build_nets(cfg: Blur2BlurConfig) -> tuple[nn.Module, nn.Module]:
    from camdeblur.nets.registry import create_model, load_model

    def make(c: NetConfig):
        if c.init not in ("default", "identity"):
            raise CamdeblurError(f"unknown init '{c.init}'", fix="use default or identity")
        if c.weights:
            return load_model(c.arch, weights=c.weights, eval=False, **c.args)
        net = create_model(c.arch, **c.args)
        return identity_init(net) if c.init == "identity" else net

    return make(cfg.translator), make(cfg.discriminator)


def build_criterion(cfg: Blur2BlurConfig):
    """The :class:`~camdeblur.losses.blur2blur.Blur2BlurLoss` of ``cfg.loss``."""
    from camdeblur.losses.blur2blur import Blur2BlurLoss
    from camdeblur.losses.pixel import L1Loss, MSELoss

    if cfg.loss.preset not in PRESET_NAMES:
        raise CamdeblurError(f"unknown Blur2Blur preset '{cfg.loss.preset}'", fix=f"use one of {', '.join(PRESET_NAMES)}")
    overrides = dict(cfg.loss.overrides)
    if cfg.loss.perceptual_weights:
        overrides["perceptual_weights"] = cfg.loss.perceptual_weights
    if cfg.loss.reconstruction == "l1":
        return Blur2BlurLoss.preset(cfg.loss.preset, perceptual=L1Loss(), **overrides)
    if cfg.loss.reconstruction == "mse":
        return Blur2BlurLoss.preset(cfg.loss.preset, perceptual=MSELoss(), **overrides)
    if cfg.loss.reconstruction != "perceptual":
        raise CamdeblurError(f"unknown loss.reconstruction '{cfg.loss.reconstruction}'", fix="use perceptual, l1 or mse")
    return Blur2BlurLoss.preset(cfg.loss.preset, **overrides)


def train(cfg: Blur2BlurConfig, out: str | Path | None, resume: bool | str | Path = False,
          argv: Sequence[str] | None = None, stop_at: int | None = None) -> dict[str, Any]:
    """Train a translator; returns the trainer summary (+ ``known_domain``, ``loss``, ``val``).

    The run folder holds config.yaml, command.txt, metrics.jsonl, checkpoints/last.pt and, when the
    run completes, ``translator.safetensors`` (+ ``discriminator.safetensors``).
    """
    from camdeblur.engine.trainer import Trainer
    from camdeblur.utils import seed_everything

    if cfg.loss.preset not in PRESET_NAMES:
        raise CamdeblurError(f"unknown Blur2Blur preset '{cfg.loss.preset}'", fix=f"use one of {', '.join(PRESET_NAMES)}")
    data, known_desc = build_data(cfg)
    val = build_val(cfg)
    seed_everything(cfg.train.seed)
    G, D = build_nets(cfg)
    criterion = build_criterion(cfg)
    deblurrer = None
    if cfg.deblurrer:
        from camdeblur.nets.registry import load_model

        if not Path(cfg.deblurrer).exists():
            raise CamdeblurError("deblurrer weights not found", where=cfg.deblurrer)
        deblurrer = load_model(weights=cfg.deblurrer)

    val_blur = _stack(val, "blur", cfg.val.length)
    val_sharp = _stack(val, "sharp", cfg.val.length)
    val_known = None
    if val_blur is not None:
        kn = [data.known[i % len(data.known)]["known"] for i in range(len(val_blur))]
        val_known = torch.stack(kn)

    def validate(tr) -> dict[str, float]:
        if val_blur is None:
            return {}
        dev = tr.device
        db = deblurrer.to(dev) if deblurrer is not None else None
        return evaluate_translator(tr.unwrap("translator"), tr.unwrap("discriminator"), val_blur.to(dev),
                                   val_known.to(dev), None if val_sharp is None else val_sharp.to(dev), db,
                                   pyramid_mode=criterion.config.pyramid_mode)

    crit_holder: dict[str, Any] = {}

    def step_fn(tr, batch, step):
        return blur2blur_step(tr, batch, step, crit_holder["c"], cfg)

    trainer = Trainer(cfg.train, {"translator": G, "discriminator": D}, data, step_fn=step_fn,
                      optimizers={"G": ["translator"], "D": ["discriminator"]},
                      optim_configs={"D": dataclasses.replace(cfg.train.optim, lr=cfg.train.optim.lr * cfg.d_lr_scale)},
                      validate=validate if val_blur is not None else None, run_dir=out, config_dump=cfg,
                      resume=resume, export={"translator": "translator.safetensors",
                                             "discriminator": "discriminator.safetensors"})
    crit_holder["c"] = criterion.to(trainer.device)
    _install_schedule(trainer, cfg.train.steps, cfg.constant_fraction)
    loss_info = {**criterion.describe(), "reconstruction": cfg.loss.reconstruction}
    if trainer.is_main and trainer.resumed_from is None and out is not None:
        trainer.log({"loss_config": loss_info, "known_domain": known_desc,
                     "params": {"translator": sum(p.numel() for p in G.parameters()),
                                "discriminator": sum(p.numel() for p in D.parameters())}})
    if argv is not None and trainer.run is not None:
        trainer.run.write_command(list(argv), resumed=trainer.resumed_from is not None)
        trainer._command_pending = False
    summary = trainer.fit(stop_at=stop_at)
    summary.update(trainer=trainer, known_domain=known_desc, loss=loss_info)
    return summary


if __name__ == "__main__":  # pragma: no cover
    from camdeblur.cli.main import main

    sys.exit(main(["blur2blur", "train", *sys.argv[1:]]))
