"""Supervised training of a deblurrer on paired data (real folders or the camera simulator).

This is how a user gets a deblurrer for a *known* blur domain without official weights, and the
final stage of Blur2Blur/BluRef (a standard deblurrer trained on pairs). The default config below is
the documented YAML (``camdeblur train deblurrer --print-config``)::

    from camdeblur.engine.config import load_config
    from camdeblur.methods.supervised import SupervisedConfig, train
    cfg = load_config(SupervisedConfig, "my.yaml", ["train.steps=2000", "data.source=sim:gopro"])
    summary = train(cfg, out="runs/nafnet-gopro")          # -> run folder with model.safetensors
    net = camdeblur.load_model(weights="runs/nafnet-gopro/model.safetensors")

Data sources (``data.source`` / ``val.source``):

- a folder with a paired layout (``blur/`` + ``sharp/``, GoPro ``<split>/<scene>/{blur,sharp}``, REDS),
  opened by :func:`camdeblur.data.open_paired` (``split`` selects ``train``/``test`` in GoPro-style trees);
- ``sim:<camera>`` — pairs rendered on the fly by :class:`camdeblur.sim.SimulatedPairs` from sharp photos
  (``photos``) with a camera preset (``gopro``, ``reds``, ``phone``, ...) or a camera YAML file.

Without ``val.source``, a simulated training source validates on the same camera with a held-out seed
(and, when ``val.photos`` is given, held-out photos); a folder source validates on its ``test`` split
when there is one.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from camdeblur.engine.optim import EMAConfig, OptimConfig, SchedConfig
from camdeblur.engine.trainer import TrainConfig
from camdeblur.errors import CamdeblurError

__all__ = ["DataConfig", "ModelConfig", "SupervisedConfig", "ValConfig", "build_dataset", "build_model",
           "evaluate", "train"]

SIM_PREFIX = "sim:"
#: side of cached simulator renders when data.cache_size is null (the size of benchmarks/train_supervised.py's test)
DEFAULT_RENDER = 128


@dataclass
class ModelConfig:
    arch: str = field(default="nafnet_tiny", metadata={"help": "registry name or official class name (camdeblur models)"})
    args: dict[str, Any] = field(default_factory=dict, metadata={"help": "constructor keyword arguments, e.g. {width: 16}"})
    weights: str | None = field(default=None, metadata={"help": "initial weights to fine-tune (.pth/.safetensors); null = random init"})


@dataclass
class DataConfig:
    source: str = field(default="sim:gopro", metadata={
        "help": "paired folder (blur/+sharp/, GoPro or REDS layout) or sim:<camera> (gopro, reds, phone, ... or a camera YAML)"})
    split: str | None = field(default=None, metadata={"help": "sub-split of a GoPro/REDS-style folder (e.g. train); null = auto"})
    photos: str | list[str] | None = field(default=None, metadata={
        "help": "sim only: sharp photos to blur: a folder, or a list of files/folders (null = the simulator's default)"})
    crop: int = field(default=64, metadata={"help": "training crop size (pixels, square)"})
    augment: bool = field(default=True, metadata={"help": "random flips and 90-degree rotations"})
    length: int = field(default=4096, metadata={"help": "sim only: samples per epoch"})
    seed: int = field(default=0, metadata={"help": "sim only: seed of the rendered samples"})
    cache: int = field(default=1024, metadata={
        "help": "sim only: render this many pairs once (at cache_size px) and train on random crops/flips of them\n"
                "(rendering is slow on CPU: 1024 pairs of 128 px take ~30 s); 0 = render every sample on the fly"})
    cache_size: int | None = field(default=None, metadata={
        "help": "sim only: size of the cached renders (>= crop); null = max(128, crop). The simulator scales the\n"
                "photo to the render size, so renders of the size you deblur at match its content scale"})

    def __post_init__(self):
        if self.cache and self.cache_size is not None and self.cache_size < self.crop:
            raise ValueError(f"data.cache_size ({self.cache_size}) must be >= data.crop ({self.crop})")
        if self.crop < 8:
            raise ValueError(f"data.crop must be >= 8, got {self.crop}")
        if self.length < 1:
            raise ValueError(f"data.length must be >= 1, got {self.length}")


@dataclass
class ValConfig:
    source: str | None = field(default=None, metadata={
        "help": "validation pairs (folder or sim:<camera>); null = held-out samples of the training source"})
    split: str | None = field(default=None, metadata={"help": "sub-split of a folder source (null = test when it exists)"})
    photos: str | list[str] | None = field(default=None, metadata={
        "help": "sim only: held-out sharp photos, folder or list (null = the training photos with another seed)"})
    crop: int | None = field(default=128, metadata={"help": "validation crop (a fixed crop per image); null = full images"})
    length: int = field(default=32, metadata={"help": "sim only: number of validation samples"})
    seed: int = field(default=1_000_003, metadata={"help": "sim only: seed of the validation samples (differs from data.seed)"})
    max_images: int = field(default=0, metadata={"help": "use at most this many validation images (0 = all)"})


def _default_model() -> ModelConfig:
    # nafnet_tiny without full-resolution blocks: ~0.7x the step cost of nafnet_tiny and better at equal compute
    # (benchmarks/train_supervised.py, 1 thread, held-out sim gopro: +1.50 dB after 2993 steps vs nafnet_tiny's
    # +1.41 after 2125; +1.34 after 1496 vs +1.18 after 1062)
    return ModelConfig(arch="nafnet_tiny_cpu")


def _default_train() -> TrainConfig:
    # the small-CPU recipe of benchmarks/train_supervised.py (batch 8 of 64-px crops, AdamW 3e-3 with a short
    # warm-up and cosine decay, gradient clipping, EMA weights exported). Measured there on the held-out simulated
    # gopro test (1 thread, 2125 steps = a quiet 2-core 5-minute run): +1.41 dB. At equal compute (1062 steps)
    # lr 3e-3 (+1.18) beat 1.5e-3 (+0.95) and 6e-3 (+0.98); Charbonnier beat the PSNR loss (+0.89); 64-px crops
    # of batch 8 beat 128-px crops of batch 2 (+0.87) and tied batch 4 for twice the steps (+1.22); EMA on/off tied.
    return TrainConfig(
        steps=4000, batch_size=8, log_every=50, val_every=500, ckpt_every=500,
        optim=OptimConfig(name="adamw", lr=3e-3, betas=(0.9, 0.9), weight_decay=0.0, grad_clip=0.5),
        sched=SchedConfig(name="cosine", warmup_steps=50, eta_min=1e-6),
        ema=EMAConfig(enabled=True, decay=0.999),
    )


@dataclass
class SupervisedConfig:
    """``camdeblur train deblurrer``: a deblurrer trained on aligned blurry/sharp pairs."""

    model: ModelConfig = field(default_factory=_default_model, metadata={"help": "the deblurring network"})
    loss: Any = field(default="charbonnier", metadata={
        "help": "camdeblur.losses.build_loss spec: a name (l1, charbonnier, psnr, mimo, ...),\n"
                "{name: ..., options...}, or a weighted sum {l1: 1.0, perceptual: 0.05}"})
    data: DataConfig = field(default_factory=DataConfig, metadata={"help": "training pairs"})
    val: ValConfig = field(default_factory=ValConfig, metadata={"help": "validation pairs (PSNR/SSIM every train.val_every steps)"})
    train: TrainConfig = field(default_factory=_default_train, metadata={"help": "training loop"})


# ------------------------------------------------------------------------------------------ data
def _is_sim(source: str) -> bool:
    return source.startswith(SIM_PREFIX)


def _photo_list(photos: str | list[str] | None) -> Any:
    if photos is None:
        return None
    items = [photos] if isinstance(photos, str) else list(photos)
    for p in items:
        if not Path(p).exists():
            raise CamdeblurError("photo file or folder not found", where=p, fix="set data.photos to sharp photos")
    return items[0] if isinstance(photos, str) else items


def _simulated(camera: str, photos: str | None, size: int | None, length: int, seed: int, augment: bool):
    try:
        from camdeblur.sim import SimulatedPairs
    except ImportError:
        raise CamdeblurError("the camera simulator (camdeblur.sim.SimulatedPairs) is not available",
                             fix="use a paired folder as data.source") from None
    kwargs: dict[str, Any] = {"camera": camera, "photos": _photo_list(photos), "length": length, "seed": seed}
    if size is not None:
        kwargs["size"] = size
    ds = SimulatedPairs(**kwargs)
    if augment:
        ds = _FlipRot(ds)
    return ds


class _FlipRot(torch.utils.data.Dataset):
    """Random flips/rot90 on top of a paired dataset (seeded per sample through ``reseed``)."""

    def __init__(self, dataset):
        import numpy as np

        self.dataset = dataset
        self._rng = np.random.default_rng(0)

    def __len__(self):
        return len(self.dataset)

    def reseed(self, seed: int) -> None:
        import numpy as np

        inner = getattr(self.dataset, "reseed", None)
        if callable(inner):
            inner(seed)
        self._rng = np.random.default_rng([seed, 0xF11F])

    def __getitem__(self, i):
        from camdeblur.data.transforms import random_flip_rot

        return random_flip_rot(self.dataset[i], self._rng, hflip=True, vflip=True, rot90=True)


class CachedPairs(torch.utils.data.Dataset):
    """Pairs rendered once and kept in memory; items are random ``crop`` crops (+ flips/rot90) of them.

    The crop and flips come from the per-sample seed set through ``reseed`` (the trainer's stream),
    so training on a cache resumes exactly too.
    """

    def __init__(self, dataset, crop: int, augment: bool = True):
        import numpy as np

        from camdeblur.data.transforms import Augment

        blur, sharp = [], []
        render = getattr(dataset, "batch", None)  # SimulatedPairs renders chunks in one vectorised call
        chunk = 16 if callable(render) else 1
        for start in range(0, len(dataset), chunk):
            idx = list(range(start, min(start + chunk, len(dataset))))
            if callable(render):
                b = render(idx)
                blur.extend(b["blur"])
                sharp.extend(b["sharp"])
            else:
                item = dataset[start]
                blur.append(item["blur"])
                sharp.append(item["sharp"])
        self.blur, self.sharp = torch.stack(blur), torch.stack(sharp)
        self.augment = Augment(crop_size=crop, flip=augment, rot90=augment, pad_mode="reflect")
        self._rng = np.random.default_rng(0)

    def __len__(self) -> int:
        return len(self.blur)

    def reseed(self, seed: int) -> None:
        import numpy as np

        self._rng = np.random.default_rng([seed, 0xCAC4E])

    def __getitem__(self, i: int) -> dict:
        out = self.augment({"blur": self.blur[i], "sharp": self.sharp[i]}, self._rng)
        out["name"] = f"cached-{i:05d}"
        return out


def build_dataset(source: str, *, crop: int | None, augment: bool, split: str | None = None,
                  photos: str | list[str] | None = None, length: int = 1024, seed: int = 0, cache: int = 0,
                  cache_size: int | None = None):
    """A paired dataset from a folder or ``sim:<camera>`` (see the module docstring)."""
    if _is_sim(source):
        camera = source[len(SIM_PREFIX):] or "gopro"
        if cache:
            cache_size = cache_size or max(DEFAULT_RENDER, crop or DEFAULT_RENDER)
            return CachedPairs(_simulated(camera, photos, cache_size, cache, seed, augment=False), crop or cache_size,
                               augment)
        return _simulated(camera, photos, crop, length, seed, augment)
    root = Path(source)
    if not root.exists():
        raise CamdeblurError("paired data folder not found", where=root,
                             fix="set data.source to a paired folder or sim:<camera> (e.g. sim:gopro)")
    from camdeblur.data import open_paired

    return open_paired(root, crop_size=crop, augment=augment, seed=seed, split=split, pad_mode="reflect")


class _Subset(torch.utils.data.Dataset):
    def __init__(self, dataset, n: int):
        self.dataset, self.n = dataset, min(n, len(dataset))

    def __len__(self):
        return self.n

    def reseed(self, seed: int) -> None:
        inner = getattr(self.dataset, "reseed", None)
        if callable(inner):
            inner(seed)

    def __getitem__(self, i):
        return self.dataset[i]


def build_val_dataset(cfg: SupervisedConfig):
    """The validation set (``None`` when there is none)."""
    v = cfg.val
    source = v.source
    split = v.split
    if source is None:
        if _is_sim(cfg.data.source):
            source = cfg.data.source
        else:
            root = Path(cfg.data.source)
            from camdeblur.data import find_pairs

            try:
                find_pairs(root, split=split or "test")
                source, split = str(root), split or "test"
            except CamdeblurError:
                return None
    if _is_sim(source):
        ds = _simulated(source[len(SIM_PREFIX):] or "gopro", v.photos if v.photos is not None else cfg.data.photos,
                        v.crop, v.length, v.seed, augment=False)
    else:
        ds = build_dataset(source, crop=v.crop, augment=False, split=split)
    if v.max_images and len(ds) > v.max_images:
        ds = _Subset(ds, v.max_images)
    return ds


# ----------------------------------------------------------------------------------------- model
def build_model(cfg: ModelConfig) -> nn.Module:
    from camdeblur.nets.registry import create_model, load_model

    if cfg.weights:
        return load_model(cfg.arch, weights=cfg.weights, eval=False, **cfg.args)
    return create_model(cfg.arch, **cfg.args)


def _restore(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    restore = getattr(net, "restore", None)
    out = restore(x) if callable(restore) else net(x)
    if isinstance(out, (list, tuple)):
        out = max(out, key=lambda t: t.shape[-1] * t.shape[-2])
    return out


@torch.no_grad()
def evaluate(net: nn.Module, dataset, batch_size: int = 4, device: str | torch.device | None = None) -> dict[str, float]:
    """Mean PSNR/SSIM (``gopro`` preset) of ``net`` on a paired dataset, and of the blurry input itself."""
    from torch.utils.data import DataLoader

    from camdeblur.engine.trainer import _collate, to_device
    from camdeblur.eval.metrics import psnr, ssim

    device = torch.device(device) if device is not None else next(net.parameters()).device
    was = net.training
    net.eval()
    if hasattr(dataset, "reseed"):
        dataset.reseed(0)
    sums = {"psnr": 0.0, "ssim": 0.0, "psnr_input": 0.0, "ssim_input": 0.0}
    n = 0
    for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=_collate):
        batch = to_device(batch, device)
        blur, sharp = batch["blur"].float(), batch["sharp"].float()
        pred = _restore(net, blur).float().clamp(0, 1)
        sums["psnr"] += float(psnr(pred, sharp).sum())
        sums["ssim"] += float(ssim(pred, sharp).sum())
        sums["psnr_input"] += float(psnr(blur.clamp(0, 1), sharp).sum())
        sums["ssim_input"] += float(ssim(blur.clamp(0, 1), sharp).sum())
        n += sharp.shape[0]
    net.train(was)
    out = {k: v / max(n, 1) for k, v in sums.items()}
    out["psnr_gain"] = out["psnr"] - out["psnr_input"]
    out["images"] = n
    return out


# ----------------------------------------------------------------------------------------- train
def train(cfg: SupervisedConfig, out: str | Path | None, resume: bool | str | Path = False,
          argv: Sequence[str] | None = None, stop_at: int | None = None) -> dict[str, Any]:
    """Train a deblurrer; returns the trainer summary (``step``, ``val``, ``best``, ``exported``...).

    ``out`` is the run folder (config.yaml, command.txt, metrics.jsonl, checkpoints/, model.safetensors);
    ``resume=True`` continues from its ``checkpoints/last.pt``. Works unchanged under ``torchrun``.
    """
    from camdeblur.engine.trainer import Trainer
    from camdeblur.losses import build_loss
    from camdeblur.utils import seed_everything

    data = build_dataset(cfg.data.source, crop=cfg.data.crop, augment=cfg.data.augment, split=cfg.data.split,
                         photos=cfg.data.photos, length=cfg.data.length, seed=cfg.data.seed, cache=cfg.data.cache,
                         cache_size=cfg.data.cache_size)
    val = build_val_dataset(cfg) if cfg.train.val_every else None
    seed_everything(cfg.train.seed)
    net = build_model(cfg.model)
    loss = build_loss(cfg.loss)
    trainer = Trainer(cfg.train, {"net": net}, data, loss_fn=loss, val_data=val,
                      predict=lambda m, b: _restore(m, b["blur"]), run_dir=out, config_dump=cfg, resume=resume)
    trainer.loss_fn = loss.to(trainer.device)
    if trainer.is_main and trainer.resumed_from is None and out is not None:
        info = loss.describe() if hasattr(loss, "describe") else {"loss": repr(loss)}
        trainer.log({"loss_config": info, "params": sum(p.numel() for p in net.parameters()),
                     "train_samples": len(data), "val_samples": len(val) if val is not None else 0})
    if argv is not None and trainer.run is not None:
        trainer.run.write_command(list(argv), resumed=trainer.resumed_from is not None)
        trainer._command_pending = False
    summary = trainer.fit(stop_at=stop_at)
    summary["trainer"] = trainer
    return summary


if __name__ == "__main__":  # pragma: no cover - `python -m camdeblur.methods.supervised --help`
    from camdeblur.cli.main import main

    sys.exit(main(["train", "deblurrer", *sys.argv[1:]]))
