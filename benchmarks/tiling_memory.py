"""Tiled inference: peak memory on a 4000x3000 image, and tiled-vs-untiled PSNR at 512x512.

    python benchmarks/tiling_memory.py                       # both parts, NAFNet-GoPro-width32
    python benchmarks/tiling_memory.py --part memory --arch nafnet_tiny

Weights are RANDOM (no checkpoint is downloaded or shipped): that is fine for memory and for the
tiling-consistency PSNR, which compare the network with itself, not with ground truth. Each part
runs in its own subprocess so its peak RSS (``ru_maxrss`` and ``/proc/self/status`` VmHWM) is its
own. The memory part deblurs the float32 HxWx3 array the CLI gets from ``read_image`` (a real
photo from ../shared/corpus/photos, resized to the target size) through
:func:`camdeblur.engine.inference.deblur` with the CLI's defaults (tile 512, overlap 32, 2 tiles per
batch, fp32).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
LIMIT_GB = 2.5


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return -1


def _photo(min_side: int):
    from camdeblur.io import read_rgb

    photos = sorted((SHARED / "corpus" / "photos").iterdir())
    best = max(photos, key=lambda p: p.stat().st_size)
    for p in photos:  # the first photo large enough, else the largest file
        from PIL import Image

        with Image.open(p) as im:
            if min(im.size) >= min_side:
                best = p
                break
    return best, read_rgb(best)


def part_memory(args) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    import camdeblur
    from camdeblur.engine.inference import deblur

    torch.set_num_threads(args.threads)
    w, h = args.size
    path, img = _photo(min(w, h))
    img = np.asarray(Image.fromarray((img * 255).round().astype(np.uint8)).resize((w, h), Image.BICUBIC),
                     dtype=np.float32) / 255.0
    torch.manual_seed(0)
    net = camdeblur.create_model(args.arch).eval()
    base_kb = _status_kb("VmRSS")
    t0 = time.perf_counter()
    def progress(done, total):
        print(f"  tiles {done}/{total}  {time.perf_counter() - t0:.0f}s  VmHWM {_status_kb('VmHWM') / 2**20:.2f} GB",
              file=sys.stderr, flush=True)

    out = deblur(net, img, tile=args.tile, tile_overlap=args.overlap, batch_tiles=args.batch_tiles,
                 precision=args.precision, progress=progress)
    dt = time.perf_counter() - t0
    assert out.shape == img.shape and out.dtype == np.float32
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"part": "memory", "arch": args.arch, "weights": "random", "image": f"{w}x{h}", "photo": path.name,
            "tile": args.tile, "overlap": args.overlap, "batch_tiles": args.batch_tiles, "precision": args.precision,
            "threads": args.threads, "rss_before_deblur_gb": round(base_kb / 2**20, 3),
            "peak_rss_gb": round(peak_kb / 2**20, 3), "vmhwm_gb": round(_status_kb("VmHWM") / 2**20, 3),
            "limit_gb": LIMIT_GB, "under_limit": peak_kb / 2**20 < LIMIT_GB, "seconds": round(dt, 1),
            "mp_per_s": round(w * h / 1e6 / dt, 4)}


def part_psnr(args) -> dict:
    import numpy as np
    import torch

    import camdeblur
    from camdeblur.engine.inference import deblur

    torch.set_num_threads(args.threads)
    path, img = _photo(512)
    x = torch.from_numpy(np.ascontiguousarray(img[:512, :512])).permute(2, 0, 1)[None]
    torch.manual_seed(0)
    net = camdeblur.create_model(args.arch).eval()
    perturbed = 0
    with torch.no_grad():  # NAFNet's residual scales start at 0 (every block an identity): switch the blocks on
        for name, prm in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                prm.normal_(0, args.residual_std)
                perturbed += 1
    t0 = time.perf_counter()
    full = deblur(net, x)
    t1 = time.perf_counter()
    tiled = deblur(net, x, tile=256, tile_overlap=32)
    t2 = time.perf_counter()

    def psnr(a, b):
        return float(10 * torch.log10(1 / ((a.double() - b.double()) ** 2).mean()))

    return {"part": "psnr", "arch": args.arch, "weights": "random", "image": "512x512 crop of " + path.name,
            "tile": 256, "overlap": 32, "psnr_tiled_vs_untiled_db": round(psnr(tiled, full), 2),
            "psnr_output_vs_input_db": round(psnr(full, x), 2), "untiled_s": round(t1 - t0, 1),
            "tiled_s": round(t2 - t1, 1), "residual_scales_std": args.residual_std if perturbed else None,
            "pass_40db": psnr(tiled, full) >= 40}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("all", "memory", "psnr"), default="all")
    p.add_argument("--arch", default="nafnet_gopro_width32")
    p.add_argument("--psnr-arch", default=None, help="architecture for the PSNR part (default: --arch)")
    p.add_argument("--size", type=int, nargs=2, default=(4000, 3000), metavar=("W", "H"))
    p.add_argument("--tile", type=int, default=512)
    p.add_argument("--overlap", type=int, default=32)
    p.add_argument("--batch-tiles", type=int, default=2)
    p.add_argument("--precision", default="fp32")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--residual-std", type=float, default=0.05,
                   help="PSNR part: std of the random NAFNet beta/gamma (0 = their zero init, blocks inactive)")
    args = p.parse_args()
    if args.part == "all":
        rc = 0
        for part in ("psnr", "memory"):
            cmd = [sys.executable, __file__, "--part", part, "--residual-std", str(args.residual_std), "--arch",
                   (args.psnr_arch or args.arch) if part == "psnr" else args.arch,
                   "--size", *map(str, args.size), "--tile", str(args.tile), "--overlap", str(args.overlap),
                   "--batch-tiles", str(args.batch_tiles), "--precision", args.precision, "--threads", str(args.threads)]
            rc |= subprocess.call(cmd)
        return rc
    res = part_memory(args) if args.part == "memory" else part_psnr(args)
    print(json.dumps(res), flush=True)
    ok = res.get("under_limit", True) and res.get("pass_40db", True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
