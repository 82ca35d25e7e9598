"""NAFNet (Chen et al., ECCV 2022, "Simple Baselines for Image Restoration") and its TLC variant.

State-dict keys follow megvii-research/NAFNet (``intro``, ``encoders.i.j.*``, ``downs``, ``middle_blks``,
``ups``, ``decoders``, ``ending``), so official ``.pth`` files load unchanged.

:class:`NAFNetLocal` is the test-time local converter (TLC, Chu et al. ECCV 2022) used for the
published GoPro numbers: every global average pool of the simplified channel attention becomes a
box filter whose size is 1.5x the feature size seen during training (``train_size``).

Fast inference: ``model.fast()`` (or ``model.fast(False)`` to disable) switches eval forwards to a
numerically equivalent path (< 1e-4; ~1e-6 in practice) that folds the LayerNorm affine into the
following 1x1 conv, ``beta``/``gamma`` into the preceding 1x1 conv, keeps activations channels-last
and, on CPU, runs oneDNN GEMM/depthwise primitives with bias, SimpleGate and residual adds fused as
post-ops and the SCA channel scale folded into the conv3 weight (see :meth:`NAFNet.fast`).
``Deblurrer.deblur`` / ``camdeblur deblur`` switch it on for eval models. The weights and the
state dict are untouched.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.nets.base import Deblurrer
from camdeblur.nets.layers import LayerNorm2d, SimpleGate
from camdeblur.nets.registry import register_model


def local_avg_pool2d(x: torch.Tensor, kernel: tuple[int, int]) -> torch.Tensor:
    """Box-filter mean over ``kernel`` windows, replicate-padded back to the input size.

    Equals the global mean when the kernel covers the whole map (TLC's rule).

    Args:
        x: (B,C,H,W).
        kernel: (kh, kw) window size.

    Returns:
        (B,C,H,W), or (B,C,1,1) when the window covers the input.
    """
    h, w = x.shape[-2:]
    if kernel[0] >= h and kernel[1] >= w:
        return F.adaptive_avg_pool2d(x, 1)
    k1, k2 = min(h, kernel[0]), min(w, kernel[1])
    # integral image (same summation order as the reference: along W, then along H)
    s = x.cumsum(dim=-1).cumsum_(dim=-2)
    s = F.pad(s, (1, 0, 1, 0))
    out = s[:, :, k1:, k2:] + s[:, :, :-k1, :-k2] - s[:, :, :-k1, k2:] - s[:, :, k1:, :-k2]
    out = out / (k1 * k2)
    oh, ow = out.shape[-2:]
    pad = ((w - ow) // 2, (w - ow + 1) // 2, (h - oh) // 2, (h - oh + 1) // 2)
    return F.pad(out, pad, mode="replicate")


class LocalAvgPool2d(nn.Module):
    """Module form of :func:`local_avg_pool2d` (replaces ``AdaptiveAvgPool2d(1)`` in TLC)."""

    def __init__(self, kernel: tuple[int, int]) -> None:
        super().__init__()
        self.kernel = (int(kernel[0]), int(kernel[1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return local_avg_pool2d(x, self.kernel)

    def extra_repr(self) -> str:
        return f"kernel={self.kernel}"


def _param_key(p: torch.Tensor) -> tuple:
    """Cache key of a weight: storage, in-place version, device, dtype.

    Tensors created under ``torch.inference_mode`` have no version counter; for them only an
    exchanged tensor (``load_state_dict`` into new storage) is detected.
    """
    return p.data_ptr(), (-1 if p.is_inference() else p._version), p.device, p.dtype


class NAFBlock(nn.Module):
    """NAFNet block: LN -> 1x1 -> depthwise 3x3 -> SimpleGate -> SCA -> 1x1, then an FFN with SimpleGate.

    (B,c,H,W) -> (B,c,H,W). Residual scales ``beta``/``gamma`` (1,c,1,1) start at zero.
    """

    def __init__(self, c: int, dw_expand: int = 2, ffn_expand: int = 2, drop_out_rate: float = 0.0) -> None:
        super().__init__()
        dw = c * dw_expand
        self.conv1 = nn.Conv2d(c, dw, 1, bias=True)
        self.conv2 = nn.Conv2d(dw, dw, 3, padding=1, groups=dw, bias=True)
        self.conv3 = nn.Conv2d(dw // 2, c, 1, bias=True)
        self.sca = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(dw // 2, dw // 2, 1, bias=True))
        self.sg = SimpleGate()
        ffn = ffn_expand * c
        self.conv4 = nn.Conv2d(c, ffn, 1, bias=True)
        self.conv5 = nn.Conv2d(ffn // 2, c, 1, bias=True)
        self.norm1 = LayerNorm2d(c)
        self.norm2 = LayerNorm2d(c)
        self.dropout1 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.dropout2 = nn.Dropout(drop_out_rate) if drop_out_rate > 0 else nn.Identity()
        self.beta = nn.Parameter(torch.zeros((1, c, 1, 1)))
        self.gamma = nn.Parameter(torch.zeros((1, c, 1, 1)))
        self._fast_onednn = True  # set by NAFNet.fast(onednn=...)

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.norm1(inp)
        x = self.sg(self.conv2(self.conv1(x)))
        x = x * self.sca(x)
        x = self.dropout1(self.conv3(x))
        y = inp + x * self.beta
        x = self.sg(self.conv4(self.norm2(y)))
        x = self.dropout2(self.conv5(x))
        return y + x * self.gamma

    # ---- fast inference path -------------------------------------------------------------------
    def _folded(self) -> dict[str, torch.Tensor]:
        """1x1 convs as (O,C) matrices with the LN affine folded into conv1/conv4 and beta/gamma into conv3/conv5.

        Cached; the cache key follows the parameters' storage and version, so in-place updates or a
        new ``load_state_dict`` invalidate it.
        """
        params = (self.conv1.weight, self.conv1.bias, self.norm1.weight, self.norm1.bias, self.conv3.weight,
                  self.conv3.bias, self.beta, self.conv4.weight, self.conv4.bias, self.norm2.weight,
                  self.norm2.bias, self.conv5.weight, self.conv5.bias, self.gamma, self.sca[1].weight,
                  self.sca[1].bias, self.conv2.weight)
        cache = getattr(self, "_fold_cache", None)
        if cache is not None and torch.compiler.is_compiling():
            return cache[1]  # traced graphs take the folded weights as constants (fast() fills the cache)
        key = tuple(_param_key(p) for p in params)
        if cache is not None and cache[0] == key:
            return cache[1]
        with torch.no_grad():
            def mat(conv: nn.Conv2d) -> torch.Tensor:
                return conv.weight[:, :, 0, 0]

            def fold_ln(conv: nn.Conv2d, ln: LayerNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
                w = mat(conv)
                return (w * ln.weight.view(1, -1)).contiguous(), conv.bias + w @ ln.bias

            def fold_scale(conv: nn.Conv2d, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
                s = s.view(-1)
                return (mat(conv) * s.view(-1, 1)).contiguous(), conv.bias * s

            w1, b1 = fold_ln(self.conv1, self.norm1)
            w3, b3 = fold_scale(self.conv3, self.beta)
            w4, b4 = fold_ln(self.conv4, self.norm2)
            w5, b5 = fold_scale(self.conv5, self.gamma)
            out = {"w1": w1, "b1": b1, "w3": w3, "b3": b3, "w4": w4, "b4": b4, "w5": w5, "b5": b5,
                   "ws": mat(self.sca[1]).contiguous(), "bs": self.sca[1].bias,
                   "w2": self.conv2.weight.contiguous(memory_format=torch.channels_last)}
        self._fold_cache = (key, out)
        return out

    def _packed(self) -> dict[str, torch.Tensor]:
        """oneDNN (mkldnn) pre-packed weights for :meth:`_forward_fast_onednn`, cached with :meth:`_folded`.

        conv1/conv4 are split into their two SimpleGate halves so the gate becomes a fused post-op.
        """
        f = self._folded()
        cache = getattr(self, "_onednn_cache", None)
        if cache is not None and cache[0] is f:  # same folded weights -> same packing
            return cache[1]
        with torch.no_grad():
            c = f["w3"].shape[0]
            w2, b2 = self.conv2.weight.detach(), self.conv2.bias.detach()

            def lin(w: torch.Tensor) -> torch.Tensor:
                return torch.ops.mkldnn._reorder_linear_weight(w.contiguous(), None)

            pk = {"w1a": lin(f["w1"][:c]), "w1b": lin(f["w1"][c:]), "b1a": f["b1"][:c].contiguous(),
                  "b1b": f["b1"][c:].contiguous(), "w2a": w2[:c].contiguous(), "w2b": w2[c:].contiguous(),
                  "b2a": b2[:c].contiguous(), "b2b": b2[c:].contiguous(), "w3": lin(f["w3"]),
                  "w4a": lin(f["w4"][:c]), "w4b": lin(f["w4"][c:]), "b4a": f["b4"][:c].contiguous(),
                  "b4b": f["b4"][c:].contiguous(), "w5": lin(f["w5"])}
        self._onednn_cache = (f, pk)
        return pk

    def _sca_scale(self, x: torch.Tensor, f: dict[str, torch.Tensor]) -> torch.Tensor:
        """Channel attention weights of the gated features x (B,H,W,c): (B,1,1,c) or per pixel (B,H,W,c) for TLC."""
        pool = self.sca[0]
        if isinstance(pool, nn.AdaptiveAvgPool2d):
            s = x.mean(dim=(1, 2), keepdim=True)
        else:
            s = pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return F.linear(s, f["ws"], f["bs"])

    def forward_fast(self, inp: torch.Tensor) -> torch.Tensor:
        """Eval-only equivalent of :meth:`forward` on a contiguous channels-last (B,H,W,C) tensor -> (B,H,W,C).

        On CPU with oneDNN (float32, no autocast, not under ``torch.compile``) this runs
        :meth:`_forward_fast_onednn`; elsewhere (CUDA, bf16 autocast, tracing) a portable version with
        GEMMs on the channels-last layout and the fused LayerNorm.
        """
        if self._fast_onednn and _onednn_ok(inp):
            return self._forward_fast_onednn(inp)
        f = self._folded()
        c = inp.shape[-1]
        x = F.linear(F.layer_norm(inp, (c,), eps=self.norm1.eps), f["w1"], f["b1"])
        # depthwise 3x3 on the NCHW view of the channels-last data (no copy)
        x = F.conv2d(x.permute(0, 3, 1, 2), f["w2"], self.conv2.bias, padding=1, groups=x.shape[-1]).permute(0, 2, 3, 1)
        a, b = x.chunk(2, dim=-1)
        x = a * b
        x = x * self._sca_scale(x, f)
        y = torch.addmm(f["b3"], x.reshape(-1, x.shape[-1]), f["w3"].t()).view_as(inp).add_(inp)
        x = F.linear(F.layer_norm(y, (c,), eps=self.norm2.eps), f["w4"], f["b4"])
        a, b = x.chunk(2, dim=-1)
        x = a * b
        return torch.addmm(f["b5"], x.reshape(-1, x.shape[-1]), f["w5"].t()).view_as(y).add_(y)

    def _forward_fast_onednn(self, inp: torch.Tensor) -> torch.Tensor:
        """:meth:`forward_fast` with oneDNN primitives and fused post-ops (CPU float32 only).

        Per block: LayerNorm; two 1x1 GEMMs (the SimpleGate halves, bias fused); depthwise 3x3 of
        the first half; depthwise 3x3 of the second half with the gate product requested as a binary
        post-op; for
        batch 1 with global pooling the SCA channel scale is folded into the conv3 weight (it scales
        conv3's input channels), otherwise applied in place; conv3 GEMM with bias and residual add
        fused; LayerNorm; conv4 halves with the gate fused; conv5 GEMM with bias and residual fused.
        """
        f = self._folded()
        pk = self._packed()
        ops = torch.ops.mkldnn
        inp = inp.contiguous()
        b, h, w, c = inp.shape
        m = b * h * w
        one = [1, 1]
        z = F.layer_norm(inp, (c,), eps=self.norm1.eps).view(m, c)
        ua = ops._linear_pointwise(z, pk["w1a"], pk["b1a"], "none", [], "").view(b, h, w, c).permute(0, 3, 1, 2)
        ub = ops._linear_pointwise(z, pk["w1b"], pk["b1b"], "none", [], "").view(b, h, w, c).permute(0, 3, 1, 2)
        da = ops._convolution_pointwise(ua, pk["w2a"], pk["b2a"], one, one, one, c, "none", [], "")
        x = ops._convolution_pointwise.binary(ub, da, pk["w2b"], pk["b2b"], one, one, one, c, "mul", None, None, [],
                                              None).permute(0, 2, 3, 1)
        s = self._sca_scale(x, f)
        x2 = x.reshape(m, c)
        if b == 1 and s.shape[1] == 1 and s.shape[2] == 1:
            w3 = f["w3"] * s.view(1, c)  # (x * s) @ w3^T == x @ (w3 * s)^T
        else:
            x2 = x.mul_(s).view(m, c)
            w3 = pk["w3"]
        y = ops._linear_pointwise.binary(x2, inp.view(m, c), w3, f["b3"], "add")
        z = F.layer_norm(y, (c,), eps=self.norm2.eps)
        ua = ops._linear_pointwise(z, pk["w4a"], pk["b4a"], "none", [], "")
        x = ops._linear_pointwise.binary(z, ua, pk["w4b"], pk["b4b"], "mul")
        return ops._linear_pointwise.binary(x, y, pk["w5"], f["b5"], "add").view(b, h, w, c)


_ONEDNN_OPS: bool | None = None


def _onednn_ok(x: torch.Tensor) -> bool:
    """Whether the oneDNN fast path applies to ``x``: CPU float32, oneDNN enabled, no autocast, not tracing."""
    global _ONEDNN_OPS
    if x.device.type != "cpu" or x.dtype != torch.float32 or not torch.backends.mkldnn.enabled:
        return False
    if torch.compiler.is_compiling() or torch.is_autocast_enabled("cpu"):
        return False
    if _ONEDNN_OPS is None:
        _ONEDNN_OPS = torch.backends.mkldnn.is_available() and all(
            hasattr(torch.ops.mkldnn, n) for n in ("_linear_pointwise", "_reorder_linear_weight", "_convolution_pointwise"))
    return _ONEDNN_OPS


class NAFNet(Deblurrer):
    """NAFNet U-Net (official constructor arguments and key layout).

    Args:
        img_channel: input/output channels.
        width: channels at full resolution (doubles per level).
        middle_blk_num: blocks at the bottleneck.
        enc_blk_nums: blocks per encoder level (one level per entry).
        dec_blk_nums: blocks per decoder level.

    Forward: (B,C,H,W) -> (B,C,H,W), residual on the input. Any H, W: zero-padded right/bottom to a
    multiple of ``2**len(enc_blk_nums)`` and cropped back (official behaviour).
    """

    #: wrapper key of the official checkpoint files (used when converting back to the official format)
    official_checkpoint_key = "params"

    def __init__(self, img_channel: int = 3, width: int = 16, middle_blk_num: int = 1,
                 enc_blk_nums: Sequence[int] = (), dec_blk_nums: Sequence[int] = ()) -> None:
        super().__init__()
        self.intro = nn.Conv2d(img_channel, width, 3, padding=1, bias=True)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1, bias=True)
        self.encoders = nn.ModuleList()
        self.decoders = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.downs = nn.ModuleList()
        chan = width
        for num in enc_blk_nums:
            self.encoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
            self.downs.append(nn.Conv2d(chan, 2 * chan, 2, 2))
            chan *= 2
        self.middle_blks = nn.Sequential(*[NAFBlock(chan) for _ in range(middle_blk_num)])
        for num in dec_blk_nums:
            self.ups.append(nn.Sequential(nn.Conv2d(chan, chan * 2, 1, bias=False), nn.PixelShuffle(2)))
            chan //= 2
            self.decoders.append(nn.Sequential(*[NAFBlock(chan) for _ in range(num)]))
        self.padder_size = 2 ** len(self.encoders)
        self._fast = False
        self.register_load_state_dict_post_hook(_drop_fast_caches)

    def fast(self, enable: bool = True, *, onednn: bool = True) -> "NAFNet":
        """Switch eval forwards (``eval()`` and no autograd) to the fused inference path. Returns ``self``.

        The fast path folds the LayerNorm affine into the following 1x1 conv and ``beta``/``gamma``
        into the preceding one, and runs the blocks on channels-last (B,H,W,C) data with the 1x1
        convs as GEMMs. On CPU in float32 it uses oneDNN primitives with fused post-ops (bias,
        SimpleGate product, residual add; see :meth:`NAFBlock._forward_fast_onednn`); on other
        devices, under bf16/fp16 autocast, or with ``onednn=False`` a portable PyTorch version.
        Outputs match the reference forward to ~1e-6 (float32 summation order only). Weights and
        state dict are untouched; in-place weight updates or ``load_state_dict`` refresh the caches.

        ``torch.compile`` of the fast path works (``torch.compile(model.fast())`` traces the
        portable version) but measured no faster than the oneDNN eager path on CPU
        (benchmarks/nafnet_speed.py ``--compile``) after minutes of compilation, so it is not used
        by default.

        Args:
            enable: False returns to the reference forward.
            onednn: allow the oneDNN kernels on CPU (False: portable path everywhere).
        """
        self._fast = bool(enable)
        blocks = [m for m in self.modules() if isinstance(m, NAFBlock)]
        for m in blocks:
            m._fast_onednn = bool(onednn)
        if self._fast:
            for m in blocks:
                m._folded()
                if onednn and _onednn_ok(m.conv1.weight):
                    m._packed()
        return self

    @property
    def fast_enabled(self) -> bool:
        """Whether :meth:`fast` is on (used by :func:`camdeblur.engine.inference.fast_path`)."""
        return self._fast

    def _pad(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        ph = (self.padder_size - h % self.padder_size) % self.padder_size
        pw = (self.padder_size - w % self.padder_size) % self.padder_size
        return F.pad(x, (0, pw, 0, ph)) if ph or pw else x

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        h, w = inp.shape[-2:]
        if self._fast and not self.training and not torch.is_grad_enabled():
            return self._forward_fast(inp)
        inp = self._pad(inp)
        x = self.intro(inp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        x = self.middle_blks(x)
        for decoder, up, skip in zip(self.decoders, self.ups, skips[::-1]):
            x = decoder(up(x) + skip)
        x = self.ending(x) + inp
        return x[:, :, :h, :w]

    def _up_weight(self, i: int) -> torch.Tensor:
        """ups[i] 1x1 conv as a (4c', C) matrix with rows reordered from PixelShuffle's (c', i, j) to (i, j, c')."""
        conv = self.ups[i][0]
        cache = getattr(conv, "_fast_cache", None)
        if cache is not None and torch.compiler.is_compiling():
            return cache[1]
        key = _param_key(conv.weight)
        if cache is None or cache[0] != key:
            with torch.no_grad():
                wt = conv.weight[:, :, 0, 0]
                co = wt.shape[0] // 4
                wt = wt.view(co, 4, -1).transpose(0, 1).reshape(4 * co, -1).contiguous()
            cache = conv._fast_cache = (key, wt)
        return cache[1]

    def _up_add(self, i: int, x: torch.Tensor, skip: torch.Tensor, band_bytes: int = 2 << 20) -> torch.Tensor:
        """ups[i](x) + skip on channels-last (B,H,W,C) -> (B,2H,2W,C/2); the PixelShuffle is the add's read pattern.

        Large inputs go in bands of rows so the 4x-channel GEMM output stays around ``band_bytes``
        (at full resolution this avoids a fresh multi-megabyte temporary per call).
        """
        b, h, w, _ = x.shape
        wt = self._up_weight(i)
        co = wt.shape[0] // 4
        sv = skip.view(b, h, 2, w, 2, co)
        rows = max(1, band_bytes // max(1, b * w * 4 * co * x.element_size()))
        if rows >= h or torch.compiler.is_compiling():
            u = F.linear(x, wt).view(b, h, w, 2, 2, co).permute(0, 1, 3, 2, 4, 5)
            # the contiguous skip goes first so the sum comes out contiguous (B,H,2,W,2,c')
            return (sv + u).reshape(b, 2 * h, 2 * w, co)
        out = None
        for r in range(0, h, rows):
            u = F.linear(x[:, r:r + rows], wt).view(b, -1, w, 2, 2, co).permute(0, 1, 3, 2, 4, 5)
            if out is None:
                out = torch.empty((b, h, 2, w, 2, co), dtype=torch.promote_types(u.dtype, skip.dtype), device=x.device)
            torch.add(sv[:, r:r + rows], u, out=out[:, r:r + rows])
        return out.view(b, 2 * h, 2 * w, co)

    def _forward_fast(self, inp: torch.Tensor) -> torch.Tensor:
        h, w = inp.shape[-2:]
        inp = self._pad(inp).contiguous(memory_format=torch.channels_last)

        def nchw(x: torch.Tensor) -> torch.Tensor:  # NCHW view of (B,H,W,C) data
            return x.permute(0, 3, 1, 2)

        def nhwc(x: torch.Tensor) -> torch.Tensor:  # (B,H,W,C) view of channels-last data
            return x.permute(0, 2, 3, 1).contiguous()

        x = nhwc(self.intro(inp))
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            for blk in encoder:
                x = blk.forward_fast(x)
            skips.append(x)
            x = nhwc(down(nchw(x)))
        for blk in self.middle_blks:
            x = blk.forward_fast(x)
        for i, (decoder, skip) in enumerate(zip(self.decoders, skips[::-1])):
            x = self._up_add(i, x, skip)
            for blk in decoder:
                x = blk.forward_fast(x)
        x = self.ending(nchw(x)) + inp
        return x[:, :, :h, :w].contiguous()


def _drop_fast_caches(module: nn.Module, incompatible_keys=None) -> None:
    """Forget folded/packed weights after ``load_state_dict`` (in-place loads into inference tensors
    keep their storage and have no version counter, so the cache keys alone cannot see them)."""
    for m in module.modules():
        for name in ("_fold_cache", "_onednn_cache", "_fast_cache"):
            if name in m.__dict__:
                del m.__dict__[name]
    if getattr(module, "_fast", False):
        module.fast(True, onednn=all(b._fast_onednn for b in module.modules() if isinstance(b, NAFBlock)))


class NAFNetLocal(NAFNet):
    """NAFNet with TLC local statistics (official ``NAFNetLocal``; same state dict as :class:`NAFNet`).

    Args:
        train_size: (N,C,H,W) training patch size; the SCA pools become box filters of
            ``int(1.5*H)``/``int(1.5*W)`` scaled to each level (``feature_size * base // train``).
        fast_imp: the official approximate fast implementation is not provided; must be False.
        **kwargs: :class:`NAFNet` arguments.
    """

    def __init__(self, *args, train_size: Sequence[int] = (1, 3, 256, 256), fast_imp: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if fast_imp:
            from camdeblur.errors import CamdeblurError

            raise CamdeblurError("NAFNetLocal(fast_imp=True) is not implemented", fix="use fast_imp=False (exact TLC)")
        th, tw = int(train_size[-2]), int(train_size[-1])
        base = (int(th * 1.5), int(tw * 1.5))
        # feature size per level at train_size (after the model's own padding)
        ph = th + (self.padder_size - th % self.padder_size) % self.padder_size
        pw = tw + (self.padder_size - tw % self.padder_size) % self.padder_size

        def kernel(level: int) -> tuple[int, int]:
            return ((ph >> level) * base[0] // th, (pw >> level) * base[1] // tw)

        n = len(self.encoders)
        groups = [(self.encoders[i], i) for i in range(n)] + [(self.middle_blks, n)]
        groups += [(self.decoders[i], n - 1 - i) for i in range(len(self.decoders))]
        for seq, level in groups:
            for blk in seq:
                blk.sca[0] = LocalAvgPool2d(kernel(level))


# ---- registry -----------------------------------------------------------------------------------
register_model(NAFNet)
register_model(NAFNetLocal)


@register_model
def nafnet_tiny(img_channel: int = 3, width: int = 16, middle_blk_num: int = 1,
                enc_blk_nums: Sequence[int] = (1, 1, 1, 1), dec_blk_nums: Sequence[int] = (1, 1, 1, 1)) -> NAFNet:
    """Tiny CPU NAFNet (width 16, one block per level; 1.1 M parameters) for tests and quick training."""
    return NAFNet(img_channel, width, middle_blk_num, list(enc_blk_nums), list(dec_blk_nums))


@register_model
def nafnet_tiny_cpu(img_channel: int = 3, width: int = 16, middle_blk_num: int = 1,
                    enc_blk_nums: Sequence[int] = (0, 1, 1, 1), dec_blk_nums: Sequence[int] = (0, 1, 1, 1)) -> NAFNet:
    """Tiny NAFNet for CPU training: nafnet_tiny without the full-resolution blocks (1.0 M parameters).

    The full-resolution level keeps only the intro/ending convs and the skip; a training step costs ~0.7x
    nafnet_tiny's, and at equal compute it deblurs better (benchmarks/train_supervised.py). The default
    network of ``camdeblur train deblurrer``."""
    return NAFNet(img_channel, width, middle_blk_num, list(enc_blk_nums), list(dec_blk_nums))


@register_model
def nafnet_gopro_width32(img_channel: int = 3, width: int = 32, middle_blk_num: int = 1,
                         enc_blk_nums: Sequence[int] = (1, 1, 1, 28), dec_blk_nums: Sequence[int] = (1, 1, 1, 1)) -> NAFNet:
    """Released NAFNet-GoPro-width32 configuration (official options/NAFNet-width32.yml)."""
    return NAFNet(img_channel, width, middle_blk_num, list(enc_blk_nums), list(dec_blk_nums))


@register_model
def nafnet_gopro_width64(img_channel: int = 3, width: int = 64, middle_blk_num: int = 1,
                         enc_blk_nums: Sequence[int] = (1, 1, 1, 28), dec_blk_nums: Sequence[int] = (1, 1, 1, 1)) -> NAFNet:
    """Released NAFNet-GoPro-width64 configuration."""
    return NAFNet(img_channel, width, middle_blk_num, list(enc_blk_nums), list(dec_blk_nums))


@register_model
def nafnet_gopro_width64_local(img_channel: int = 3, width: int = 64, middle_blk_num: int = 1,
                               enc_blk_nums: Sequence[int] = (1, 1, 1, 28), dec_blk_nums: Sequence[int] = (1, 1, 1, 1),
                               train_size: Sequence[int] = (1, 3, 256, 256)) -> NAFNetLocal:
    """NAFNet-GoPro-width64 with TLC (how the official GoPro test numbers are produced)."""
    return NAFNetLocal(img_channel=img_channel, width=width, middle_blk_num=middle_blk_num,
                       enc_blk_nums=list(enc_blk_nums), dec_blk_nums=list(dec_blk_nums), train_size=tuple(train_size))


@register_model
def nafnet_reds_width64(img_channel: int = 3, width: int = 64, middle_blk_num: int = 1,
                        enc_blk_nums: Sequence[int] = (1, 1, 1, 28), dec_blk_nums: Sequence[int] = (1, 1, 1, 1)) -> NAFNet:
    """Released NAFNet-REDS-width64 configuration (same structure as GoPro width64)."""
    return NAFNet(img_channel, width, middle_blk_num, list(enc_blk_nums), list(dec_blk_nums))


@register_model
def nafnet_sidd_width32(img_channel: int = 3, width: int = 32, middle_blk_num: int = 12,
                        enc_blk_nums: Sequence[int] = (2, 2, 4, 8), dec_blk_nums: Sequence[int] = (2, 2, 2, 2)) -> NAFNet:
    """Released NAFNet-SIDD-width32 (denoising) configuration."""
    return NAFNet(img_channel, width, middle_blk_num, list(enc_blk_nums), list(dec_blk_nums))
