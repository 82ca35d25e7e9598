"""Common base for deblurring networks: ``deblur()`` for images of any size and kind.

Every deblurrer (NAFNet, Restormer, MIMO-UNet, a Blur2Blur pipeline, ...) subclasses
:class:`Deblurrer`. ``forward`` keeps the official semantics (e.g. MIMO-UNet returns three scales);
``restore`` returns the single full-resolution image; ``deblur`` adds the inference conveniences the
CLI uses (array/tensor in and out, padding, precision, tiling), implemented in
:mod:`camdeblur.engine.inference`.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class Deblurrer(nn.Module):
    """Base class. Subclasses implement ``forward``; override ``restore`` if forward is not (B,3,H,W)->(B,3,H,W)."""

    def restore(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [0,1] -> (B,3,H,W): the final full-resolution estimate."""
        out = self(x)
        if isinstance(out, (list, tuple)):
            out = out[-1]
        return out

    @torch.no_grad()
    def deblur(self, x: Any, **kwargs: Any) -> Any:
        """Deblur a (B,3,H,W) float tensor in [0,1] or an HxWx3 uint8/uint16/float array; returns the same kind.

        Keyword arguments (``tile``, ``tile_overlap``, ``precision``, ``device``) are those of
        :func:`camdeblur.engine.inference.deblur`.
        """
        from camdeblur.engine.inference import deblur

        return deblur(self, x, **kwargs)
