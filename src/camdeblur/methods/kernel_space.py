"""Learning the encoded blur-kernel space (Tran et al., CVPR 2021, Eq. 1) and measuring blur transfer.

Training fits the kernel extractor G and the blur operator F jointly on aligned sharp/blurry pairs
(x, y) so that ``F(x, G(x, y)) ~= y`` under the Charbonnier loss (+ ``kl_weight`` x KL for the VAE
head, whose sigma is used directly as a standard deviation, as in the official code). The optimiser
follows the paper/official GOPRO options (Adam beta1 0.9, beta2 0.99, cosine annealing to 1e-8) but
with lr 2e-3 (official 1e-4 over 600k steps of batch 16 at 256 px) and, by default, the CPU model
``kernel_wizard_small`` on 64-px crops, He init with F starting as the exact identity and G's first
conv starting as a (scaled) difference of y and x features, and 20% of pairs replaced by sharp/sharp
(delta-PSF) pairs; see ``nets.kernel_wizard.kernel_wizard_small`` and ``nets.kernel_wizard.he_init_``
for why the official layout and init do not learn at CPU sizes.
It runs on the shared :class:`camdeblur.engine.Trainer` (run folder, JSONL metrics, resume)::

    from camdeblur.engine.config import load_config
    from camdeblur.methods.kernel_space import KernelSpaceConfig, train
    cfg = load_config(KernelSpaceConfig, None, ["data.source=sim:uniform", "train.steps=2000"])
    summary = train(cfg, out="runs/kernels")     # -> runs/kernels/model.safetensors
    kw = camdeblur.load_model(weights="runs/kernels/model.safetensors")
    y_new = kw.transfer(target_sharp, x, y)     # F(target, G(x, y))

Data sources are those of :mod:`camdeblur.methods.supervised` (paired folders, GoPro/REDS layouts,
``sim:<camera>``; ``sim:uniform`` is the simulator's uniform-PSF domain).

:func:`evaluate_transfer` is the paper's blur-transfer check on a uniform-PSF domain: for held-out
pairs (x, y = psf (*) x) and other held-out sharp images x^, compare ``F(x^, G(x, y))`` with
``psf (*) x^`` (PSNR), against the do-nothing baseline ``x^``, and checks that a sharp/sharp source
pair keeps content (``F(x^, G(x, x))`` vs ``x^``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from camdeblur.engine.optim import EMAConfig, OptimConfig, SchedConfig
from camdeblur.engine.trainer import TrainConfig
from camdeblur.errors import CamdeblurError
from camdeblur.methods.supervised import DataConfig, ModelConfig, ValConfig

__all__ = ["KernelSpaceConfig", "LossConfig", "kl_divergence", "kernel_space_loss", "convolve_psf",
           "evaluate_reconstruction", "evaluate_transfer", "retrieve_kernel", "train"]


@dataclass
class LossConfig:
    charbonnier_eps: float = field(default=1e-3, metadata={"help": "Charbonnier epsilon (official 'cb' criterion)"})
    kl_weight: float = field(default=0.0, metadata={
        "help": "weight of KL(N(mean, sigma^2) || N(0, 1)) for the VAE head (official GOPRO options: 0.0)"})
    identity_prob: float = field(default=0.2, metadata={
        "help": "fraction of training pairs replaced by sharp/sharp pairs (the delta PSF: teaches F(x, G(x, x)) = x,\n"
                "so transfer from an unblurred source keeps content; not in the paper, 0 = off)"})


def _default_model() -> ModelConfig:
    return ModelConfig(arch="kernel_wizard_small")


def _default_data() -> DataConfig:
    return DataConfig(source="sim:uniform", crop=64, cache=192, cache_size=160)


def _default_train() -> TrainConfig:
    return TrainConfig(
        steps=2000, batch_size=4, log_every=50, val_every=500, ckpt_every=500,
        optim=OptimConfig(name="adam", lr=2e-3, betas=(0.9, 0.99), weight_decay=0.0, grad_clip=0.0),
        sched=SchedConfig(name="cosine", warmup_steps=0, eta_min=1e-8),
        ema=EMAConfig(enabled=False),
    )


@dataclass
class KernelSpaceConfig:
    """``kernel space``: learn G and F from aligned sharp/blurry pairs."""

    model: ModelConfig = field(default_factory=_default_model, metadata={
        "help": "KernelWizard configuration (kernel_wizard_tiny, kernel_wizard_gopro, kernel_wizard_gopro_vae, or\n"
                "KernelWizard with the official options)"})
    init: str = field(default="he", metadata={
        "help": "he: He-initialise G and the U-Net adapter and zero F's last conv so F starts as the identity\n"
                "(see nets.kernel_wizard.he_init_); default: PyTorch's init as in the official code.\n"
                "Ignored when model.weights is given"})
    loss: LossConfig = field(default_factory=LossConfig, metadata={"help": "reconstruction loss"})
    data: DataConfig = field(default_factory=_default_data, metadata={"help": "training pairs"})
    val: ValConfig = field(default_factory=ValConfig, metadata={"help": "validation pairs (reconstruction PSNR)"})
    train: TrainConfig = field(default_factory=_default_train, metadata={"help": "training loop"})


# ------------------------------------------------------------------------------------------ losses
def kl_divergence(mean: torch.Tensor, sigma: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Mean over elements of KL(N(mean, sigma^2) || N(0, 1)); sigma is a std (its sign is irrelevant)."""
    var = sigma * sigma
    return 0.5 * (mean * mean + var - torch.log(var + eps) - 1.0).mean()


