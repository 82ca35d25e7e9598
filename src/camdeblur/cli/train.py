"""``camdeblur train <what>``: train a model from a YAML config (dataclass defaults <- --config <- --set).

    camdeblur train deblurrer --print-config > my.yaml          # the documented defaults
    camdeblur train deblurrer --config my.yaml --set train.steps=2000 --out runs/nafnet
    camdeblur train deblurrer --out runs/nafnet --resume         # continue after an interruption
    torchrun --nproc_per_node 2 -m camdeblur.cli.main train deblurrer --config my.yaml --out runs/ddp

A method plugs in by adding a row to :data:`TARGETS`: ``name -> (module, config class, train function,
help)``; the train function is called as ``fn(cfg, out=..., resume=..., argv=...)`` and returns a
summary dict (``step``, ``val``, ``exported``...).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

#: what can be trained: name -> (module, config dataclass, train function, one-line help)
TARGETS: dict[str, tuple[str, str, str, str]] = {
    "deblurrer": ("camdeblur.methods.supervised", "SupervisedConfig", "train",
                  "a deblurring network on paired data (folders or the camera simulator)"),
    "kernels": ("camdeblur.methods.kernel_space", "KernelSpaceConfig", "train",
                "the encoded blur-kernel space (kernel extractor G + blur operator F) on paired data"),
}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train", help="train a model (run folder with config, JSONL metrics, checkpoints, resume)",
                       description="Train a model. Settings: dataclass defaults <- --config YAML <- --set key=value.")
    targets = p.add_subparsers(dest="target", metavar="WHAT")
    for name, (_, _, _, text) in TARGETS.items():
        t = targets.add_parser(name, help=text, description=f"Train {text}.")
        t.add_argument("--config", "-c", metavar="FILE", help="YAML file overriding the defaults (see --print-config)")
        t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override one setting, e.g. --set train.steps=2000 --set model.arch=nafnet_tiny (repeatable)")
        t.add_argument("--out", "-o", metavar="RUN_DIR", help=f"run folder (default runs/{name})")
        t.add_argument("--resume", action="store_true",
                       help="continue from RUN_DIR/checkpoints/last.pt (settings default to RUN_DIR/config.yaml)")
        t.add_argument("--print-config", action="store_true", help="print the resolved config as documented YAML and exit")
        t.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    return p


def run(args: argparse.Namespace) -> int:
    from camdeblur.engine.config import config_from_dict, config_to_yaml, load_config
    from camdeblur.errors import CamdeblurError

    module, cls_name, fn_name, _ = TARGETS[args.target]
    mod = importlib.import_module(module)
    cls = getattr(mod, cls_name)
    out = Path(args.out) if args.out else Path("runs") / args.target
    base = None
    if args.resume and (out / "config.yaml").is_file():
        base = load_config(cls, out / "config.yaml")   # the interrupted run's settings
    if base is not None:
        from camdeblur.engine.config import _read_yaml, apply_overrides, config_to_dict

        tree = config_to_dict(base)
        if args.config:
            _merge(tree, _read_yaml(args.config))
        cfg = apply_overrides(config_from_dict(cls, tree), args.overrides)
    else:
        cfg = load_config(cls, args.config, args.overrides)
    if args.print_config:
        sys.stdout.write(config_to_yaml(cfg, comments=True, header=f"camdeblur train {args.target}: resolved config"))
        return 0
    if not args.resume and (out / "checkpoints" / "last.pt").exists():
        raise CamdeblurError("the run folder already holds a run", where=out,
                             fix="pass --resume to continue it, or choose another --out")
    if args.resume and not (out / "checkpoints" / "last.pt").exists():
        raise CamdeblurError("nothing to resume: no checkpoints/last.pt", where=out,
                             fix="check --out, or drop --resume to start a new run")
    summary = getattr(mod, fn_name)(cfg, out=out, resume=bool(args.resume), argv=command_line(["camdeblur", "train", args.target], args, out))
    from camdeblur.engine.distributed import is_main

    if is_main():
        val = summary.get("val") or {}
        shown = " ".join(f"{k}={v:.4f}" for k, v in val.items() if isinstance(v, float))
        print(f"camdeblur: trained {args.target} to step {summary['step']} in {out}" + (f" ({shown})" if shown else ""))
        for p in summary.get("exported", []):
            print(f"camdeblur: weights: {p}")
    from camdeblur.engine.distributed import cleanup

    cleanup()
    return 0


def command_line(prefix: list[str], args: argparse.Namespace, out: Path, options: tuple[str, ...] = ("config",)) -> list[str]:
    """The equivalent command line, rebuilt from the parsed options (exact also when called in-process):
    ``prefix``, then each of ``options`` that is set, the ``--set`` overrides, ``--out`` and ``--resume``."""
    cmd = list(prefix)
    for opt in options:
        v = getattr(args, opt)
        if v is not None:
            cmd += [f"--{opt.replace('_', '-')}", str(v)]
    for o in args.overrides:
        cmd += ["--set", o]
    cmd += ["--out", str(out)]
    if args.resume:
        cmd.append("--resume")
    return cmd


def _merge(dst: dict, src: dict) -> None:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            _merge(dst[k], v)
        else:
            dst[k] = v
