"""camdeblur.engine.inference.deblur: kinds in/out, exact round trips, blended tiling, precision."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from camdeblur.engine.inference import deblur, ramp_window, tile_starts
from camdeblur.errors import CamdeblurError
from camdeblur.nets.base import Deblurrer


class Identity(Deblurrer):
    def __init__(self) -> None:
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + self.dummy


class Pointwise(Deblurrer):
    """A 1x1 conv: per-pixel, so tiling must reproduce the untiled output exactly."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv2d(3, 3, 1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.eye(3)[:, :, None, None] * 0.5 + 0.1 * torch.randn(3, 3, 1, 1))
            self.conv.bias.fill_(0.2)

    def forward(self, x):
        return self.conv(x)


class ListOut(nn.Module):
    """Not a Deblurrer, no restore(): returns a list of scales like MIMO-UNet."""

    def forward(self, x):
        return [x[..., ::2, ::2], 1 - x]


def _psnr(a, b) -> float:
    mse = float(((torch.as_tensor(a, dtype=torch.float64) - torch.as_tensor(b, dtype=torch.float64)) ** 2).mean())
    return 10 * np.log10(1.0 / mse)


def tiny_nafnet():
    import camdeblur

    torch.manual_seed(0)
    net = camdeblur.create_model("nafnet_tiny", width=8).eval()
    with torch.no_grad():  # NAFNet's residual scales start at 0 (blocks = identity); switch the blocks on
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0, 0.05)
    return net


@pytest.mark.parametrize("dtype,peak", [(np.uint8, 255), (np.uint16, 65535)])
@pytest.mark.parametrize("tile", [None, 16])
def test_integer_round_trip_is_exact(rng, dtype, peak, tile):
    img = rng.integers(0, peak + 1, size=(37, 31, 3)).astype(dtype)
    out = deblur(Identity(), img, tile=tile, tile_overlap=5)
    assert out.dtype == dtype and out.shape == img.shape
    np.testing.assert_array_equal(out, img)


def test_float_grey_alpha_kinds(rng):
    m = Identity()
    f = rng.random((20, 17, 3)).astype(np.float32)
    out = deblur(m, f)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, f, atol=1e-6)
    grey = rng.integers(0, 256, size=(20, 17)).astype(np.uint8)
    np.testing.assert_array_equal(deblur(m, grey), grey)
    np.testing.assert_array_equal(deblur(m, grey[..., None]), grey[..., None])
    rgba = rng.integers(0, 256, size=(20, 17, 4)).astype(np.uint8)
    out = deblur(Pointwise(), rgba)
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])  # alpha untouched
    assert not np.array_equal(out[..., :3], rgba[..., :3])  # colour went through the net


def test_tensor_kind_device_dtype_and_clamp(rng):
    x = torch.rand(2, 3, 19, 23, dtype=torch.float64)
    y = deblur(Pointwise(), x)
    assert y.dtype == torch.float64 and y.shape == x.shape and y.device == x.device
    assert float(y.min()) >= 0 and float(y.max()) <= 1
    ref = Pointwise()(x.float()).clamp(0, 1).double()
    torch.testing.assert_close(y, ref, atol=1e-6, rtol=0)
    y3 = deblur(Pointwise(), x[0])  # (C,H,W)
    torch.testing.assert_close(y3, y[0])


def test_model_without_restore_uses_last_output():
    x = torch.rand(1, 3, 16, 16)
    torch.testing.assert_close(deblur(ListOut(), x), 1 - x)


@pytest.mark.parametrize("size,tile,overlap", [((37, 31), 16, 4), ((64, 64), 24, 8), ((50, 20), 32, 8), ((17, 9), 64, 32)])
def test_tiling_places_and_normalises_exactly(size, tile, overlap):
    """For a per-pixel model tiled == untiled everywhere: weights sum correctly, tiles land where they belong,
    non-dividing tile sizes, odd sizes and tiles larger than the image are handled."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, *size)
    a = deblur(Pointwise(), x)
    calls = []
    b = deblur(Pointwise(), x, tile=tile, tile_overlap=overlap, batch_tiles=3, progress=lambda d, t: calls.append((d, t)))
    torch.testing.assert_close(b, a, atol=1e-6, rtol=0)
    if tile < max(size):
        n = len(tile_starts(size[0], tile, overlap)) * len(tile_starts(size[1], tile, overlap))
        assert calls[-1] == (n, n) and len(calls) == -(-n // 3)


def test_tile_starts_cover_with_overlap():
    for size, tile, ov in [(512, 256, 32), (37, 16, 4), (1000, 300, 50), (10, 20, 4)]:
        starts = tile_starts(size, tile, ov)
        assert starts[0] == 0 and starts[-1] + min(tile, size) == size
        assert all(b - a <= tile - ov for a, b in zip(starts, starts[1:]))  # overlap at least ov
    w = ramp_window(64, 16, True, False)
    assert float(w.min()) > 0 and float(w[-1]) == 1.0 and torch.all(w[1:16] >= w[:15])


def test_tiled_vs_untiled_psnr_512(shared):
    """The issue's acceptance check: 512x512, tile 256, overlap 32, real (tiny, random-init) NAFNet: >= 40 dB."""
    from camdeblur.io import read_rgb

    photo = next(p for p in sorted((shared / "corpus" / "photos").iterdir()) if min(read_rgb(p).shape[:2]) >= 512)
    img = read_rgb(photo)[:512, :512]
    x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None]
    net = tiny_nafnet()
    full = deblur(net, x)
    tiled = deblur(net, x, tile=256, tile_overlap=32)
    assert _psnr(full, x) < 60  # the net really changes the image
    assert _psnr(tiled, full) >= 40


def test_bf16_close_to_fp32_and_fp16_needs_cuda():
    torch.manual_seed(0)
    x = torch.rand(1, 3, 40, 36)
    net = tiny_nafnet()
    a = deblur(net, x)
    b = deblur(net, x, precision="bf16")
    assert not torch.equal(a, b)  # autocast actually ran in bf16
    assert _psnr(a, b) > 35
    if not torch.cuda.is_available():
        with pytest.raises(CamdeblurError, match="fp16"):
            deblur(net, x, precision="fp16", device="cpu")
    with pytest.raises(CamdeblurError):
        deblur(net, x, precision="int8")
    with pytest.raises(CamdeblurError, match="overlap"):
        deblur(net, x, tile=16, tile_overlap=16)


def test_deblurrer_method_and_pipeline(rng):
    from camdeblur.nets.pipeline import Pipeline

    img = rng.integers(0, 256, size=(21, 18, 3)).astype(np.uint8)
    np.testing.assert_array_equal(Identity().deblur(img, tile=8, tile_overlap=2), img)
    pipe = Pipeline(deblurrer=ListOut(), translator=Pointwise())
    x = torch.rand(1, 3, 12, 12)
    torch.testing.assert_close(pipe.deblur(x), 1 - Pointwise()(x).clamp(0, 1), atol=1e-6, rtol=0)
