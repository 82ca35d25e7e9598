"""Losses with one signature, ``loss(pred, target, weight=None) -> scalar`` (mean-reduced).

Pixel losses (:mod:`camdeblur.losses.pixel`), the perceptual loss with a frozen pretrained backbone
(:mod:`camdeblur.losses.perceptual`), adversarial losses (:mod:`camdeblur.losses.adversarial`) and the
Blur2Blur objectives with the paper/official presets (:mod:`camdeblur.losses.blur2blur`). Configs name losses through :func:`build_loss`::

    build_loss("charbonnier")
    build_loss({"name": "charbonnier", "eps": 1e-3})
    build_loss({"l1": 1.0, "perceptual": 0.1})                     # weighted sum
    build_loss({"l1": 1.0, "perceptual": {"weight": 0.1, "backbone": "vgg19"}})
    build_loss({"name": "perceptual", "preset": "blur2blur_official", "weights": "vgg16-397923af.pth"})
    build_loss({"name": "multiscale", "base": "l1"})               # for MIMO-UNet list outputs
    build_loss("mimo")                                             # MIMO-UNet: L1 + 0.1 FFT over scales

Submodules are imported on first use (the perceptual backbone only when a perceptual loss is built).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Mapping

import torch
from torch import nn

from camdeblur.errors import CamdeblurError

#: name -> "module:attribute" (imported lazily).
LOSSES: dict[str, str] = {
    "l1": "pixel:L1Loss",
    "mse": "pixel:MSELoss",
    "l2": "pixel:MSELoss",
    "charbonnier": "pixel:CharbonnierLoss",
    "psnr": "pixel:PSNRLoss",
    "fft": "pixel:FFTLoss",
    "mimo": "pixel:MIMOLoss",
    "multiscale": "pixel:MultiScaleLoss",
    "perceptual": "perceptual:PerceptualLoss",
}

_EXPORTS = {
    "L1Loss": "pixel", "MSELoss": "pixel", "CharbonnierLoss": "pixel", "PSNRLoss": "pixel", "FFTLoss": "pixel",
    "MultiScaleLoss": "pixel", "MIMOLoss": "pixel", "l1_loss": "pixel", "mse_loss": "pixel",
    "charbonnier_loss": "pixel", "psnr_loss": "pixel", "fft_loss": "pixel", "pyramid": "pixel",
    "PerceptualLoss": "perceptual",
    "GANLoss": "adversarial", "gradient_penalty": "adversarial", "GradientPenalty": "adversarial",
    "Blur2BlurLoss": "blur2blur", "Blur2BlurLossConfig": "blur2blur", "build_blur2blur_loss": "blur2blur",
}

__all__ = ["LOSSES", "WeightedSumLoss", "build_loss", "register_loss", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"camdeblur.losses.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'camdeblur.losses' has no attribute '{name}'")


def register_loss(name: str, target: str | Callable[..., nn.Module]) -> None:
    """Add a loss name: ``target`` is a factory/class or a ``"module:attr"`` string under camdeblur.losses."""
    LOSSES[name] = target  # type: ignore[assignment]


def _resolve(name: str) -> Callable[..., nn.Module]:
    if name not in LOSSES:
        raise CamdeblurError(f"unknown loss '{name}'", fix=f"choose one of {', '.join(sorted(LOSSES))}")
    target = LOSSES[name]
    if callable(target):
        return target
    mod, attr = target.split(":")
    return getattr(importlib.import_module(f"camdeblur.losses.{mod}"), attr)


class WeightedSumLoss(nn.Module):
    """``sum_i w_i * loss_i(pred, target, weight)``; the last unweighted terms are kept in :attr:`last_terms`
    (detached 0-d tensors, so no device sync per step; ``float()`` them when logging)."""

    def __init__(self, terms: Mapping[str, tuple[float, nn.Module]]):
        super().__init__()
        self.names = list(terms)
        self.coefficients = [float(terms[n][0]) for n in self.names]
        self.losses = nn.ModuleDict({n: terms[n][1] for n in self.names})
        self.last_terms: dict[str, torch.Tensor] = {}

    def forward(self, pred, target, weight: torch.Tensor | None = None) -> torch.Tensor:
        total = None
        terms = {}
        for name, c in zip(self.names, self.coefficients):
            value = self.losses[name](pred, target, weight)
            terms[name] = value.detach()
            total = c * value if total is None else total + c * value
        self.last_terms = terms
        return total

    def describe(self) -> dict:
        out = {}
        for name, c in zip(self.names, self.coefficients):
            loss = self.losses[name]
            out[name] = {"weight": c, **(loss.describe() if hasattr(loss, "describe") else {})}
        return out

    def extra_repr(self) -> str:
        return ", ".join(f"{n}*{c:g}" for n, c in zip(self.names, self.coefficients))


def _build_one(name: str, options: Mapping[str, Any]) -> nn.Module:
    opts = dict(options)
    if name == "multiscale":
        base = opts.pop("base", "l1")
        opts["base"] = build_loss(base) if not isinstance(base, nn.Module) else base
    factory = _resolve(name)
    if name == "perceptual" and "preset" in opts:  # {"perceptual": {"preset": "blur2blur_official", ...}}
        factory = getattr(factory, "preset")
        opts = {"name": opts.pop("preset"), **opts}
    try:
        return factory(**opts)
    except TypeError as exc:
        raise CamdeblurError(f"bad options for loss '{name}': {exc}") from None


def build_loss(config: str | Mapping[str, Any] | nn.Module) -> nn.Module:
    """Build a loss module from a name, a ``{"name": ..., **options}`` dict, or a ``{name: weight}`` sum.

    In a weighted sum, each value is a number (the coefficient) or a dict of options with an optional
    ``"weight"`` coefficient (default 1). A single-term sum with coefficient 1 returns the loss itself.
    """
    if isinstance(config, nn.Module):
        return config
    if isinstance(config, str):
        return _build_one(config, {})
    if not isinstance(config, Mapping) or not config:
        raise CamdeblurError(f"a loss config must be a name or a non-empty mapping, got {config!r}")
    if "name" in config:
        opts = dict(config)
        return _build_one(opts.pop("name"), opts)
    terms: dict[str, tuple[float, nn.Module]] = {}
    for key, value in config.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            coef, opts = float(value), {}
        elif isinstance(value, Mapping):
            opts = dict(value)
            coef = float(opts.pop("weight", 1.0))
        else:
            raise CamdeblurError(f"loss '{key}': expected a weight or an options mapping, got {value!r}")
        terms[key] = (coef, _build_one(opts.pop("name", key), opts))
    if len(terms) == 1:
        (coef, loss), = terms.values()
        if coef == 1.0:
            return loss
    return WeightedSumLoss(terms)
