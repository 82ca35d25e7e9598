"""camdeblur deblur: deblur an image, a folder of images, or a video.

    camdeblur deblur -i photo.jpg -o out/ --weights nafnet.safetensors
    camdeblur deblur -i shots/ -o sharp/ --weights NAFNet-GoPro-width32.pth --arch NAFNet \\
        --set width=32 --set enc_blk_nums=[1,1,1,28] --set dec_blk_nums=[1,1,1,1] --tile 512
    camdeblur deblur -i clip.mp4 -o clip_sharp.mp4 --weights model.safetensors --precision bf16
    camdeblur deblur -i shots/ -o sharp/ --translator runs/b2b/translator.safetensors \\
        --weights known_deblurrer.safetensors --save-translated translated/

Folders are processed in natural order (img2 before img10), recursively; outputs keep the
file names, relative sub-folders, bit depth (16-bit PNG/TIFF stay 16-bit) and alpha. Existing
outputs are skipped unless --overwrite; an output that is one of the inputs is refused. A file
that cannot be read or processed is reported in one line and skipped; the exit code is non-zero
at the end if any file failed.

Blur2Blur: with --translator T the output is deblurrer(T(input)) (T moves the camera's blur into the
known blur domain of the deblurrer --weights). --save-translated DIR also writes T(input) (paper
Fig. 4) under the same names (video frames as DIR/000000.png ...); then the translator and the
deblurrer run as two passes, each tiled on its own when tiling is on.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

#: Images larger than this many pixels are tiled automatically (when --tile is not given).
AUTO_TILE_PIXELS = 2_500_000
AUTO_TILE = 512


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("deblur", help="deblur images, folders of images or videos with a trained model",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-i", "--input", required=True, help="image file, folder of images, or video (.mp4/.avi/...)")
    p.add_argument("-o", "--output", required=True,
                   help="output folder; or an image file (single image input); or a video file (video input)")
    g = p.add_argument_group("model")
    g.add_argument("--model", metavar="NAME", help="registry name or official class name (see 'camdeblur models')")
    g.add_argument("--weights", metavar="PATH",
                   help="weights: camdeblur .safetensors (names its architecture) or an official .pth (needs --arch/--model)")
    g.add_argument("--arch", metavar="NAME", help="architecture of --weights (same as --model)")
    g.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="constructor option of the architecture, YAML value (repeatable), e.g. --set width=32")
    g.add_argument("--checkpoint-key", metavar="KEY", help="state-dict key inside a .pth wrapper (default: auto)")
    g.add_argument("--translator", metavar="PATH",
                   help="Blur2Blur translator weights (.safetensors); output = deblurrer(translator(input))")
    g.add_argument("--save-translated", metavar="DIR",
                   help="with --translator: also write the translated images translator(input) to DIR (same names)")
    g.add_argument("--random-init", action="store_true",
                   help="allow --model without --weights (random weights: for smoke tests and benchmarks only)")
    r = p.add_argument_group("run")
    r.add_argument("--tile", type=int, default=None, metavar="N",
                   help=f"tile size in pixels (0 = never tile; default: {AUTO_TILE} for images over "
                        f"{AUTO_TILE_PIXELS / 1e6:.1f} MP, else none)")
    r.add_argument("--tile-overlap", type=int, default=32, metavar="N", help="overlap between tiles (default 32)")
    r.add_argument("--batch-tiles", type=int, default=2, metavar="N", help="tiles per forward pass (default 2)")
    r.add_argument("--precision", choices=("fp32", "bf16", "fp16"), default="fp32",
                   help="fp32 (default), bf16 (CPU/CUDA autocast) or fp16 (CUDA only)")
    r.add_argument("--device", default="auto", help="auto (CUDA if available), cpu, cuda, cuda:1, ...")
    r.add_argument("--overwrite", action="store_true", help="replace existing outputs (never an input file)")
    r.add_argument("--ext", metavar="EXT", help="output image extension, e.g. png (default: keep the input's)")
    p.set_defaults(func=run)
    return p


# ----------------------------------------------------------------------------------------- model
def _parse_overrides(items: list[str]) -> dict:
    import yaml

    from camdeblur.errors import CamdeblurError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CamdeblurError(f"bad --set '{item}'", where="--set", fix="use KEY=VALUE, e.g. --set width=32")
        try:
            out[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


def build_model(args: argparse.Namespace):
    """The network the options describe (on its device, eval mode), wrapped with a translator if given."""
    import camdeblur
    from camdeblur.errors import CamdeblurError

    if args.model and args.arch and args.model != args.arch:
        raise CamdeblurError(f"--model {args.model} and --arch {args.arch} disagree", fix="give one of them")
    arch = args.model or args.arch
    if args.weights is None and arch is None:
        raise CamdeblurError("no model given", fix="pass --weights PATH (and --arch NAME for official .pth files)")
    if args.weights is None and not args.random_init:
        raise CamdeblurError(f"no weights for '{arch}': camdeblur ships and downloads no weights", where="--model",
                             fix="pass --weights PATH (train one with 'camdeblur train deblurrer'), "
                                 "or --random-init for a smoke test")
    if args.weights is not None and not Path(args.weights).is_file():
        raise CamdeblurError("weight file not found", where=args.weights, fix="check the path")
    config = _parse_overrides(args.overrides)
    kw = {"checkpoint_key": args.checkpoint_key} if args.checkpoint_key else {}
    model = camdeblur.load_model(arch, weights=args.weights, device=args.device, **kw, **config)
    if args.translator:
        from camdeblur.nets.pipeline import Pipeline

        if not Path(args.translator).is_file():
            raise CamdeblurError("translator weight file not found", where=args.translator, fix="check the path")
        translator = camdeblur.load_model(None, weights=args.translator, device=args.device)
        model = Pipeline(model, translator).eval()
    return model


# ----------------------------------------------------------------------------------------- jobs
def _video_exts() -> tuple[str, ...]:
    from camdeblur.io.video import VIDEO_EXTENSIONS

    return VIDEO_EXTENSIONS


def _is_video(path: Path) -> bool:
    return path.suffix.lower() in _video_exts()


def _out_name(rel: Path, ext: str | None) -> Path:
    return rel.with_suffix("." + ext.lstrip(".")) if ext else rel


def plan_images(inp: Path, out: Path, ext: str | None) -> list[tuple[Path, Path]]:
    """(input, output) pairs for an image file or a folder (recursive, natural order)."""
    from camdeblur.errors import CamdeblurError
    from camdeblur.io import IMAGE_EXTENSIONS, list_images

    if inp.is_dir():
        if out.exists() and not out.is_dir():
            raise CamdeblurError("output must be a folder when the input is a folder", where=out,
                                 fix="give a folder path for -o")
        files = list_images(inp, recursive=True)
        out_res = out.resolve()
        if out_res != inp.resolve() and out_res.is_relative_to(inp.resolve()):  # -o inside -i: not an input
            files = [f for f in files if not f.resolve().is_relative_to(out_res)]
        if not files:
            raise CamdeblurError("no images found in the folder", where=inp, fix="give a folder holding PNG/JPEG/TIFF/WebP files")
        return [(f, out / _out_name(f.relative_to(inp), ext)) for f in files]
    if out.suffix.lower() in IMAGE_EXTENSIONS and not out.is_dir():
        dst = _out_name(out, ext) if ext else out
        return [(inp, dst)]
    return [(inp, out / _out_name(Path(inp.name), ext))]


def _refuse_inputs(pairs: list[tuple[Path, Path]]) -> None:
    from camdeblur.io import check_not_input

    resolved = {p.resolve(): p for p, _ in pairs}
    inodes = {}
    for p, _ in pairs:
        st = p.stat()
        inodes[(st.st_dev, st.st_ino)] = p
    for _, dst in pairs:
        same = resolved.get(dst.resolve())
        if same is None and dst.exists():
            st = dst.stat()
            same = inodes.get((st.st_dev, st.st_ino))
        if same is not None:
            check_not_input(dst, [same])  # raises the one-line error


def _progress(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img" if desc == "images" else "frame",
                disable=not sys.stderr.isatty(), dynamic_ncols=True)


def _tile_for(args: argparse.Namespace, h: int, w: int) -> int | None:
    if args.tile is not None:
        return args.tile or None
    return AUTO_TILE if h * w > AUTO_TILE_PIXELS else None


def _report(exc: BaseException, where: Path) -> str:
    from camdeblur.errors import CamdeblurError

    if isinstance(exc, CamdeblurError):
        return exc.line() if exc.where else f"{where}: {exc.line()}"
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{where}: {type(exc).__name__}: {msg}"


def _deblur_kw(args: argparse.Namespace) -> dict:
    return dict(tile_overlap=args.tile_overlap, precision=args.precision, device=None, batch_tiles=args.batch_tiles)


def translator_only(pipeline):
    """A module computing ``pipeline.translate(x)`` (the translated image, clamped as the pipeline does)."""
    from torch import nn

    class TranslatorOnly(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.pipeline = p

        def forward(self, x):
            return self.pipeline.translate(x)

        restore = forward

    return TranslatorOnly(pipeline).eval()


def translated_path(dst: Path, out: Path, tdir: Path) -> Path:
    """Where ``--save-translated`` writes the translated version of output ``dst`` (same relative name)."""
    try:
        rel = dst.relative_to(out)
    except ValueError:
        rel = Path(dst.name)
    return tdir / (rel if rel.parts else Path(dst.name))


def _two_pass(model, data, tile, args):
    """``(translated, deblurred)`` for --save-translated: translator pass, then the deblurrer on its float output."""
    from camdeblur.engine.inference import deblur

    t = deblur(translator_only(model), data, tile=tile, **_deblur_kw(args))
    return t, deblur(model.deblurrer, t, tile=tile, **_deblur_kw(args))


def run_images(model, pairs: list[tuple[Path, Path]], args: argparse.Namespace) -> tuple[int, int, list[str]]:
    """Deblur each pair; returns (done, skipped, error lines)."""
    from camdeblur.engine.inference import deblur
    from camdeblur.io import read_image, write_image

    done = skipped = 0
    errors: list[str] = []
    tdir = Path(args.save_translated) if getattr(args, "save_translated", None) else None
    out_root = Path(args.output)
    with _progress(len(pairs), "images") as bar:
        for src, dst in pairs:
            try:
                if dst.exists() and not args.overwrite:
                    skipped += 1
                    continue
                img = read_image(src)
                tile = _tile_for(args, img.height, img.width)
                if tdir is not None:
                    translated, out = _two_pass(model, img.data, tile, args)
                    write_image(translated_path(dst, out_root, tdir), translated, bit_depth=img.bit_depth, alpha=img.alpha)
                else:
                    out = deblur(model, img.data, tile=tile, **_deblur_kw(args))
                write_image(dst, out, bit_depth=img.bit_depth, alpha=img.alpha)
                done += 1
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the rest
                line = _report(exc, src)
                errors.append(line)
                bar.write(f"camdeblur: error: {line}", file=sys.stderr)
            finally:
                bar.update(1)
    return done, skipped, errors


def run_video(model, src: Path, out: Path, args: argparse.Namespace) -> tuple[int, int, list[str]]:
    """Video in -> video out (same fps) if ``out`` has a video extension, else a folder of frames."""
    from camdeblur.engine.inference import deblur
    from camdeblur.errors import CamdeblurError
    from camdeblur.io import check_not_input, write_image
    from camdeblur.io.video import iter_video_frames, video_info, write_video

    info = video_info(src)
    to_video = _is_video(out)
    if to_video:
        check_not_input(out, [src])
        if out.exists() and not args.overwrite:
            print(f"camdeblur: {out} exists; skipped (pass --overwrite to replace it)", file=sys.stderr)
            return 0, 1, []
    elif out.exists() and not out.is_dir():
        raise CamdeblurError("output exists and is not a folder or a video file name", where=out,
                             fix="give a folder for frames or a .mp4/.avi file")
    tile = _tile_for(args, info.height, info.width)
    kw = _deblur_kw(args)
    ext = (args.ext or "png").lstrip(".")
    state = {"done": 0, "skipped": 0}
    tdir = Path(args.save_translated) if getattr(args, "save_translated", None) else None

    def run_frame(i: int, frame):
        if tdir is None:
            return deblur(model, frame, tile=tile, **kw)
        translated, y = _two_pass(model, frame.astype("float32") / 255.0, tile, args)
        tdst = tdir / f"{i:06d}.png"
        if args.overwrite or not tdst.exists():
            write_image(tdst, translated)
        return y

    with _progress(info.frames, "frames") as bar:
        def frames():
            for i, frame in enumerate(iter_video_frames(src)):
                y = run_frame(i, frame)
                state["done"] += 1
                bar.update(1)
                yield y

        if to_video:
            write_video(out, frames(), fps=info.fps)
        else:
            for i, frame in enumerate(iter_video_frames(src)):
                dst = out / f"{i:06d}.{ext}"
                if dst.exists() and not args.overwrite:
                    state["skipped"] += 1
                else:
                    write_image(dst, run_frame(i, frame))
                    state["done"] += 1
                bar.update(1)
    return state["done"], state["skipped"], []


def run(args: argparse.Namespace) -> int:
    from camdeblur.errors import CamdeblurError

    inp, out = Path(args.input), Path(args.output)
    if not inp.exists():
        raise CamdeblurError("input not found", where=inp, fix="check the path")
    if args.tile is not None and args.tile < 0:
        raise CamdeblurError("--tile must be >= 0", where="--tile")
    if args.tile and args.tile_overlap >= args.tile:
        raise CamdeblurError(f"--tile-overlap {args.tile_overlap} must be smaller than --tile {args.tile}",
                             where="--tile-overlap")
    if args.save_translated and not args.translator:
        raise CamdeblurError("--save-translated needs a translator", where="--save-translated",
                             fix="pass --translator T.safetensors (a Blur2Blur translator)")
    video = inp.is_file() and _is_video(inp)
    pairs = None if video else plan_images(inp, out, args.ext)
    if pairs is not None:
        if args.save_translated and inp.is_dir():  # translated images inside the input folder are not inputs
            tres = Path(args.save_translated).resolve()
            pairs = [(a, b) for a, b in pairs if not a.resolve().is_relative_to(tres)]
            if not pairs:
                raise CamdeblurError("no images found in the folder", where=inp)
        _refuse_inputs(pairs)  # before loading anything: never write onto an input
        if args.save_translated:
            _refuse_inputs([(a, translated_path(b, out, Path(args.save_translated))) for a, b in pairs])
    elif args.save_translated:
        from camdeblur.io import check_not_input

        check_not_input(Path(args.save_translated) / "000000.png", [inp])
    model = build_model(args)
    if video:
        done, skipped, errors = run_video(model, inp, out, args)
        unit = "frames"
    else:
        done, skipped, errors = run_images(model, pairs, args)
        unit = "images"
    summary = f"camdeblur deblur: {done} {unit} written to {out}"
    if skipped:
        summary += f", {skipped} skipped (output exists; --overwrite to replace)"
    if errors:
        summary += f", {len(errors)} failed"
    print(summary, file=sys.stderr)
    return 1 if errors else 0
