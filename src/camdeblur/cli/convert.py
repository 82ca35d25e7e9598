"""camdeblur convert: official .pth checkpoints <-> camdeblur safetensors.

    camdeblur convert NAFNet-GoPro-width32.pth nafnet32.safetensors --arch nafnet_gopro_width32
    camdeblur convert net_g.pth net.safetensors --arch NAFNet --set width=16 --set enc_blk_nums=[1,1,1,1]
    camdeblur convert nafnet32.safetensors NAFNet-GoPro-width32.pth      # back to the official format

The weights are loaded strictly into the named architecture first, so a wrong ``--arch`` or option
is reported (missing/unexpected/mis-shaped keys) before anything is written. Output files are
written atomically and never overwrite an existing file unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("convert", help="convert official .pth checkpoints to camdeblur safetensors and back",
                       description=__doc__.replace("``", ""), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="official .pth/.pkl checkpoint or camdeblur .safetensors")
    p.add_argument("output", help="*.safetensors (camdeblur format) or *.pth (official format)")
    p.add_argument("--arch", help="registry name or official class name (required for official inputs)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="constructor option, e.g. --set width=32 --set enc_blk_nums=[1,1,1,28] (repeatable)")
    p.add_argument("--checkpoint-key", help="wrapper key inside the input .pth (default: auto)")
    p.add_argument("--wrapper", help="wrapper key for an official .pth output (default: the architecture's own)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.set_defaults(func=run)
    return p


def parse_sets(items: list[str]) -> dict[str, Any]:
    """``["width=32", "enc_blk_nums=[1,1,1,28]"]`` -> ``{"width": 32, "enc_blk_nums": [1, 1, 1, 28]}`` (YAML values)."""
    import yaml

    from camdeblur.errors import CamdeblurError

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise CamdeblurError(f"--set expects KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        out[k.strip()] = yaml.safe_load(v)
    return out


def convert_weights(src: str | os.PathLike, dst: str | os.PathLike, arch: str | None = None, *,
                    checkpoint_key: str | None = None, wrapper: str | None = None, overwrite: bool = False,
                    **config: Any) -> Path:
    """Convert between an official ``.pth`` and camdeblur safetensors (direction from ``dst``'s suffix).

    Returns the written path. Raises :class:`CamdeblurError` on unknown/mismatched architecture or an
    existing output without ``overwrite``.
    """
    import torch

    from camdeblur.errors import CamdeblurError
    from camdeblur.nets.registry import load_model, save_model
    from camdeblur.utils import atomic_path
    from camdeblur.weights import is_safetensors

    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise CamdeblurError("output exists", where=dst, fix="pass --overwrite or choose another name")
    if src.resolve() == dst.resolve():
        raise CamdeblurError("input and output are the same file", where=dst)
    model = load_model(arch, weights=src, checkpoint_key=checkpoint_key, **config)
    if is_safetensors(dst):
        return save_model(model, dst, converted_from=src.name)
    key = wrapper or getattr(model, "official_checkpoint_key", None)
    sd = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    obj = {key: sd} if key else sd
    with atomic_path(dst) as tmp:
        torch.save(obj, tmp)
    return dst


def run(args: argparse.Namespace) -> int:
    config = parse_sets(args.set)
    out = convert_weights(args.input, args.output, args.arch, checkpoint_key=args.checkpoint_key,
                          wrapper=args.wrapper, overwrite=args.overwrite, **config)
    print(f"wrote {out}")
    return 0
