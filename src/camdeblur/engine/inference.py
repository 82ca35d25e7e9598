"""Inference for any deblurrer: arrays or tensors in and out, precision, and blended tiling.

:func:`deblur` is what ``Deblurrer.deblur`` and ``camdeblur deblur`` call.

Tiling: the image is cut into ``tile x tile`` windows overlapping by at least ``tile_overlap``
pixels (the last row/column of tiles is shifted back so it ends at the image border, so a tile
size that does not divide the image is fine). Each restored tile is multiplied by a separable
raised-cosine ramp window that falls off over ``tile_overlap`` pixels on sides that touch another
tile (sides on the image border keep weight 1) and the weighted sum is divided by the summed
weights, so seams fade out instead of showing. Tiles run through the network ``batch_tiles`` at a
time; the output and the weight sum are accumulated on the CPU in float32, so peak memory is about
``input + output + a few tiles`` whatever the image size.

    >>> out = deblur(model, img_uint8, tile=512, tile_overlap=32, precision="bf16")  # HxWx3 uint8 -> uint8
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from camdeblur.errors import CamdeblurError

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}

__all__ = ["deblur", "fast_path", "restore_fn", "tile_starts", "ramp_window", "autocast_context", "resolve_device", "PRECISIONS"]


# ----------------------------------------------------------------------------------------- helpers
def restore_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model.restore`` if the model has one, else ``model(x)`` (last element if it returns a list)."""
    restore = getattr(model, "restore", None)
    if callable(restore):
        return restore

    def call(x: torch.Tensor) -> torch.Tensor:
        out = model(x)
        if isinstance(out, (list, tuple)):
            out = out[-1]
        return out

    return call


@contextlib.contextmanager
def fast_path(model: nn.Module) -> Iterator[None]:
    """Temporarily switch on the fused inference path of every eval-mode submodule that offers one.

    A submodule qualifies when it has ``fast(enable)`` and a ``fast_enabled`` attribute (e.g.
    :class:`~camdeblur.nets.nafnet.NAFNet`); the fast paths reproduce the reference forward to
    float32 rounding. Submodules already fast, in training mode, or without the attribute are left
    alone; the ones switched on here are switched off again on exit.
    """
    switched = []
    for m in model.modules():
        if getattr(m, "fast_enabled", None) is False and callable(getattr(m, "fast", None)) and not m.training:
            m.fast(True)
            switched.append(m)
    try:
        yield
    finally:
        for m in switched:
            m.fast(False)


def resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """``None`` -> the device the model's parameters are on (CPU for a parameter-free model);
    ``"auto"`` -> :func:`camdeblur.utils.pick_device`; otherwise that device."""
    from camdeblur.utils import pick_device

    if device is None:
        p = next(model.parameters(), None)
        if p is None:
            p = next(model.buffers(), None)
        return p.device if p is not None else torch.device("cpu")
    return pick_device(device)


def autocast_context(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """``torch.autocast`` for ``bf16``/``fp16`` (fp16 needs CUDA); a null context for ``fp32``."""
    if precision not in PRECISIONS:
        raise CamdeblurError(f"unknown precision '{precision}'", where="precision", fix="use fp32, bf16 or fp16")
    if precision == "fp32":
        return contextlib.nullcontext()
    if precision == "fp16" and device.type != "cuda":
        raise CamdeblurError(f"fp16 inference needs a CUDA device (running on {device.type})", where="precision",
                             fix="use --precision bf16 on CPU, or fp32")
    return torch.autocast(device_type=device.type, dtype=PRECISIONS[precision])


def tile_starts(size: int, tile: int, overlap: int) -> list[int]:
    """Start offsets of tiles of length ``tile`` covering ``[0, size)`` with overlaps >= ``overlap``.

    The last tile ends exactly at ``size``. ``tile >= size`` gives ``[0]``.
    """
    if tile >= size:
        return [0]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride))
    starts.append(size - tile)
    return starts


