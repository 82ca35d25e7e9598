"""Blur transfer on the uniform-PSF domain (issue 5, benchmark (a)): per-PSF transfer PSNR.

Trains a KernelWizard on the simulator's uniform domain (``sim:uniform``: random shake PSFs) from the
training photos of ``../shared/corpus/photos``, then for each held-out PSF of
``../shared/kernels/psf.npz`` (never seen: the training PSFs are random) and held-out photos:

    source pair (x, y = psf (*) x), target x^ (another held-out photo, another size)
    PSNR(F(x^, G(x, y)), psf (*) x^)   vs   PSNR(x^, psf (*) x^)   (gain = transfer - do nothing)
    and content: PSNR(F(x^, G(x, x)), x^)

    python benchmarks/kernel_space_transfer.py --steps 600 --kernels 10 [--arch kernel_wizard_tiny]

Prints one row per PSF and the means, plus training wall time (minutes), and writes JSON to
benchmarks/out/kernel_space_transfer.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--cache", type=int, default=96, help="training pairs rendered once")
    ap.add_argument("--kernels", type=int, default=10, help="held-out PSFs of psf.npz to evaluate")
    ap.add_argument("--arch", default="kernel_wizard_tiny")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "kernel_space_transfer.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    from camdeblur.methods.kernel_space import KernelSpaceConfig, convolve_psf, evaluate_transfer, train
    from camdeblur.methods.supervised import CachedPairs
    from camdeblur.sim import SimulatedPairs, split_photos
    from camdeblur.sim.psf import load_kernels

    photos = sorted(str(p) for p in (SHARED / "corpus" / "photos").iterdir())
    split = split_photos([Path(p).name for p in photos], {"train": 0.75, "test": 0.25}, seed=0)
    train_ph, test_ph = [photos[i] for i in split["train"]], [photos[i] for i in split["test"]]

    t0 = time.time()
    data = CachedPairs(SimulatedPairs(camera="uniform", photos=train_ph, size=a.crop + 32, length=a.cache, seed=0),
                       a.crop, True)
    t_cache = time.time() - t0
    cfg = KernelSpaceConfig()
    cfg.model.arch = a.arch
    cfg.train.steps, cfg.train.batch_size, cfg.train.optim.lr = a.steps, a.batch, a.lr
    cfg.train.val_every, cfg.train.log_every, cfg.train.progress = 0, 50, True
    torch.manual_seed(0)
    t0 = time.time()
    model = train(cfg, None, dataset=data)["model"].eval()
    t_train = time.time() - t0

    # held-out sharp crops: sources 128x160, targets 100x120 (not multiples of 128)
    src = SimulatedPairs(camera="uniform", photos=test_ph, size=(128, 160), length=8, seed=101)
    tgt = SimulatedPairs(camera="uniform", photos=test_ph, size=(100, 120), length=8, seed=202)
    sharp_src = [src[i]["sharp"] for i in range(len(src))]
    sharp_tgt = [tgt[(i + 3) % len(tgt)]["sharp"] for i in range(len(tgt))]
    kernels = load_kernels(SHARED / "kernels" / "psf.npz")[: a.kernels]
    rows = []
    for ki, psf in enumerate(kernels):
        pairs = [{"sharp": s, "blur": convolve_psf(s[None], psf)[0]} for s in sharp_src]
        r = evaluate_transfer(model, pairs, sharp_tgt, [psf] * len(pairs))
        r.update(kernel=ki, size=int(psf.shape[0]))
        rows.append(r)
        print(f"psf {ki:3d} ({psf.shape[0]:2d}px)  transfer {r['psnr_transfer']:6.2f}  do-nothing {r['psnr_input']:6.2f}"
              f"  gain {r['gain']:+6.2f}  content {r['psnr_identity']:6.2f}", flush=True)
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("psnr_transfer", "psnr_input", "gain", "psnr_identity")}
    print(f"mean  transfer {mean['psnr_transfer']:.2f}  do-nothing {mean['psnr_input']:.2f}  gain {mean['gain']:+.2f}"
          f"  content {mean['psnr_identity']:.2f}   training {t_train / 60:.1f} min ({a.steps} steps, {a.arch},"
          f" {a.threads} threads), cache {t_cache:.0f} s")
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(a), "train_minutes": t_train / 60, "mean": mean, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
