"""``camdeblur eval``: score a folder of restored images against ground truth, or without reference.

Full reference (``--pred DIR --gt DIR``): files are matched by name without extension (``0001.png`` in
``--pred`` with ``0001.jpg`` in ``--gt``); PSNR and SSIM per image with a named preset
(:data:`camdeblur.eval.metrics.PRESETS`), plus NIQE when ``--niqe-model`` is given. Predictions without
ground truth are listed on stderr and skipped; no match at all is an error.

No reference (``--no-ref --pred DIR``): the blur degree (variance of the Laplacian, Blur2Blur's curriculum
measure, lower = blurrier) and NIQE when ``--niqe-model FILE`` is given.

A table (one row per image and the mean) goes to stdout; ``--json FILE`` writes
``{"mean": {...}, "images": [{"name", <metric>...}], "preset", "crop_border", "pred", "gt", "niqe_model"}``.
Non-finite values (PSNR of identical images) are written as ``null``.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from camdeblur.errors import CamdeblurError

_PRESET_NAMES = ("gopro", "y", "gaussian")  # kept in sync with camdeblur.eval.metrics.PRESETS (tested)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "eval", help="PSNR/SSIM of restored images against ground truth (or NIQE / blur degree without it)",
        description=__doc__.split("\n\n", 1)[1].replace("``", "").replace(":data:`", "").replace("`", ""),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pred", required=True, metavar="DIR", help="folder of restored (or any) images")
    p.add_argument("--gt", metavar="DIR", help="folder of ground-truth sharp images (matched by file stem)")
    p.add_argument("--json", metavar="FILE", help="write per-image values and their means to this JSON file")
    p.add_argument("--preset", default="gopro", choices=_PRESET_NAMES,
                   help="gopro: RGB, SSIM 7x7 box per channel (= skimage channel_axis); y: BT.601 Y, Gaussian "
                        "SSIM (= BasicSR test_y_channel); gaussian: RGB, Gaussian SSIM (default: gopro)")
    p.add_argument("--crop-border", type=int, default=None, metavar="N",
                   help="pixels removed on each side before PSNR/SSIM/NIQE (default: the preset's, 0)")
    p.add_argument("--no-ref", action="store_true",
                   help="no-reference metrics on --pred only: Laplacian variance, NIQE with --niqe-model")
    p.add_argument("--niqe-model", metavar="FILE",
                   help="NIQE pristine model .npz (mu_pris_param, cov_pris_param, gaussian_window); adds NIQE")
    p.add_argument("--recursive", action="store_true", help="also look in sub-folders (names are relative paths)")
    p.set_defaults(func=run)
    return p


# ------------------------------------------------------------------------------------------ library
def _index(folder: Path, recursive: bool) -> dict[str, Path]:
    """Map 'relative/path/stem' -> file; two files with the same stem are ambiguous."""
    from camdeblur.io import list_images

    out: dict[str, Path] = {}
    for f in list_images(folder, recursive=recursive):
        key = f.relative_to(folder).with_suffix("").as_posix()
        if key in out:
            raise CamdeblurError(f"two images share the name '{key}' ({out[key].name}, {f.name})", where=folder,
                                 fix="keep one file per name so predictions and ground truth match unambiguously")
        out[key] = f
    if not out:
        raise CamdeblurError("no images in folder", where=folder, fix="give a folder of PNG/JPEG/TIFF/WebP images")
    return out


def _check_dir(path: str | None, option: str) -> Path:
    if not path:
        raise CamdeblurError(f"{option} is required", where=option,
                             fix="give --pred DIR --gt DIR, or --no-ref --pred DIR for no-reference metrics")
    p = Path(path).expanduser()
    if not p.exists():
        raise CamdeblurError("folder not found", where=p, fix=f"check the {option} path")
    if not p.is_dir():
        raise CamdeblurError("is a file, not a folder", where=p, fix=f"{option} takes a folder of images")
    return p


def evaluate_folders(pred: str | Path, gt: str | Path | None = None, preset: str = "gopro",
                     crop_border: int | None = None, niqe_model: str | Path | None = None, no_ref: bool = False,
                     recursive: bool = False, on_row=None, warn=None) -> dict:
    """Score the images of ``pred`` (against ``gt`` unless ``no_ref``).

    Args:
        on_row: optional ``callable(row: dict)`` called as each image is done (the CLI prints it).
        warn: optional ``callable(str)`` for skipped files.
    Returns:
        ``{"mean": {metric: value}, "images": [{"name": ..., metric: value}], "preset", "crop_border", ...}``.
    """
    from camdeblur.eval.metrics import get_preset, laplacian_variance, psnr, ssim
    from camdeblur.io import read_rgb

    pred_dir = _check_dir(str(pred) if pred is not None else None, "--pred")
    p = get_preset(preset)
    crop = p.crop_border if crop_border is None else int(crop_border)
    if crop < 0:
        raise CamdeblurError(f"--crop-border must be >= 0, got {crop}", where="--crop-border")
    model = None
    if niqe_model is not None:
        from camdeblur.eval.niqe import load_niqe_model

        model = load_niqe_model(niqe_model)  # fail before reading any image
    preds = _index(pred_dir, recursive)

    if no_ref:
        pairs = [(name, f, None) for name, f in preds.items()]
        gt_dir = None
    else:
        gt_dir = _check_dir(str(gt) if gt is not None else None, "--gt")
        gts = _index(gt_dir, recursive)
        pairs = [(name, f, gts[name]) for name, f in preds.items() if name in gts]
        if not pairs:
            raise CamdeblurError(
                f"no prediction has a ground-truth image of the same name ({len(preds)} in --pred, {len(gts)} in "
                f"--gt, e.g. '{next(iter(preds))}' vs '{next(iter(gts))}')", where=pred_dir,
                fix="name restored images like their ground truth (extensions may differ)")
        missing = [name for name in preds if name not in gts]
        if missing and warn is not None:
            warn(f"{len(missing)} image(s) in --pred have no ground truth and are skipped: "
                 + ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else ""))

    rows = []
    for name, pf, gf in pairs:
        x = read_rgb(pf)
        row: dict = {"name": pf.relative_to(pred_dir).as_posix()}
        if gf is not None:
            y = read_rgb(gf)
            if x.shape != y.shape:
                raise CamdeblurError(f"size differs from its ground truth {gf} ({x.shape[1]}x{x.shape[0]} vs "
                                     f"{y.shape[1]}x{y.shape[0]})", where=pf,
                                     fix="compare restored images at the ground truth's size")
            row["psnr"] = float(psnr(x, y, p, crop_border=crop))
            row["ssim"] = float(ssim(x, y, p, crop_border=crop))
        else:
            xc = x[crop:-crop, crop:-crop] if crop else x
            row["laplacian_variance"] = float(laplacian_variance(xc))
        if model is not None:
            from camdeblur.eval.niqe import niqe

            try:
                row["niqe"] = float(niqe(x, model, crop_border=crop))
            except CamdeblurError as exc:
                raise CamdeblurError(exc.what, where=pf, fix=exc.fix) from None
        rows.append(row)
        if on_row is not None:
            on_row(row)

    keys = [k for k in rows[0] if k != "name"]
    mean = {k: math.fsum(r[k] for r in rows) / len(rows) for k in keys}
    return {"mean": mean, "images": rows, "preset": None if no_ref else p.name, "crop_border": crop,
            "pred": str(pred_dir), "gt": None if gt_dir is None else str(gt_dir),
            "niqe_model": None if model is None else str(niqe_model)}


def _fmt(key: str, v: float) -> str:
    if not math.isfinite(v):
        return "inf" if v > 0 else str(v)
    return f"{v:.4f}" if key == "ssim" else f"{v:.2f}" if key == "laplacian_variance" else f"{v:.3f}"


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------------------------- CLI
def run(args: argparse.Namespace) -> int:
    import json

    from camdeblur.io import check_not_input
    from camdeblur.utils import atomic_write

    if not args.no_ref and not args.gt:
        raise CamdeblurError("--gt DIR is required for PSNR/SSIM", where="--gt",
                             fix="give the ground-truth folder, or --no-ref for no-reference metrics")
    if args.json:
        inputs = [Path(d) for d in (args.pred, args.gt) if d]
        check_not_input(args.json, [f for d in inputs if d.is_dir() for f in d.rglob("*") if f.is_file()])
        if Path(args.json).is_dir():
            raise CamdeblurError("is a folder", where=args.json, fix="--json takes a file name, e.g. results.json")

    keys = (["laplacian_variance"] if args.no_ref else ["psnr", "ssim"]) + (["niqe"] if args.niqe_model else [])
    width = [0]

    def on_row(row):
        if not width[0]:
            width[0] = 40
            print(f"{'image':<{width[0]}} " + " ".join(f"{k:>18}" if k == "laplacian_variance" else f"{k:>9}"
                                                       for k in keys))
        print(f"{row['name']:<{width[0]}} " + " ".join(
            f"{_fmt(k, row[k]):>18}" if k == "laplacian_variance" else f"{_fmt(k, row[k]):>9}" for k in keys),
            flush=True)

    res = evaluate_folders(args.pred, args.gt, preset=args.preset, crop_border=args.crop_border,
                           niqe_model=args.niqe_model, no_ref=args.no_ref, recursive=args.recursive,
                           on_row=on_row, warn=lambda m: print(f"camdeblur: warning: {m}", file=sys.stderr))
    m = res["mean"]
    label = f"mean ({len(res['images'])} images)"
    print(f"{label:<{width[0]}} " + " ".join(
        f"{_fmt(k, m[k]):>18}" if k == "laplacian_variance" else f"{_fmt(k, m[k]):>9}" for k in keys))
    if not args.no_ref:
        print(f"preset {res['preset']}, crop_border {res['crop_border']}")
    if args.json:
        out = Path(args.json)
        try:
            with atomic_write(out, "w") as fh:
                json.dump(_finite(res), fh, indent=2, allow_nan=False)
                fh.write("\n")
        except OSError as exc:
            raise CamdeblurError(f"cannot write ({exc.strerror or exc})", where=out,
                                 fix="choose a writable location") from None
        print(f"wrote {out}")
    return 0
