"""KernelWizard (kernel-space G and F): official fixtures, full-size key layout, any-size handling."""

from __future__ import annotations

import json

import pytest
import torch

import camdeblur
from camdeblur.errors import CamdeblurError
from camdeblur.nets import create_model
from camdeblur.nets.kernel_wizard import KernelWizard, resample_kernel

TOL = 1e-4


def _fixture(shared, name):
    d = torch.load(shared / "fixtures" / "official" / f"{name}.pt", weights_only=False)
    ckpt = shared / "fixtures" / "official" / f"{name}_ckpt.pth"
    return d, ckpt


@pytest.mark.parametrize("name", ["kw_small_woVAE", "kw_small_wVAE"])
def test_official_fixture(shared, name):
    d, ckpt = _fixture(shared, name)
    model = camdeblur.load_model("KernelWizard", weights=ckpt, **d["options"])
    x, y, x2 = d["inputs"]["x"], d["inputs"]["y"], d["inputs"]["x2"]
    with torch.inference_mode():
        mean, sigma = model(x, y)
        assert (mean - d["kernels"]["kernel_mean"]).abs().max() < TOL
        assert (sigma - d["kernels"]["kernel_sigma"]).abs().max() < TOL
        assert (model.adaptKernel(x, mean) - d["outputs"]["y_hat"]).abs().max() < TOL
        assert (model.apply_kernel(x2, mean) - d["outputs"]["y_hat_x2"]).abs().max() < TOL
        if d["options"]["use_vae"]:
            k = mean + sigma * d["vae"]["eps"]
            assert (model.adaptKernel(x, k) - d["outputs"]["y_hat_sampled"]).abs().max() < TOL
            got = model.extract_kernel(x, y)
            assert isinstance(got, tuple) and len(got) == 2
        else:
            assert torch.is_tensor(model.extract_kernel(x, y))
        fx = model.feature_extractor(x)
        assert (fx - d["intermediates"]["feat_x"]).abs().max() < TOL
        assert (model.feature_extractor(y) - d["intermediates"]["feat_y"]).abs().max() < TOL
        assert (model.adapter(fx, mean) - d["intermediates"]["adapter_out"]).abs().max() < TOL
        e = d["extra_adapter_128"]
        assert (model.adaptKernel(e["x"], e["k"]) - e["out"]).abs().max() < TOL
        # the kernel matters: a zero kernel must not reproduce y_hat (guards against ignoring k)
        assert (model.adaptKernel(x, torch.zeros_like(mean)) - d["outputs"]["y_hat"]).abs().max() > 0.1
        # the shared-parameter BlurOperator view is the same F
        op = model.blur_operator()
        assert (op(x2, mean) - d["outputs"]["y_hat_x2"]).abs().max() < TOL
        assert len(list(model.parameters())) == len(list(model.state_dict()))


@pytest.mark.parametrize("arch,variant", [("kernel_wizard_gopro", "woVAE"), ("kernel_wizard_gopro_vae", "wVAE")])
def test_full_size_key_layout(shared, arch, variant):
    spec = json.loads((shared / "fixtures" / "official" / f"kernel_wizard_gopro_{variant}_keys.json").read_text())
    with torch.device("meta"):
        model = create_model(arch)
        alias = create_model("KernelWizard", **spec["options"])
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == spec["state_dict"]
    assert [[k, list(v.shape)] for k, v in alias.state_dict().items()] == spec["state_dict"]
    assert sum(p.numel() for p in model.parameters()) == spec["param_count"]


def test_kernel_dim_must_be_8nf():
    with pytest.raises(CamdeblurError, match="kernel_dim"):
        KernelWizard(nf=8, kernel_dim=32)


@pytest.mark.parametrize("size", [(37, 31), (130, 200)])
def test_any_size_and_grid(size):
    torch.manual_seed(0)
    model = create_model("kernel_wizard_tiny").eval()
    x = torch.rand(1, 3, *size)
    y = torch.rand(1, 3, *size)
    with torch.no_grad():
        k = model.extract_kernel(x, y)
        gh, gw = -(-size[0] // 128), -(-size[1] // 128)
        assert k.shape == (1, 64, gh, gw)
        out = model.apply_kernel(x, k)
        assert out.shape == x.shape and torch.isfinite(out).all()
        # a kernel from one size transfers onto another size
        other = torch.rand(1, 3, 61, 140)
        assert model.apply_kernel(other, k).shape == other.shape
    # on a multiple of 128 apply_kernel is exactly the official adaptKernel (no padding)
    x128 = torch.rand(1, 3, 128, 256)
    k = torch.rand(1, 64, 1, 2)
    with torch.no_grad():
        assert torch.allclose(model.apply_kernel(x128, k), model.adaptKernel(x128, k))


def test_resample_kernel():
    k = torch.arange(4.0).view(1, 1, 2, 2)
    assert resample_kernel(k, (2, 2)) is k
    assert resample_kernel(k, (4, 4), "nearest")[0, 0, 0, 3] == 1.0
    up = resample_kernel(k, (3, 5), "bilinear")
    assert up.shape == (1, 1, 3, 5) and up.min() >= 0 and up.max() <= 3
    assert torch.allclose(resample_kernel(k, (3, 3), "mean"), torch.full((1, 1, 3, 3), 1.5))
    uniform = torch.randn(1, 8, 1, 1)
    assert torch.equal(resample_kernel(uniform, (2, 3))[..., 1, 2], uniform[..., 0, 0])
    with pytest.raises(CamdeblurError):
        resample_kernel(k, (2, 2), "cubicspline")


def test_bad_inputs():
    model = create_model("kernel_wizard_tiny")
    with pytest.raises(CamdeblurError, match="channels"):
        model.extract_kernel(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))
    with pytest.raises(CamdeblurError, match="shapes differ"):
        model.extract_kernel(torch.rand(1, 3, 64, 64), torch.rand(1, 3, 64, 65))
    with pytest.raises(CamdeblurError, match="kernel must be"):
        model.apply_kernel(torch.rand(1, 3, 64, 64), torch.rand(1, 32, 1, 1))


def test_gradients_flow_to_both_networks():
    torch.manual_seed(0)
    model = create_model("kernel_wizard_tiny_vae")
    x, y = torch.rand(1, 3, 40, 48), torch.rand(1, 3, 40, 48)
    mean, sigma = model.extract_kernel(x, y)
    out = model.apply_kernel(x, KernelWizard.sample_kernel(mean, sigma))
    (out - y).abs().mean().backward()
    assert model.kernel_extractor.model[1].weight.grad.abs().sum() > 0
    assert model.adapter.model.up[1].weight.grad.abs().sum() > 0
    assert model.feature_extractor[0].weight.grad.abs().sum() > 0
