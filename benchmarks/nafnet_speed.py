"""Benchmark: NAFNet-GoPro-width32 eval forward on CPU, as a fraction of plain-convolution throughput.

Metric (issue 4): achieved GFLOP/s of the network forward at 256x256 (FLOPs counted with
``torch.utils.flop_counter.FlopCounterMode``) divided by the GFLOP/s of a plain 3x3 conv
(64->64 channels, 256x256) measured in the same run. The machine is shared, so every round times
the reference conv right before the variants and the ratio is taken per round; the report gives the
median over rounds.

Variants:
  official       the reference forward (what the official code does), eval + inference_mode
  channels_last  the same forward with channels-last weights/input
  fast_portable  ``model.fast(onednn=False)``: LayerNorm affine folded into the next 1x1 conv,
                 beta/gamma folded into the previous one, 1x1 convs as GEMMs on the channels-last
                 layout, fused LayerNorm (the path used on CUDA / under autocast)
  fast           ``model.fast()`` (the default of ``model.deblur``): as fast_portable, but on CPU the
                 GEMMs and depthwise convs are pre-packed oneDNN primitives with bias, SimpleGate
                 product and residual add fused as post-ops, SCA scale folded into conv3's weight
  fast+compile   (``--compile``) ``torch.compile(model.fast())`` (traces the portable path; needs a
                 C++ compiler; compile time is printed, not counted)

What was tried on this machine (2026-11-25, shared and loaded, so only relative numbers): the
oneDNN ``fast`` path beat ``fast_portable`` by ~5-10% and ``official`` by ~1.6x at 256x256 (1.7x at
1280x720); ``torch.compile`` of the fast path (default, ``freezing``, ``max-autotune``: 1-4 minutes of
compilation) was not faster than ``fast`` in the same runs, so ``model.deblur`` uses eager ``fast``.

Weights are the default init with beta/gamma/LayerNorm parameters perturbed (seeded) so that every
block contributes and the numerical comparison against ``official`` is meaningful.

    python benchmarks/nafnet_speed.py                      # 1 and 2 threads, 7 rounds, throughput table
    python benchmarks/nafnet_speed.py --threads 2 --rounds 9 --compile
    python benchmarks/nafnet_speed.py --threads 2 --rounds 5         # the issue-4 target figure
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

import camdeblur


def timed(fn: Callable[[], object], reps: int, warmup: bool = True) -> float:
    """Median wall time of ``reps`` calls after one warm-up."""
    if warmup:
        fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def _load() -> str:
    """1/5/15-minute load averages (the machine may be shared)."""
    return "/".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as fc:
        fn()
    return fc.get_total_flops()


def build(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = camdeblur.create_model("nafnet_gopro_width32").eval()
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")) or ".norm" in name:
                p.add_(0.1 * torch.randn(p.shape, generator=g))
    return net


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--reps", type=int, default=3, help="timed calls per variant per round (median)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile of the fast path")
    ap.add_argument("--no-throughput", action="store_true", help="skip the 256x256 / 1280x720 images/s table")
    args = ap.parse_args()

    official = build()
    cl = build().to(memory_format=torch.channels_last)
    fast_portable = build().fast(onednn=False)
    fast = build().fast()
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(1))
    x_cl = x.contiguous(memory_format=torch.channels_last)
    conv = torch.nn.Conv2d(64, 64, 3, padding=1).eval()
    xc = torch.rand(1, 64, 256, 256)

    with torch.inference_mode():
        flops = count_flops(lambda: official(x))
        conv_flops = count_flops(lambda: conv(xc))
        ref = official(x)
        variants: dict[str, Callable[[], torch.Tensor]] = {
            "official": lambda: official(x),
            "channels_last": lambda: cl(x_cl),
            "fast_portable": lambda: fast_portable(x),
            "fast": lambda: fast(x),
        }
        if args.compile:
            compiled = torch.compile(build().fast())
            t0 = time.perf_counter()
            compiled(x)
            print(f"torch.compile of the fast path: first call (compilation) {time.perf_counter() - t0:.1f} s")
            variants["fast+compile"] = lambda: compiled(x)
        err = {k: (fn() - ref).abs().max().item() for k, fn in variants.items()}

    print(f"torch {torch.__version__}; NAFNet-GoPro-width32 @256x256: {flops / 1e9:.2f} GFLOP "
          f"(FlopCounterMode, 2*MAC); reference conv 64->64 3x3 @256x256: {conv_flops / 1e9:.2f} GFLOP")
    print("max |variant - official| at 256x256: " + ", ".join(f"{k} {v:.2e}" for k, v in err.items()))

    for threads in args.threads:
        torch.set_num_threads(threads)
        ratios: dict[str, list[float]] = {k: [] for k in variants}
        gfs: dict[str, list[float]] = {k: [] for k in variants}
        conv_gfs: list[float] = []
        load0 = _load()
        with torch.inference_mode():
            for _ in range(args.rounds):
                for k, fn in variants.items():
                    t_conv = timed(lambda: conv(xc), 5)
                    t = timed(fn, args.reps)
                    ref_gfs = conv_flops / t_conv / 1e9
                    conv_gfs.append(ref_gfs)
                    gfs[k].append(flops / t / 1e9)
                    ratios[k].append(flops / t / 1e9 / ref_gfs)
        print(f"\nthreads={threads}, {args.rounds} rounds (conv timed right before each variant; medians); "
              f"load average at start {load0}, at end {_load()}:")
        print(f"  reference conv: {statistics.median(conv_gfs):.1f} GFLOP/s (min {min(conv_gfs):.1f}, max {max(conv_gfs):.1f})")
        for k in variants:
            r = ratios[k]
            g = statistics.median(gfs[k])
            print(f"  {k:14s} {g:6.1f} GFLOP/s ({flops / g / 1e6:.0f} ms/image)  ratio median {statistics.median(r):.3f} "
                  f"(min {min(r):.3f}, max {max(r):.3f})")

    if args.no_throughput:
        return
    torch.set_num_threads(max(args.threads))
    print(f"\nthroughput, threads={max(args.threads)} (median of timed forwards; load {_load()}):")
    with torch.inference_mode():
        for h, w, reps in ((256, 256, 3), (720, 1280, 1)):
            xi = torch.rand(1, 3, h, w)
            for k in ("official", "fast"):
                net = official if k == "official" else fast
                t = timed(lambda: net(xi), reps, warmup=h == 256)
                print(f"  {w}x{h} {k:9s} {1 / t:7.3f} images/s  {h * w / 1e6 / t:7.3f} MP/s  ({t * 1e3:.0f} ms/image)")


if __name__ == "__main__":
    main()
