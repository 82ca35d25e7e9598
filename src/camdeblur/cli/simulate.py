"""``camdeblur simulate``: render a simulated camera's dataset from sharp photos.

Layouts written under ``--out`` (``<split>/`` level only with ``--split``)::

    paired (default)   <split>/<photo>/blur/<i>.png, <photo>/sharp/<i>.png, <photo>/meta/<i>.json   (GoPro layout)
    --unpaired 0.6     train split: B/<photo>_<i>.png (blurry only, 60% of the photos),
                       S/<photo>_<i>.png (sharp only, the other 40%), meta/{B,S}/<name>.json;
                       other splits stay paired (for evaluation)
    --sequences        <split>/<photo>_<k>/blur/<frame>.png (as recorded: long exposures blurry,
                       short ones sharp+noisy), sharp/<frame>.png (ground truth), meta/<frame>.json,
                       sequence.json (which frames are long, reference offsets)

plus ``simulate.json`` (camera, arguments, which photos went where) and ``camera.yaml``. Existing
files are never overwritten unless ``--overwrite``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("simulate", help="render blurry/sharp data of a simulated camera from sharp photos",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cam = p.add_mutually_exclusive_group()
    cam.add_argument("--camera", default=None, help="preset: gopro, reds, phone, rsblur, uniform (or a YAML path); "
                     "default gopro")
    cam.add_argument("--camera-yaml", default=None, metavar="FILE", help="camera YAML (see --print-yaml)")
    p.add_argument("--print-yaml", action="store_true", help="print the camera as a YAML template and exit")
    p.add_argument("--photos", nargs="*", default=None, metavar="PATH",
                   help="folders/files of sharp photos (default: scikit-image's bundled photographs)")
    p.add_argument("--out", default=None, help="output folder")
    p.add_argument("--num", type=int, default=None, help="number of samples (sequences with --sequences)")
    p.add_argument("--size", type=int, default=256, help="crop size in pixels (default 256)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0); same seed, same bits")
    p.add_argument("--split", default=None, metavar="NAME=FRAC[,...]",
                   help="disjoint photo splits, e.g. test=0.2 (the rest is 'train')")
    p.add_argument("--unpaired", type=float, default=None, metavar="FRAC",
                   help="Blur2Blur protocol: blurry only from FRAC of the (train) photos, sharp only from the rest")
    p.add_argument("--sequences", action="store_true", help="write frame sequences (BluRef protocol) instead of pairs")
    p.add_argument("--frames", type=int, default=12, help="frames per sequence (default 12)")
    p.add_argument("--delta", type=int, default=1, help="reference offset Δ in frames (default 1)")
    p.add_argument("--num-refs", type=int, default=6, help="references per blurry frame, even (default 6)")
    p.add_argument("--preview", action="store_true", help="write <out>/preview.png (sharp, blurry per preset, trajectory/PSF)")
    p.add_argument("--overwrite", action="store_true", help="replace existing files")
    p.add_argument("--batch", type=int, default=8, help="samples rendered per vectorised batch (default 8)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, auto (default cpu)")
    p.set_defaults(func=run)
    return p


def _parse_split(spec: str | None) -> dict[str, float]:
    from camdeblur.errors import CamdeblurError

    if not spec:
        return {}
    out: dict[str, float] = {}
    for part in spec.split(","):
        name, _, frac = part.partition("=")
        name = name.strip()
        try:
            f = float(frac)
        except ValueError:
            raise CamdeblurError(f"bad split '{part}'", where="--split", fix="write NAME=FRACTION, e.g. test=0.2") from None
        if not name or not name.replace("_", "").replace("-", "").isalnum() or name == "train":
            raise CamdeblurError(f"bad split name '{name}'", where="--split",
                                 fix="use a plain name other than 'train' (the rest goes to train)")
        if not 0 < f < 1:
            raise CamdeblurError(f"split fraction {f} is not in (0, 1)", where="--split")
        out[name] = f
    if sum(out.values()) >= 1:
        raise CamdeblurError(f"split fractions sum to {sum(out.values()):g} >= 1", where="--split",
                             fix="leave room for the train split")
    return out


def _counts(n: int, fractions: dict[str, float]) -> dict[str, int]:
    """Split ``n`` samples by fractions (largest remainder), every part >= 1 when n allows."""
    import math

    names = list(fractions)
    raw = [n * fractions[k] for k in names]
    c = [int(math.floor(r)) for r in raw]
    for i in sorted(range(len(names)), key=lambda i: raw[i] - c[i], reverse=True)[: n - sum(c)]:
        c[i] += 1
    for i in range(len(c)):
        if c[i] == 0 and n >= len(c):
            j = max(range(len(c)), key=lambda j: c[j])
            c[j] -= 1
            c[i] += 1
    return dict(zip(names, c))


def run(args: argparse.Namespace) -> int:
    from camdeblur.errors import CamdeblurError
    from camdeblur.sim.camera import get_camera, load_camera_yaml

    cam = load_camera_yaml(args.camera_yaml) if args.camera_yaml else get_camera(args.camera or "gopro")
    if args.print_yaml:
        sys.stdout.write(cam.to_yaml())
        return 0
    if args.out is None:
        raise CamdeblurError("no output folder", where="--out", fix="give --out DIR (or --print-yaml)")
    if args.num is None and not args.preview:
        raise CamdeblurError("nothing to do", where="--num", fix="give --num N samples and/or --preview")
    if args.num is not None and args.num < 1:
        raise CamdeblurError(f"--num must be >= 1, got {args.num}", where="--num")
    if args.size < 8 or args.size > 4096:
        raise CamdeblurError(f"--size {args.size} is out of range", where="--size", fix="use 8..4096")
    if args.unpaired is not None and not 0 < args.unpaired < 1:
        raise CamdeblurError(f"--unpaired {args.unpaired} is not in (0, 1)", where="--unpaired", fix="e.g. --unpaired 0.6")
    if args.unpaired is not None and args.sequences:
        raise CamdeblurError("--unpaired and --sequences cannot be combined", where="--sequences")
    if args.sequences and (args.num_refs < 0 or args.num_refs % 2 or args.delta < 1 or args.frames < 1):
        raise CamdeblurError("sequences need --num-refs even >= 0, --delta >= 1, --frames >= 1", where="--sequences")
    if args.sequences and cam.kind == "uniform":
        raise CamdeblurError(f"camera '{cam.name}' is uniform (kind: uniform); sequences need camera motion",
                             where="--sequences", fix="use a shake camera such as gopro, reds, phone or rsblur")
    if args.batch < 1:
        raise CamdeblurError("--batch must be >= 1", where="--batch")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CamdeblurError("output path is a file", where=out, fix="give a folder")
    if args.preview:
        _preview(out, cam, args)
    if args.num is not None:
        _dataset(out, cam, args)
    return 0


def _preview(out: Path, cam, args) -> None:
    from camdeblur.errors import CamdeblurError
    from camdeblur.sim.camera import PRESETS, Camera
    from camdeblur.sim.preview import write_preview

    path = out / "preview.png"
    if path.exists() and not args.overwrite:
        raise CamdeblurError("file exists", where=path, fix="pass --overwrite or choose another --out")
    names = list(PRESETS)
    is_preset = cam.name in PRESETS and cam == Camera(**PRESETS[cam.name])
    cams = names if is_preset else [*names, cam]  # a custom camera gets its own row below the presets
    photo = None
    if args.photos:
        from camdeblur.sim.photos import load_photos

        photo = load_photos(args.photos)[0]
    write_preview(path, cams, photo=photo, seed=args.seed, size=min(args.size, 256))
    print(f"preview: {path}")


def _plan(cam, args, names: list[str]):
    """Every sample to write: (split, kind, photo index, global index); kind in pair/B/S/seq."""
    from camdeblur.sim.datasets import split_photos

    fractions = _parse_split(args.split)
    parts = {"train": 1.0 - sum(fractions.values()), **fractions} if fractions else {"": 1.0}
    photo_parts = split_photos(names, parts, args.seed) if fractions else {"": list(range(len(names)))}
    counts = _counts(args.num, parts)
    jobs, assignment = [], {}
    g = 0
    for split, n in counts.items():
        idx = photo_parts[split]
        if args.unpaired is not None and split in ("train", ""):
            sub = split_photos([names[i] for i in idx], {"B": args.unpaired, "S": 1 - args.unpaired}, args.seed + 1)
            b_ph, s_ph = [idx[i] for i in sub["B"]], [idx[i] for i in sub["S"]]
            nb = _counts(n, {"B": args.unpaired, "S": 1 - args.unpaired})
            for kind, phs in (("B", b_ph), ("S", s_ph)):
                assignment[f"{split or '.'}/{kind}"] = [names[i] for i in phs]
                for k in range(nb[kind]):
                    jobs.append((split, kind, phs[k % len(phs)], g))
                    g += 1
        else:
            assignment[split or "."] = [names[i] for i in idx]
            kind = "seq" if args.sequences else "pair"
            for k in range(n):
                jobs.append((split, kind, idx[k % len(idx)], g))
                g += 1
    return jobs, assignment


def _paths(out: Path, job, names, args) -> dict[str, Path]:
    split, kind, p, g = job
    root = out / split if split else out
    name = names[p]
    if kind == "pair":
        d = root / name
        return {"blur": d / "blur" / f"{g:06d}.png", "sharp": d / "sharp" / f"{g:06d}.png",
                "meta": d / "meta" / f"{g:06d}.json"}
    if kind in ("B", "S"):
        return {("blur" if kind == "B" else "sharp"): root / kind / f"{name}_{g:06d}.png",
                "meta": root / "meta" / kind / f"{name}_{g:06d}.json"}
    d = root / f"{name}_{g:04d}"
    paths = {"sequence": d / "sequence.json"}
    for k in range(args.frames):
        paths[f"blur{k}"] = d / "blur" / f"{k:04d}.png"
        paths[f"sharp{k}"] = d / "sharp" / f"{k:04d}.png"
        paths[f"meta{k}"] = d / "meta" / f"{k:04d}.json"
    return paths


def _write_json(path: Path, data) -> None:
    from camdeblur.utils import atomic_write

    with atomic_write(path, "w") as fh:
        json.dump(data, fh, indent=1)


def _dataset(out: Path, cam, args) -> None:
    from camdeblur.errors import CamdeblurError
    from camdeblur.io import write_image
    from camdeblur.sim.photos import load_named_photos
    from camdeblur.sim.exposure import render_batch
    from camdeblur.sim.sequences import render_sequence

    named = load_named_photos(args.photos) if args.photos else load_named_photos(None)
    names = [n for n, _ in named]
    photos = [a for _, a in named]
    jobs, assignment = _plan(cam, args, names)
    all_paths = [_paths(out, j, names, args) for j in jobs]
    extra = [out / "simulate.json", out / "camera.yaml"]
    existing = [p for ps in all_paths for p in ps.values() if p.exists()] + [p for p in extra if p.exists()]
    if existing and not args.overwrite:
        raise CamdeblurError(f"{len(existing)} output file(s) already exist, e.g. {existing[0]}", where=out,
                             fix="pass --overwrite to replace them, or choose another --out")
    from camdeblur.utils import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "camera.yaml", "w") as fh:
        fh.write(cam.to_yaml())
    manifest = {"camera": cam.to_dict(), "command": "camdeblur " + " ".join(sys.argv[1:]), "num": args.num,
                "size": args.size, "seed": args.seed, "split": args.split, "unpaired": args.unpaired,
                "sequences": args.sequences, "photos": assignment,
                "layout": "sequences" if args.sequences else ("unpaired" if args.unpaired else "gopro"),
                "sample_seed": "(seed, global sample index)"}
    _write_json(out / "simulate.json", manifest)

    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), desc=f"simulate {cam.name}", unit="sample")
    dev = args.device
    if args.sequences:
        for job, paths in zip(jobs, all_paths):
            split, _, p, g = job
            seq = render_sequence(photos[p], cam, (args.seed, g), args.size, num_frames=args.frames, delta=args.delta,
                                  num_refs=args.num_refs, device=dev)
            for k in range(args.frames):
                write_image(paths[f"blur{k}"], seq["frames"][k].cpu())
                write_image(paths[f"sharp{k}"], seq["sharp"][k].cpu())
                _write_json(paths[f"meta{k}"], {**seq["metas"][k], "photo": names[p]})
            _write_json(paths["sequence"], {**seq["meta"], "photo": names[p], "index": g, "split": split or None,
                                            "long": seq["long"]})
            if bar:
                bar.update(1)
    else:
        for kind in ("pair", "B", "S"):
            todo = [(j, ps) for j, ps in zip(jobs, all_paths) if j[1] == kind]
            for s in range(0, len(todo), args.batch):
                chunk = todo[s:s + args.batch]
                blur, sharp, metas = render_batch([photos[j[2]] for j, _ in chunk], cam,
                                                  [(args.seed, j[3]) for j, _ in chunk], size=args.size, device=dev,
                                                  names=[names[j[2]] for j, _ in chunk], sharp_only=kind == "S")
                for b, ((split, _, p, g), ps) in enumerate(zip([c[0] for c in chunk], [c[1] for c in chunk])):
                    if "blur" in ps:
                        write_image(ps["blur"], blur[b].cpu())
                    if "sharp" in ps:
                        write_image(ps["sharp"], sharp[b].cpu())
                    _write_json(ps["meta"], {**metas[b], "index": g, "split": split or None, "role": kind})
                if bar:
                    bar.update(len(chunk))
    if bar:
        bar.close()
    print(f"wrote {len(jobs)} {'sequences' if args.sequences else 'samples'} of camera '{cam.name}' to {out}")
