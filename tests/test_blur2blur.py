"""Blur2Blur: the translator learns to move camera C's blur toward the known domain K; GP with
batch 4; curriculum and schedule; resume; CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter

from camdeblur.methods import blur2blur as b2b

SIGMA_B, SIGMA_K = 0.5, 1.8  # camera C: light blur; known domain: strong blur


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny nets: one intra-op thread (two threads spin badly on a loaded 2-core machine)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _crops(photos, n_photos, size=64, per=3, seed=0):
    from PIL import Image

    from camdeblur.io import read_rgb

    rng = np.random.default_rng(seed)
    out = []
    for p in photos[:n_photos]:
        img = read_rgb(p)
        h, w = img.shape[:2]
        s = 160 / min(h, w)
        img = np.asarray(Image.fromarray((img * 255).astype(np.uint8)).resize((max(size, round(w * s)), max(size, round(h * s)))),
                         dtype=np.float32) / 255
        for _ in range(per):
            y = int(rng.integers(0, img.shape[0] - size + 1))
            x = int(rng.integers(0, img.shape[1] - size + 1))
            out.append(img[y:y + size, x:x + size])
    return out


def _blur(img, sigma):
    return np.clip(gaussian_filter(img, (sigma, sigma, 0)), 0, 1).astype(np.float32)


def _write(folder: Path, images):
    from camdeblur.io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        write_image(folder / f"{i:03d}.png", im)


@pytest.fixture(scope="module")
def domains(photos, tmp_path_factory):
    """B (camera C, sigma 0.5) and K (sigma 1.8) from disjoint photos; held-out B from other photos."""
    root = tmp_path_factory.mktemp("b2b")
    crops = _crops(photos[:20], 20, per=8)
    train_b, train_k = crops[0::2], crops[1::2]   # different crops (mostly different scenes) for B and K
    held = _crops(photos[20:], 11, per=2, seed=1)   # held-out photos
    _write(root / "B", [_blur(c, SIGMA_B) for c in train_b])
    _write(root / "K", [_blur(c, SIGMA_K) for c in train_k])
    held_b = torch.from_numpy(np.stack([_blur(c, SIGMA_B) for c in held])).permute(0, 3, 1, 2).contiguous()
    held_k = torch.from_numpy(np.stack([_blur(c, SIGMA_K) for c in held])).permute(0, 3, 1, 2).contiguous()
    return root, held_b, held_k


def _cfg(root: Path, steps: int, **over) -> b2b.Blur2BlurConfig:
    from camdeblur.engine.config import load_config

    sets = [f"data.blurry={root / 'B'}", f"known.source={root / 'K'}", "data.crop=48",
            "translator.arch=unet_tiny", "discriminator.arch=patchgan_tiny",
            f"train.steps={steps}", "train.batch_size=4", "train.val_every=0", "train.log_every=10",
            "train.ckpt_every=10", "train.device=cpu", "train.optim.lr=1e-3", "constant_fraction=1.0",
            "loss.overrides={lambda_rec: 0.2}", "loss.reconstruction=l1"]
    sets += [f"{k}={v}" for k, v in over.items()]
    return load_config(b2b.Blur2BlurConfig, None, sets)


def test_gradient_penalty_batch4_equals_per_sample():
    """The discriminator loss's GP with batch 4 is the mean of the four batch-1 penalties."""
    from camdeblur.losses.blur2blur import Blur2BlurLoss
    from camdeblur.nets import create_model

    torch.manual_seed(0)
    D = create_model("patchgan_tiny")
    crit = Blur2BlurLoss.preset("official", lambda_gp=1.0)
    fake = [torch.rand(4, 3, s, s) for s in (12, 24, 48)]
    k = torch.rand(4, 3, 48, 48)
    torch.manual_seed(1)
    alpha = torch.rand(4)
    from camdeblur.losses.adversarial import gradient_penalty

    gp4 = gradient_penalty(D, k, fake[-1], alpha=alpha)
    single = torch.stack([gradient_penalty(D, k[i:i + 1], fake[-1][i:i + 1], alpha=alpha[i:i + 1]) for i in range(4)])
    assert torch.allclose(gp4, single.mean(), rtol=1e-4, atol=1e-7)
    loss, logs = crit.discriminator_loss(D, fake, known=k)
    loss.backward()
    assert torch.isfinite(loss) and logs["D_gp"] > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in D.parameters())


