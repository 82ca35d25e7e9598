"""Blind deblurring in the kernel space (issue 5, benchmark (c)): PSNR vs seconds, original recipe vs ours.

A frozen kernel-space model F/G (``--kernel-model``, or trained here on the simulator's domain
through ``camdeblur.methods.kernel_space.train`` with ``--train-steps`` / ``--train-set``) deblurs
``--images`` held-out simulated images (photos of ``../shared/corpus/photos`` never used for
training F, ``--camera`` uniform or gopro, ``--size`` px). Methods (``--methods``):

    original    paper/official recipe: image DIP + kernel DIP, 300+300 warm-up, 5000 joint Adam steps
                (``--original-steps`` to truncate it on a CPU; the history still gives PSNR vs seconds)
    fast        our preset (direct x from a mildly unsharp-masked y, direct k from G(x0, y), 150 steps)
    variants    the steps towards it: fast-blurry (x0 = y, k0 = G(y, y)), fast-dipx (fast with the image
                DIP back), fast-alt (alternating k/x updates), fast-300 (twice the steps),
                fast-lr3e-4 (100 smaller x steps),
                fast-xlr1e-2 / fast-xlr1e-3 (x learning rate), fast-xlr1e-3-blurry (x0 = y)
    oracle-k    not blind: k fixed at G(x_true, y) -- the best F can do with a perfect kernel

Also the kernel-retrieval check (paper Table 3): PSNR(F(x, k), y) with k = G(x, y) and after
optimising k alone (``retrieve_kernel``), on the same pairs.

    OMP_NUM_THREADS=1 python benchmarks/kernel_space_blind.py --kernel-model F.safetensors --size 128 \\
        --images 5 --original-steps 5000 --threads 1

Prints one row per method: mean input PSNR, PSNR after the run, seconds per image (this machine,
the thread count given), and PSNR reached at a few wall-clock marks; writes everything (per-image
histories included) to ``benchmarks/out/kernel_space_blind.json``.
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


def method_configs(names: list[str], original_steps: int, original_warmup: int):
    from camdeblur.methods.kernel_space_deblur import preset

    table = {
        "original": lambda: preset("original", steps=original_steps, warmup_steps=original_warmup,
                                   log_every=max(original_steps // 20, 1)),
        "fast": lambda: preset("fast"),
        "fast-blurry": lambda: preset("fast", x_init="blurry", k_init="identity"),
        "fast-dipx": lambda: preset("fast", x_param="dip", warmup_steps=100, x_lr=5e-3),
        "fast-alt": lambda: preset("fast", schedule="alternate", k_steps=2),
        "fast-300": lambda: preset("fast", steps=300, log_every=20),
        "fast-lr3e-4": lambda: preset("fast", steps=100, x_lr=3e-4),
        "fast-xlr1e-2": lambda: preset("fast", x_lr=1e-2),
        "fast-xlr1e-3": lambda: preset("fast", x_lr=1e-3),
        "fast-xlr1e-3-blurry": lambda: preset("fast", x_lr=1e-3, x_init="blurry"),
        "oracle-k": lambda: preset("fast", fixed_k_steps=10 ** 9),
    }
    bad = [n for n in names if n not in table]
    if bad:
        raise SystemExit(f"unknown method(s) {bad}; choose from {list(table)}")
    return {n: table[n]() for n in names}


def psnr_at(history: list[dict], seconds: float) -> float | None:
    """PSNR of the last history entry logged at or before ``seconds`` (None if none yet)."""
    got = [h["psnr"] for h in history if h["seconds"] <= seconds]
    return got[-1] if got else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--kernel-model", default=None, help="trained KernelWizard weights (else trained here)")
    ap.add_argument("--train-steps", type=int, default=2000)
    ap.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                    help="overrides of KernelSpaceConfig for training F here (repeatable)")
    ap.add_argument("--camera", default="uniform", help="simulated camera of the test images (uniform, gopro)")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--images", type=int, default=5)
    ap.add_argument("--methods", default="original,fast,fast-blurry,fast-dipx,fast-alt,fast-300,oracle-k")
    ap.add_argument("--original-steps", type=int, default=5000)
    ap.add_argument("--original-warmup", type=int, default=300)
    ap.add_argument("--retrieve-steps", type=int, default=100)
    ap.add_argument("--marks", default="5,10,30,60,300", help="wall-clock marks (s) for the PSNR-vs-seconds columns")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "kernel_space_blind.json"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)

    import camdeblur
    from camdeblur.methods.kernel_space import retrieve_kernel
    from camdeblur.methods.kernel_space_deblur import blind_deblur
    from camdeblur.sim import SimulatedPairs

    train_ph, test_ph = corpus_split()

    train_info = {}
    if a.kernel_model:
        model = camdeblur.load_model(weights=a.kernel_model)
        train_info["weights"] = a.kernel_model
    else:
        from camdeblur.engine.config import load_config
        from camdeblur.methods.kernel_space import KernelSpaceConfig, train

        # KernelSpaceConfig's defaults (model, crops, lr, ...) + the camera, the steps and --train-set
        over = ["data.source=sim:" + a.camera, f"train.steps={a.train_steps}", "train.val_every=0",
                "train.log_every=100", *a.train_set]
        cfg = load_config(KernelSpaceConfig, None, over)
        cfg.data.photos = train_ph
        run_dir = ROOT / "benchmarks" / "out" / "kernel_space_blind_F"
        torch.manual_seed(0)
        t0 = time.time()
        model = train(cfg, run_dir, resume=(run_dir / "checkpoints" / "last.pt").exists())["model"]
        train_info = {"steps": a.train_steps, "overrides": over, "minutes": (time.time() - t0) / 60,
                      "weights": str(run_dir / "model.safetensors")}
        print(f"trained F: {a.train_steps} steps in {train_info['minutes']:.1f} min -> {train_info['weights']}")
    model.eval()

    ds = SimulatedPairs(camera=a.camera, photos=test_ph, size=a.size, length=a.images, seed=7)
    items = [ds[i] for i in range(a.images)]
    from camdeblur.eval.metrics import psnr

    def p(u, v):
        return float(psnr(u.clamp(0, 1), v.clamp(0, 1)).mean())

    # kernel retrieval (Table 3) on the same pairs
    ret = []
    for it in items:
        x, y = it["sharp"][None], it["blur"][None]
        _, r = retrieve_kernel(model, x, y, steps=a.retrieve_steps)
        r["psnr_do_nothing"] = p(x, y)
        with torch.no_grad():  # does F use k at all? F(x, 0) is F with the kernel switched off
            k = model.encode(x, y)[0]
            r["psnr_k_zero"] = p(model.apply_kernel(x, torch.zeros_like(k)), y)
        ret.append(r)
    print(f"kernel retrieval ({a.images} pairs): PSNR(x, y) {np.mean([r['psnr_do_nothing'] for r in ret]):.2f}  "
          f"PSNR(F(x, G(x, y)), y) {np.mean([r['psnr_init'] for r in ret]):.2f}  "
          f"after {a.retrieve_steps} k-steps {np.mean([r['psnr'] for r in ret]):.2f}  "
          f"(F(x, 0) {np.mean([r['psnr_k_zero'] for r in ret]):.2f}: equal to G's => F ignores k)")

    marks = [float(m) for m in a.marks.split(",") if m]
    configs = method_configs([m for m in a.methods.split(",") if m], a.original_steps, a.original_warmup)
    rows, per_image = [], {}
    head = f"{'method':12s} {'steps':>6s} {'input':>6s} {'start':>6s} {'final':>6s} {'gain':>6s} {'s/img':>7s} " + \
        " ".join(f"{'@' + format(m, 'g') + 's':>6s}" for m in marks)
    print(head)
    for name, cfg in configs.items():
        finals, starts, inputs, secs, hists = [], [], [], [], []
        for it in items:
            x_true, y = it["sharp"][None], it["blur"][None]
            k_init = None
            if name == "oracle-k":
                with torch.no_grad():
                    k_init = model.encode(x_true, y)[0]
            t0 = time.perf_counter()
            x, _, hist = blind_deblur(model, y, cfg, k_init=k_init, reference=x_true)
            secs.append(time.perf_counter() - t0)
            finals.append(p(x, x_true))
            starts.append(hist[0]["psnr"])
            inputs.append(p(y, x_true))
            hists.append(hist)
        at = [np.mean([v if (v := psnr_at(h, m)) is not None else np.nan for h in hists]) for m in marks]
        row = {"method": name, "steps": cfg.steps, "warmup_steps": cfg.warmup_steps, "psnr_input": float(np.mean(inputs)),
               "psnr_start": float(np.mean(starts)), "psnr": float(np.mean(finals)),
               "gain": float(np.mean(finals) - np.mean(inputs)), "seconds_per_image": float(np.mean(secs)),
               "psnr_at_seconds": dict(zip([str(m) for m in marks], [None if np.isnan(v) else float(v) for v in at])),
               "config": {k: (v if not hasattr(v, "__dataclass_fields__") else vars(v)) for k, v in vars(cfg).items()}}
        rows.append(row)
        per_image[name] = hists
        print(f"{name:12s} {cfg.steps:6d} {row['psnr_input']:6.2f} {row['psnr_start']:6.2f} {row['psnr']:6.2f} "
              f"{row['gain']:+6.2f} {row['seconds_per_image']:7.1f} "
              + " ".join("   -  " if np.isnan(v) else f"{v:6.2f}" for v in at), flush=True)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(a), "train": train_info, "threads": a.threads,
                               "retrieval": ret, "rows": rows, "histories": per_image}, indent=1, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
