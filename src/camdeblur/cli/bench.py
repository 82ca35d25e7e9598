"""camdeblur bench blur2blur: the miniature Blur2Blur Table 2 on simulated cameras.

    camdeblur bench blur2blur --preset mini --out bench/b2b                  # phone and rsblur vs known gopro
    camdeblur bench blur2blur --camera-yaml my_camera.yaml --photos my_photos/ --out bench/mine
    camdeblur bench blur2blur --out bench/b2b --translator-config winner.yaml --set translator_steps=3000

Writes OUT/results.json ({"rows": [{camera, method, psnr, ssim, niqe}], "config", "seconds",
"converter_validation"}) and OUT/results.md. Every stage is a resumable run folder inside OUT: rerun
the same command after an interruption and finished stages are skipped.

Presets: mini (CPU, tiny networks; about an hour on 2 cores) and paper (GPU scale: NAFNet-width32
deblurrers, MIMO-UNet translator with the paper's perceptual loss, 256-px crops, 1M translator steps).
"""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bench", help="benchmarks (blur2blur: the miniature paper Table 2)")
    what = p.add_subparsers(dest="what", metavar="WHAT")
    b = what.add_parser("blur2blur", help="input / direct / synthetic / blur2blur / supervised on simulated cameras",
                        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("--preset", default="mini", choices=["mini", "paper"], help="mini (CPU) or paper (GPU scale)")
    b.add_argument("--camera", action="append", default=[], metavar="NAME", help="unknown camera preset (repeatable; default phone, rsblur)")
    b.add_argument("--camera-yaml", action="append", default=[], metavar="FILE", help="unknown camera from a YAML file (repeatable)")
    b.add_argument("--known", default="gopro", metavar="NAME", help="known-domain camera (default gopro)")
    b.add_argument("--photos", metavar="DIR", help="sharp photos to simulate from (default: the bundled scikit-image photos)")
    b.add_argument("--niqe-model", metavar="FILE", help="NIQE model .npz (without it the NIQE column is null)")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="benchmark setting, e.g. translator_steps=3000, deblurrer_steps=2000, test_items=32 (repeatable)")
    b.add_argument("--translator-set", action="append", default=[], metavar="KEY=VALUE",
                   help="Blur2Blur config override for the translator stage, e.g. loss.reconstruction=mse (repeatable)")
    b.add_argument("--translator-config", metavar="FILE",
                   help="Blur2Blur YAML config for the translator stage (data paths and steps are set by the bench)")
    b.add_argument("--deblurrer-set", action="append", default=[], metavar="KEY=VALUE",
                   help="supervised config override for the three deblurrers, e.g. train.optim.lr=5e-4 (repeatable)")
    b.add_argument("--print-config", action="store_true", help="print the resolved settings and exit")
    b.add_argument("--out", "-o", metavar="DIR", help="output folder (required unless --print-config)")
    b.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    return p


def run(args: argparse.Namespace) -> int:
    import json
    import sys
    from dataclasses import asdict
    from pathlib import Path

    from camdeblur.errors import CamdeblurError
    from camdeblur.eval.bench_blur2blur import converter_markdown, resolve_preset, run_bench, write_markdown

    for c in args.camera_yaml:
        if not Path(c).is_file():
            raise CamdeblurError("camera YAML not found", where=c)
    if args.niqe_model and not Path(args.niqe_model).is_file():
        raise CamdeblurError("NIQE model file not found", where=args.niqe_model)
    if args.photos and not Path(args.photos).exists():
        raise CamdeblurError("photo folder not found", where=args.photos)
    preset = resolve_preset(args.preset, args.overrides, args.translator_set, args.deblurrer_set, args.translator_config)
    cams = list(args.camera) + list(args.camera_yaml) or ["phone", "rsblur"]
    if args.print_config:
        print(json.dumps({"cameras": cams, "known": args.known, "preset": asdict(preset)}, indent=2))
        return 0
    if not args.out:
        raise CamdeblurError("no output folder given", where="--out", fix="pass --out DIR")
    res = run_bench(args.out, cams, known=args.known, photos=args.photos, preset=preset, seed=args.seed,
                    niqe_model=args.niqe_model, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(write_markdown(res["rows"]), end="")
    print()
    print(converter_markdown(res["converter_validation"]), end="")
    print(f"results: {Path(args.out) / 'results.json'} ({res['seconds']} s)")
    return 0
