"""Kernel-space training (Eq. 1), the blur-transfer evaluation and its convolution semantics."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import camdeblur
from camdeblur.methods.kernel_space import (KernelSpaceConfig, convolve_psf, evaluate_transfer, kernel_space_loss,
                                            kl_divergence, train)
from camdeblur.nets import create_model
from camdeblur.nets.kernel_wizard import he_init_


def test_kl_divergence():
    m = torch.zeros(2, 8, 1, 1)
    assert kl_divergence(m, torch.ones_like(m)).abs() < 1e-6
    assert kl_divergence(m + 1, torch.ones_like(m)) > 0.4
    assert kl_divergence(m, torch.full_like(m, 0.3)) > 0.1
    # sigma is a std used directly: its sign does not matter
    assert torch.allclose(kl_divergence(m, torch.full_like(m, -0.5)), kl_divergence(m, torch.full_like(m, 0.5)))


def test_loss_terms_and_vae_sampling():
    torch.manual_seed(0)
    net = he_init_(create_model("kernel_wizard_tiny_vae"), zero_residual=False)
    x, y = torch.rand(1, 3, 40, 40), torch.rand(1, 3, 40, 40)
    g = torch.Generator().manual_seed(0)
    out = kernel_space_loss(net, x, y, kl_weight=0.1, generator=g)
    assert set(out) == {"loss", "charbonnier", "kl"}
    assert torch.allclose(out["loss"], out["charbonnier"] + 0.1 * out["kl"])
    # the VAE kernel is sampled: two different generators give two different losses
    other = kernel_space_loss(net, x, y, kl_weight=0.1, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(out["charbonnier"], other["charbonnier"])
    mean, sigma = net(x, y)
    assert sigma.abs().sum() > 0
    k1 = net.sample_kernel(mean, sigma, torch.Generator().manual_seed(3))
    assert torch.equal(k1, net.sample_kernel(mean, sigma, torch.Generator().manual_seed(3)))
    assert not torch.equal(k1, mean)


def test_convolve_psf_matches_simulator():
    """Our psf (*) x must be the simulator's uniform blur (true convolution, not correlation)."""
    from camdeblur.sim import SimulatedPairs
    from camdeblur.sim.psf import psf_from_meta

    ds = SimulatedPairs(camera="uniform", size=64, length=3, seed=5, full_meta=True)
    for i in range(3):
        item = ds[i]
        psf = psf_from_meta(item["meta"])
        r = psf.shape[0] // 2 + 1
        mine = convolve_psf(item["sharp"][None], psf)[0]
        inner = (slice(None), slice(r, -r), slice(r, -r))
        assert (mine[inner] - item["blur"][inner]).abs().max() < 2e-3
        flipped = convolve_psf(item["sharp"][None], psf[::-1, ::-1].copy())[0]
        if (psf - psf[::-1, ::-1]).__abs__().max() > 1e-3:
            assert (flipped[inner] - item["blur"][inner]).abs().max() > 5e-3


