"""``camdeblur demo``: simulate cameras from the bundled photos, train, deblur, evaluate, report."""

from __future__ import annotations

import argparse


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the end-to-end demo on scikit-image's bundled photos (no data needed)",
                       description="Simulate a known camera and unknown cameras from bundled photos, train a tiny "
                                   "known-domain deblurrer, evaluate, and write a report folder.")
    p.add_argument("--out", "-o", default="demo_out", help="report folder (default: demo_out); rerun resumes")
    p.add_argument("--steps", type=int, default=None, help="training steps of the known-domain deblurrer")
    p.add_argument("--niqe-model", metavar="FILE", help="NIQE reference parameters (.npz) to add NIQE to the table")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from camdeblur.eval.demo import DemoConfig, markdown_table, run_demo

    cfg = DemoConfig(seed=args.seed, device=args.device, niqe_model=args.niqe_model)
    if args.steps is not None:
        cfg.steps = args.steps
    res = run_demo(args.out, cfg)
    print(markdown_table(res["rows"]))
    print(f"report: {args.out}/results.md, {args.out}/results.json, {args.out}/grid.png ({res['seconds']} s)")
    return 0
