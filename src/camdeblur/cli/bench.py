"""``camdeblur bench blur2blur``: the miniature Blur2Blur Table 2 on simulated cameras.

    camdeblur bench blur2blur --preset mini --camera phone --camera rsblur --out bench/b2b
    camdeblur bench blur2blur --camera-yaml my_camera.yaml --photos my_photos/ --out bench/mine

Writes ``OUT/results.json`` (``{"rows": [...], "config", "seconds"}``) and ``OUT/results.md``.
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="benchmarks (blur2blur: the miniature paper Table 2)")
    what = p.add_subparsers(dest="what", metavar="WHAT")
    b = what.add_parser("blur2blur", help="input / direct / synthetic / blur2blur / supervised on simulated cameras")
    b.add_argument("--preset", default="mini", choices=["mini", "paper"], help="mini (CPU) or paper (GPU scale)")
    b.add_argument("--camera", action="append", default=[], metavar="NAME", help="unknown camera preset (repeatable; default phone, rsblur)")
    b.add_argument("--camera-yaml", action="append", default=[], metavar="FILE", help="unknown camera from a YAML file (repeatable)")
    b.add_argument("--known", default="gopro", metavar="NAME", help="known-domain camera (default gopro)")
    b.add_argument("--photos", metavar="DIR", help="sharp photos to simulate from (default: the bundled scikit-image photos)")
    b.add_argument("--niqe-model", metavar="FILE", help="NIQE model file (without it the NIQE column is empty)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--out", "-o", required=True, metavar="DIR")
    b.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    return p


def run(args: argparse.Namespace) -> int:
    import json
    import time
    from pathlib import Path

    from camdeblur.errors import CamdeblurError
    from camdeblur.eval.bench_blur2blur import run_mini_pipeline, write_markdown

    cams = list(args.camera) + list(args.camera_yaml) or ["phone", "rsblur"]
    for c in args.camera_yaml:
        if not Path(c).is_file():
            raise CamdeblurError("camera YAML not found", where=c)
    out = Path(args.out)
    t0 = time.time()
    rows, configs = [], {}
    for cam in cams:
        sub = out / Path(cam).stem
        rows += run_mini_pipeline(sub, camera=cam, known=args.known, photos=args.photos, preset=args.preset,
                                  seed=args.seed, niqe_model=args.niqe_model)
        configs[cam] = json.loads((sub / "results.json").read_text())["config"]
    result = {"rows": rows, "config": {"preset": args.preset, "cameras": configs}, "seconds": round(time.time() - t0, 1)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    md = write_markdown(rows)
    (out / "results.md").write_text(md)
    print(md, end="")
    return 0
