"""``camdeblur kernels``: the encoded blur-kernel space (Tran et al., CVPR 2021).

    camdeblur kernels transfer --model kw.safetensors --known GOPRO/train --sharp my_sharp/ --out K/
        writes K = F(s, G(x, y)) for every sharp image s, with (x, y) a random pair of the known paired
        set; each output has a JSON sidecar naming its source pair, model and seed.
    camdeblur kernels sample --model kw_vae.safetensors --sharp my_sharp/ --out K/ --like GOPRO/train
        VAE models: random kernels mean + sigma * eps (mean/sigma of a random known pair, or N(0, 1)
        with --prior) applied to the sharp images (blur synthesis / augmentation).

Models: our safetensors (``camdeblur train`` / ``methods.kernel_space.train``) or the released official
``GOPRO_woVAE.pth`` / ``GOPRO_wVAE.pth`` / ``REDS_woVAE.pth`` (``--arch kernel_wizard_gopro[_vae]``).
Existing outputs are never overwritten unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("kernels", help="blur transfer / kernel sampling with the encoded blur-kernel space",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = p.add_subparsers(dest="kernels_cmd", required=True)
    for name, helptext in (("transfer", "write F(s, G(x, y)) for sharp images s and random known pairs (x, y)"),
                           ("sample", "VAE: write F(s, mean + sigma * eps) with random eps")):
        q = sp.add_parser(name, help=helptext)
        q.add_argument("--model", required=True, help="KernelWizard weights (.safetensors or official .pth)")
        q.add_argument("--arch", default=None,
                       help="architecture for official .pth files (kernel_wizard_gopro, kernel_wizard_gopro_vae)")
        q.add_argument("--sharp", required=True, help="folder of sharp images S to blur")
        q.add_argument("--out", required=True, help="output folder")
        q.add_argument("--seed", type=int, default=0)
        q.add_argument("--device", default="auto", help="auto, cpu, cuda")
        q.add_argument("--overwrite", action="store_true")
        q.add_argument("--resample", default="bilinear", choices=["bilinear", "nearest", "mean"],
                       help="kernel-grid resampling when the known pair and s differ in size")
        if name == "transfer":
            q.add_argument("--known", required=True, help="known paired set (blur/+sharp/, GoPro or REDS layout)")
            q.add_argument("--split", default=None, help="sub-split of a GoPro/REDS-style known set")
        else:
            q.add_argument("--like", default=None, help="paired set whose random pairs give mean/sigma")
            q.add_argument("--prior", action="store_true", help="sample kernels from N(0, 1) instead of --like")
            q.add_argument("--num", type=int, default=1, help="samples per sharp image")
    p.set_defaults(func=run)
    return p


def _load(args):
    import camdeblur
    from camdeblur.errors import CamdeblurError
    from camdeblur.utils import pick_device

    path = Path(args.model)
    if not path.exists():
        raise CamdeblurError("model file not found", where=path, fix="pass --model weights.safetensors or GOPRO_woVAE.pth")
    arch = args.arch
    if arch is None and path.suffix != ".safetensors":
        arch = "kernel_wizard_gopro_vae" if "wvae" in path.name.lower() else "kernel_wizard_gopro"
    device = pick_device(args.device)
    model = camdeblur.load_model(arch, weights=path, device=device)
    if not hasattr(model, "apply_kernel"):
        raise CamdeblurError(f"{path.name} is not a KernelWizard model", where=path)
    return model, next(model.parameters()).device


def _outputs(args, sharp_files, suffixes):
    from camdeblur.errors import CamdeblurError

    out = Path(args.out)
    targets = [(s, out / f"{s.stem}{suf}.png") for s in sharp_files for suf in suffixes]
    if not args.overwrite:
        clash = [t for _, t in targets if t.exists() or t.with_suffix(".json").exists()]
        if clash:
            raise CamdeblurError(f"{len(clash)} output file(s) already exist, e.g. {clash[0]}", where=out,
                                 fix="choose another --out or pass --overwrite")
    out.mkdir(parents=True, exist_ok=True)
    return targets


def run(args) -> int:
    import numpy as np
    import torch

    from camdeblur.errors import CamdeblurError
    from camdeblur.io import list_images, read_rgb, to_numpy, to_tensor, write_image
    from camdeblur.utils import atomic_write

    model, device = _load(args)
    sharp_dir = Path(args.sharp)
    if not sharp_dir.is_dir():
        raise CamdeblurError("sharp folder not found", where=sharp_dir)
    sharp_files = list_images(sharp_dir)
    if not sharp_files:
        raise CamdeblurError("no images in the sharp folder", where=sharp_dir)
    rng = np.random.default_rng(args.seed)
    gen = torch.Generator(device="cpu").manual_seed(args.seed)

    pairs = None
    known = args.known if args.kernels_cmd == "transfer" else args.like
    if known is not None:
        from camdeblur.data.layouts import find_pairs

        _, pairs = find_pairs(known, split=getattr(args, "split", None))
        if not pairs:
            raise CamdeblurError("no pairs in the known set", where=known)
    if args.kernels_cmd == "sample":
        if not model.use_vae:
            raise CamdeblurError("kernels sample needs a VAE model (use_vae)", where=args.model,
                                 fix="use GOPRO_wVAE.pth or a model trained with kernel_wizard_*_vae")
        if pairs is None and not args.prior:
            raise CamdeblurError("kernels sample needs --like PAIRED_SET or --prior")
        suffixes = [f"_k{j}" for j in range(args.num)]
    else:
        suffixes = [""]
    targets = _outputs(args, sharp_files, suffixes)

    with torch.no_grad():
        for sharp_path, out_path in targets:
            s = to_tensor(read_rgb(sharp_path), device=device)
            side = {"sharp": str(sharp_path), "model": str(args.model), "seed": args.seed}
            if pairs is not None:
                pair = pairs[int(rng.integers(len(pairs)))]
                x = to_tensor(read_rgb(pair.sharp), device=device)
                y = to_tensor(read_rgb(pair.blur), device=device)
                if x.shape != y.shape:
                    raise CamdeblurError("known pair sizes differ", where=pair.blur)
                mean, sigma = model.encode(x, y)
                side.update(source_sharp=str(pair.sharp), source_blur=str(pair.blur))
            else:
                h, w = -(-s.shape[-2] // 128), -(-s.shape[-1] // 128)
                mean = torch.zeros(1, model.kernel_dim, h, w, device=device)
                sigma = torch.ones_like(mean)
                side.update(source="prior N(0, 1)")
            k = model.sample_kernel(mean, sigma, gen) if args.kernels_cmd == "sample" else mean
            side["kernel"] = "mean + sigma * eps" if args.kernels_cmd == "sample" else "G(x, y) mean"
            blurred = model.apply_kernel(s, k, args.resample).clamp(0, 1)
            write_image(out_path, to_numpy(blurred))
            with atomic_write(out_path.with_suffix(".json"), "w") as f:
                f.write(json.dumps(side, indent=1))
    print(f"wrote {len(targets)} image(s) with sidecars to {args.out}")
    return 0
