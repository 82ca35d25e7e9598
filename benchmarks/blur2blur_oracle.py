"""Upper bound of Blur2Blur on the miniature benchmark: the oracle translator.

For every test crop of an unknown camera (the bench's test set: ``test_size`` px, ``test_items`` crops,
seed + 777) the known camera (gopro) re-renders *the same source window* of the same photo (same crop origin,
same boosted light sources), i.e. what a perfect translator G_t would output. Rows, PSNR vs the camera's
sharp target:

- ``input``, ``direct`` (known-domain deblurrer on y), ``blur2blur`` (on a trained translator's G_t(y), when
  ``--translators`` is given), ``translated`` (G_t(y) itself),
- ``oracle`` (the gopro render itself) and ``oracle_deblurred`` (known-domain deblurrer on it).

- ``paired_translated`` / ``paired_blur2blur`` (with ``--paired-steps N``): the mini translator (same
  architecture and identity init) trained *with pairs* for N steps (MSE between G_t(y) and the same window
  exposed by the known camera, renders of the bench's B photos): how far the translator network itself can
  go at that budget, with the GAN replaced by supervision.

A crop in which the two cameras drew a different moving object has a different sharp frame; ``same_scene_*``
restricts every row to the crops whose sharp frames agree (> 60 dB), where the oracle is exact.

    python benchmarks/blur2blur_oracle.py --bench OUT                      # OUT = a `camdeblur bench blur2blur` folder
    python benchmarks/blur2blur_oracle.py --bench OUT --deblurrer other.safetensors --translators OUT
    python benchmarks/blur2blur_oracle.py --bench OUT --camera phone --paired-steps 1500

The oracle renders come from ``SimulatedPairs.batch(..., exposed_by=known)``; CPU, one thread.
"""

from __future__ import annotations

import argparse
import json

import torch


def paired_translator(bench: str, camera: str, known: str, steps: int, seed: int = 0, items: int = 256,
                      size: int = 96, crop: int = 48, batch: int = 8, lr: float = 2e-3, sets: list[str] | None = None):
    """The mini-preset translator (+ Blur2Blur config ``sets``, e.g. ``translator.args={width: 16, ...}``)
    trained on (y, same window exposed by ``known``) pairs of the B photos."""
    import torch.nn.functional as F

    from camdeblur.engine.config import load_config
    from camdeblur.eval.metrics import psnr
    from camdeblur.methods import blur2blur as b2b
    from camdeblur.sim import SimulatedPairs

    torch.manual_seed(seed)
    ds = SimulatedPairs(camera, photos=f"{bench}/photos/B", size=size, length=items, seed=seed + 4242)
    ys, ks = [], []
    for a in range(0, items, 32):
        idx = list(range(a, min(items, a + 32)))
        own, k = ds.batch(idx), ds.batch(idx, exposed_by=known)
        same = psnr(k["sharp"], own["sharp"]) > 60   # same scene (no other moving object), as in oracle_rows
        ys.append(own["blur"][same].clamp(0, 1))
        ks.append(k["blur"][same].clamp(0, 1))
    y, k = torch.cat(ys), torch.cat(ks)
    G, _ = b2b.build_nets(load_config(b2b.Blur2BlurConfig, None, [*b2b.preset_overrides("mini"), *(sets or [])]))
    opt = torch.optim.Adam(G.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: b2b.lr_factor(i, steps, 0.5))
    g = torch.Generator().manual_seed(seed)
    G.train()
    for _ in range(steps):
        j = torch.randint(len(y), (batch,), generator=g)
        o = torch.randint(size - crop + 1, (2,), generator=g)
        yy = y[j, :, o[0]:o[0] + crop, o[1]:o[1] + crop]
        kk = k[j, :, o[0]:o[0] + crop, o[1]:o[1] + crop]
        loss = F.mse_loss(b2b.translate(G, yy, clamp=False), kk)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(G.parameters(), 1.0)
        opt.step()
        sched.step()
    return G.eval(), len(y)


def oracle_rows(bench: str, camera: str, deblurrer: str, translators: str | None, known: str = "gopro",
                size: int = 192, n: int = 24, seed: int = 777, paired_steps: int = 0,
                paired_sets: list[str] | None = None) -> dict:
    from camdeblur.eval.metrics import psnr, ssim
    from camdeblur.methods import blur2blur as b2b
    from camdeblur.nets.pipeline import _restore
    from camdeblur.nets.registry import load_model
    from camdeblur.sim import SimulatedPairs

    net = load_model(weights=deblurrer).eval()
    ds = SimulatedPairs(camera, photos=f"{bench}/photos/test", size=size, length=n, seed=seed)
    b = ds.batch(list(range(n)))
    k = ds.batch(list(range(n)), exposed_by=known)   # the same source windows exposed by the known camera
    x, y = b["sharp"], b["blur"].clamp(0, 1)
    oracle, sharp_k = k["blur"].clamp(0, 1), k["sharp"].clamp(0, 1)

    def deb(v):
        with torch.no_grad():
            return torch.cat([_restore(net, v[j:j + 8]).clamp(0, 1) for j in range(0, len(v), 8)])

    def translate_all(G):
        with torch.no_grad():
            return torch.cat([b2b.translate(G, y[j:j + 8]) for j in range(0, n, 8)])

    preds = {"input": y, "direct": deb(y), "oracle": oracle, "oracle_deblurred": deb(oracle)}
    if translators:
        t = translate_all(load_model(weights=f"{translators}/{camera}/blur2blur/translator.safetensors").eval())
        preds.update(translated=t, blur2blur=deb(t))
    paired_items = None
    if paired_steps:
        Gp, paired_items = paired_translator(bench, camera, known, paired_steps, sets=paired_sets)
        t = translate_all(Gp)
        preds.update(paired_translated=t, paired_blur2blur=deb(t))
    same = psnr(sharp_k, x) > 60
    out: dict = {"items": n, "same_scene_items": int(same.sum())}
    if paired_steps:
        out.update(paired_steps=paired_steps, paired_train_pairs=paired_items, paired_sets=paired_sets or [])
    for k, v in preds.items():
        out[k] = round(float(psnr(v, x).mean()), 3)
        out[k + "_ssim"] = round(float(ssim(v, x).mean()), 4)
        if same.any():
            out["same_scene_" + k] = round(float(psnr(v[same], x[same]).mean()), 3)
    out["oracle_gain_over_direct"] = round(out["oracle_deblurred"] - out["direct"], 3)
    if same.any():
        out["same_scene_oracle_gain_over_direct"] = round(out["same_scene_oracle_deblurred"] - out["same_scene_direct"], 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bench", required=True, help="a camdeblur bench blur2blur output folder")
    ap.add_argument("--camera", action="append", default=[], help="unknown camera (default phone, rsblur)")
    ap.add_argument("--deblurrer", help="known-domain deblurrer (default BENCH/shared/known_deblurrer/model.safetensors)")
    ap.add_argument("--translators", help="folder with <camera>/blur2blur/translator.safetensors (default none)")
    ap.add_argument("--paired-steps", type=int, default=0, help="also train the translator with pairs (N steps)")
    ap.add_argument("--paired-set", action="append", default=[], help="Blur2Blur config override of that translator")
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    deb = a.deblurrer or f"{a.bench}/shared/known_deblurrer/model.safetensors"
    res = {c: oracle_rows(a.bench, c, deb, a.translators, paired_steps=a.paired_steps,
                         paired_sets=a.paired_set) for c in (a.camera or ["phone", "rsblur"])}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
