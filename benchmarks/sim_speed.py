"""Camera simulator benchmark: 256x256 pairs per second per preset, and what each preset does.

For every preset it prints: throughput (one process with 1 and with 2 torch threads, and 2
processes x 1 thread — the "2 cores" figure; the target is >= 20 pairs/s for gopro), the
distribution of PSNR(blur, sharp), the blur length (path of the centre pixel during the exposure),
the share of samples with a moving object, the predicted noise std on a mid-grey patch, and JPEG use.
Writes ``benchmarks/out/sim_speed.json`` and the preview figure ``benchmarks/out/sim_preview.png``.

    python benchmarks/sim_speed.py                 # 96 samples per preset for the statistics
    python benchmarks/sim_speed.py --num 32 --cameras gopro phone
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

OUT = Path(__file__).resolve().parent / "out"


def _render(args):
    """Worker: render items ``idx`` of a SimulatedPairs with one torch thread; returns seconds."""
    camera, size, idx, seed, batch = args
    torch.set_num_threads(1)
    from camdeblur.sim import SimulatedPairs

    ds = SimulatedPairs(camera, size=size, length=max(idx) + 1, seed=seed)
    ds.batch(idx[:2])  # warm-up
    t = time.perf_counter()
    for s in range(0, len(idx), batch):
        ds.batch(idx[s:s + batch])
    return time.perf_counter() - t


def throughput(camera: str, size: int, n: int, seed: int, batch: int, threads: int) -> float:
    from camdeblur.sim import SimulatedPairs
    from camdeblur.sim.exposure import render_batch

    ds = SimulatedPairs(camera, size=size, length=n, seed=seed)
    render_batch(ds.photos[:2], ds.camera, [0, 1], size=size, threads=threads)  # warm-up
    t = time.perf_counter()
    for s in range(0, n, batch):
        idx = list(range(s, min(n, s + batch)))
        p = [i % len(ds.photos) for i in idx]
        render_batch([ds.photos[j] for j in p], ds.camera, [(seed, i) for i in idx], size=size, threads=threads)
    return n / (time.perf_counter() - t)


def two_processes(camera: str, size: int, n: int, seed: int, batch: int) -> float:
    halves = [list(range(0, n, 2)), list(range(1, n, 2))]
    ctx = mp.get_context("fork")
    t = time.perf_counter()
    with ctx.Pool(2) as pool:
        pool.map(_render, [(camera, size, h, seed, batch) for h in halves])
    return n / (time.perf_counter() - t)


def statistics(camera: str, size: int, n: int, seed: int, batch: int) -> dict:
    from camdeblur.sim import SimulatedPairs, expected_noise_std

    ds = SimulatedPairs(camera, size=size, length=n, seed=seed)
    psnr, length, noise, objects, jpeg, subframes = [], [], [], 0, 0, []
    for s in range(0, n, batch):
        b = ds.batch(range(s, min(n, s + batch)))
        mse = ((b["blur"].double() - b["sharp"].double()) ** 2).mean((1, 2, 3)).clamp_min(1e-12)
        psnr += (10 * torch.log10(1 / mse)).tolist()
        for m in b["meta"]:
            length.append(m.get("blur_length_px", 0.0))
            subframes.append(m.get("subframes", 1))
            if m.get("kernel"):  # uniform: the PSF's spread stands in for the path length
                k = np.asarray(m["kernel"]["psf"])
                yy, xx = np.mgrid[:k.shape[0], :k.shape[1]]
                length[-1] = float(2 * np.sqrt((k * ((xx - (k * xx).sum()) ** 2 + (yy - (k * yy).sum()) ** 2)).sum()))
            noise.append(expected_noise_std(0.5, ds.camera, m["noise"]["shot"], m["noise"]["read"]))
            objects += m.get("object") is not None
            jpeg += m.get("jpeg_quality") is not None
    q = lambda a, p: float(np.percentile(a, p))  # noqa: E731
    return {"psnr_mean": float(np.mean(psnr)), "psnr_std": float(np.std(psnr)), "psnr_p10": q(psnr, 10),
            "psnr_p50": q(psnr, 50), "psnr_p90": q(psnr, 90), "blur_len_mean": float(np.mean(length)),
            "blur_len_p10": q(length, 10), "blur_len_p50": q(length, 50), "blur_len_p90": q(length, 90),
            "subframes_mean": float(np.mean(subframes)), "noise_std_mid_grey": float(np.mean(noise)),
            "object_share": objects / n, "jpeg_share": jpeg / n, "n": n}


def main() -> None:
    from camdeblur.sim import list_cameras, write_preview

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", nargs="*", default=None)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--num", type=int, default=96, help="samples per preset for the statistics")
    ap.add_argument("--speed-num", type=int, default=48, help="samples per preset per speed measurement")
    ap.add_argument("--speed-num-2threads", type=int, default=16,
                    help="samples for the 2-thread run (slow when other processes share the cores)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cams = args.cameras or list_cameras()
    load0 = os.getloadavg()
    print(f"machine: {platform.processor() or platform.machine()}, os.cpu_count={os.cpu_count()}, "
          f"torch {torch.__version__}, torch default threads={torch.get_num_threads()}, "
          f"load average at start {load0[0]:.2f}/{load0[1]:.2f}/{load0[2]:.2f} (other developers share the CPU)")
    print(f"size {args.size}x{args.size}, batch {args.batch}, {args.speed_num} pairs per speed run, "
          f"{args.num} pairs for statistics, seed {args.seed}\n")
    rows = {}
    head = (f"{'camera':8s} {'1thr p/s':>8s} {'2thr p/s':>8s} {'2proc p/s':>9s} | {'PSNR mean±std':>14s} "
            f"{'p10':>6s} {'p50':>6s} {'p90':>6s} | {'len mean':>8s} {'p10':>5s} {'p50':>5s} {'p90':>5s} "
            f"{'subfr':>5s} | {'noise@0.5':>9s} {'obj':>4s} {'jpeg':>4s}")
    print(head)
    print("-" * len(head))
    for c in cams:
        r = {"pairs_per_s_1thread": throughput(c, args.size, args.speed_num, args.seed, args.batch, 1),
             "pairs_per_s_2threads": throughput(c, args.size, args.speed_num_2threads, args.seed, args.batch, 2),
             "pairs_per_s_2processes": two_processes(c, args.size, args.speed_num, args.seed, args.batch)}
        r.update(statistics(c, args.size, args.num, args.seed + 1, args.batch))
        rows[c] = r
        print(f"{c:8s} {r['pairs_per_s_1thread']:8.1f} {r['pairs_per_s_2threads']:8.1f} "
              f"{r['pairs_per_s_2processes']:9.1f} | {r['psnr_mean']:7.2f}±{r['psnr_std']:5.2f} "
              f"{r['psnr_p10']:6.2f} {r['psnr_p50']:6.2f} {r['psnr_p90']:6.2f} | {r['blur_len_mean']:8.1f} "
              f"{r['blur_len_p10']:5.1f} {r['blur_len_p50']:5.1f} {r['blur_len_p90']:5.1f} "
              f"{r['subframes_mean']:5.1f} | {r['noise_std_mid_grey']:9.4f} {r['object_share']:4.2f} "
              f"{r['jpeg_share']:4.2f}", flush=True)
    load1 = os.getloadavg()
    order = sorted(rows, key=lambda k: -rows[k]["psnr_mean"])
    print(f"\nmean PSNR(blur, sharp) order, highest first: {' > '.join(order)}")
    print(f"load average at end {load1[0]:.2f}/{load1[1]:.2f}/{load1[2]:.2f}")
    print("len = path length (px) of the centre pixel during the exposure (uniform: 2x PSF radius of gyration); "
          "noise@0.5 = predicted std of the blurry image on a mid-grey patch (display units)")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sim_speed.json").write_text(json.dumps({"size": args.size, "rows": rows, "load_start": load0,
                                                    "load_end": load1, "threads_default": torch.get_num_threads()},
                                                   indent=1))
    p = write_preview(OUT / "sim_preview.png", cams, seed=args.seed, size=192)
    print(f"wrote {OUT / 'sim_speed.json'} and preview {p}")


if __name__ == "__main__":
    main()
