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

    camdeblur kernels deblur -i blurry.png -o out.png --kernel-model kw.safetensors [--preset fast|original]
        blind deblurring through the frozen blur operator F (paper Sec. 3.2): x and k searched so that
        F(x, k) reproduces the input; --deblurrer D starts x from a deblurring network's output. Folder
        input -> folder output (same names); unreadable files are reported and skipped.
    camdeblur kernels retrieve --kernel-model kw.safetensors --sharp S --blurry B [-o reblurred/]
        kernel retrieval (paper Table 3): k alone optimised so that F(x, k) reproduces y for aligned
        pairs (files, or folders matched by file name); prints PSNR(F(x, k), y) per pair and the mean.
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
    _add_deblur(sp)
    _add_retrieve(sp)
    p.set_defaults(func=run)
    return p


def _add_model_args(q) -> None:
    q.add_argument("--kernel-model", "--model", dest="model", required=True, metavar="PATH",
                   help="trained kernel-space model F/G (.safetensors or official GOPRO_woVAE.pth / REDS_woVAE.pth)")
    q.add_argument("--arch", default=None,
                   help="architecture for official .pth files (kernel_wizard_gopro, kernel_wizard_gopro_vae)")
    q.add_argument("--device", default="auto", help="auto, cpu, cuda")


def _add_deblur(sp) -> None:
    q = sp.add_parser("deblur", help="blind deblurring through the frozen blur operator F (paper Sec. 3.2)",
                      description="Blind deblurring: search x and k so that F(x, k) reproduces the blurry input "
                                  "(Charbonnier data term, ||k|| and hyper-Laplacian priors).")
    q.add_argument("-i", "--input", required=True, help="blurry image or folder of images")
    q.add_argument("-o", "--output", required=True, help="output image (single input) or folder")
    _add_model_args(q)
    q.add_argument("--preset", default="fast", choices=["fast", "original"],
                   help="fast (default: direct x/k from the kernel extractor, few steps) or original "
                        "(paper: deep image priors, 5000 steps -- slow on a CPU)")
    q.add_argument("--steps", type=int, default=None, help="main optimisation steps (default: the preset's)")
    q.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="any BlindDeblurConfig field, YAML value (repeatable), e.g. --set prior_weight=0.01")
    q.add_argument("--deblurrer", default=None, metavar="PATH",
                   help="deblurring network weights: x starts from its output (x_init=deblurrer, k from G(x0, y))")
    q.add_argument("--deblurrer-arch", default=None, help="architecture of an official .pth --deblurrer")
    q.add_argument("--history", default=None, metavar="FILE.jsonl",
                   help="write the loss history (one JSON line per logged step and image)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input file)")


def _add_retrieve(sp) -> None:
    q = sp.add_parser("retrieve", help="kernel retrieval: optimise k so that F(x, k) reproduces y (paper Table 3)")
    q.add_argument("--sharp", required=True, help="sharp image or folder")
    q.add_argument("--blurry", required=True, help="blurry image or folder (same file names as --sharp)")
    _add_model_args(q)
    q.add_argument("--steps", type=int, default=100, help="Adam steps on k")
    q.add_argument("--lr", type=float, default=1e-2, help="Adam learning rate of k")
    q.add_argument("-o", "--output", default=None, help="optional folder for the re-blurred images F(x, k)")
    q.add_argument("--json", default=None, metavar="FILE", help="optional JSON with the per-pair PSNRs")
    q.add_argument("--overwrite", action="store_true")


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
    if args.kernels_cmd == "deblur":
        return run_deblur(args)
    if args.kernels_cmd == "retrieve":
        return run_retrieve(args)
    return run_transfer(args)


# ----------------------------------------------------------------------------------------- deblur
def _deblur_config(args):
    from camdeblur.cli.deblur import _parse_overrides
    from camdeblur.methods.kernel_space_deblur import preset

    over = _parse_overrides(args.overrides)
    if args.steps is not None:
        over["steps"] = args.steps
    if args.deblurrer:
        over.setdefault("x_init", "deblurrer")
        over.setdefault("k_init", "extract")
    over.setdefault("seed", args.seed)
    try:
        return preset(args.preset, **over)
    except (TypeError, ValueError) as exc:
        from camdeblur.errors import CamdeblurError

        raise CamdeblurError(f"bad --set value: {exc}", where="--set") from None


