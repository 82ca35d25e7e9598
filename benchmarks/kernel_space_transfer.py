"""Blur transfer on the uniform-PSF domain (issue 5, benchmark (a)): per-PSF transfer PSNR.

Trains a KernelWizard on the simulator's uniform domain (``sim:uniform``: random shake PSFs) from the
training photos of ``../shared/corpus/photos``, then for each held-out PSF of
``../shared/kernels/psf.npz`` (never seen: the training PSFs are random) and held-out photos:

    source pair (x, y = psf (*) x), target x^ (another held-out photo, another size)
    PSNR(F(x^, G(x, y)), psf (*) x^)   vs   PSNR(x^, psf (*) x^)   (gain = transfer - do nothing)
    and content: PSNR(F(x^, G(x, x)), x^)

    python benchmarks/kernel_space_transfer.py --steps 3000 --kernels 10
    python benchmarks/kernel_space_transfer.py --model runs/kernels/model.safetensors   # evaluate only

Defaults are the training recipe of :mod:`camdeblur.methods.kernel_space` (``kernel_wizard_small``,
64-px crops, batch 4, lr 2e-3, cosine). Kernels are spread evenly over the 100 PSFs of psf.npz
(sorted by size). Prints one row per PSF and the means, plus training wall time (minutes), writes
JSON to benchmarks/out/kernel_space_transfer.json and the trained weights beside it (--save).
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=None, help="default: the module's recipe")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--crop", type=int, default=None)
    ap.add_argument("--cache", type=int, default=192, help="training pairs rendered once (160 px)")
    ap.add_argument("--kernels", type=int, default=10, help="held-out PSFs of psf.npz to evaluate")
    ap.add_argument("--arch", default=None)
    ap.add_argument("--model", help="evaluate these trained weights instead of training")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--save", default=str(ROOT / "benchmarks" / "out" / "kernel_space_transfer.safetensors"))
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "kernel_space_transfer.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    from camdeblur.methods.kernel_space import KernelSpaceConfig, convolve_psf, evaluate_transfer, train
    from camdeblur.methods.supervised import CachedPairs
    from camdeblur.sim import SimulatedPairs
    from camdeblur.sim.psf import load_kernels

    train_ph, test_ph = corpus_split()

    cfg = KernelSpaceConfig()
    for key, val in (("arch", a.arch),):
        if val is not None:
            setattr(cfg.model, key, val)
    if a.lr is not None:
        cfg.train.optim.lr = a.lr
    if a.batch is not None:
        cfg.train.batch_size = a.batch
    crop = a.crop or cfg.data.crop
    t_cache = t_train = 0.0
    if a.model:
        import camdeblur

        model = camdeblur.load_model(weights=a.model).eval()
        a.steps = 0
    else:
        t0 = time.time()
        data = CachedPairs(SimulatedPairs(camera="uniform", photos=train_ph, size=max(160, crop), length=a.cache,
                                          seed=a.seed), crop, True)
        t_cache = time.time() - t0
        cfg.data.crop = crop
        cfg.train.steps = a.steps
        cfg.train.val_every, cfg.train.log_every, cfg.train.progress = 0, 50, True
        torch.manual_seed(a.seed)
        t0 = time.time()
        model = train(cfg, None, dataset=data)["model"].eval()
        t_train = time.time() - t0
        if a.save:
            from camdeblur.nets import save_model

            Path(a.save).parent.mkdir(parents=True, exist_ok=True)
            save_model(model, a.save)

    # held-out sharp crops: sources 128x160, targets 100x120 (not multiples of 128)
    src = SimulatedPairs(camera="uniform", photos=test_ph, size=(128, 160), length=8, seed=101)
    tgt = SimulatedPairs(camera="uniform", photos=test_ph, size=(100, 120), length=8, seed=202)
    sharp_src = [src[i]["sharp"] for i in range(len(src))]
    sharp_tgt = [tgt[(i + 3) % len(tgt)]["sharp"] for i in range(len(tgt))]
    every = load_kernels(SHARED / "kernels" / "psf.npz")
    order = sorted(range(len(every)), key=lambda i: (every[i].shape[0], i))
    picks = [order[int(round(t))] for t in np.linspace(0, len(order) - 1, a.kernels)]
    kernels = [every[i] for i in picks]
    rows = []
    for ki, psf in enumerate(kernels):
        pairs = [{"sharp": s, "blur": convolve_psf(s[None], psf)[0]} for s in sharp_src]
        r = evaluate_transfer(model, pairs, sharp_tgt, [psf] * len(pairs))
        ki = picks[ki]
        r.update(kernel=ki, size=int(psf.shape[0]))
        rows.append(r)
        print(f"psf {ki:3d} ({psf.shape[0]:2d}px)  transfer {r['psnr_transfer']:6.2f}  do-nothing {r['psnr_input']:6.2f}"
              f"  gain {r['gain']:+6.2f}  content {r['psnr_identity']:6.2f}  kernel effect {r['psnr_kernel_effect']:6.1f}",
              flush=True)
    mean = {k: float(np.mean([r[k] for r in rows]))
            for k in ("psnr_transfer", "psnr_input", "gain", "psnr_identity", "psnr_kernel_effect")}
    print(f"mean  transfer {mean['psnr_transfer']:.2f}  do-nothing {mean['psnr_input']:.2f}  gain {mean['gain']:+.2f}"
          f"  content {mean['psnr_identity']:.2f}   training {t_train / 60:.1f} min ({a.steps} steps, "
          f"{a.model or cfg.model.arch}, {a.threads} threads), cache {t_cache:.0f} s")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(a), "train_minutes": t_train / 60, "mean": mean, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
