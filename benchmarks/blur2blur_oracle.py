"""Upper bound of Blur2Blur on the miniature benchmark: the oracle translator.

For every test crop of an unknown camera (the bench's test set: ``test_size`` px, ``test_items`` crops,
seed + 777) the known camera (gopro) re-renders *the same source window* of the same photo (same crop origin,
same boosted light sources), i.e. what a perfect translator G_t would output. Rows, PSNR vs the camera's
sharp target:

- ``input``, ``direct`` (known-domain deblurrer on y), ``blur2blur`` (on a trained translator's G_t(y), when
  ``--translators`` is given), ``translated`` (G_t(y) itself),
- ``oracle`` (the gopro render itself) and ``oracle_deblurred`` (known-domain deblurrer on it).

A crop in which the two cameras drew a different moving object has a different sharp frame; ``same_scene_*``
restricts every row to the crops whose sharp frames agree (> 60 dB), where the oracle is exact.

    python benchmarks/blur2blur_oracle.py --bench OUT                      # OUT = a `camdeblur bench blur2blur` folder
    python benchmarks/blur2blur_oracle.py --bench OUT --deblurrer other.safetensors --translators OUT

The oracle renders come from ``SimulatedPairs.batch(..., exposed_by=known)``; CPU, one thread.
"""

from __future__ import annotations

import argparse
import json

import torch


def oracle_rows(bench: str, camera: str, deblurrer: str, translators: str | None, known: str = "gopro",
                size: int = 192, n: int = 24, seed: int = 777) -> dict:
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

    preds = {"input": y, "direct": deb(y), "oracle": oracle, "oracle_deblurred": deb(oracle)}
    if translators:
        G = load_model(weights=f"{translators}/{camera}/blur2blur/translator.safetensors").eval()
        with torch.no_grad():
            t = torch.cat([b2b.translate(G, y[j:j + 8]) for j in range(0, n, 8)])
        preds.update(translated=t, blur2blur=deb(t))
    same = psnr(sharp_k, x) > 60
    out: dict = {"items": n, "same_scene_items": int(same.sum())}
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
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    deb = a.deblurrer or f"{a.bench}/shared/known_deblurrer/model.safetensors"
    res = {c: oracle_rows(a.bench, c, deb, a.translators) for c in (a.camera or ["phone", "rsblur"])}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
