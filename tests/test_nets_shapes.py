"""Shape battery for the deblurring backbones: odd sizes, batches, gradients, registry names."""

from __future__ import annotations

import pytest
import torch

import camdeblur
from camdeblur.nets.base import Deblurrer

TINY = ["nafnet_tiny", "restormer_tiny", "mimo_unet_tiny"]


@pytest.mark.parametrize("arch", TINY)
@pytest.mark.parametrize("size", [(37, 31), (5, 9)])
def test_any_size_keeps_shape(arch, size):
    torch.manual_seed(0)
    net = camdeblur.create_model(arch).eval()
    assert isinstance(net, Deblurrer)
    x = torch.rand(2, 3, *size)
    with torch.no_grad():
        out = net.restore(x)
        assert out.shape == x.shape and torch.isfinite(out).all()
        # batch independence: padding/cropping must not mix samples
        assert torch.allclose(net.restore(x[1:]), out[1:], atol=1e-5)


def test_mimo_returns_three_scales_for_odd_sizes():
    net = camdeblur.create_model("mimo_unet_tiny").eval()
    with torch.no_grad():
        outs = net(torch.rand(1, 3, 37, 31))
    assert [tuple(o.shape[-2:]) for o in outs] == [(10, 8), (19, 16), (37, 31)]


@pytest.mark.parametrize("arch", TINY)
def test_odd_size_matches_padded_protocol(arch):
    """Internal padding == padding by hand then cropping (the protocol the fixtures pin)."""
    torch.manual_seed(0)
    net = camdeblur.create_model(arch).eval()
    x = torch.rand(1, 3, 37, 31)
    m = {"nafnet_tiny": 16, "restormer_tiny": 8, "mimo_unet_tiny": 4}[arch]
    mode = "constant" if arch == "nafnet_tiny" else "reflect"
    xp = torch.nn.functional.pad(x, (0, (-31) % m, 0, (-37) % m), mode=mode)
    with torch.no_grad():
        assert torch.allclose(net.restore(x), net.restore(xp)[:, :, :37, :31], atol=1e-6)


@pytest.mark.parametrize("arch", TINY)
def test_gradients_reach_every_parameter(arch):
    torch.manual_seed(0)
    net = camdeblur.create_model(arch).train()
    with torch.no_grad():  # NAFNet's beta/gamma start at zero: perturb so every branch gets gradient
        for n, p in net.named_parameters():
            if n.endswith(("beta", "gamma")):
                p.add_(0.1)
    out = net(torch.rand(1, 3, 24, 20))
    loss = sum(o.square().mean() for o in out) if isinstance(out, list) else out.square().mean()
    loss.backward()
    dead = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not dead


def test_nafnet_fast_path_matches_and_training_ignores_it():
    torch.manual_seed(0)
    net = camdeblur.create_model("NAFNetLocal", width=8, enc_blk_nums=[1, 2], dec_blk_nums=[1, 1], train_size=(1, 3, 32, 32))
    with torch.no_grad():
        for n, p in net.named_parameters():
            if n.endswith(("beta", "gamma")) or ".norm" in n:
                p.add_(0.3 * torch.randn_like(p))
    net.eval()
    x = torch.rand(1, 3, 45, 70)
    with torch.no_grad():
        ref = net(x)
        fast = net.fast()(x)
        assert (fast - ref).abs().max() < 1e-5
        net.encoders[0][0].beta.add_(1.0)  # cache follows in-place weight updates
        assert (net(x) - net.fast(False)(x)).abs().max() < 1e-5
    net.fast().train()
    out = net(x)
    assert out.requires_grad  # training uses the differentiable reference path


@pytest.mark.parametrize("arch,params", [("nafnet_gopro_width32", 17.11e6), ("nafnet_gopro_width64", 67.89e6),
                                         ("restormer_motion_deblurring", 26.13e6), ("mimo_unet", 6.81e6),
                                         ("mimo_unet_plus", 16.11e6)])
def test_released_configs_have_published_sizes(arch, params):
    with torch.device("meta"):  # shapes only: no 68 M-parameter init on CPU
        net = camdeblur.create_model(arch)
    n = sum(p.numel() for p in net.parameters())
    assert abs(n - params) / params < 0.01


def test_official_aliases_registered():
    names = camdeblur.list_models()
    for n in ["NAFNet", "NAFNetLocal", "Restormer", "MIMOUNet", "MIMOUNetPlus", "nafnet_reds_width64", "nafnet_sidd_width32"]:
        assert n in names


def test_unet_bilinear_reflect_options():
    """UNet(upsample="bilinear", padding_mode="reflect") (the mini translator): any size, starts as the
    exact identity (zero head), no zero-padding border cue (a constant image stays constant through a
    randomly initialised body), and bad option values fail clearly."""
    from camdeblur.nets import create_model

    torch.manual_seed(0)
    net = create_model("unet_tiny", upsample="bilinear", padding_mode="reflect")
    x = torch.rand(2, 3, 37, 31)
    assert torch.equal(net(x), x)
    torch.nn.init.normal_(net.out.weight, std=0.1)
    const = torch.full((1, 3, 40, 48), 0.5)
    with torch.no_grad():
        y = net(const)
    assert y.shape == const.shape
    assert float(y.std(dim=(-2, -1)).max()) < 1e-5          # reflect: every pixel sees the same neighbourhood
    zero_pad = create_model("unet_tiny")
    torch.nn.init.normal_(zero_pad.out.weight, std=0.1)
    with torch.no_grad():
        y0 = zero_pad(const)
    assert float(y0.std(dim=(-2, -1)).max()) > 1e-4  # zeros: the borders differ
    with pytest.raises(ValueError, match="upsample"):
        create_model("unet_tiny", upsample="pixelshuffle")
    with pytest.raises(ValueError, match="padding_mode"):
        create_model("unet_tiny", padding_mode="circular")
