"""``camdeblur demo``: the Blur2Blur pipeline end to end on bundled photos: simulate, train, deblur, report."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the end-to-end Blur2Blur demo on scikit-image's bundled photos (no data needed)",
                       description="Simulate a known camera and unknown cameras from bundled photos, train a tiny "
                                   "known-domain deblurrer and a blur translator per unknown camera, evaluate input / "
                                   "direct / via Blur2Blur, and write a report folder (results.md, results.json, "
                                   "grid.png). A rerun with the same --out reuses or resumes the trained models.")
    p.add_argument("--out", "-o", default="demo_out", help="report folder (default: demo_out); rerun resumes")
    p.add_argument("--camera", action="append", default=[], metavar="NAME",
                   help="unknown camera preset or YAML (repeatable; default phone and rsblur)")
    p.add_argument("--steps", type=int, default=None, help="training steps of the known-domain deblurrer (default 600)")
    p.add_argument("--translator-steps", type=int, default=None, help="translator steps per camera (default 1500)")
    p.add_argument("--translator-set", action="append", default=[], metavar="KEY=VALUE",
                   help="Blur2Blur config override for the translators, e.g. loss.reconstruction=mse (repeatable)")
    p.add_argument("--translator-config", metavar="FILE", help="Blur2Blur YAML recipe for the translators")
    p.add_argument("--niqe-model", metavar="FILE", help="NIQE reference parameters (.npz) to add NIQE to the table")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import sys
    from pathlib import Path

    from camdeblur.errors import CamdeblurError
    from camdeblur.eval.demo import DemoConfig, markdown_table, run_demo

    cfg = DemoConfig(seed=args.seed, device=args.device, niqe_model=args.niqe_model)
    if args.niqe_model and not Path(args.niqe_model).is_file():
        raise CamdeblurError("NIQE model file not found", where=args.niqe_model)
    if args.translator_config:
        if not Path(args.translator_config).is_file():
            raise CamdeblurError("translator config not found", where=args.translator_config)
        cfg.translator_config, cfg.translator_sets = args.translator_config, []
    cfg.translator_sets = [*cfg.translator_sets, *args.translator_set]
    if args.camera:
        cfg.cameras = list(args.camera)
    if args.steps is not None:
        cfg.steps = args.steps
    if args.translator_steps is not None:
        cfg.translator_steps = args.translator_steps
    res = run_demo(args.out, cfg, log=lambda s: print(s, file=sys.stderr, flush=True))
    print(markdown_table(res["rows"]))
    print(f"report: {args.out}/results.md, {args.out}/results.json, {args.out}/grid.png ({res['seconds']} s)")
    return 0
