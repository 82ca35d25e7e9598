"""Blur-swapped training (kernel-space paper, Table 2; issue 5 benchmark (b)).

A tiny deblurrer is trained twice with :mod:`camdeblur.methods.supervised`, once on original simulated
pairs (x_i, y_i) and once on blur-swapped pairs (x_i, F(x_i, G(x_j, y_j))) where (x_j, y_j) is another
training pair (a random derangement), and both are evaluated on the same held-out simulated test set
(other photos). Comparable PSNRs mean the encoded kernel space transfers blur faithfully enough to
synthesise training data (the paper: 30.70 vs 29.43 dB on REDS, 30.20 vs 28.49 dB on GOPRO).

For the uniform-PSF camera the swap is also checked against the truth: PSNR(F(x_i, G(x_j, y_j)),
psf_j (*) x_i) vs the do-nothing PSNR(x_i, psf_j (*) x_i).

    OMP_NUM_THREADS=1 python benchmarks/kernel_space_swap.py --kernel-model runs/kernels/model.safetensors
    python benchmarks/kernel_space_swap.py --kernel-steps 1500      # trains the kernel space first

Pairs are written as 16-bit PNG folders under --work (blur/, sharp/) because the supervised trainer
reads paired folders; results go to benchmarks/out/kernel_space_swap.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _corpus import corpus_split

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def _write_pairs(folder: Path, blur: torch.Tensor, sharp: torch.Tensor) -> None:
    from camdeblur.io import to_numpy, write_image

    for sub in ("blur", "sharp"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(len(blur)):
        write_image(folder / "blur" / f"{i:05d}.png", to_numpy(blur[i:i + 1].clamp(0, 1)), bit_depth=16)
        write_image(folder / "sharp" / f"{i:05d}.png", to_numpy(sharp[i:i + 1].clamp(0, 1)), bit_depth=16)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--camera", default="uniform", help="simulator camera preset of the paired data")
    ap.add_argument("--kernel-model", help="trained kernel-space weights (.safetensors); default: train one")
    ap.add_argument("--kernel-steps", type=int, default=1500, help="steps when training the kernel space here")
    ap.add_argument("--pairs", type=int, default=192, help="training pairs rendered")
    ap.add_argument("--size", type=int, default=96, help="size of the rendered training pairs")
    ap.add_argument("--deblur-arch", default="nafnet_tiny")
    ap.add_argument("--deblur-steps", type=int, default=1500)
    ap.add_argument("--deblur-batch", type=int, default=8)
    ap.add_argument("--test", type=int, default=32, help="held-out test pairs (other photos)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", default=str(ROOT / "benchmarks" / "out" / "kernel_space_swap"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "kernel_space_swap.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    import camdeblur
    from camdeblur.engine.optim import EMAConfig, OptimConfig, SchedConfig
    from camdeblur.methods import supervised
    from camdeblur.methods.kernel_space import KernelSpaceConfig, _psnr, convolve_psf
    from camdeblur.methods.kernel_space import train as train_kernels
    from camdeblur.sim import SimulatedPairs
    from camdeblur.sim.psf import psf_from_meta

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    train_ph, test_ph = corpus_split()

    src = SimulatedPairs(camera=a.camera, photos=train_ph, size=a.size, length=a.pairs, seed=a.seed,
                         full_meta=a.camera == "uniform")
    rendered = src.batch(list(range(a.pairs)))
    blur, sharp = torch.stack(list(rendered["blur"])), torch.stack(list(rendered["sharp"]))
    metas = rendered["meta"] if a.camera == "uniform" else None  # the true PSF is known on the uniform camera only

    t0 = time.time()
    if a.kernel_model:
        kw = camdeblur.load_model(weights=a.kernel_model)
        kernel_info = {"weights": a.kernel_model}
    else:
        from camdeblur.methods.supervised import CachedPairs

        class _Raw(torch.utils.data.Dataset):
            def __len__(self):
                return len(blur)

            def __getitem__(self, i):
                return {"blur": blur[i], "sharp": sharp[i]}

        cfg = KernelSpaceConfig()
        cfg.train.steps, cfg.train.val_every, cfg.train.progress = a.kernel_steps, 0, True
        torch.manual_seed(a.seed)
        kw = train_kernels(cfg, work / "kernel_run", dataset=CachedPairs(_Raw(), cfg.data.crop, True))["model"]
        kernel_info = {"trained_steps": a.kernel_steps, "weights": str(work / "kernel_run" / "model.safetensors"),
                       "minutes": (time.time() - t0) / 60}
    kw = kw.eval()

    # blur swap: y^_i = F(x_i, G(x_j, y_j)) with j a derangement of i
    rng = np.random.default_rng(a.seed)
    perm = rng.permutation(a.pairs)
    perm = np.where(perm == np.arange(a.pairs), np.roll(perm, 1), perm)
    swapped = torch.empty_like(blur)
    check_t, check_b = [], []
    with torch.no_grad():
        for i in range(a.pairs):
            j = int(perm[i])
            k = kw(sharp[j:j + 1], blur[j:j + 1])[0]
            swapped[i:i + 1] = kw.apply_kernel(sharp[i:i + 1], k).clamp(0, 1)
            if metas is not None:
                want = convolve_psf(sharp[i:i + 1], psf_from_meta(metas[j]))
                check_t.append(_psnr(swapped[i:i + 1], want))
                check_b.append(_psnr(sharp[i:i + 1], want))
    swap_check = ({"psnr_swapped_vs_true": float(np.mean(check_t)), "psnr_sharp_vs_true": float(np.mean(check_b))}
                  if check_t else None)
    if swap_check:
        print(f"swap quality: PSNR(F(x_i, G(x_j, y_j)), psf_j*x_i) {swap_check['psnr_swapped_vs_true']:.2f} dB "
              f"vs do-nothing {swap_check['psnr_sharp_vs_true']:.2f} dB", flush=True)

    test = SimulatedPairs(camera=a.camera, photos=test_ph, size=128, length=a.test, seed=a.seed + 4242)
    rows = {}
    for name, b in (("original", blur), ("blur-swapped", swapped)):
        folder = work / name.replace("-", "_")
        _write_pairs(folder, b, sharp)
        cfg = supervised.SupervisedConfig()
        cfg.model.arch = a.deblur_arch
        cfg.data.source, cfg.data.crop = str(folder), 64
        cfg.train.steps, cfg.train.batch_size, cfg.train.val_every = a.deblur_steps, a.deblur_batch, 0
        cfg.train.progress, cfg.train.seed = True, a.seed
        # a pinned recipe (AdamW 1e-3, cosine, no EMA), so both rows and reruns share it whatever supervised's defaults
        cfg.train.optim = OptimConfig(name="adamw", lr=1e-3, betas=(0.9, 0.9), weight_decay=0.0, grad_clip=0.0)
        cfg.train.sched = SchedConfig(name="cosine", warmup_steps=0, eta_min=1e-6)
        cfg.train.ema = EMAConfig(enabled=False)
        t1 = time.time()
        summary = supervised.train(cfg, work / f"deblur_{folder.name}")
        net = summary["trainer"].unwrap("net")
        r = supervised.evaluate(net, test)
        r["train_minutes"] = (time.time() - t1) / 60
        rows[name] = r
        print(f"{name:13s} test PSNR {r['psnr']:.2f} dB (input {r['psnr_input']:.2f}, gain {r['psnr_gain']:+.2f}),"
              f" SSIM {r['ssim']:.4f}; {a.deblur_steps} steps in {r['train_minutes']:.1f} min", flush=True)
    res = {"args": vars(a), "kernel_model": kernel_info, "swap_check": swap_check, "rows": rows}
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