def test_schedule_and_curriculum():
    assert b2b.lr_factor(0, 100, 0.5) == 1.0 and b2b.lr_factor(49, 100, 0.5) == 1.0
    assert b2b.lr_factor(75, 100, 0.5) == pytest.approx(0.5) and b2b.lr_factor(100, 100, 0.5) == 0.0
    cur = b2b.CurriculumConfig(enabled=True, start_fraction=0.5, hold=0.2, full_at=0.6)
    assert b2b.curriculum_fraction(10, 100, cur) == 0.5
    assert b2b.curriculum_fraction(40, 100, cur) == pytest.approx(0.75)
    assert b2b.curriculum_fraction(80, 100, cur) == 1.0
    # blurriest half = lowest Laplacian variance
    x = torch.rand(4, 3, 32, 32)
    sm = torch.nn.functional.avg_pool2d(x, 5, 1, 2)
    y = torch.stack([x[0], sm[1], x[2], sm[3]])
    assert sorted(b2b.select_blurriest(y, 0.5).tolist()) == [1, 3]


def test_single_output_translator_scales():
    out = b2b.as_scales(torch.rand(2, 3, 37, 31))
    assert [tuple(o.shape[-2:]) for o in out] == [(10, 8), (19, 16), (37, 31)]


def test_resume_matches_straight_run(domains, tmp_path):
    root, _, _ = domains
    cfg = _cfg(root, 8, **{"curriculum.enabled": "true", "constant_fraction": "0.5", "train.ckpt_every": "4"})
    straight = b2b.train(cfg, tmp_path / "a")["trainer"].unwrap("translator").state_dict()
    b2b.train(cfg, tmp_path / "b", stop_at=4)
    resumed = b2b.train(cfg, tmp_path / "b", resume=True)["trainer"]
    assert resumed.step == 8
    for k, v in straight.items():
        assert torch.allclose(v, resumed.unwrap("translator").state_dict()[k], atol=1e-6), k
    assert resumed.lr("G") == pytest.approx(0.0, abs=1e-12)


def test_cli_train_and_errors(domains, tmp_path, capsys):
    from camdeblur.cli.main import main

    root, _, _ = domains
    out = tmp_path / "cli"
    rc = main(["blur2blur", "train", "--blurry", str(root / "B"), "--known", str(root / "K"), "--out", str(out),
               "--set", "train.steps=2", "--set", "data.crop=32", "--set", "translator.arch=unet_tiny",
               "--set", "train.val_every=0", "--set", "train.device=cpu"])
    assert rc == 0 and (out / "translator.safetensors").exists()
    assert (out / "config.yaml").exists() and "blur2blur" in (out / "command.txt").read_text()
    rc = main(["blur2blur", "train", "--blurry", str(tmp_path / "missing"), "--known", str(root / "K"),
               "--out", str(tmp_path / "x")])
    assert rc == 2 and "blurry set B" in capsys.readouterr().err


def test_mini_pipeline_wiring(tmp_path):
    """The benchmark pipeline runs end to end at a few steps: five rows, disjoint photo splits, results.json."""
    from camdeblur.eval.bench_blur2blur import BenchPreset, run_mini_pipeline

    rows = run_mini_pipeline(tmp_path, camera="phone", preset=BenchPreset(deblurrer_steps=2, translator_steps=2,
                                                                          cache=4, test_items=2))
    assert [r["method"] for r in rows] == ["input", "direct", "synthetic", "blur2blur", "supervised"]
    assert all(np.isfinite(r["psnr"]) and 0 < r["ssim"] <= 1 for r in rows)
    names = {d: {p.name for p in (tmp_path / "photos" / d).iterdir()} for d in ("B", "S", "test")}
    assert not (names["B"] & names["S"]) and not (names["test"] & (names["B"] | names["S"]))
    res = json.loads((tmp_path / "results.json").read_text())
    assert res["rows"] == rows and "simulated camera 'gopro'" in res["config"]["known_domain"]


def test_known_domain_from_kernel_space(domains, tmp_path):
    """known.source=kernels: a known pair's kernel (kernel-space model) applied to sharp crops of S."""
    from camdeblur.nets import create_model
    from camdeblur.nets.registry import save_model

    root, _, _ = domains
    kw = create_model("kernel_wizard_tiny")
    save_model(kw, tmp_path / "kw.safetensors")
    (tmp_path / "P").mkdir()
    import shutil

    shutil.copytree(root / "K", tmp_path / "P" / "blur")
    shutil.copytree(root / "B", tmp_path / "P" / "sharp")   # any aligned pairs will do for the wiring
    cfg = _cfg(root, 2, **{"known.source": "kernels", "known.pairs": str(tmp_path / "P"),
                           "known.kernel_model": str(tmp_path / "kw.safetensors"), "data.sharp": str(root / "B")})
    known, desc = b2b.build_known(cfg)
    assert "kernel transfer" in desc
    known.reseed(1)
    a = known[0]["known"]
    s = known.sharp[0]["sharp"]
    assert a.shape == (3, 48, 48) and torch.isfinite(a).all() and 0 <= float(a.min()) and float(a.max()) <= 1
    with torch.no_grad():  # the same kernel path computed by hand
        known.reseed(1)
        j = int(known._rng.integers(len(known.pairs)))
        p = known.pairs[j]
        ref = kw.eval().apply_kernel(known.sharp[0]["sharp"][None], kw.extract_kernel(p["sharp"][None], p["blur"][None]))[0].clamp(0, 1)
    assert torch.allclose(a, ref, atol=1e-5)
    assert not torch.allclose(a, s)


