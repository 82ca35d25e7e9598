"""Blur2Blur objectives (Pham et al., CVPR 2024) bundled for a training loop, with the two presets.

The translator ``G`` maps a blurry image ``y`` of camera C to the known blur domain; it returns the
three scales ``[1/4, 1/2, 1]`` (MIMO-UNet). One PatchGAN ``D`` is shared over the scales.

* translator (generator) step:
  ``L_G = L_adv(G) + lambda_rec * L_rec``, ``L_rec`` = perceptual loss between ``G(y)_i`` and ``y_i``
  at each scale (``y`` resized to each scale with ``pyramid_mode``, bilinear by default; each term
  normalised by its element count).
* discriminator step:
  ``L_D = 0.5 * (L(D(k) -> real) + L(D(G(y)) -> fake)) + lambda_gp * GP``, with ``k`` a known-domain
  image presented as a pyramid, GP on random interpolates (per-sample, any batch size).

Presets (:data:`PRESETS`):

``"official"`` (the released code): hinge GAN, VGG16 taps as the code computes them (relu2_2,
relu3_3, relu4_1, relu4_3, conv5_1 — nominally conv2_2/3_3/4_1/4_3/5_1, see
:data:`camdeblur.losses.perceptual.OFFICIAL_VGG16_TAPS`; ``perceptual="blur2blur_official_preact"``
selects the nominal pre-activation taps) with weights 1/32..1, lambda_rec 0.8 summed over scales,
lambda_gp 1e-4, GP on the full scale only between the known image and ``G(y)``.

``"paper"``: log-likelihood GAN (Eq. 3, non-saturating for G), VGG19 (relu1_1..relu5_1, 1/32..1),
lambda_rec 0.8 with the 1/M mean over scales (Eq. 5), lambda_grad 0.005, GP between ``y`` and
``G(y)`` as Eq. 4 states.

Without a VGG weight file either preset uses the pretrained EfficientNet-Lite0 fallback (logged,
recorded by :meth:`Blur2BlurLoss.describe`).

    >>> crit = Blur2BlurLoss.preset("official")
    >>> fake = translator(y)
    >>> loss_d, logs = crit.discriminator_loss(D, fake, known=k, blurry=y); loss_d.backward()
    >>> loss_g, logs = crit.generator_loss(D, fake, blurry=y); loss_g.backward()
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from camdeblur.errors import CamdeblurError
from camdeblur.losses.adversarial import GANLoss, gradient_penalty
from camdeblur.losses.pixel import MultiScaleLoss, pyramid

Tensor = torch.Tensor


@dataclass
class Blur2BlurLossConfig:
    gan_mode: str = "hinge"                 # vanilla | lsgan | hinge
    perceptual: str = "blur2blur_official"  # a PerceptualLoss preset name
    perceptual_weights: str | None = None   # torchvision VGG file (else hub cache, else EfficientNet-Lite0)
    lambda_rec: float = 0.8
    rec_reduction: str = "sum"              # over scales: "sum" (official) or "mean" (paper's 1/M)
    rec_scale_weights: list[float] | None = None  # per-scale weights of L_rec, coarse to fine (None = 1 each);
                                            # e.g. [20, 5, 1] with pyramid_mode "area" holds the low frequencies
                                            # (content, colour) hard while leaving the finest detail (blur) free
    lambda_gp: float = 1e-4
    gp_scales: str = "full"                 # "full": finest scale only (official); "all": every scale
    gp_real: str = "known"                  # interpolate G(y) with "known" k (official) or "blurry" y (paper Eq. 4)
    pyramid_mode: str = "bilinear"          # how y (rec target) and k (D's real) are resized to the coarse scales;
                                            # "nearest" = MIMO-UNet's own input subsampling (every 2nd/4th pixel,
                                            # see scale_pyramid), so the identity translator has zero rec loss
                                            # and D gets no resampling cue; "area" = box average
    allow_random: bool = False              # only for tests without any pretrained weights


PRESETS: dict[str, Blur2BlurLossConfig] = {
    "official": Blur2BlurLossConfig(),
    "paper": Blur2BlurLossConfig(gan_mode="vanilla", perceptual="blur2blur_paper", rec_reduction="mean",
                                 lambda_gp=0.005, gp_real="blurry"),
}


PYRAMID_MODES = ("bilinear", "nearest", "area")


def scale_pyramid(x: Tensor, sizes: Sequence[tuple[int, int]], mode: str = "bilinear") -> list[Tensor]:
    """``x`` (B,C,H,W) at each (h, w) of ``sizes`` -> list of (B,C,h,w).

    ``mode="nearest"`` reproduces MIMO-UNet's input pyramid exactly: the network pads H, W to a multiple
    of 4 and takes ``F.interpolate(x, scale_factor=0.5)`` twice, i.e. every 2nd (4th) pixel starting at 0,
    then crops to ``ceil(H/s)``; so a size ``(ceil(H/s), ceil(W/s))`` with an integer ``s`` is
    ``x[..., ::s, ::s]`` (``F.interpolate(size=...)`` differs for odd sizes). Other sizes, and the other
    modes, use :func:`camdeblur.losses.pixel.pyramid` (bilinear without corner alignment, or area).
    """
    if mode not in PYRAMID_MODES:
        raise CamdeblurError(f"pyramid_mode must be one of {', '.join(PYRAMID_MODES)}, got '{mode}'")
    if mode != "nearest":
        return pyramid(x, sizes, mode=mode)
    h, w = x.shape[-2:]
    out = []
    for size in sizes:
        sh, sw = (int(v) for v in size)
        s = max(1, round(h / sh))
        if -(-h // s) == sh and -(-w // s) == sw:
            out.append(x if s == 1 else x[..., ::s, ::s])
        else:
            out.extend(pyramid(x, [(sh, sw)], mode="nearest"))
    return out


def _list(x: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [x] if isinstance(x, Tensor) else list(x)


class Blur2BlurLoss(nn.Module):
    """Translator and discriminator objectives of Blur2Blur (see the module docstring).

    Both methods return ``(loss, logs)``; ``logs`` maps names (``G_adv``, ``G_rec``, ``G_total``,
    ``D_adv``, ``D_gp``, ``D_total``, ``D_real_score``, ``D_fake_score``) to detached 0-d tensors.
    """

    def __init__(self, config: Blur2BlurLossConfig | None = None, perceptual: nn.Module | None = None, **overrides):
        super().__init__()
        cfg = dataclasses.replace(config or Blur2BlurLossConfig(), **overrides)
        if cfg.gp_scales not in ("full", "all"):
            raise CamdeblurError(f"gp_scales must be 'full' or 'all', got '{cfg.gp_scales}'")
        if cfg.gp_real not in ("known", "blurry"):
            raise CamdeblurError(f"gp_real must be 'known' or 'blurry', got '{cfg.gp_real}'")
        if cfg.pyramid_mode not in PYRAMID_MODES:
            raise CamdeblurError(f"pyramid_mode must be one of {', '.join(PYRAMID_MODES)}, got '{cfg.pyramid_mode}'")
        self.config = cfg
        self.gan = GANLoss(cfg.gan_mode)
        if perceptual is None:
            from camdeblur.losses.perceptual import PerceptualLoss

            perceptual = PerceptualLoss.preset(cfg.perceptual, weights=cfg.perceptual_weights,
                                               allow_random=cfg.allow_random)
        self.perceptual = perceptual
        self.reconstruction = MultiScaleLoss(perceptual, scale_weights=cfg.rec_scale_weights, reduction=cfg.rec_reduction)

    @classmethod
    def preset(cls, name: str, **overrides) -> "Blur2BlurLoss":
        if name not in PRESETS:
            raise CamdeblurError(f"unknown Blur2Blur loss preset '{name}'", fix=f"choose one of {', '.join(PRESETS)}")
        return cls(PRESETS[name], **overrides)

    def describe(self) -> dict:
        out = dataclasses.asdict(self.config)
        if hasattr(self.perceptual, "describe"):
            out["perceptual_backbone"] = self.perceptual.describe()
        return out

    def pyramid(self, x: Tensor, like: Sequence[Tensor]) -> list[Tensor]:
        """``x`` (B,C,H,W) at the sizes of ``like`` (coarse to fine), resized with ``pyramid_mode``."""
        return scale_pyramid(x, [tuple(f.shape[-2:]) for f in like], mode=self.config.pyramid_mode)

    def generator_loss(self, discriminator: nn.Module, fake: Tensor | Sequence[Tensor], blurry: Tensor
                       ) -> tuple[Tensor, dict[str, Tensor]]:
        """``L_adv(G) + lambda_rec * L_rec``. ``fake``: translator outputs (coarse to fine, not detached);
        ``blurry``: the input ``y`` (B,3,H,W). D's parameters should not require grad during this step."""
        fakes = _list(fake)
        adv = self.gan.generator_loss(discriminator(fakes if len(fakes) > 1 else fakes[0]))
        rec = self.reconstruction(fakes, self.pyramid(blurry, fakes))
        total = adv + self.config.lambda_rec * rec
        return total, {"G_adv": adv.detach(), "G_rec": rec.detach(), "G_total": total.detach()}

    def discriminator_loss(self, discriminator: nn.Module, fake: Tensor | Sequence[Tensor], known: Tensor,
                           blurry: Tensor | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """``0.5 (L(D(k), real) + L(D(G(y)), fake)) + lambda_gp * GP``; ``fake`` is detached here.

        ``known``: known-domain images k (B,3,H,W), shown to D as a pyramid matching ``fake``'s sizes.
        ``blurry``: y, needed when ``gp_real == "blurry"`` (the paper's Eq. 4).
        """
        fakes = [f.detach() for f in _list(fake)]
        reals = self.pyramid(known, fakes)
        multi = len(fakes) > 1
        pred_real = discriminator(reals if multi else reals[0])
        pred_fake = discriminator(fakes if multi else fakes[0])
        adv = self.gan.discriminator_loss(pred_real, pred_fake)
        total = adv
        logs = {"D_adv": adv.detach()}
        if self.config.lambda_gp > 0:
            if self.config.gp_real == "blurry":
                if blurry is None:
                    raise CamdeblurError("the paper's gradient penalty interpolates y and G(y): pass blurry=y")
                anchor = self.pyramid(blurry, fakes)
            else:
                anchor = reals
            if self.config.gp_scales == "full":
                gp = gradient_penalty(discriminator, anchor[-1], fakes[-1])
            else:
                gp = gradient_penalty(discriminator, anchor, fakes)
            total = total + self.config.lambda_gp * gp
            logs["D_gp"] = gp.detach()
        logs["D_total"] = total.detach()
        with torch.no_grad():
            logs["D_real_score"] = torch.stack([p.mean() for p in _list(pred_real)]).mean()
            logs["D_fake_score"] = torch.stack([p.mean() for p in _list(pred_fake)]).mean()
        return total, logs


def build_blur2blur_loss(preset: str = "official", perceptual_weights: str | os.PathLike | None = None,
                         **overrides) -> Blur2BlurLoss:
    """Convenience: a preset with an optional VGG weight file and config overrides."""
    if perceptual_weights is not None:
        overrides["perceptual_weights"] = str(perceptual_weights)
    return Blur2BlurLoss.preset(preset, **overrides)
