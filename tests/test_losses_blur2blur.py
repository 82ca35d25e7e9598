"""Blur2Blur objectives: presets, what runs, hand decomposition of the D/G losses, gradient routing."""

from __future__ import annotations

import pytest
import torch

from camdeblur.errors import CamdeblurError
from camdeblur.losses import Blur2BlurLoss, GANLoss, build_blur2blur_loss, gradient_penalty
from camdeblur.losses.pixel import pyramid
from camdeblur.nets import create_model


@pytest.fixture
def no_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))


def _scales(b=2, size=64, grad=False):
    torch.manual_seed(1)
    out = [torch.rand(b, 3, size // s, size // s) for s in (4, 2, 1)]
    return [o.requires_grad_(grad) for o in out]


def test_presets_and_fallback_backbone(no_hub_cache):
    off = Blur2BlurLoss.preset("official")
    assert off.gan.mode == "hinge" and off.config.lambda_gp == 1e-4 and off.config.gp_scales == "full"
    assert off.config.lambda_rec == 0.8 and off.reconstruction.reduction == "sum"
    info = off.describe()
    assert info["perceptual_backbone"]["backbone"] == "efficientnet_lite0"  # no VGG file on this machine/test
    assert info["perceptual_backbone"]["requested"] == "vgg16"
    pap = build_blur2blur_loss("paper")
    assert pap.gan.mode == "vanilla" and pap.config.lambda_gp == 0.005 and pap.reconstruction.reduction == "mean"
    assert pap.describe()["perceptual_backbone"]["requested"] == "vgg19"
    with pytest.raises(CamdeblurError):
        Blur2BlurLoss.preset("nope")


def test_discriminator_loss_decomposes_and_trains_d(no_hub_cache):
    crit = Blur2BlurLoss.preset("official")
    d = create_model("patchgan_tiny")
    fake = _scales()
    known = torch.rand(2, 3, 64, 64)
    torch.manual_seed(5)
    total, logs = crit.discriminator_loss(d, fake, known)
    torch.manual_seed(5)
    gp = gradient_penalty(d, known, fake[-1])  # official: full scale, known vs G(y)
    adv = GANLoss("hinge").discriminator_loss(d(pyramid(known, [f.shape[-2:] for f in fake])), d(fake))
    assert total.item() == pytest.approx((adv + 1e-4 * gp).item(), rel=1e-5)
    assert float(logs["D_gp"]) == pytest.approx(gp.item(), rel=1e-5)
    total.backward()
    assert all(p.grad is not None for n, p in d.named_parameters() if n.endswith("weight"))


def test_paper_gp_needs_blurry_and_all_scales_option(no_hub_cache):
    crit = Blur2BlurLoss.preset("paper", gp_scales="all")
    d = create_model("patchgan_tiny")
    fake, known, y = _scales(), torch.rand(2, 3, 64, 64), torch.rand(2, 3, 64, 64)
    with pytest.raises(CamdeblurError, match="blurry"):
        crit.discriminator_loss(d, fake, known)
    torch.manual_seed(3)
    total, logs = crit.discriminator_loss(d, fake, known, blurry=y)
    torch.manual_seed(3)
    gp = gradient_penalty(d, pyramid(y, [f.shape[-2:] for f in fake]), fake)
    assert float(logs["D_gp"]) == pytest.approx(gp.item(), rel=1e-5)


def test_generator_loss_routes_gradients_to_translator_outputs(no_hub_cache):
    crit = Blur2BlurLoss.preset("official")
    d = create_model("patchgan_tiny")
    for p in d.parameters():
        p.requires_grad_(False)
    y = torch.rand(2, 3, 64, 64)
    fake = _scales(grad=True)
    total, logs = crit.generator_loss(d, fake, y)
    rec = crit.reconstruction(fake, y)
    adv = GANLoss("hinge").generator_loss(d(fake))
    assert total.item() == pytest.approx((adv + 0.8 * rec).item(), rel=1e-5)
    total.backward()
    assert all(f.grad is not None and f.grad.abs().sum() > 0 for f in fake)
    # identity translation at every scale costs no reconstruction
    ident = pyramid(y, [f.shape[-2:] for f in fake])
    assert crit.reconstruction(ident, y).item() == 0.0


def test_nearest_pyramid_makes_identity_translator_free(no_hub_cache):
    """pyramid_mode="nearest" resizes y and k the way MIMO-UNet subsamples its own inputs, so an identity
    translator has zero reconstruction loss at every scale and D's real/fake coarse scales are made alike;
    the default bilinear pyramid charges the identity for the resampling mismatch."""
    from camdeblur.losses.pixel import L1Loss
    from camdeblur.methods.blur2blur import as_scales, identity_init

    torch.manual_seed(0)
    g = identity_init(create_model("mimo_unet_tiny"))
    d = create_model("patchgan_tiny")
    y = torch.rand(2, 3, 40, 48)
    fake = as_scales(g(y))
    near = Blur2BlurLoss.preset("official", perceptual=L1Loss(), pyramid_mode="nearest")
    bil = Blur2BlurLoss.preset("official", perceptual=L1Loss())
    assert float(near.generator_loss(d, fake, y)[1]["G_rec"]) == 0.0
    assert float(bil.generator_loss(d, fake, y)[1]["G_rec"]) > 0.01
    assert all(torch.equal(a, b) for a, b in zip(near.pyramid(y, fake), fake))
    with pytest.raises(CamdeblurError, match="pyramid_mode"):
        Blur2BlurLoss.preset("official", perceptual=L1Loss(), pyramid_mode="cubic")


def test_rec_scale_weights_and_area_pyramid(no_hub_cache):
    """rec_scale_weights weight each scale's term (coarse to fine); pyramid_mode="area" box-averages y, so a
    change of the mean colour costs at every scale while a zero-mean 2x2 checker costs only at full scale."""
    from camdeblur.losses.pixel import MSELoss

    torch.manual_seed(0)
    d = create_model("patchgan_tiny")
    y = torch.rand(2, 3, 32, 32)
    checker = 0.1 * (torch.arange(32)[:, None] + torch.arange(32)[None]).remainder(2).float().mul(2).sub(1)
    crit = Blur2BlurLoss.preset("official", perceptual=MSELoss(), pyramid_mode="area", lambda_rec=1.0,
                                rec_scale_weights=[4.0, 2.0, 1.0])
    from camdeblur.methods.blur2blur import as_scales

    fake = as_scales(y + checker, mode="area")
    assert float(crit.generator_loss(d, fake, y)[1]["G_rec"]) == pytest.approx(0.01, rel=1e-4)  # full scale only
    fake = as_scales(y + 0.1, mode="area")
    assert float(crit.generator_loss(d, fake, y)[1]["G_rec"]) == pytest.approx(0.07, rel=1e-4)  # (4 + 2 + 1) * 0.01