def ramp_window(length: int, ramp: int, taper_start: bool, taper_end: bool) -> torch.Tensor:
    """1-D blending weights: 1 in the middle, a raised-cosine rise over ``ramp`` samples on tapered sides.

    Weights stay strictly positive (the first sample is ``sin^2(pi/2 * 0.5/ramp)``), so a pixel
    covered by a single tile keeps a defined value. Shape ``(length,)``, float32.
    """
    w = torch.ones(length, dtype=torch.float32)
    ramp = min(ramp, length // 2)
    if ramp > 0:
        t = (torch.arange(ramp, dtype=torch.float32) + 0.5) / ramp
        rise = torch.sin(t * (math.pi / 2)) ** 2
        if taper_start:
            w[:ramp] = rise
        if taper_end:
            w[length - ramp:] = rise.flip(0)
    return w


# ----------------------------------------------------------------------------------------- core
def _run_batch(fn, x: torch.Tensor, device: torch.device, precision: str) -> torch.Tensor:
    x = x.to(device=device, dtype=torch.float32, non_blocking=True)
    with autocast_context(precision, device):
        y = fn(x)
    if isinstance(y, (list, tuple)):
        y = y[-1]
    if y.shape[-2:] != x.shape[-2:] or y.shape[0] != x.shape[0]:
        raise CamdeblurError(f"model returned shape {tuple(y.shape)} for input {tuple(x.shape)}",
                             fix="the network's restore() must return an image of the input's size")
    return y.float()


def _iter_tiles(h: int, w: int, th: int, tw: int, overlap: int) -> Iterator[tuple[int, int]]:
    for y0 in tile_starts(h, th, overlap):
        for x0 in tile_starts(w, tw, overlap):
            yield y0, x0


def _deblur_tensor(fn, x: torch.Tensor, *, tile: int | None, overlap: int, precision: str,
                   device: torch.device, batch_tiles: int, progress=None) -> torch.Tensor:
    """(B,C,H,W) float32 (any device) -> (B,C,H,W) float32 on CPU, clamped to [0, 1]."""
    b, c, h, w = x.shape
    if not tile or (tile >= h and tile >= w):
        outs = [_run_batch(fn, x[i:i + batch_tiles], device, precision).cpu()
                for i in range(0, b, max(1, batch_tiles))]
        return torch.cat(outs).clamp_(0, 1)
    th, tw = min(tile, h), min(tile, w)
    ov = max(0, min(overlap, th - 1, tw - 1))
    positions = list(_iter_tiles(h, w, th, tw, ov))
    norm = torch.zeros(1, 1, h, w, dtype=torch.float32)
    # window per tile depends only on which sides touch a neighbour
    for y0, x0 in positions:
        wy = ramp_window(th, ov, taper_start=y0 > 0, taper_end=y0 + th < h)
        wx = ramp_window(tw, ov, taper_start=x0 > 0, taper_end=x0 + tw < w)
        norm[0, 0, y0:y0 + th, x0:x0 + tw] += wy[:, None] * wx[None, :]
    results = []
    for bi in range(b):
        acc = None
        for k in range(0, len(positions), max(1, batch_tiles)):
            chunk = positions[k:k + batch_tiles]
            batch = torch.cat([x[bi:bi + 1, :, y0:y0 + th, x0:x0 + tw] for y0, x0 in chunk])
            y = _run_batch(fn, batch, device, precision).cpu()
            if acc is None:
                acc = torch.zeros(1, y.shape[1], h, w, dtype=torch.float32)
            for j, (y0, x0) in enumerate(chunk):
                wy = ramp_window(th, ov, taper_start=y0 > 0, taper_end=y0 + th < h)
                wx = ramp_window(tw, ov, taper_start=x0 > 0, taper_end=x0 + tw < w)
                acc[0, :, y0:y0 + th, x0:x0 + tw].addcmul_(y[j], wy[:, None] * wx[None, :])
            del y, batch
            if progress is not None:
                progress(bi * len(positions) + k + len(chunk), b * len(positions))
        acc.div_(norm).clamp_(0, 1)
        results.append(acc)
    return results[0] if b == 1 else torch.cat(results)


def _to_float_chw(a: np.ndarray) -> tuple[torch.Tensor, float]:
    """HxWx3 numpy (uint8/uint16/float) -> (1,3,H,W) float32 tensor in [0,1] and the integer peak (0 for float)."""
    if a.dtype == np.uint8:
        peak = 255.0
    elif a.dtype == np.uint16:
        peak = 65535.0
    elif np.issubdtype(a.dtype, np.floating):
        peak = 0.0
    else:
        raise CamdeblurError(f"unsupported array dtype {a.dtype}", fix="pass uint8, uint16 or float data in [0, 1]")
    t = torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).unsqueeze(0).to(torch.float32)
    if peak:
        t.div_(peak)
    return t, peak