class _Pairs(torch.utils.data.Dataset):
    """Random-crop pairs blurred by one of a few PSFs (cheap stand-in for any paired folder)."""

    def __init__(self, n=8, size=48, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.sharp = torch.rand(n, 3, size, size, generator=g)
        k = torch.zeros(5, 5)
        k[2, :] = 0.2
        self.blur = convolve_psf(self.sharp, k.numpy())

    def __len__(self):
        return len(self.sharp)

    def __getitem__(self, i):
        return {"sharp": self.sharp[i], "blur": self.blur[i], "name": str(i)}


def test_train_run_folder_resume_and_export(tmp_path):
    cfg = KernelSpaceConfig()
    cfg.train.steps, cfg.train.batch_size, cfg.train.val_every, cfg.train.log_every = 4, 2, 0, 1
    cfg.train.ckpt_every, cfg.train.progress = 2, False
    out = tmp_path / "run"
    first = train(cfg, out, dataset=_Pairs(), stop_at=2)
    assert first["step"] == 2 and (out / "checkpoints" / "last.pt").exists()
    summary = train(cfg, out, dataset=_Pairs(), resume=True)
    assert summary["step"] == 4
    lines = [json.loads(s) for s in (out / "metrics.jsonl").read_text().splitlines() if s.strip()]
    assert any("charbonnier" in r for r in lines)
    weights = out / "model.safetensors"
    assert weights.exists()
    net = camdeblur.load_model(weights=weights)
    x = torch.rand(1, 3, 48, 48)
    with torch.no_grad():
        a = net.transfer(x, x, x)
        b = summary["model"].eval().transfer(x, x, x)
    assert torch.allclose(a, b, atol=1e-6)


def test_train_rejects_non_kernel_model():
    cfg = KernelSpaceConfig()
    cfg.model.arch = "nafnet_tiny"
    cfg.train.val_every = 0
    with pytest.raises(camdeblur.CamdeblurError, match="KernelWizard"):
        train(cfg, None, dataset=_Pairs(n=2))


def test_cli_transfer_and_sample(tmp_path):
    from camdeblur.cli.main import main
    from camdeblur.io import write_image
    from camdeblur.nets import save_model

    rng = np.random.default_rng(0)
    for sub in ("known/blur", "known/sharp", "S"):
        (tmp_path / sub).mkdir(parents=True)
    for i in range(2):
        write_image(tmp_path / "known" / "sharp" / f"{i}.png", rng.random((40, 52, 3)).astype(np.float32))
        write_image(tmp_path / "known" / "blur" / f"{i}.png", rng.random((40, 52, 3)).astype(np.float32))
    write_image(tmp_path / "S" / "a.png", rng.random((33, 45, 3)).astype(np.float32))
    torch.manual_seed(0)
    save_model(create_model("kernel_wizard_tiny_vae"), tmp_path / "kw.safetensors")
    common = ["--model", str(tmp_path / "kw.safetensors"), "--sharp", str(tmp_path / "S"), "--device", "cpu"]
    assert main(["kernels", "transfer", *common, "--known", str(tmp_path / "known"), "--out", str(tmp_path / "K")]) == 0
    side = json.loads((tmp_path / "K" / "a.json").read_text())
    assert side["source_blur"].startswith(str(tmp_path / "known" / "blur"))
    from camdeblur.io import read_rgb

    assert read_rgb(tmp_path / "K" / "a.png").shape == (33, 45, 3)
    # never overwrite user data
    assert main(["kernels", "transfer", *common, "--known", str(tmp_path / "known"), "--out", str(tmp_path / "K")]) != 0
    assert main(["kernels", "sample", *common, "--prior", "--num", "2", "--out", str(tmp_path / "V")]) == 0
    assert (tmp_path / "V" / "a_k1.png").exists() and (tmp_path / "V" / "a_k1.json").exists()


# ----------------------------------------------------------------------------- learning test
LEARN_STEPS = 1200  # 37-42 s of training on 2 quiet cores (600 steps: 21 s, but seed 0 then nearly ignored k)
MIN_GAIN = 3.0  # the issue's >= 3 dB; measured +5.97/+6.16/+6.40 dB (torch seeds 0-2, 2 threads, 1200 steps)
MIN_IDENTITY = 35.0  # content kept: measured 38.6/63.0/66.7 dB
MAX_KERNEL_AGREEMENT = 60.0  # mean PSNR of F(x^, G(x, y)) vs F(x^, G(x, x)); measured 51.9/35.7/34.9 dB,
#                              ~150 dB when F ignores k (94.8 dB in the 600-step seed-0 run that gained only +2.97)


def test_learns_blur_transfer_on_uniform_domain(photos):
    """Issue 5: on the simulator's uniform-PSF domain, blur transfer to held-out images with held-out
    PSFs, at sizes that are not multiples of the kernel grid (100x150 sources, 90x131 targets).

    kernel_wizard_small, 1200 steps of batch 4 at 64 px (the module's default recipe, 20% delta-PSF pairs),
    37-42 s of training on 2 quiet cores. Untrained, F is the identity (gain 0). Measured (seeds 0-2, 2 threads):
    gain +5.97 to +6.40 dB, content >= 38.6 dB. At 600 steps 1 seed of 3 stalled at +2.97 dB. The longer-run table is
    ``benchmarks/kernel_space_transfer.py`` (results in benchmarks/kernel_space.md).
    The last assert catches an F that learned one generic blur and ignores the kernel.
    """
    from camdeblur.methods.supervised import CachedPairs
    from camdeblur.sim import SimulatedPairs
    from camdeblur.sim.psf import psf_from_meta

    photos = [str(p) for p in photos]
    train_ph, test_ph = photos[:-4], photos[-4:]
    data = CachedPairs(SimulatedPairs(camera="uniform", photos=train_ph, size=96, length=96, seed=0), 64, True)
    held = SimulatedPairs(camera="uniform", photos=test_ph, size=(100, 150), length=6, seed=99, full_meta=True)
    items = [held[i] for i in range(len(held))]
    psfs = [psf_from_meta(it["meta"]) for it in items]
    tgt = SimulatedPairs(camera="uniform", photos=test_ph, size=(90, 131), length=6, seed=77)
    targets = [tgt[i]["sharp"] for i in range(len(tgt))]

    cfg = KernelSpaceConfig()
    cfg.train.steps = LEARN_STEPS
    cfg.train.val_every, cfg.train.log_every, cfg.train.progress = 0, 100, False
    torch.manual_seed(0)
    untrained = he_init_(create_model(cfg.model.arch))
    before = evaluate_transfer(untrained, items, targets, psfs)
    torch.manual_seed(0)
    model = train(cfg, None, dataset=data)["model"]
    after = evaluate_transfer(model, items, targets, psfs)
    print("before", before, "after", after)
    assert abs(before["gain"]) < 1e-6  # F starts as the exact identity
    assert after["gain"] > MIN_GAIN
    assert after["psnr_identity"] > MIN_IDENTITY
    # the blur comes from the kernel, not a generic blur baked into F: F(x^, G(x, y)) != F(x^, G(x, x))
    assert after["psnr_kernel_effect"] < MAX_KERNEL_AGREEMENT


def test_retrieve_kernel_improves_fit_and_freezes_f():
    from camdeblur.methods.kernel_space import retrieve_kernel

    torch.manual_seed(0)
    net = he_init_(create_model("kernel_wizard_tiny"), zero_residual=False)
    x = torch.rand(1, 3, 32, 40)
    # a y that some kernel explains exactly: F(x, k_true)
    k_true = torch.rand(1, 64, 1, 1) * 30
    with torch.no_grad():
        y = net.apply_kernel(x, k_true)
    before = [p.clone() for p in net.parameters()]
    k, r = retrieve_kernel(net, x, y, steps=10, lr=3.0, init=torch.rand(1, 64, 1, 1) * 30)
    assert k.shape == (1, 64, 1, 1)
    assert r["psnr"] > r["psnr_init"] + 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))
    assert all(p.requires_grad for p in net.parameters())
