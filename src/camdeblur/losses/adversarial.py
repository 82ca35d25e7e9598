"""Adversarial losses for Blur2Blur: GAN objectives on PatchGAN logits and the WGAN-GP gradient penalty.

Discriminator outputs are raw logits (no sigmoid), a tensor or a list of tensors (one per scale,
as the shared multi-scale PatchGAN returns). For a list, each scale's loss is the mean over its
elements and the scales are averaged, so the finest scale (most patches) does not dominate — the
official Blur2Blur reduction.

Modes:
    ``"vanilla"``  log-likelihood GAN (the paper's Eq. 3), via binary cross-entropy with logits:
                   D: -log D(real) - log(1 - D(fake)); G (non-saturating): -log D(G(y)).
    ``"lsgan"``    least squares (pix2pix/CycleGAN): D: (D(real)-1)^2 + D(fake)^2; G: (D(G(y))-1)^2.
    ``"hinge"``    the official code's: D: relu(1 - D(real)) + relu(1 + D(fake)); G: -D(G(y)).

Typical Blur2Blur step (``D`` shared over the translator's three scales)::

    gan = GANLoss("hinge")
    fake = translator(y)                                    # [1/4, 1/2, 1] scales
    loss_D = gan.discriminator_loss(D(image_pyramid(k)), D([f.detach() for f in fake]))
    loss_D = loss_D + lambda_gp * gradient_penalty(D, k, fake[-1].detach())
    loss_G = gan.generator_loss(D(fake)) + lambda_rec * rec_loss(fake, y)
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.errors import CamdeblurError

Tensor = torch.Tensor
MODES = ("vanilla", "lsgan", "hinge")


def _as_list(x: Tensor | Sequence[Tensor]) -> list[Tensor]:
    return [x] if isinstance(x, Tensor) else list(x)


class GANLoss(nn.Module):
    """GAN objective for discriminator logits.

    ``forward(pred, target_is_real, for_discriminator=True)``: ``pred`` a tensor of logits (any
    shape, e.g. (B,1,h,w) PatchGAN maps) or a list of them; returns a scalar. For the generator side
    (``for_discriminator=False``) ``target_is_real`` must be True. ``real_label``/``fake_label`` set
    the targets of vanilla/lsgan (label smoothing, e.g. 0.9).
    """

    def __init__(self, mode: str = "vanilla", real_label: float = 1.0, fake_label: float = 0.0):
        super().__init__()
        if mode not in MODES:
            raise CamdeblurError(f"unknown GAN mode '{mode}'", fix=f"choose one of {', '.join(MODES)}")
        self.mode = mode
        self.real_label = float(real_label)
        self.fake_label = float(fake_label)

    def _single(self, pred: Tensor, target_is_real: bool, for_discriminator: bool) -> Tensor:
        if self.mode == "hinge":
            if not for_discriminator:
                return -pred.mean()
            return F.relu(1.0 - pred).mean() if target_is_real else F.relu(1.0 + pred).mean()
        target = torch.full_like(pred, self.real_label if target_is_real else self.fake_label)
        if self.mode == "vanilla":
            return F.binary_cross_entropy_with_logits(pred, target)
        return F.mse_loss(pred, target)

    def forward(self, pred: Tensor | Sequence[Tensor], target_is_real: bool, for_discriminator: bool = True) -> Tensor:
        if not for_discriminator and not target_is_real:
            raise CamdeblurError("the generator side of a GAN loss takes target_is_real=True")
        preds = _as_list(pred)
        if not preds:
            raise CamdeblurError("GAN loss got an empty list of discriminator outputs")
        losses = [self._single(p, target_is_real, for_discriminator) for p in preds]
        return losses[0] if len(losses) == 1 else torch.stack(losses).mean()

    def discriminator_loss(self, pred_real: Tensor | Sequence[Tensor], pred_fake: Tensor | Sequence[Tensor]) -> Tensor:
        """``0.5 * (loss(real -> real) + loss(fake -> fake))`` as in pix2pix / the official Blur2Blur."""
        return 0.5 * (self(pred_real, True) + self(pred_fake, False))

    def generator_loss(self, pred_fake: Tensor | Sequence[Tensor]) -> Tensor:
        """The translator's adversarial loss on D's outputs for its (non-detached) outputs."""
        return self(pred_fake, True, for_discriminator=False)

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}"


def gradient_penalty(
    discriminator: Callable[..., Tensor | Sequence[Tensor]],
    real: Tensor | Sequence[Tensor],
    fake: Tensor | Sequence[Tensor],
    *,
    target_norm: float = 1.0,
    alpha: Tensor | None = None,
    generator: torch.Generator | None = None,
    eps: float = 1e-12,
) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat)||_2 - target_norm)^2]`` on random interpolates (unweighted).

    ``x_hat = alpha * real + (1 - alpha) * fake`` with one ``alpha ~ U[0,1]`` per sample (shape (B,)
    or given). The gradient norm is taken per sample over all its elements, the penalty averaged
    over the batch, so the value is the mean of the per-sample penalties for any batch size (the
    official code breaks above batch 1). ``real``/``fake`` may be lists of tensors (one per scale,
    sharing each sample's ``alpha``): D is then called on the list and the per-sample norm covers
    all scales' gradients. D's outputs (tensor or list) are summed, so each sample's gradient is that
    of the sum of its patch logits. ``fake`` is detached here. The graph is kept
    (``create_graph=True``) so the penalty trains D. Multiply by λ (paper 0.005, official 1e-4).

    Per-sample independence needs a discriminator without batch-coupled layers (instance norm is
    fine, batch norm in train mode is not).
    """
    reals, fakes = _as_list(real), _as_list(fake)
    if len(reals) != len(fakes):
        raise CamdeblurError(f"gradient penalty got {len(reals)} real and {len(fakes)} fake scales")
    b = reals[0].shape[0]
    for r, f in zip(reals, fakes):
        if r.shape != f.shape:
            raise CamdeblurError(f"gradient penalty: real {tuple(r.shape)} and fake {tuple(f.shape)} differ in shape")
        if r.shape[0] != b:
            raise CamdeblurError("gradient penalty: all scales need the same batch size")
    if alpha is None:
        alpha = torch.rand(b, generator=generator, device="cpu" if generator is not None else reals[0].device)
    alpha = alpha.to(device=reals[0].device, dtype=reals[0].dtype).reshape(b)
    inputs = []
    for r, f in zip(reals, fakes):
        a = alpha.view(b, *([1] * (r.ndim - 1)))
        inputs.append((a * r.detach() + (1 - a) * f.detach()).requires_grad_(True))
    out = discriminator(inputs[0] if isinstance(real, Tensor) else inputs)
    total = sum(o.sum() for o in _as_list(out))
    grads = torch.autograd.grad(total, inputs, create_graph=True)
    sq = sum(g.reshape(b, -1).pow(2).sum(dim=1) for g in grads)
    norms = torch.sqrt(sq + eps)
    return ((norms - target_norm) ** 2).mean()


class GradientPenalty(nn.Module):
    """Module form of :func:`gradient_penalty` with its weight: ``forward(D, real, fake) = weight * GP``."""

    def __init__(self, weight: float = 1e-4, target_norm: float = 1.0):
        super().__init__()
        self.weight = float(weight)
        self.target_norm = float(target_norm)

    def forward(self, discriminator, real, fake, alpha: Tensor | None = None) -> Tensor:
        if self.weight == 0:
            return _as_list(real)[0].new_zeros(())
        return self.weight * gradient_penalty(discriminator, real, fake, target_norm=self.target_norm, alpha=alpha)

    def extra_repr(self) -> str:
        return f"weight={self.weight}, target_norm={self.target_norm}"