def test_translators_from_registry_any_size():
    """UNet starts as the identity (a translator should change blur, not content); all three backbones
    take odd sizes and give three scales to D."""
    from camdeblur.nets import create_model

    x = torch.rand(2, 3, 37, 31)
    u = create_model("unet_tiny")
    assert torch.allclose(u(x), x, atol=1e-6)
    torch.nn.init.normal_(u.out.weight, std=0.1)
    y = u(x)
    assert y.shape == x.shape and not torch.allclose(y, x)
    y.sum().backward()
    assert all(p.grad is not None for p in u.parameters())
    for arch in ("mimo_unet_tiny", "nafnet_tiny", "unet_tiny"):
        scales = b2b.as_scales(create_model(arch)(x))
        assert [tuple(s.shape[-2:]) for s in scales][-1] == (37, 31) and len(scales) == 3


def test_identity_init_and_warmup(domains, tmp_path):
    """translator.init=identity: G_t(y) == y at every scale before training (MIMO-UNet, NAFNet, UNet);
    during d_warmup only D trains, so the translator is still exactly the identity afterwards."""
    from camdeblur.errors import CamdeblurError
    from camdeblur.nets import create_model

    x = torch.rand(2, 3, 37, 31)
    for arch in ("mimo_unet_tiny", "nafnet_tiny", "unet_tiny"):
        net = b2b.identity_init(create_model(arch))
        assert all(torch.equal(o, t) for o, t in zip(b2b.as_scales(net(x), mode="nearest"),
                                                       b2b.as_scales(x, mode="nearest"))), arch
    with pytest.raises(CamdeblurError, match="identity init"):
        b2b.identity_init(create_model("patchgan_tiny"))
    root, held_b, _ = domains
    cfg = _cfg(root, 6, **{"translator.arch": "mimo_unet_tiny", "translator.init": "identity", "d_warmup": 6})
    tr = b2b.train(cfg, tmp_path / "w")["trainer"]
    with torch.no_grad():
        assert torch.equal(b2b.translate(tr.unwrap("translator"), held_b, clamp=False), held_b)
    rows = [json.loads(line) for line in (tmp_path / "w" / "metrics.jsonl").read_text().splitlines()]
    assert any("D_adv" in r for r in rows) and not any("G_adv" in r for r in rows)   # D trained, G did not


def test_translator_learns(domains, tmp_path):
    """The mini recipe learns the translation on held-out photos in a fixed number of steps: its output moves
    toward the known domain (D score toward K's, and closer in PSNR to the same crop rendered with K's blur)
    while the content stays (PSNR vs the input stays high)."""
    root, held_b, held_k = domains
    from camdeblur.eval.metrics import psnr

    from camdeblur.engine.config import load_config

    cfg = load_config(b2b.Blur2BlurConfig, None, [f"data.blurry={root / 'B'}", f"known.source={root / 'K'}"]
                      + b2b.preset_overrides("mini")
                      + ["data.crop=48", "train.steps=200", "train.batch_size=4", "d_warmup=20", "train.device=cpu",
                         "train.val_every=0", "train.log_every=50", "train.ckpt_every=200"])
    summary = b2b.train(cfg, tmp_path / "learn")
    G, D = summary["trainer"].unwrap("translator"), summary["trainer"].unwrap("discriminator")
    ev = b2b.evaluate_translator(G, D, held_b, held_k, pyramid_mode=b2b.build_criterion(cfg).config.pyramid_mode)
    with torch.no_grad():
        t = b2b.translate(G.eval(), held_b)
    before, after = float(psnr(held_b, held_k).mean()), float(psnr(t, held_k).mean())
    moved = (ev["D_translated"] - ev["D_input"]) / (ev["D_known"] - ev["D_input"])
    print(f"PSNR to K-blurred crop {before:.2f} -> {after:.2f} dB; D moved {moved:.2f} of the way; {ev}")
    assert ev["D_known"] > ev["D_input"] + 1.0    # D separates the domains on held-out photos
    assert moved > 0.15                           # the translator's output scores toward K
    assert after > before + 2.0                   # and really carries K's blur
    # content kept: G_t(y) is no further from y than the K render of the same crop is (25.9 dB here), give or take;
    # a translator that repaints the image (or the identity: after == before) fails one of these
    assert ev["content_psnr"] > before - 2.0