def run_deblur(args) -> int:
    import sys

    import camdeblur
    from camdeblur.cli.deblur import _progress, _refuse_inputs, _report, plan_images
    from camdeblur.errors import CamdeblurError
    from camdeblur.io import read_image, to_numpy, to_tensor, write_image
    from camdeblur.methods.kernel_space_deblur import blind_deblur
    from camdeblur.utils import atomic_write

    inp, out = Path(args.input), Path(args.output)
    if not inp.exists():
        raise CamdeblurError("input not found", where=inp, fix="check the path")
    cfg = _deblur_config(args)
    pairs = plan_images(inp, out, None)
    _refuse_inputs(pairs)
    hist_path = Path(args.history) if args.history else None
    if hist_path is not None:
        if hist_path.exists() and not args.overwrite:
            raise CamdeblurError("history file exists", where=hist_path, fix="choose another --history or pass --overwrite")
        if hist_path.resolve() in {p.resolve() for p, _ in pairs}:
            raise CamdeblurError("--history would overwrite an input file", where=hist_path)
    model, device = _load(args)
    deblurrer = None
    if args.deblurrer:
        if not Path(args.deblurrer).is_file():
            raise CamdeblurError("deblurrer weight file not found", where=args.deblurrer, fix="check the path")
        deblurrer = camdeblur.load_model(args.deblurrer_arch, weights=args.deblurrer, device=device)

    records: list[str] = []
    done = skipped = 0
    errors: list[str] = []
    total = cfg.steps * (cfg.k_steps if cfg.schedule == "alternate" else 1)
    total += cfg.warmup_steps * ((cfg.x_param == "dip") + (cfg.k_param == "dip"))
    with _progress(len(pairs), "images") as bar:
        for src, dst in pairs:
            try:
                if dst.exists() and not args.overwrite:
                    skipped += 1
                    continue
                img = read_image(src)
                y = to_tensor(img.data[..., :3] if img.data.shape[-1] >= 3 else img.data.repeat(3, -1), device=device)

                def step(i, n, _bar=bar, _src=src):
                    if i == 1 or i == n or i % 10 == 0:
                        _bar.set_postfix_str(f"{_src.name} step {i}/{n}")

                x, _, hist = blind_deblur(model, y, cfg, deblurrer=deblurrer, progress=step)
                out_img = to_numpy(x)
                if img.data.shape[-1] == 1:
                    out_img = out_img.mean(-1, keepdims=True)
                dst.parent.mkdir(parents=True, exist_ok=True)
                write_image(dst, out_img, bit_depth=img.bit_depth, alpha=img.alpha)
                for h in hist:
                    h.update(file=str(src), output=str(dst))
                    records.append(json.dumps(h))
                done += 1
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the rest
                line = _report(exc, src)
                errors.append(line)
                bar.write(f"camdeblur: error: {line}", file=sys.stderr)
            finally:
                bar.update(1)
    if hist_path is not None and records:
        hist_path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(hist_path, "w") as f:
            f.write("\n".join(records) + "\n")
    summary = f"camdeblur kernels deblur: {done} image(s) written to {out} ({args.preset} preset, {total} steps each)"
    if skipped:
        summary += f", {skipped} skipped (output exists; --overwrite to replace)"
    if errors:
        summary += f", {len(errors)} failed"
    print(summary, file=sys.stderr)
    return 1 if errors else 0


# ----------------------------------------------------------------------------------------- retrieve
def _match_pairs(sharp: Path, blurry: Path):
    from camdeblur.errors import CamdeblurError
    from camdeblur.io import list_images

    if sharp.is_file() and blurry.is_file():
        return [(sharp, blurry)]
    if sharp.is_dir() and blurry.is_dir():
        blur_by_stem = {p.stem: p for p in list_images(blurry)}
        pairs = [(s, blur_by_stem[s.stem]) for s in list_images(sharp) if s.stem in blur_by_stem]
        if not pairs:
            raise CamdeblurError("no sharp/blurry pairs with matching file names", where=blurry,
                                 fix="name each blurry image like its sharp image")
        return pairs
    for p in (sharp, blurry):
        if not p.exists():
            raise CamdeblurError("not found", where=p, fix="check the path")
    raise CamdeblurError("--sharp and --blurry must both be files or both be folders", where=blurry)


def run_retrieve(args) -> int:
    import sys

    import numpy as np

    from camdeblur.cli.deblur import _report
    from camdeblur.errors import CamdeblurError
    from camdeblur.io import read_rgb, to_numpy, to_tensor, write_image
    from camdeblur.methods.kernel_space import retrieve_kernel
    from camdeblur.utils import atomic_write

    pairs = _match_pairs(Path(args.sharp), Path(args.blurry))
    out = Path(args.output) if args.output else None
    if out is not None and not args.overwrite:
        clash = [out / f"{s.stem}.png" for s, _ in pairs if (out / f"{s.stem}.png").exists()]
        if clash:
            raise CamdeblurError(f"{len(clash)} output file(s) already exist, e.g. {clash[0]}", where=out,
                                 fix="choose another --output or pass --overwrite")
    if args.json and Path(args.json).exists() and not args.overwrite:
        raise CamdeblurError("JSON file exists", where=args.json, fix="choose another --json or pass --overwrite")
    model, device = _load(args)
    rows, errors = [], []
    for s, b in pairs:
        try:
            x, y = to_tensor(read_rgb(s), device=device), to_tensor(read_rgb(b), device=device)
            if x.shape != y.shape:
                raise CamdeblurError(f"sizes differ: sharp {tuple(x.shape[-2:])}, blurry {tuple(y.shape[-2:])}", where=b)
            k, r = retrieve_kernel(model, x, y, steps=args.steps, lr=args.lr)
            r.update(sharp=str(s), blurry=str(b))
            rows.append(r)
            print(f"{s.name}: PSNR(F(x, k), y) {r['psnr_init']:.2f} dB (G(x, y)) -> {r['psnr']:.2f} dB "
                  f"({args.steps} steps)")
            if out is not None:
                import torch

                with torch.no_grad():
                    write_image(out / f"{s.stem}.png", to_numpy(model.apply_kernel(x, k).clamp(0, 1)))
        except Exception as exc:  # noqa: BLE001
            line = _report(exc, b)
            errors.append(line)
            print(f"camdeblur: error: {line}", file=sys.stderr)
    if rows:
        mean_init = float(np.mean([r["psnr_init"] for r in rows]))
        mean = float(np.mean([r["psnr"] for r in rows]))
        print(f"mean over {len(rows)} pair(s): {mean_init:.2f} dB -> {mean:.2f} dB")
        if args.json:
            with atomic_write(args.json, "w") as f:
                f.write(json.dumps({"mean_psnr_init": mean_init, "mean_psnr": mean, "steps": args.steps,
                                    "lr": args.lr, "model": str(args.model), "pairs": rows}, indent=1))
    return 1 if errors else 0


# ----------------------------------------------------------------------------------------- transfer
def run_transfer(args) -> int:
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
