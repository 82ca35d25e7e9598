"""``camdeblur blur2blur train``: learn a translator from your camera's blur to a known blur domain.

    camdeblur blur2blur train --blurry B/ --sharp S/ --known K/ --deblurrer D.safetensors --out runs/b2b
    camdeblur blur2blur train --blurry B/ --sharp S/ --known-pairs P/ --kernel-model kw.safetensors --out runs/b2b
    camdeblur blur2blur train --out runs/b2b --resume           # continue after an interruption
    camdeblur deblur --translator runs/b2b/translator.safetensors --weights D.safetensors -i in/ -o out/

Settings: :class:`camdeblur.methods.blur2blur.Blur2BlurConfig` defaults <- ``--preset`` <- ``--config``
<- the data options <- ``--set key=value``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: preset -> config overrides (the loss preset plus the translator/discriminator sizes it implies)
PRESETS: dict[str, list[str]] = {
    "official": ["loss.preset=official"],
    "paper": ["loss.preset=paper", "translator.arch=mimo_unet", "discriminator.arch=patchgan",
              "train.batch_size=16", "data.crop=256", "curriculum.enabled=true"],
}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("blur2blur", help="Blur2Blur: translate your camera's blur to a known blur domain",
                       description="Blur2Blur (Pham et al., CVPR 2024).")
    acts = p.add_subparsers(dest="action", metavar="ACTION")
    t = acts.add_parser("train", help="train a translator (run folder, JSONL metrics, checkpoints, resume)")
    t.add_argument("--blurry", metavar="B", help="blurry images of your camera (folder) or sim:<camera>")
    t.add_argument("--sharp", metavar="S", help="sharp images of your camera (folder; unpaired with B)")
    t.add_argument("--known", metavar="K", help="known-domain blurry images (folder, e.g. from 'camdeblur kernels transfer') or sim:<camera>")
    t.add_argument("--known-pairs", metavar="P", help="paired folder of the known domain (kernel transfer on the fly)")
    t.add_argument("--kernel-model", metavar="KCKPT", help="kernel-space model weights (with --known-pairs)")
    t.add_argument("--deblurrer", metavar="DCKPT", help="known-domain deblurrer weights (validation and the final pipeline)")
    t.add_argument("--val", metavar="V", help="held-out images of your camera: paired folder (blur/+sharp/) or blurry folder")
    t.add_argument("--split", type=float, metavar="F", help="sim: B share of the photos (paper 0.6 = 6:4)")
    t.add_argument("--preset", choices=sorted(PRESETS), help="official (hinge, VGG16 taps) or paper (log-likelihood, VGG19, paper sizes)")
    t.add_argument("--config", "-c", metavar="FILE", help="YAML file overriding the defaults (see --print-config)")
    t.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a setting, e.g. --set train.steps=5000 (repeatable)")
    t.add_argument("--out", "-o", metavar="RUN_DIR", help="run folder (default runs/blur2blur)")
    t.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoints/last.pt")
    t.add_argument("--print-config", action="store_true", help="print the resolved config as YAML and exit")
    t.set_defaults(func=run)
    p.set_defaults(func=lambda args: (p.print_help(), 0)[1])
    return p


def _data_overrides(args: argparse.Namespace) -> list[str]:
    sets = []
    if args.blurry:
        sets.append(f"data.blurry={args.blurry}")
    if args.sharp:
        sets.append(f"data.sharp={args.sharp}")
    if args.known and (args.known_pairs or args.kernel_model):
        from camdeblur.errors import CamdeblurError

        raise CamdeblurError("give either --known or --known-pairs with --kernel-model, not both")
    if args.known:
        sets.append(f"known.source={args.known}")
    if args.known_pairs or args.kernel_model:
        if not (args.known_pairs and args.kernel_model):
            from camdeblur.errors import CamdeblurError

            raise CamdeblurError("--known-pairs and --kernel-model go together")
        sets += ["known.source=kernels", f"known.pairs={args.known_pairs}", f"known.kernel_model={args.kernel_model}"]
    if args.deblurrer:
        sets.append(f"deblurrer={args.deblurrer}")
    if args.val:
        sets.append(f"val.source={args.val}")
    if args.split is not None:
        sets.append(f"data.split={args.split}")
    return sets


def run(args: argparse.Namespace) -> int:
    from camdeblur.engine.config import apply_overrides, config_to_yaml, load_config
    from camdeblur.errors import CamdeblurError
    from camdeblur.methods.blur2blur import Blur2BlurConfig, train

    out = Path(args.out) if args.out else Path("runs") / "blur2blur"
    preset = PRESETS[args.preset] if args.preset else []
    if args.resume and (out / "config.yaml").is_file():
        cfg = load_config(Blur2BlurConfig, out / "config.yaml")
        cfg = apply_overrides(cfg, _data_overrides(args) + list(args.overrides))
    else:
        cfg = load_config(Blur2BlurConfig, args.config, preset + _data_overrides(args) + list(args.overrides))
    if args.print_config:
        sys.stdout.write(config_to_yaml(cfg, comments=True, header="camdeblur blur2blur train: resolved config"))
        return 0
    if not args.resume and (out / "checkpoints" / "last.pt").exists():
        raise CamdeblurError("the run folder already holds a run", where=out,
                             fix="pass --resume to continue it, or choose another --out")
    if args.resume and not (out / "checkpoints" / "last.pt").exists():
        raise CamdeblurError("nothing to resume: no checkpoints/last.pt", where=out, fix="drop --resume to start a new run")
    summary = train(cfg, out=out, resume=bool(args.resume), argv=_command(args, out))
    from camdeblur.engine.distributed import cleanup, is_main

    if is_main():
        val = summary.get("val") or {}
        shown = " ".join(f"{k}={v:.4f}" for k, v in val.items() if isinstance(v, float))
        print(f"camdeblur: trained blur2blur translator to step {summary['step']} in {out}" + (f" ({shown})" if shown else ""))
        print(f"camdeblur: known domain: {summary['known_domain']}")
        backbone = (summary.get("loss") or {}).get("perceptual_backbone")
        if backbone:
            print(f"camdeblur: perceptual backbone: {backbone.get('backbone')} ({backbone.get('source', '')})")
        for p in summary.get("exported", []):
            print(f"camdeblur: weights: {p}")
    cleanup()
    return 0


def _command(args: argparse.Namespace, out: Path) -> list[str]:
    from camdeblur.cli.train import command_line

    return command_line(["camdeblur", "blur2blur", "train"], args, out,
                        ("blurry", "sharp", "known", "known_pairs", "kernel_model", "deblurrer", "val", "split", "preset",
                         "config"))
