"""Composition of a translator and a deblurrer (Blur2Blur inference: ``deblurrer(translator(y))``).

Blur2Blur maps an image with the camera's unknown blur into the *known* blur domain with a
translator, then restores it with a deblurrer trained for that known domain.
"""

from __future__ import annotations

import torch
from torch import nn

from camdeblur.nets.base import Deblurrer


def _restore(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    fn = getattr(module, "restore", None)
    out = fn(x) if callable(fn) else module(x)
    if isinstance(out, (list, tuple)):
        out = out[-1]
    return out


class Pipeline(Deblurrer):
    """``restore(y) = deblurrer.restore(translator(y))``; both are (B,3,H,W) -> (B,3,H,W) in [0,1].

    Args:
        deblurrer: the known-domain deblurrer (any :class:`Deblurrer` or module returning the image,
            or a list whose last element is the image).
        translator: maps the unknown blur domain to the known one; ``None`` means identity.
        clamp_between: clamp the translated image to [0, 1] before deblurring (default True).
    """

    def __init__(self, deblurrer: nn.Module, translator: nn.Module | None = None, clamp_between: bool = True) -> None:
        super().__init__()
        self.translator = translator
        self.deblurrer = deblurrer
        self.clamp_between = clamp_between

    def translate(self, x: torch.Tensor) -> torch.Tensor:
        if self.translator is None:
            return x
        y = _restore(self.translator, x)
        return y.clamp(0, 1) if self.clamp_between else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _restore(self.deblurrer, self.translate(x))

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward(x)
