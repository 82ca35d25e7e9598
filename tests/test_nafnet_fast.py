"""NAFNet fused inference path (``model.fast()``): same outputs as the reference forward (< 1e-4) at odd
sizes and batches, oneDNN and portable variants, TLC, cache refresh on new weights, and its use by
``deblur``."""

from __future__ import annotations

import os
import shutil

import pytest
import torch

import camdeblur
import camdeblur.nets.nafnet as nafnet
from camdeblur.engine.inference import deblur

TOL = 1e-4


def _net(arch: str = "NAFNet", seed: int = 0, **kw) -> torch.nn.Module:
    """Small NAFNet with every block switched on (beta/gamma/LayerNorm perturbed away from their init)."""
    torch.manual_seed(seed)
    cfg = dict(width=8, middle_blk_num=1, enc_blk_nums=[1, 2], dec_blk_nums=[1, 1])
    cfg.update(kw)
    net = camdeblur.create_model(arch, **cfg)
    with torch.no_grad():
        for n, p in net.named_parameters():
            if n.endswith(("beta", "gamma")) or ".norm" in n:
                p.add_(0.3 * torch.randn_like(p))
    return net.eval()


@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("shape", [(1, 3, 37, 31), (2, 3, 45, 70), (1, 3, 1, 5)])
def test_fast_matches_reference_at_odd_sizes(onednn, shape):
    net = _net()
    x = torch.rand(*shape, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        ref = net(x)
        out = net.fast(onednn=onednn)(x)
    assert out.shape == ref.shape == x.shape
    assert out.is_contiguous()
    assert (out - ref).abs().max().item() < TOL


def test_fast_local_converter_matches_reference():
    net = _net("NAFNetLocal", train_size=(1, 3, 24, 24))
    x = torch.rand(2, 3, 50, 43, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        ref = net(x)
        assert (net.fast()(x) - ref).abs().max().item() < TOL
        assert (net.fast(onednn=False)(x) - ref).abs().max().item() < TOL


@pytest.mark.skipif(not nafnet._onednn_ok(torch.zeros(1)), reason="oneDNN not available in this torch build")
def test_onednn_kernels_are_the_ones_running(monkeypatch):
    net = _net()
    calls = []
    orig = nafnet.NAFBlock._forward_fast_onednn
    monkeypatch.setattr(nafnet.NAFBlock, "_forward_fast_onednn", lambda self, x: calls.append(1) or orig(self, x))
    x = torch.rand(1, 3, 32, 32)
    with torch.inference_mode():
        net.fast()(x)
        assert len(calls) == 6  # every block: 1 + 2 encoder, 1 middle, 1 + 1 decoder
        net.fast(onednn=False)(x)
        assert len(calls) == 6
        with torch.autocast("cpu", dtype=torch.bfloat16):  # autocast takes the portable path
            y = net.fast()(x)
        assert len(calls) == 6
    assert (y.float() - net.fast(False)(x)).abs().max().item() < 0.1


def test_fast_follows_new_weights():
    net, other = _net(seed=0), _net(seed=1)
    x = torch.rand(1, 3, 33, 29)
    with torch.inference_mode():
        net.fast()(x)  # fill the caches
        net.load_state_dict(other.state_dict())
        assert (net(x) - other(x)).abs().max().item() < TOL
    # models built under inference_mode have no version counters: load_state_dict must still refresh
    with torch.inference_mode():
        a = _net(seed=0).fast()
        a(x)
        a.load_state_dict(other.state_dict())
        assert (a(x) - other(x)).abs().max().item() < TOL


def test_deblur_runs_fast_path_and_restores_flag(monkeypatch):
    net = _net()
    x = torch.rand(1, 3, 40, 36)
    with torch.inference_mode():
        ref = net(x).clamp(0, 1)
    seen = []
    orig = nafnet.NAFNet._forward_fast
    monkeypatch.setattr(nafnet.NAFNet, "_forward_fast", lambda self, t: seen.append(t.shape) or orig(self, t))
    out = deblur(net, x)
    assert seen, "deblur did not use the fast path"
    assert not net.fast_enabled  # switched off again
    assert (out - ref).abs().max().item() < TOL
    tiled = net.deblur(x, tile=24, tile_overlap=8)  # tiles run through the fast path too
    assert len(seen) > 1 and all(s[-1] == 24 for s in seen[1:])
    assert tiled.shape == x.shape
    net.train()
    seen.clear()
    deblur(net, x)
    assert not seen  # training-mode models keep the reference forward


def _has_cxx() -> bool:
    return any(shutil.which(c) for c in ("g++", "c++", "clang++"))


@pytest.mark.skipif(not _has_cxx(), reason="torch.compile (inductor CPU) needs a C++ compiler")
@pytest.mark.skipif(not os.environ.get("CAMDEBLUR_TEST_COMPILE"),
                    reason="compiling even a tiny NAFNet takes ~70 s on the shared 2-core machine (> 20 s test "
                           "budget); run with CAMDEBLUR_TEST_COMPILE=1")
def test_compiled_fast_path_matches_reference():
    net = _net()
    x = torch.rand(1, 3, 37, 31)
    with torch.inference_mode():
        ref = net(x)
        out = torch.compile(net.fast())(x)
    assert (out - ref).abs().max().item() < TOL


@pytest.mark.parametrize("band_bytes", [1, 3000, 1 << 30])
def test_banded_upsample_add_equals_pixel_shuffle(band_bytes):
    net = _net()
    x = torch.randn(2, 7, 5, 32)  # decoder input of ups[0] (B,H,W,C), 7 rows -> uneven bands
    skip = torch.randn(2, 14, 10, 16)
    with torch.inference_mode():
        ref = net.ups[0](x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1) + skip  # official conv + PixelShuffle
        out = net._up_add(0, x, skip, band_bytes=band_bytes)
    assert out.is_contiguous() and out.shape == ref.shape
    assert (out - ref).abs().max().item() < 1e-5
