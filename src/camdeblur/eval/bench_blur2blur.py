"""The miniature Blur2Blur Table 2: known domain = a simulated camera (``gopro``), unknown camera =
another simulated camera (``phone``, ``rsblur``, or a camera YAML); the photos are split so B, S and
the test set never share a photo.

Rows (PSNR/SSIM on the unknown camera's test pairs): ``input``; ``direct`` (the known-domain
deblurrer on the input); ``synthetic`` (a deblurrer trained on S with imgaug-style linear motion
blur); ``blur2blur`` (known-domain deblurrer on the translated input); ``supervised`` (trained on
the unknown camera's own pairs — the upper bound).

    rows = run_mini_pipeline("out/", camera="phone")      # also writes out/results.json and results.md

NIQE needs a NIQE model file and crops of at least 96 px per block; without ``niqe_model`` the
column is ``null``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

__all__ = ["MINI", "BenchPreset", "run_mini_pipeline", "write_markdown"]


@dataclass
class BenchPreset:
    crop: int = 48
    deblurrer: str = "nafnet_tiny"
    deblurrer_args: dict[str, Any] = field(default_factory=lambda: {"width": 8, "enc_blk_nums": [1, 1], "dec_blk_nums": [1, 1]})
    deblurrer_steps: int = 300
    translator: str = "unet_tiny"
    translator_steps: int = 300
    reconstruction: str = "l1"
    lambda_rec: float = 10.0  # with pixel L1 the paper's 0.8 (tuned for perceptual features) lets D win over content
    batch_size: int = 4
    cache: int = 128
    test_items: int = 16
    split: dict[str, float] = field(default_factory=lambda: {"B": 0.45, "S": 0.3, "test": 0.25})


MINI = BenchPreset()
#: paper-scale settings for GPUs (documented, not run in CI)
PAPER = BenchPreset(crop=256, deblurrer="nafnet_gopro_width32", deblurrer_args={}, deblurrer_steps=200_000,
                    translator="mimo_unet", translator_steps=1_000_000, reconstruction="perceptual", lambda_rec=0.8,
                    batch_size=16, cache=0, test_items=256)
PRESETS = {"mini": MINI, "paper": PAPER}


def _write_photos(named, idx: Sequence[int], folder: Path) -> Path:
    from camdeblur.io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    for i in idx:
        name, arr = named[i]
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in Path(str(name)).stem)
        write_image(folder / f"{i:03d}_{safe}.png", arr)
    return folder


def _train_deblurrer(source, out: Path, p: BenchPreset, photos: str | None, seed: int, dataset=None) -> torch.nn.Module:
    """A deblurrer trained on ``sim:<camera>`` pairs of ``photos`` (or on ``dataset``)."""
    from camdeblur.engine.config import load_config
    from camdeblur.methods import supervised as sup

    sets = [f"model.arch={p.deblurrer}", f"train.steps={p.deblurrer_steps}", f"train.batch_size={p.batch_size}",
            "train.val_every=0", f"train.ckpt_every={p.deblurrer_steps}", "train.log_every=50",
            f"data.crop={p.crop}", f"train.seed={seed}", "train.progress=false"]
    cfg = load_config(sup.SupervisedConfig, None, sets)
    cfg.model.args = dict(p.deblurrer_args)
    if dataset is None:
        cfg.data.source, cfg.data.photos = source, photos
        cfg.data.cache, cfg.data.cache_size = p.cache, p.crop
        return sup.train(cfg, out)["trainer"].eval_model()
    from camdeblur.engine.trainer import Trainer
    from camdeblur.losses import build_loss
    from camdeblur.utils import seed_everything

    seed_everything(seed)
    net = sup.build_model(cfg.model)
    tr = Trainer(cfg.train, {"net": net}, dataset, loss_fn=build_loss(cfg.loss), run_dir=out, config_dump=cfg)
    tr.loss_fn = tr.loss_fn.to(tr.device)
    tr.fit()
    return tr.eval_model()


def run_mini_pipeline(out_dir: str | Path, camera: str = "phone", known: str = "gopro", photos: str | None = None,
                      preset: str | BenchPreset = "mini", seed: int = 0, niqe_model: str | None = None) -> list[dict]:
    """Run the five rows for one unknown ``camera``; returns ``[{"camera", "method", "psnr", "ssim", "niqe"}]``
    and writes ``out_dir/results.json`` + ``results.md``."""
    from camdeblur.data import UnpairedImages
    from camdeblur.eval.metrics import psnr, ssim
    from camdeblur.methods import blur2blur as b2b
    from camdeblur.methods.synthetic_blur import SyntheticMotionBlur
    from camdeblur.sim import SimulatedPairs
    from camdeblur.sim.datasets import resolve_photos, split_photos

    t0 = time.time()
    p = PRESETS[preset] if isinstance(preset, str) else preset
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    named = resolve_photos(photos, max_side=256 if p.crop <= 64 else 1024)
    parts = split_photos([n for n, _ in named], p.split, seed)
    d_b = _write_photos(named, parts["B"], out / "photos" / "B")
    d_s = _write_photos(named, parts["S"], out / "photos" / "S")
    d_t = _write_photos(named, parts["test"], out / "photos" / "test")
    d_bs = out / "photos" / "BS"   # B and S photos together: the simulated unpaired protocol re-splits them 0.6:0.4
    _write_photos(named, parts["B"] + parts["S"], d_bs)

    runs = out / "runs" / camera
    known_net = _train_deblurrer(f"sim:{known}", runs / "known_deblurrer", p, str(d_s), seed)
    synth = SyntheticMotionBlur(UnpairedImages(d_s, key="sharp", crop_size=p.crop, augment=True, pad_mode="reflect"),
                                size=(3, 15), seed=seed)
    synth_net = _train_deblurrer(None, runs / "synthetic", p, None, seed, dataset=synth)
    sup_net = _train_deblurrer(f"sim:{camera}", runs / "supervised", p, str(d_bs), seed)

    from camdeblur.engine.config import load_config

    cfg = load_config(b2b.Blur2BlurConfig, None, [
        f"data.blurry=sim:{camera}", f"data.photos={d_bs}", f"known.source=sim:{known}", f"data.crop={p.crop}",
        f"data.cache={p.cache}", f"translator.arch={p.translator}", f"train.steps={p.translator_steps}",
        f"train.batch_size={p.batch_size}", "train.val_every=0", f"train.ckpt_every={p.translator_steps}",
        f"loss.reconstruction={p.reconstruction}", f"loss.overrides={{lambda_rec: {p.lambda_rec}}}",
        f"train.seed={seed}", "train.progress=false"])
    summary = b2b.train(cfg, runs / "blur2blur")
    G = summary["trainer"].unwrap("translator").eval()

    test = SimulatedPairs(camera, photos=str(d_t), size=p.crop, length=p.test_items, seed=seed + 777)
    batch = test.batch(list(range(len(test))))
    y, x = batch["blur"], batch["sharp"]
    from camdeblur.nets.pipeline import _restore

    with torch.no_grad():
        dev = next(known_net.parameters()).device
        y = y.to(dev)
        x = x.to(dev)
        translated = b2b.translate(G.to(dev), y)
        preds = {"input": y, "direct": _restore(known_net.eval(), y), "synthetic": _restore(synth_net.eval(), y),
                 "blur2blur": _restore(known_net, translated), "supervised": _restore(sup_net.eval(), y)}
    rows = []
    for method, pred in preds.items():
        pred = pred.clamp(0, 1)
        nq = None
        if niqe_model:
            from camdeblur.eval.niqe import niqe

            nq = float(sum(niqe(pred[i].permute(1, 2, 0).cpu().numpy(), niqe_model) for i in range(len(pred))) / len(pred))
        rows.append({"camera": camera, "method": method, "psnr": float(psnr(pred, x).mean()),
                     "ssim": float(ssim(pred, x).mean()), "niqe": nq})
    result = {"rows": rows, "config": {"camera": camera, "known": known, "preset": p.__dict__, "seed": seed,
                                       "known_domain": summary["known_domain"], "loss": summary["loss"],
                                       "photos": {k: len(v) for k, v in parts.items()}},
              "seconds": round(time.time() - t0, 1)}
    (out / "results.json").write_text(json.dumps(result, indent=2, default=str))
    (out / "results.md").write_text(write_markdown(rows))
    return rows


def write_markdown(rows: Sequence[dict]) -> str:
    lines = ["| camera | method | PSNR | SSIM | NIQE |", "|---|---|---|---|---|"]
    for r in rows:
        nq = "-" if r.get("niqe") is None else f"{r['niqe']:.3f}"
        lines.append(f"| {r['camera']} | {r['method']} | {r['psnr']:.2f} | {r['ssim']:.4f} | {nq} |")
    return "\n".join(lines) + "\n"
