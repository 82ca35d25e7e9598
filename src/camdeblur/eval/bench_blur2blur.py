"""The miniature Blur2Blur Table 2: known blur domain K = a simulated camera (``gopro``); unknown cameras
= other simulated cameras (``phone``, ``rsblur``, or camera YAML files).

The photos are split once into disjoint **B** (the unknown camera's blurry set is rendered from them),
**S** (its sharp set) and **test** photos; the split is asserted disjoint. Rows per unknown camera
(PSNR/SSIM/NIQE on that camera's test pairs, rendered from the test photos only):

=============  ==============================================================================
``input``      the blurry test frame itself
``direct``     the known-domain deblurrer applied as is
``synthetic``  a deblurrer trained on S with imgaug-style linear motion blur (the paper's baseline)
``blur2blur``  the known-domain deblurrer on the translated frame, ``deblurrer(G_t(y))``
``supervised`` trained on the unknown camera's own pairs (upper bound)
=============  ==============================================================================

Stages and where they live in the output folder (each is a resumable run folder; a finished stage
is skipped on a rerun, an interrupted one resumes from its last checkpoint)::

    OUT/photos/{B,S,BS,test}/        the photo split (BS = B and S: training photos of the deblurrers)
    OUT/shared/known_deblurrer/      K's deblurrer, trained on sim:<known> pairs of BS  (once, all cameras)
    OUT/shared/synthetic/            deblurrer trained on S + linear motion blur         (once, all cameras)
    OUT/<camera>/data/B/             the camera's blurry set B (renders of the B photos, a plain folder)
    OUT/<camera>/blur2blur/          translator run (camdeblur.methods.blur2blur.train on B, S, K)
    OUT/<camera>/supervised/         upper bound, trained on sim:<camera> pairs of BS
    OUT/<camera>/results.json        rows + converter validation (paper Table 6) of this camera

The translator sees exactly what a user's ``camdeblur blur2blur train --blurry B/ --sharp S/
--known ...`` sees: a folder of blurry frames, a folder of sharp photos and the known domain
(here ``sim:<known>`` applied to S, standing in for a kernel-space transfer).

Stage settings are configurable so tuned recipes drop in: ``translator_config`` (a Blur2Blur YAML, e.g.
from ``camdeblur blur2blur train --print-config``) and ``translator_sets`` (``key=value`` overrides of
:class:`~camdeblur.methods.blur2blur.Blur2BlurConfig`), ``deblurrer_sets`` (overrides of
:class:`~camdeblur.methods.supervised.SupervisedConfig`, for all three deblurrers). The bench itself
sets the data paths, the known domain, ``train.steps`` (``translator_steps`` / ``deblurrer_steps``),
the crop, the seeds and the checkpoint cadence.

    res = run_bench("out/", cameras=["phone", "rsblur"], preset="mini")   # writes out/results.json + results.md

NIQE needs a NIQE model file (e.g. ``../shared/iqa/niqe_pris_params.npz``) and at least two 96-px
blocks per image; without ``niqe_model`` the column is ``null``.

Presets:

- ``mini`` (CPU): tiny NAFNet deblurrers (width 16, 3 levels), the translator of the Blur2Blur ``mini``
  config preset (tiny identity-initialised UNet, high-pass PatchGAN, pixel reconstruction loss; see
  :data:`camdeblur.methods.blur2blur.CONFIG_PRESETS`), 48-px crops, photos at 384 px; budget in :class:`BenchPreset`.
- ``paper`` (GPUs; documented, not run in CI): NAFNet-width32 deblurrers (200K steps), MIMO-UNet
  translator with the paper's loss preset (log-likelihood GAN, VGG19 perceptual reconstruction,
  lambda_rec 0.8), blur-degree curriculum, 256-px crops, batch 16, 1M translator steps, photos at
  1024 px, 200 test pairs per camera::

      camdeblur bench blur2blur --preset paper --photos /data/sharp_photos --niqe-model niqe_pris_params.npz \
          --out bench/paper       # add --translator-set loss.perceptual_weights=vgg19.pth for real VGG19 weights
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from camdeblur.errors import CamdeblurError

__all__ = ["BenchPreset", "MINI", "PAPER", "PRESETS", "METHODS", "run_bench", "run_mini_pipeline", "write_markdown",
           "resolve_preset", "train_translator_stage", "train_deblurrer_stage"]

METHODS = ("input", "direct", "synthetic", "blur2blur", "supervised")


def _mini_deblurrer() -> list[str]:
    return ["model.arch=nafnet_tiny", "model.args={width: 16, enc_blk_nums: [1, 1, 1], dec_blk_nums: [1, 1, 1]}",
            "train.batch_size=8"]


def _mini_translator() -> list[str]:
    """The Blur2Blur ``mini`` config preset (:data:`camdeblur.methods.blur2blur.CONFIG_PRESETS`), batch 8."""
    from camdeblur.methods.blur2blur import preset_overrides

    return [*preset_overrides("mini"), "train.batch_size=8"]


@dataclass
class BenchPreset:
    """Settings of one benchmark run (all stages). ``steps`` are optimizer steps.

    Mini budget (two unknown cameras, 2 cores): 4 deblurrer stages x 2500 steps and 2 translator stages x
    3000 steps. At 3000 / 6000 (the earlier budget) on the quiet 2-core machine (corpus photos, 2 threads):
    known-domain deblurrer 642 s, synthetic 700 s, phone translator 732 s, phone supervised 553 s, renders +
    evaluation + converter validation ~65 s per camera: ~67 min for two cameras, over the 60-min target, and
    the phone translator was worse at 6000 steps than at 1500 (blur2blur 20.44 vs 21.10 dB). Hence 2500 / 3000.
    At 2500 / 3000 the same command took 46 min 20 s (benchmarks/blur2blur_translator.md section 7b).
    """

    crop: int = 48                       # training crop of every stage
    split: dict[str, float] = field(default_factory=lambda: {"B": 0.45, "S": 0.3, "test": 0.25})
    max_side: int = 384                  # photos are downscaled to this long side first
    b_images: int = 96                   # renders of the unknown camera in its blurry set B
    render_size: int = 96                # side of those renders (and of the cached training renders)
    cache: int = 256                     # simulated training items rendered once and reused (0 = on the fly)
    test_size: int = 192                 # test crops (>= 192 so NIQE has two 96-px blocks)
    test_items: int = 24                 # test pairs per camera
    deblurrer_steps: int = 2500          # x4 stages (known, synthetic, supervised per camera)
    deblurrer_sets: list[str] = field(default_factory=_mini_deblurrer)
    synthetic_size: list[int] = field(default_factory=lambda: [3, 15])   # linear motion kernel lengths (px)
    translator_steps: int = 3000         # per camera
    translator_config: str | None = None  # Blur2Blur YAML applied before translator_sets
    translator_sets: list[str] = field(default_factory=_mini_translator)
    classifier: dict[str, Any] = field(default_factory=lambda: {"steps": 300, "batch_size": 16, "crop": 48, "width": 16})


MINI = BenchPreset()
#: Paper scale, for GPUs (documented, not run in CI): full-size NAFNet-width32 deblurrers, MIMO-UNet translator
#: with the paper's perceptual loss and lambda_rec 0.8, 256-px crops, batch 16, 1M translator steps (paper Sec. 4.1).
PAPER = BenchPreset(
    crop=256, max_side=1024, b_images=2000, render_size=320, cache=0, test_size=512, test_items=200,
    deblurrer_steps=200_000,
    deblurrer_sets=["model.arch=nafnet_gopro_width32", "train.batch_size=16"],
    translator_steps=1_000_000,
    translator_sets=["translator.arch=mimo_unet", "discriminator.arch=patchgan", "train.batch_size=16",
                     "loss.preset=paper", "loss.reconstruction=perceptual", "loss.overrides={lambda_rec: 0.8}",
                     "curriculum.enabled=true"],
    classifier={"steps": 5000, "batch_size": 32, "crop": 128, "width": 32},
)
PRESETS = {"mini": MINI, "paper": PAPER}


def resolve_preset(preset: str | BenchPreset = "mini", overrides: Sequence[str] = (),
                   translator_sets: Sequence[str] = (), deblurrer_sets: Sequence[str] = (),
                   translator_config: str | None = None) -> BenchPreset:
    """A copy of the named preset with ``key=value`` ``overrides`` of its fields and extra deblurrer
    overrides appended after the preset's own. A Blur2Blur YAML ``translator_config`` (e.g. a tuned
    recipe from ``camdeblur blur2blur train --print-config``) replaces the preset's translator settings;
    ``translator_sets`` apply on top of whichever is used."""
    from camdeblur.engine.config import apply_overrides

    if isinstance(preset, str):
        if preset not in PRESETS:
            raise CamdeblurError(f"unknown benchmark preset '{preset}'", fix=f"use one of {', '.join(PRESETS)}")
        preset = PRESETS[preset]
    p = apply_overrides(dataclasses.replace(preset), list(overrides))
    base = list(p.translator_sets)
    if translator_config:  # a whole Blur2Blur recipe: it replaces the preset's translator settings
        if not Path(translator_config).is_file():
            raise CamdeblurError("translator config not found", where=translator_config)
        p.translator_config, base = str(translator_config), []
    return dataclasses.replace(p, translator_sets=[*base, *translator_sets],
                               deblurrer_sets=[*p.deblurrer_sets, *deblurrer_sets])


# ------------------------------------------------------------------------------------------ data
def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(str(name)).stem)


def _write_photos(named, idx: Sequence[int], folder: Path) -> Path:
    from camdeblur.io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for i in idx:
        name, arr = named[i]
        dst = folder / f"{i:03d}_{_safe(name)}.png"
        if not dst.exists():
            write_image(dst, arr)
    return folder


def _check_disjoint(folders: dict[str, Path]) -> None:
    """B, S and test never share a photo (by content hash, so a duplicate under another name is caught)."""
    seen: dict[str, str] = {}
    for part in ("B", "S", "test"):
        for f in sorted(folders[part].iterdir()):
            h = hashlib.sha1(f.read_bytes()).hexdigest()
            if h in seen and seen[h] != part:
                raise CamdeblurError(f"photo {f.name} is in both {seen[h]} and {part}", where=str(f),
                                     fix="B, S and test must be disjoint photo sets")
            seen[h] = part


def _split(out: Path, photos: str | None, p: BenchPreset, seed: int) -> tuple[dict[str, Path], dict[str, int]]:
    from camdeblur.sim.datasets import resolve_photos, split_photos

    named = resolve_photos(photos, max_side=p.max_side)
    parts = split_photos([n for n, _ in named], p.split, seed)
    for a in parts:
        for b in parts:
            assert a == b or not set(parts[a]) & set(parts[b]), f"photo split {a}/{b} overlaps"
    dirs = {k: _write_photos(named, parts[k], out / "photos" / k) for k in ("B", "S", "test")}
    dirs["BS"] = _write_photos(named, parts["B"] + parts["S"], out / "photos" / "BS")
    _check_disjoint(dirs)
    return dirs, {k: len(v) for k, v in parts.items()}


def _render_folder(camera: str, photos: Path, folder: Path, n: int, size: int, seed: int) -> Path:
    """``n`` blurry renders of ``camera`` from ``photos`` as PNGs (skipped when the folder is complete)."""
    from camdeblur.io import write_image
    from camdeblur.sim import SimulatedPairs

    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    ds = SimulatedPairs(camera, photos=str(photos), size=size, length=n, seed=seed)
    for a in range(0, n, 16):
        b = ds.batch(list(range(a, min(n, a + 16))))
        for j, img in enumerate(b["blur"]):
            write_image(folder / f"{a + j:05d}.png", img.permute(1, 2, 0).numpy())
    done.write_text(str(n))
    return folder


# ---------------------------------------------------------------------------------------- stages
def _finished(run: Path, name: str) -> Path | None:
    f = run / name
    return f if f.exists() else None


def train_deblurrer_stage(run: Path, p: BenchPreset, seed: int, source: str | None = None, photos: str | None = None,
                          dataset=None) -> Path:
    """A deblurrer on ``source`` (``sim:<camera>`` pairs of ``photos``) or on a paired ``dataset``;
    returns ``run/model.safetensors`` (reused if it exists; an interrupted run resumes)."""
    from camdeblur.engine.config import load_config
    from camdeblur.methods import supervised as sup

    done = _finished(run, "model.safetensors")
    if done:
        return done
    ckpt = max(25, p.deblurrer_steps // 10)
    sets = [*p.deblurrer_sets, f"train.steps={p.deblurrer_steps}", "train.val_every=0", f"train.ckpt_every={ckpt}",
            f"train.log_every={min(50, ckpt)}", f"data.crop={p.crop}", f"train.seed={seed}", "train.progress=false"]
    if dataset is None:
        sets += [f"data.source={source}", f"data.photos={photos}", f"data.cache={p.cache}",
                 f"data.cache_size={max(p.crop, p.render_size)}", f"data.seed={seed}"]
    cfg = load_config(sup.SupervisedConfig, None, sets)
    if dataset is None:
        sup.train(cfg, run, resume=True)
    else:
        from camdeblur.engine.trainer import Trainer
        from camdeblur.losses import build_loss
        from camdeblur.utils import seed_everything

        seed_everything(seed)
        net = sup.build_model(cfg.model)
        loss = build_loss(cfg.loss)
        tr = Trainer(cfg.train, {"net": net}, dataset, loss_fn=loss, run_dir=run, config_dump=cfg, resume=True)
        tr.loss_fn = loss.to(tr.device)
        tr.fit()
    if not (run / "model.safetensors").exists():
        raise CamdeblurError("deblurrer training ended without model.safetensors", where=str(run))
    return run / "model.safetensors"


def translator_config(p: BenchPreset, blurry: Path, sharp: Path, known: str, seed: int, steps: int | None = None):
    """The :class:`~camdeblur.methods.blur2blur.Blur2BlurConfig` of the translator stage."""
    from camdeblur.engine.config import load_config
    from camdeblur.methods import blur2blur as b2b

    steps = p.translator_steps if steps is None else steps
    ckpt = max(25, steps // 10)
    return load_config(b2b.Blur2BlurConfig, p.translator_config, [
        *p.translator_sets, f"data.blurry={blurry}", f"data.sharp={sharp}", f"known.source={known}",
        f"data.crop={p.crop}", f"data.cache={p.cache}", f"data.seed={seed}", f"train.steps={steps}",
        "train.val_every=0", f"train.ckpt_every={ckpt}", f"train.log_every={min(50, ckpt)}", f"train.seed={seed}",
        "train.progress=false"])


def train_translator_stage(run: Path, cfg) -> tuple[torch.nn.Module, torch.nn.Module, str]:
    """Train (or reuse / resume) the translator of ``cfg`` in ``run``; returns ``(G_t, D, known-domain text)``."""
    from camdeblur.methods import blur2blur as b2b
    from camdeblur.nets.registry import load_model

    g, d = run / "translator.safetensors", run / "discriminator.safetensors"
    info = run / "bench_stage.json"
    if not (g.exists() and d.exists() and info.exists()):
        s = b2b.train(cfg, run, resume=True)
        info.write_text(json.dumps({"known_domain": s["known_domain"], "loss": s["loss"]}, default=str))
    meta = json.loads(info.read_text())
    return load_model(weights=g).eval(), load_model(weights=d).eval(), meta["known_domain"]


# ------------------------------------------------------------------------------------------ eval
def _rows(camera: str, preds: dict[str, torch.Tensor], sharp: torch.Tensor, niqe_model: str | None) -> list[dict]:
    from camdeblur.eval.metrics import psnr, ssim

    rows = []
    for method in METHODS:
        pred = preds[method].clamp(0, 1)
        nq = None
        if niqe_model:
            from camdeblur.eval.niqe import niqe

            nq = float(sum(niqe(pred[i].permute(1, 2, 0).cpu().numpy(), niqe_model) for i in range(len(pred))) / len(pred))
        rows.append({"camera": camera, "method": method, "psnr": float(psnr(pred, sharp).mean()),
                     "ssim": float(ssim(pred, sharp).mean()), "niqe": nq})
    return rows


@torch.no_grad()
def _batched(fn, x: torch.Tensor, bs: int = 8) -> torch.Tensor:
    return torch.cat([fn(x[i:i + bs]) for i in range(0, len(x), bs)])


def _load_images(folder: Path) -> torch.Tensor:
    from camdeblur.io import list_images, read_rgb

    return torch.stack([torch.from_numpy(read_rgb(f)).permute(2, 0, 1) for f in list_images(folder)])


def _camera_name(camera: str) -> str:
    return Path(camera).stem if camera.endswith((".yaml", ".yml")) else camera


def _bench_camera(out: Path, camera: str, known: str, dirs: dict[str, Path], shared: dict[str, Path],
                  p: BenchPreset, seed: int, niqe_model: str | None) -> dict[str, Any]:
    from camdeblur.eval.converter_validation import ClassifierConfig, validate_converter
    from camdeblur.methods import blur2blur as b2b
    from camdeblur.nets.pipeline import _restore
    from camdeblur.nets.registry import load_model
    from camdeblur.sim import SimulatedPairs
    from camdeblur.utils import pick_device

    name = _camera_name(camera)
    cam_dir = out / name
    seconds: dict[str, float] = {}
    t = time.time()
    b_dir = _render_folder(camera, dirs["B"], cam_dir / "data" / "B", p.b_images, p.render_size, seed + 101)
    seconds["render_B"] = round(time.time() - t, 1)

    t = time.time()
    cfg = translator_config(p, b_dir, dirs["S"], f"sim:{known}", seed)
    G, D, known_desc = train_translator_stage(cam_dir / "blur2blur", cfg)
    seconds["translator"] = round(time.time() - t, 1)

    t = time.time()
    sup_file = train_deblurrer_stage(cam_dir / "supervised", p, seed, source=f"sim:{camera}", photos=str(dirs["BS"]))
    seconds["supervised"] = round(time.time() - t, 1)

    t = time.time()
    dev = pick_device("auto")
    test = SimulatedPairs(camera, photos=str(dirs["test"]), size=p.test_size, length=p.test_items, seed=seed + 777)
    batch = test.batch(list(range(len(test))))
    y, x = batch["blur"], batch["sharp"]
    nets = {k: load_model(weights=f, device=dev).eval() for k, f in
            (("direct", shared["known"]), ("synthetic", shared["synthetic"]), ("supervised", sup_file))}
    G, D = G.to(dev), D.to(dev)
    translated = _batched(lambda v: b2b.translate(G, v.to(dev)).cpu(), y)

    def run(net):
        return lambda v: _restore(net, v.to(dev)).clamp(0, 1).cpu()

    preds = {"input": y, "direct": _batched(run(nets["direct"]), y), "synthetic": _batched(run(nets["synthetic"]), y),
             "blur2blur": _batched(run(nets["direct"]), translated), "supervised": _batched(run(nets["supervised"]), y)}
    rows = _rows(name, preds, x, niqe_model)
    seconds["eval"] = round(time.time() - t, 1)

    # converter validation (paper Table 6): K vs this camera's blur, judged on held-out test photos
    t = time.time()
    kb = SimulatedPairs(known, photos=str(dirs["test"]), size=p.test_size, length=p.test_items,
                        seed=seed + 777).batch(list(range(p.test_items)))
    test_known = kb["blur"]
    train_known = SimulatedPairs(known, photos=str(dirs["S"]), size=p.render_size, length=p.b_images,
                                 seed=seed + 202).batch(list(range(p.b_images)))["blur"]
    cv = validate_converter(None, D, y, test_known, train_known=train_known, train_blurry=_load_images(b_dir),
                            classifier=ClassifierConfig(**{"seed": seed, **p.classifier}), converted=translated,
                            d_crop=p.crop)
    seconds["converter_validation"] = round(time.time() - t, 1)
    # the known-domain deblurrer on its own domain (same test photos): what blur2blur can reach at best
    from camdeblur.eval.metrics import psnr

    known_check = {"input_psnr": float(psnr(test_known.clamp(0, 1), kb["sharp"]).mean()),
                   "direct_psnr": float(psnr(_batched(run(nets["direct"]), test_known), kb["sharp"]).mean())}
    res = {"camera": name, "rows": rows, "converter_validation": cv, "known_domain": known_desc,
           "known_domain_test": known_check, "seconds": seconds}
    (cam_dir / "results.json").write_text(json.dumps(res, indent=2, default=str))
    return res


def _settings_key(p: BenchPreset, known: str, photos: str | None, seed: int) -> dict[str, Any]:
    return {"preset": asdict(p), "known": known, "photos": str(photos) if photos else None, "seed": seed}


def run_bench(out_dir: str | Path, cameras: Sequence[str] = ("phone", "rsblur"), known: str = "gopro",
              photos: str | None = None, preset: str | BenchPreset = "mini", seed: int = 0,
              niqe_model: str | None = None, log=print) -> dict[str, Any]:
    """Run the benchmark for every unknown camera; writes ``out_dir/results.json`` (``{"rows", "config",
    "seconds", "converter_validation"}``) and ``out_dir/results.md``; returns the results dict.

    Rerunning with the same settings reuses every finished stage; other settings in the same folder are
    refused (one clear error) rather than mixed."""
    p = resolve_preset(preset) if isinstance(preset, str) else preset
    if not cameras:
        raise CamdeblurError("no unknown camera given", fix="pass --camera NAME or --camera-yaml FILE")
    names = [_camera_name(c) for c in cameras]
    if len(set(names)) != len(names) or _camera_name(known) in names:
        raise CamdeblurError(f"camera names must be distinct and differ from the known domain: {names} / {known}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    key = _settings_key(p, known, photos, seed)
    kfile = out / "bench_settings.json"
    if kfile.exists() and json.loads(kfile.read_text()) != json.loads(json.dumps(key, default=str)):
        raise CamdeblurError("the output folder holds a benchmark run with other settings", where=str(out),
                             fix="use another --out folder (or delete this one)")
    kfile.write_text(json.dumps(key, indent=2, default=str))
    t0 = time.time()
    dirs, counts = _split(out, photos, p, seed)
    log(f"photos: {counts} (B, S, test disjoint)")
    seconds: dict[str, Any] = {}

    from camdeblur.data import UnpairedImages
    from camdeblur.methods.synthetic_blur import SyntheticMotionBlur

    t = time.time()
    shared = {"known": train_deblurrer_stage(out / "shared" / "known_deblurrer", p, seed, source=f"sim:{known}",
                                             photos=str(dirs["BS"]))}
    seconds["known_deblurrer"] = round(time.time() - t, 1)
    log(f"known-domain deblurrer: {shared['known']} ({seconds['known_deblurrer']} s)")
    t = time.time()
    synth = SyntheticMotionBlur(UnpairedImages(dirs["S"], key="sharp", crop_size=p.crop, augment=True, pad_mode="reflect"),
                                size=tuple(p.synthetic_size), seed=seed)
    shared["synthetic"] = train_deblurrer_stage(out / "shared" / "synthetic", p, seed, dataset=synth)
    seconds["synthetic"] = round(time.time() - t, 1)
    log(f"synthetic-blur deblurrer: {shared['synthetic']} ({seconds['synthetic']} s)")

    rows: list[dict] = []
    cvs: dict[str, Any] = {}
    known_desc = known_check = None
    for cam in cameras:
        res = _bench_camera(out, cam, known, dirs, shared, p, seed, niqe_model)
        rows += res["rows"]
        cvs[res["camera"]] = res["converter_validation"]
        seconds[res["camera"]] = res["seconds"]
        known_desc, known_check = res["known_domain"], res["known_domain_test"]
        log(write_markdown(res["rows"]).rstrip())
    result = {"rows": rows,
              "config": {"cameras": list(cameras), "known": known, "known_domain": known_desc, "seed": seed,
                         "photos": {"source": photos or "scikit-image", **counts}, "preset": asdict(p),
                         "stage_seconds": seconds},
              "converter_validation": cvs, "known_domain_test": known_check, "seconds": round(time.time() - t0, 1)}
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "results.md").write_text(write_markdown(rows) + "\n" + converter_markdown(cvs))
    return result


def run_mini_pipeline(out_dir: str | Path, camera: str = "phone", known: str = "gopro", photos: str | None = None,
                      preset: str | BenchPreset = "mini", seed: int = 0, niqe_model: str | None = None) -> list[dict]:
    """One unknown ``camera``: the five rows ``[{"camera", "method", "psnr", "ssim", "niqe"}]``."""
    return run_bench(out_dir, [camera], known, photos, preset, seed, niqe_model, log=lambda *a: None)["rows"]


def write_markdown(rows: Sequence[dict]) -> str:
    lines = ["| camera | method | PSNR | SSIM | NIQE |", "|---|---|---|---|---|"]
    for r in rows:
        nq = "-" if r.get("niqe") is None else f"{r['niqe']:.3f}"
        lines.append(f"| {r['camera']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {nq} |")
    return "\n".join(lines) + "\n"


def converter_markdown(cvs: dict[str, Any]) -> str:
    """Paper Table 6 per camera: % judged K by the discriminator (Acc1) and the independent classifier (Acc2)."""
    lines = ["| camera | judge | input % K | converted % K | held-out K % K | classifier held-out acc. |",
             "|---|---|---|---|---|---|"]
    for cam, cv in cvs.items():
        for judge, key in (("discriminator (Acc1)", "discriminator"), ("classifier (Acc2)", "classifier")):
            r = cv.get(key)
            if r:
                acc = f"{100 * r['heldout_accuracy']:.1f}" if "heldout_accuracy" in r else "-"
                lines.append(f"| {cam} | {judge} | {100 * r['input']:.1f} | {100 * r['converted']:.1f} | "
                             f"{100 * r['known']:.1f} | {acc} |")
    return "\n".join(lines) + "\n"