def _from_float(t: torch.Tensor, peak: float, dtype) -> np.ndarray:
    """(1,C,H,W) float in [0,1] -> HxWxC numpy of ``dtype`` (rounded for integer types)."""
    a = t[0].permute(1, 2, 0)
    if peak:
        a = (a * peak).round_()
        return a.numpy().astype(dtype)
    return a.numpy().astype(dtype, copy=False)


def deblur(model: nn.Module, x: Any, *, tile: int | None = None, tile_overlap: int = 32, precision: str = "fp32",
           device: str | torch.device | None = None, batch_tiles: int = 2,
           progress: Callable[[int, int], None] | None = None) -> Any:
    """Deblur an image or a batch with ``model`` (uses ``model.restore`` when present).

    Args:
        model: a :class:`~camdeblur.nets.base.Deblurrer` (or any module mapping (B,3,H,W) -> (B,3,H,W)
            or to a list whose last element is the full-resolution image). It is moved to ``device``
            once and used under ``torch.no_grad``; its train/eval mode is left as it is. Eval-mode
            submodules with a fused inference path (NAFNet's ``fast()``) run it (see :func:`fast_path`).
        x: (B,C,H,W) or (C,H,W) float tensor in [0,1]; or a numpy array HxWx3 / HxW / HxWx1 / HxWx4
            (uint8, uint16 or float in [0,1]). Grey images are run as RGB and averaged back; an alpha
            channel (HxWx4) is kept aside and returned unchanged.
        tile: tile size in pixels (``None``/0: one pass over the whole image). A tile larger than
            the image is a single pass; the last tiles are shifted to end at the border.
        tile_overlap: minimum overlap between neighbouring tiles; also the blending ramp length.
        precision: ``"fp32"``, ``"bf16"`` (CPU or CUDA autocast) or ``"fp16"`` (CUDA only).
        device: ``None`` = where the model already is; ``"auto"`` = CUDA/MPS if available else CPU.
        batch_tiles: tiles (or batch images, without tiling) per forward pass.
        progress: optional ``progress(done_tiles, total_tiles)`` called after each batch of tiles.

    Returns:
        the same kind as ``x``: a float tensor of the same shape on the input's device (clamped to
        [0,1], the input's float dtype), or a numpy array of the input's shape and dtype (integers
        rounded).

    Raises:
        CamdeblurError: unsupported input shape/dtype, fp16 without CUDA, bad tile options.
    """
    if tile is not None and tile < 0:
        raise CamdeblurError(f"tile must be >= 0, got {tile}", where="tile")
    if tile and tile_overlap >= tile:
        raise CamdeblurError(f"tile overlap {tile_overlap} must be smaller than the tile size {tile}",
                             where="tile_overlap", fix="use e.g. --tile 512 --tile-overlap 32")
    if tile_overlap < 0:
        raise CamdeblurError("tile overlap must be >= 0", where="tile_overlap")
    dev = resolve_device(model, device)
    autocast_context(precision, dev)  # validate before any work
    model.to(dev)
    fn = restore_fn(model)
    kw = dict(tile=tile, overlap=tile_overlap, precision=precision, device=dev, batch_tiles=max(1, int(batch_tiles)),
              progress=progress)

    with torch.no_grad(), fast_path(model):
        if isinstance(x, torch.Tensor):
            if not x.is_floating_point():
                raise CamdeblurError(f"tensor input must be float in [0, 1], got {x.dtype}",
                                     fix="divide integer images by 255 (or 65535) first, or pass a numpy array")
            squeeze = x.ndim == 3
            t = x.unsqueeze(0) if squeeze else x
            if t.ndim != 4:
                raise CamdeblurError(f"expected a (B,C,H,W) or (C,H,W) tensor, got shape {tuple(x.shape)}")
            y = _deblur_tensor(fn, t.float(), **kw)
            y = y.to(device=x.device, dtype=x.dtype)
            return y[0] if squeeze else y

        a = np.asarray(x)
        if a.ndim == 2:
            a = a[..., None]
        if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
            raise CamdeblurError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image array, got shape {np.shape(x)}")
        ch = a.shape[2]
        alpha = a[..., ch - 1:] if ch in (2, 4) else None
        color = a[..., :3] if ch >= 3 else np.repeat(a[..., :1], 3, axis=2)
        t, peak = _to_float_chw(color)
        y = _deblur_tensor(fn, t, **kw)
        if ch < 3:
            y = y.mean(dim=1, keepdim=True)
        out = _from_float(y, peak, a.dtype)
        if alpha is not None:
            out = np.concatenate([out, alpha], axis=2)
        if np.ndim(x) == 2:
            out = out[..., 0]
        return out