def kernel_space_loss(model, sharp: torch.Tensor, blurry: torch.Tensor, charbonnier_eps: float = 1e-3,
                      kl_weight: float = 0.0, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
    """Eq. 1: ``rho(F(x, G(x, y)), y)`` (+ KL). Returns ``{"loss", "charbonnier"[, "kl"]}``.

    With the VAE head the kernel is sampled (``mean + sigma * eps``) as in official training.
    """
    from camdeblur.losses.pixel import charbonnier_loss

    mean, sigma = model(sharp, blurry)
    k = model.sample_kernel(mean, sigma, generator) if model.use_vae else mean
    pred = model.apply_kernel(sharp, k)
    rec = charbonnier_loss(pred, blurry, eps=charbonnier_eps)
    out = {"charbonnier": rec}
    loss = rec
    if model.use_vae and kl_weight > 0:
        kl = kl_divergence(mean, sigma)
        out["kl"] = kl
        loss = loss + kl_weight * kl
    out["loss"] = loss
    return out


# ------------------------------------------------------------------------------------------ evaluation
def convolve_psf(image: torch.Tensor, psf: np.ndarray | torch.Tensor) -> torch.Tensor:
    """True convolution (the simulator's semantics: ``blur = sharp (*) psf``) with reflect borders.

    image (B, C, H, W), psf (k, k) normalised to sum 1 -> (B, C, H, W).
    """
    k = torch.as_tensor(np.asarray(psf, dtype=np.float32)).to(image)
    if k.dim() != 2:
        raise CamdeblurError(f"psf must be 2-D, got shape {tuple(k.shape)}")
    kh, kw = k.shape
    C = image.shape[1]
    weight = torch.flip(k, (0, 1))[None, None].repeat(C, 1, 1, 1)
    pad = (kw // 2, kw - 1 - kw // 2, kh // 2, kh - 1 - kh // 2)
    mode = "reflect" if min(image.shape[-2:]) > max(kh, kw) else "replicate"
    return F.conv2d(F.pad(image, pad, mode=mode), weight, groups=C)


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    from camdeblur.eval.metrics import psnr

    return float(psnr(a.clamp(0, 1), b.clamp(0, 1)).mean())


@torch.no_grad()
def evaluate_reconstruction(model, dataset, max_items: int = 16) -> dict[str, float]:
    """Mean PSNR of ``F(x, G(x, y))`` vs y (and of x vs y, the do-nothing baseline) on paired items."""
    was = model.training
    model.eval()
    if hasattr(dataset, "reseed"):
        dataset.reseed(0)
    dev = next(model.parameters()).device
    rec, base = [], []
    for i in range(min(len(dataset), max_items)):
        item = dataset[i]
        x, y = item["sharp"][None].to(dev), item["blur"][None].to(dev)
        rec.append(_psnr(model.apply_kernel(x, model(x, y)[0]), y))
        base.append(_psnr(x, y))
    model.train(was)
    out = {"psnr": float(np.mean(rec)), "psnr_input": float(np.mean(base))}
    out["psnr_gain"] = out["psnr"] - out["psnr_input"]
    return out


@torch.no_grad()
def evaluate_transfer(model, pairs: Sequence[dict], targets: Sequence[torch.Tensor],
                      psfs: Sequence[np.ndarray]) -> dict[str, float]:
    """Blur transfer on a uniform-PSF domain.

    Args:
        pairs: source items ``{"sharp": (3,H,W), "blur": (3,H,W)}`` with ``blur = sharp (*) psfs[i]``.
        targets: other sharp images x^_i (3, H', W') (any size) to receive the blur of pair i.
        psfs: the PSF of each pair.

    Returns mean ``psnr_transfer`` = PSNR(F(x^, G(x, y)), psf (*) x^), ``psnr_input`` = PSNR(x^, psf (*) x^),
    ``gain`` (their difference), ``psnr_identity`` = PSNR(F(x^, G(x, x)), x^) (content kept) and
    ``psnr_kernel_effect`` = PSNR(F(x^, G(x, y)), F(x^, G(x, x))) (capped at 200; ~120+ dB means F ignores
    the kernel and applies one generic blur).
    """
    was = model.training
    model.eval()
    dev = next(model.parameters()).device
    tr, base, ident, dep = [], [], [], []
    for item, tgt, psf in zip(pairs, targets, psfs):
        x, y = item["sharp"][None].to(dev), item["blur"][None].to(dev)
        t = tgt[None].to(dev)
        want = convolve_psf(t, psf)
        moved = model.apply_kernel(t, model(x, y)[0])
        kept = model.apply_kernel(t, model(x, x)[0])
        tr.append(_psnr(moved, want))
        base.append(_psnr(t, want))
        ident.append(_psnr(kept, t))
        dep.append(min(_psnr(moved, kept), 200.0))
    model.train(was)
    out = {"psnr_transfer": float(np.mean(tr)), "psnr_input": float(np.mean(base)),
           "psnr_identity": float(np.mean(ident)), "psnr_kernel_effect": float(np.mean(dep)), "images": len(tr)}
    out["gain"] = out["psnr_transfer"] - out["psnr_input"]
    return out


# ------------------------------------------------------------------------------------------ training
def train(cfg: KernelSpaceConfig, out: str | Path | None, resume: bool | str | Path = False,
          argv: Sequence[str] | None = None, stop_at: int | None = None, dataset=None) -> dict[str, Any]:
    """Train G and F jointly; returns the trainer summary (``step``, ``val``, ``exported``, ...) plus ``model``.

    ``out`` is the run folder (config.yaml, command.txt, metrics.jsonl, checkpoints/, model.safetensors);
    ``resume=True`` continues from its last checkpoint. ``dataset`` overrides ``cfg.data`` (any map-style
    dataset of ``{"blur", "sharp"}`` items). Single process (the step calls KernelWizard methods
    directly, so it does not go through a DistributedDataParallel wrapper).
    """
    from camdeblur.engine.trainer import Trainer
    from camdeblur.methods.supervised import build_dataset, build_model, build_val_dataset

    if dataset is None:
        d = cfg.data
        dataset = build_dataset(d.source, crop=d.crop, augment=d.augment, split=d.split, photos=d.photos,
                                length=d.length, seed=d.seed, cache=d.cache, cache_size=d.cache_size)
    val = None
    if cfg.train.val_every:
        try:
            val = build_val_dataset(cfg)  # same rules as supervised training (held-out seed/photos)
        except CamdeblurError:
            val = None
    model = build_model(cfg.model)
    if not hasattr(model, "apply_kernel") or not hasattr(model, "sample_kernel"):
        raise CamdeblurError(f"model '{cfg.model.arch}' is not a KernelWizard", where="model.arch",
                             fix="use kernel_wizard_tiny, kernel_wizard_gopro, kernel_wizard_gopro_vae or KernelWizard")
    if cfg.init not in ("he", "default"):
        raise CamdeblurError(f"unknown init '{cfg.init}'", where="init", fix="use 'he' or 'default'")
    if cfg.init == "he" and not cfg.model.weights:
        from camdeblur.nets.kernel_wizard import he_init_

        he_init_(model)
    lc = cfg.loss

    def step(tr: Trainer, batch, step_i: int):
        net = tr.unwrap("kernel_wizard")
        sharp, blur = batch["sharp"], batch["blur"]
        if lc.identity_prob > 0:  # delta-PSF pairs, drawn from the step index (so resume is exact)
            g = torch.Generator().manual_seed(int(step_i) * 7919 + 17)
            keep = (torch.rand(sharp.shape[0], generator=g) < lc.identity_prob).to(sharp.device)
            blur = torch.where(keep[:, None, None, None], sharp, blur)
        losses = kernel_space_loss(net, sharp, blur, lc.charbonnier_eps, lc.kl_weight)
        tr.optimize("main", losses["loss"])
        return {k: v.detach() for k, v in losses.items()}

    def validate(tr: Trainer) -> dict[str, float]:
        return evaluate_reconstruction(tr.unwrap("kernel_wizard"), val, max_items=cfg.val.length)

    trainer = Trainer(cfg.train, {"kernel_wizard": model}, dataset, step_fn=step,
                      validate=validate if val is not None else None, run_dir=out, config_dump=cfg,
                      resume=resume, export={"kernel_wizard": "model.safetensors"})
    summary = trainer.fit(stop_at=stop_at)
    summary["model"] = trainer.unwrap("kernel_wizard")
    return summary


# ------------------------------------------------------------------------------------------ retrieval
def retrieve_kernel(model, sharp: torch.Tensor, blurry: torch.Tensor, steps: int = 100, lr: float = 1e-2,
                    init: str | torch.Tensor = "extract", charbonnier_eps: float = 1e-3) -> tuple[torch.Tensor, dict[str, float]]:
    """Kernel retrieval (paper Table 3): optimise k alone so that ``F(x, k)`` reproduces y; F frozen.

    Args:
        sharp, blurry: (B, C, H, W) aligned pair, any size (e.g. from another domain).
        init: ``"extract"`` starts from G(x, y), or a kernel tensor. (Not zeros: F sees ReLU(k), whose
            gradient vanishes at 0.)
    Returns ``(k, {"psnr_init", "psnr"})``: the kernel and PSNR(F(x, k), y) before/after optimisation.
    """
    from camdeblur.losses.pixel import charbonnier_loss

    was = model.training
    model.eval()
    req = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with torch.no_grad():
            if torch.is_tensor(init):
                k0 = init.to(sharp)
            elif init == "extract":
                k0 = model(sharp, blurry)[0]
            else:
                raise CamdeblurError(f"unknown init '{init}'", fix="use 'extract' or a kernel tensor")
            psnr_init = _psnr(model.apply_kernel(sharp, k0), blurry)
        k = k0.clone().requires_grad_(True)
        opt = torch.optim.Adam([k], lr=lr)
        for _ in range(int(steps)):
            loss = charbonnier_loss(model.apply_kernel(sharp, k), blurry, eps=charbonnier_eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        with torch.no_grad():
            psnr = _psnr(model.apply_kernel(sharp, k), blurry)
    finally:
        for p, r in zip(model.parameters(), req):
            p.requires_grad_(r)
        model.train(was)
    return k.detach(), {"psnr_init": psnr_init, "psnr": psnr}
