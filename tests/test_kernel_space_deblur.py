"""Blind deblurring through the kernel space (paper Sec. 3.2): priors, DIPs, the optimisation, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import camdeblur
from camdeblur.methods.kernel_space_deblur import (BlindDeblurConfig, ImageDIP, ImageDIPConfig, KernelDIP,
                                                   KernelDIPConfig, NonLocalBlock, blind_deblur, blind_deblur_loss,
                                                   hyper_laplacian_prior, preset, unsharp_mask)
from camdeblur.nets import create_model
from camdeblur.nets.kernel_wizard import he_init_

TINY_DIPS = dict(x_dip=ImageDIPConfig(input_channels=4, channels=(8, 8, 8), skip_channels=(2, 2, 2), nonlocal_from=1),
                 k_dip=KernelDIPConfig(input_channels=4, nf=4, blocks=1))


def _random_f(arch="kernel_wizard_small"):
    """A random KernelWizard whose F is not the identity (He init without zeroing F's last conv)."""
    torch.manual_seed(0)
    return he_init_(create_model(arch), zero_residual=False)


def _psnr(a, b):
    return float(10 * torch.log10(1 / F.mse_loss(a.clamp(0, 1), b)))


class ConvKernelSpace(nn.Module):
    """A kernel space whose F is an exact convolution: k (B, 25, h, w) -> softmax -> 5x5 PSF.

    G(x, y) returns k = 0 (a 5x5 box) whatever the pair: a poor but honest start kernel. Lets the
    optimisation be tested on a blur family it can represent exactly, independent of training F.
    """

    input_nc, kernel_dim, use_vae = 3, 25, False

    def __init__(self):
        super().__init__()
        self.temperature = nn.Parameter(torch.ones(()))

    def psf(self, k):
        return torch.softmax(k.mean((-2, -1)) * self.temperature, -1).view(-1, 1, 5, 5)

    def apply_kernel(self, x, k):
        w = self.psf(k).expand(x.shape[0], -1, -1, -1)
        xp = F.pad(x, (2, 2, 2, 2), mode="replicate")
        out = [F.conv2d(xp[i:i + 1].transpose(0, 1), w[i:i + 1]).transpose(0, 1) for i in range(x.shape[0])]
        return torch.cat(out)

    def encode(self, x, y):
        k = torch.zeros(x.shape[0], 25, -(-x.shape[-2] // 128), -(-x.shape[-1] // 128), device=x.device)
        return k, torch.zeros_like(k)


def _photo_crop(photos, size=64, index=3):
    from camdeblur.io import read_rgb

    img = read_rgb(photos[index])
    h, w = img.shape[:2]
    s = min(h, w) // 2
    crop = img[h // 2 - s // 2: h // 2 + s // 2, w // 2 - s // 2: w // 2 + s // 2]
    t = torch.from_numpy(np.ascontiguousarray(crop)).permute(2, 0, 1)[None]
    return F.interpolate(t, size=(size, size), mode="area").clamp(0, 1)


# ------------------------------------------------------------------------------------------ priors
def test_hyper_laplacian_prior():
    flat = torch.full((1, 3, 16, 16), 0.5)
    assert hyper_laplacian_prior(flat) <= 1.001 * (1e-6) ** 0.33  # only the eps floor
    g = torch.Generator().manual_seed(0)
    noisy = flat + 0.1 * torch.randn(1, 3, 16, 16, generator=g)
    smooth = flat + torch.linspace(0, 0.2, 16).view(1, 1, 1, 16)
    assert hyper_laplacian_prior(noisy) > 5 * hyper_laplacian_prior(smooth)
    # sparser gradients cost less for alpha < 1 (the point of the hyper-Laplacian): one step edge
    # vs the same total variation spread as a ramp
    step = torch.zeros(1, 1, 1, 16)
    step[..., 8:] = 1.0
    ramp = torch.linspace(0, 1, 16).view(1, 1, 1, 16)
    assert hyper_laplacian_prior(step, 0.66) < hyper_laplacian_prior(ramp, 0.66)
    x = torch.rand(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: hyper_laplacian_prior(t, 0.66, 1e-3), (x,))


def test_unsharp_mask_sharpens_edges():
    x = torch.zeros(1, 3, 20, 20)
    x[..., 10:] = 0.8
    blurred = F.avg_pool2d(F.pad(x, (2, 2, 2, 2), mode="replicate"), 5, 1)
    sharper = unsharp_mask(blurred, 1.0)
    assert sharper.shape == blurred.shape
    assert (sharper[..., 11] - sharper[..., 8]).abs().mean() > (blurred[..., 11] - blurred[..., 8]).abs().mean()


# ------------------------------------------------------------------------------------------ DIPs
def test_image_dip_odd_sizes_and_range():
    torch.manual_seed(0)
    dip = ImageDIP(TINY_DIPS["x_dip"])
    for h, w in ((37, 31), (8, 8), (64, 50)):
        out = dip(torch.rand(1, 4, h, w))
        assert out.shape == (1, 3, h, w)
        assert out.min() > 0 and out.max() < 1
    # the gradient reaches every convolution (attention convs sit behind the zero-initialised gate)
    dip(torch.rand(1, 4, 37, 31)).mean().backward()
    convs = [(n, p) for n, p in dip.named_parameters() if p.dim() > 1]
    gated = [n for n, _ in convs if any(f".{a}." in n for a in ("query", "key", "value", "out"))]
    assert gated and len(gated) < len(convs)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for n, p in convs if n not in gated)


def test_nonlocal_block_starts_as_identity():
    blk = NonLocalBlock(6)
    x = torch.rand(2, 6, 5, 7)
    assert torch.allclose(blk(x), x)
    x = torch.rand(1, 6, 1, 3)  # too small to pool: still runs
    assert blk(x).shape == x.shape


def test_kernel_dip_grid():
    dip = KernelDIP(40, KernelDIPConfig(input_channels=4, nf=4, blocks=1))
    assert dip(torch.rand(1, 4, 32, 32)).shape == (1, 40, 1, 1)
    assert dip(torch.rand(1, 4, 64, 96)).shape == (1, 40, 2, 3)


def test_config_validation_and_presets():
    with pytest.raises(camdeblur.CamdeblurError, match="x_param"):
        BlindDeblurConfig(x_param="pixels")
    with pytest.raises(camdeblur.CamdeblurError, match="preset"):
        preset("slow")
    with pytest.raises(camdeblur.CamdeblurError, match="unknown option"):
        preset("fast", nonsense=1)
    orig = preset("original")
    assert (orig.steps, orig.warmup_steps, orig.x_param, orig.k_param) == (5000, 300, "dip", "dip")
    assert (orig.kernel_weight, orig.prior_weight) == (6e-4, 2e-2)
    assert preset("fast", steps=7).steps == 7 and preset("fast").steps != 7  # copies, not the shared default


# ------------------------------------------------------------------------------------------ optimisation
@pytest.mark.parametrize("name,arch,grid", [("fast", "kernel_wizard_small", (2, 1)), ("original", "kernel_wizard_small", (2, 1)),
                                            ("fast", "kernel_wizard_tiny", (1, 1))])
def test_shapes_odd_size_and_frozen_model(name, arch, grid):
    model = _random_f(arch)
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    y = torch.rand(2, 3, 37, 31)
    over = dict(steps=3, log_every=1)
    if name == "original":
        over.update(warmup_steps=2, **TINY_DIPS)
    calls = []
    x, k, hist = blind_deblur(model, y, preset(name, **over), reference=torch.rand(2, 3, 37, 31),
                              progress=lambda i, n: calls.append((i, n)))
    assert x.shape == y.shape and 0 <= x.min() and x.max() <= 1
    assert k.shape == (2, model.kernel_dim, *grid)  # 37x31 on the model's kernel grid (stride 32 or 128)
    assert {h["image"] for h in hist} == {0, 1}
    assert [h["step"] for h in hist if h["image"] == 0] == [0, 1, 2, 3]
    assert all(np.isfinite(h["psnr"]) and np.isfinite(h["loss"]) for h in hist)
    assert calls[-1][0] == calls[-1][1] == len(calls)
    # F is frozen during the call and restored afterwards
    assert all(torch.equal(before[n], v) for n, v in model.state_dict().items())
    assert model.training and all(p.requires_grad for p in model.parameters())


def test_loss_terms_match_definition():
    model = _random_f().eval()
    cfg = preset("fast")
    y, x = torch.rand(1, 3, 40, 36), torch.rand(1, 3, 40, 36)
    k = torch.rand(1, model.kernel_dim, 2, 2)
    t = blind_deblur_loss(model, y, x, k, cfg)
    assert torch.allclose(t["kernel"], k.norm())
    expect = t["data"] + cfg.kernel_weight * k.norm() + cfg.prior_weight * hyper_laplacian_prior(x, cfg.prior_alpha)
    assert torch.allclose(t["loss"], expect)


@pytest.mark.parametrize("schedule", ["joint", "alternate"])
def test_data_term_decreases_through_trained_like_operator(schedule):
    """Through a frozen random KernelWizard the objective and its data term go down."""
    model = _random_f()
    y = torch.rand(1, 3, 48, 40)
    # x_lr pinned: this checks the optimiser, not the preset's (smaller, benchmark-chosen) step size
    cfg = preset("fast", steps=20 if schedule == "joint" else 10, log_every=5, schedule=schedule, k_steps=2,
                 x_init="blurry", k_init="identity", x_lr=1e-2)
    _, _, hist = blind_deblur(model, y, cfg)
    assert hist[-1]["loss"] < 0.8 * hist[0]["loss"]
    assert hist[-1]["data"] < hist[0]["data"]


def test_fast_preset_deblurs_a_representable_blur(photos):
    """Held-out photo blurred by a 5x5 PSF the kernel space contains; the start kernel (a box) is wrong.

    The optimisation must recover a sharper image than its input (measured: +0.9 dB in 150 steps).
    """
    sharp = _photo_crop(photos, 64)
    psf = torch.zeros(5, 5)
    psf[2, :] = torch.tensor([0.1, 0.2, 0.4, 0.2, 0.1])  # horizontal motion-like blur
    model = ConvKernelSpace()
    with torch.no_grad():
        w = psf.view(1, 1, 5, 5)
        blurry = torch.cat([F.conv2d(F.pad(sharp[:, c:c + 1], (2, 2, 2, 2), mode="replicate"), w) for c in range(3)], 1)
    # this F's kernel is a softmax's logits: it needs a larger k step than an encoded kernel
    x, k, hist = blind_deblur(model, blurry, preset("fast", x_lr=1e-3, k_lr=0.1), reference=sharp)
    gain = _psnr(x, sharp) - _psnr(blurry, sharp)
    assert gain > 0.5
    assert hist[-1]["psnr"] > hist[0]["psnr"] + 0.5  # better than the start image too (not just the unsharp mask)
    assert hist[-1]["data"] < 0.2 * hist[0]["data"]
    assert hist[-1]["psnr_reblur"] > 45


def test_deblurrer_start_and_given_kernel():
    model = _random_f()
    y = torch.rand(1, 3, 40, 44)
    deblurrer = create_model("nafnet_tiny").eval()
    with pytest.raises(camdeblur.CamdeblurError, match="deblurrer"):
        blind_deblur(model, y, preset("fast", x_init="deblurrer", steps=1))
    cfg = preset("fast", x_init="deblurrer", k_init="extract", steps=0)
    x, _, _ = blind_deblur(model, y, cfg, deblurrer=deblurrer)
    from camdeblur.engine.inference import deblur

    assert torch.allclose(x, deblur(deblurrer, y).clamp(0, 1), atol=1e-6)  # 0 steps: x is the deblurrer's output
    k0 = torch.rand(1, model.kernel_dim, 2, 2)
    _, k, _ = blind_deblur(model, y, preset("fast", steps=0), k_init=k0)
    assert torch.equal(k, k0)
    # a kernel of another grid size is resampled to this image's grid (1 x 1 -> 2 x 2: constant)
    _, k, _ = blind_deblur(model, y, preset("fast", steps=0), k_init=k0[..., :1, :1])
    assert k.shape == k0.shape and torch.equal(k, k0[..., :1, :1].expand_as(k0))
    with pytest.raises(camdeblur.CamdeblurError, match="k_init"):
        blind_deblur(model, y, preset("fast", steps=0), k_init=torch.rand(1, 3, 1, 1))


def test_rejects_bad_inputs():
    model = create_model("kernel_wizard_tiny")
    with pytest.raises(camdeblur.CamdeblurError, match="kernel-space"):
        blind_deblur(create_model("nafnet_tiny"), torch.rand(1, 3, 16, 16))
    with pytest.raises(camdeblur.CamdeblurError, match="channels"):
        blind_deblur(model, torch.rand(1, 1, 16, 16))
    with pytest.raises(camdeblur.CamdeblurError, match=r"\(B, C, H, W\)"):
        blind_deblur(model, torch.rand(3, 16, 16))


# ------------------------------------------------------------------------------------------ CLI
@pytest.fixture
def kernel_model(tmp_path):
    from camdeblur.nets import save_model

    path = tmp_path / "kw.safetensors"
    save_model(_random_f(), path)
    return path


def test_cli_deblur_folder_round_trip(tmp_path, kernel_model, capsys):
    from camdeblur.cli.main import main
    from camdeblur.io import read_rgb, write_image

    rng = np.random.default_rng(0)
    src = tmp_path / "in"
    src.mkdir()
    write_image(src / "a.png", rng.random((37, 31, 3)).astype(np.float32))
    write_image(src / "b.png", rng.random((40, 48, 3)).astype(np.float32))
    (src / "c.png").write_bytes(b"not a png")
    out, hist = tmp_path / "out", tmp_path / "hist.jsonl"
    common = ["--kernel-model", str(kernel_model), "--device", "cpu", "--steps", "2", "--set", "log_every=1"]
    rc = main(["kernels", "deblur", "-i", str(src), "-o", str(out), *common, "--history", str(hist)])
    err = capsys.readouterr().err
    assert rc == 1  # one file failed, the others were written
    assert read_rgb(out / "a.png").shape == (37, 31, 3) and read_rgb(out / "b.png").shape == (40, 48, 3)
    bad = [line for line in err.splitlines() if "c.png" in line]
    assert len(bad) == 1 and bad[0].startswith("camdeblur: error:") and "Traceback" not in err
    rows = [json.loads(s) for s in hist.read_text().splitlines()]
    assert {r["file"] for r in rows} == {str(src / "a.png"), str(src / "b.png")}
    assert [r["step"] for r in rows if r["file"].endswith("a.png")] == [0, 1, 2]
    # never overwrite: outputs and the history are kept unless --overwrite
    before = (out / "a.png").read_bytes()
    (src / "c.png").unlink()
    rc = main(["kernels", "deblur", "-i", str(src), "-o", str(out), *common])
    assert rc == 0 and "2 skipped" in capsys.readouterr().err and (out / "a.png").read_bytes() == before
    assert main(["kernels", "deblur", "-i", str(src), "-o", str(out), *common, "--history", str(hist)]) == 2
    assert "history file exists" in capsys.readouterr().err
    # single file to a file name; refuses to write onto its input
    assert main(["kernels", "deblur", "-i", str(src / "a.png"), "-o", str(tmp_path / "one.png"), *common]) == 0
    assert read_rgb(tmp_path / "one.png").shape == (37, 31, 3)
    assert main(["kernels", "deblur", "-i", str(src / "a.png"), "-o", str(src / "a.png"), *common,
                 "--overwrite"]) == 2
    assert "overwrite an input" in capsys.readouterr().err


def test_cli_deblur_errors_are_one_line(tmp_path, kernel_model, capsys):
    from camdeblur.cli.main import main
    from camdeblur.io import write_image
    from camdeblur.nets import save_model

    write_image(tmp_path / "a.png", np.zeros((20, 20, 3), np.float32))
    cases = [
        (["-i", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--kernel-model", str(tmp_path / "none.safetensors")],
         "model file not found"),
        (["-i", str(tmp_path / "missing.png"), "-o", str(tmp_path / "o.png"), "--kernel-model", str(kernel_model)],
         "input not found"),
        (["-i", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--kernel-model", str(kernel_model),
          "--set", "x_param=pixels"], "unknown x_param"),
        (["-i", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"), "--kernel-model", str(kernel_model),
          "--deblurrer", str(tmp_path / "nope.safetensors")], "deblurrer weight file not found"),
    ]
    save_model(create_model("nafnet_tiny"), tmp_path / "naf.safetensors")
    cases.append((["-i", str(tmp_path / "a.png"), "-o", str(tmp_path / "o.png"),
                   "--kernel-model", str(tmp_path / "naf.safetensors")], "not a KernelWizard"))
    for argv, msg in cases:
        assert main(["kernels", "deblur", *argv, "--device", "cpu"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and msg in err[0], err
    assert not (tmp_path / "o.png").exists()


def test_cli_retrieve(tmp_path, kernel_model, capsys):
    from camdeblur.cli.main import main
    from camdeblur.io import read_rgb, write_image

    rng = np.random.default_rng(1)
    for sub in ("S", "B"):
        (tmp_path / sub).mkdir()
    for name in ("p", "q"):
        x = rng.random((33, 41, 3)).astype(np.float32)
        write_image(tmp_path / "S" / f"{name}.png", x)
        write_image(tmp_path / "B" / f"{name}.png", np.clip(x * 0.8 + 0.1, 0, 1))
    rc = main(["kernels", "retrieve", "--kernel-model", str(kernel_model), "--sharp", str(tmp_path / "S"),
               "--blurry", str(tmp_path / "B"), "--steps", "5", "-o", str(tmp_path / "R"),
               "--json", str(tmp_path / "r.json"), "--device", "cpu"])
    out = capsys.readouterr().out
    assert rc == 0 and "mean over 2 pair(s)" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert len(data["pairs"]) == 2 and all(r["psnr"] >= r["psnr_init"] - 0.05 for r in data["pairs"])
    assert read_rgb(tmp_path / "R" / "q.png").shape == (33, 41, 3)
    # never overwrite
    assert main(["kernels", "retrieve", "--kernel-model", str(kernel_model), "--sharp", str(tmp_path / "S"),
                 "--blurry", str(tmp_path / "B"), "-o", str(tmp_path / "R"), "--device", "cpu"]) == 2
    assert "already exist" in capsys.readouterr().err
