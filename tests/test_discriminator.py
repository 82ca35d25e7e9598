"""Shared multi-scale PatchGAN: official key layout, output sizes (64x64, odd, tiny), sharing, per-sample independence."""

from __future__ import annotations

import pytest
import torch

from camdeblur.errors import CamdeblurError
from camdeblur.nets import create_model, is_model, load_model, save_model
from camdeblur.nets.discriminator import NLayerDiscriminator, image_pyramid


def test_registered_and_official_keys():
    assert is_model("patchgan") and is_model("NLayerDiscriminator") and is_model("patchgan_tiny")
    d = create_model("patchgan")
    # pix2pix n_layers=3 with instance norm (no affine): convs at model.0, 2, 5, 8, 11
    assert list(d.state_dict()) == [f"model.{i}.{p}" for i in (0, 2, 5, 8, 11) for p in ("weight", "bias")]
    shapes = [tuple(d.state_dict()[f"model.{i}.weight"].shape) for i in (0, 2, 5, 8, 11)]
    assert shapes == [(64, 3, 4, 4), (128, 64, 4, 4), (256, 128, 4, 4), (512, 256, 4, 4), (1, 512, 4, 4)]
    assert isinstance(d.model[3], torch.nn.InstanceNorm2d)


def test_output_sizes():
    d = create_model("patchgan", ndf=8)
    assert d(torch.rand(2, 3, 64, 64)).shape == (2, 1, 6, 6)     # 64->32->16->8->7->6
    assert d(torch.rand(1, 3, 37, 31)).shape == (1, 1, 2, 1)     # 37->18->9->4->3->2, 31->15->7->3->2->1
    assert d(torch.rand(1, 3, 256, 256)).shape == (1, 1, 30, 30)  # the 70x70 PatchGAN's 30x30 map
    # tiny inputs (the 1/4 scale of a 64 crop) still give logits
    assert d(torch.rand(1, 3, 16, 16)).shape == (1, 1, 1, 1)
    assert d.output_size(37, 31) == (2, 1)


def test_list_input_shares_one_discriminator():
    d = create_model("patchgan", ndf=8)
    x = torch.rand(2, 3, 64, 64)
    pyr = image_pyramid(x)
    assert [tuple(p.shape[-2:]) for p in pyr] == [(16, 16), (32, 32), (64, 64)]
    outs = d(pyr)
    assert isinstance(outs, list) and len(outs) == 3
    for p, o in zip(pyr, outs):
        torch.testing.assert_close(o, d(p))
    assert len(list(d.parameters())) == 10  # one set of weights for every scale


def test_instance_norm_is_per_sample():
    d = create_model("patchgan", ndf=8)
    x = torch.rand(3, 3, 40, 40)
    full = d(x)
    for i in range(3):
        torch.testing.assert_close(full[i:i + 1], d(x[i:i + 1]), rtol=1e-4, atol=1e-5)


def test_save_load_roundtrip(tmp_path):
    d = create_model("patchgan_tiny")
    path = save_model(d, tmp_path / "d.safetensors")
    e = load_model(weights=path)
    assert isinstance(e, NLayerDiscriminator) and e.n_layers == 2
    x = torch.rand(1, 3, 33, 35)
    torch.testing.assert_close(d.eval()(x), e(x))


def test_bad_options():
    with pytest.raises(CamdeblurError):
        create_model("patchgan", norm="group")
    with pytest.raises(CamdeblurError):
        create_model("patchgan")(torch.rand(3, 32, 32))


def test_highpass_input(tmp_path):
    """highpass=True judges x - box3x3(x): blind to a flat colour shift (the raw PatchGAN is not), still
    sensitive to blur, and the option survives save/load."""
    torch.manual_seed(0)
    d = create_model("patchgan_tiny", highpass=True, init="default")
    raw = create_model("patchgan_tiny", init="default")
    raw.load_state_dict(d.state_dict())
    x = torch.rand(2, 3, 40, 40) * 0.5
    shifted = x + 0.3
    torch.testing.assert_close(d(shifted), d(x), rtol=1e-4, atol=1e-5)
    assert (raw(shifted) - raw(x)).abs().max() > 1e-3
    blurred = torch.nn.functional.avg_pool2d(x, 5, 1, 2, count_include_pad=False)
    assert (d(blurred) - d(x)).abs().max() > 1e-3
    e = load_model(weights=save_model(d, tmp_path / "d.safetensors"))
    assert e.highpass
    torch.testing.assert_close(d.eval()(x), e(x))
