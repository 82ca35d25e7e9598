"""A small generic training loop shared by every method.

The :class:`Trainer` owns what all methods have in common — device and distributed set-up, an
endless deterministic data stream, optimizers and schedules from config, EMA, gradient clipping,
periodic validation, JSONL logging, a progress bar on a TTY, atomic checkpoints and exact resume —
and calls a method's ``step_fn(trainer, batch, step) -> {name: loss}`` once per step. The step
function owns its forward/backward/optimizer calls (a GAN steps two optimizers, a kernel-space
method trains F and G jointly, ...) through :meth:`Trainer.optimize`. Without a ``step_fn`` the
default is single-loss supervised training ``loss_fn(net(batch[input_key]), batch[target_key])``.

Example (two networks, two optimizers)::

    def gan_step(tr, batch, step):
        G, D = tr.modules["G"], tr.modules["D"]
        fake = G(batch["blur"])
        d_loss = gan(D(fake.detach()), False) + gan(D(batch["sharp"]), True)
        tr.optimize("D", d_loss)
        g_loss = gan(D(fake), True) + l1(fake, batch["blur"])
        tr.optimize("G", g_loss)
        return {"d": d_loss, "g": g_loss}

    tr = Trainer(cfg, {"G": G, "D": D}, data, step_fn=gan_step,
                 optimizers={"G": ["G"], "D": ["D"]}, optim_configs={"D": OptimConfig(lr=4e-4)},
                 run_dir="runs/gan", config=full_cfg, resume=True)
    tr.fit()

Exact resume: the data stream is a pure function of ``(seed, step)`` (epoch permutations seeded by
epoch; every sample gets its own seed through the dataset's ``reseed(seed)`` when it has one, so
random crops repeat too), and checkpoints hold model/optimizer/scheduler/EMA states, the step and
the python/numpy/torch(/CUDA) RNG states of every rank. ``N`` steps straight and ``N/2 + resume + N/2``
give bit-identical weights.

Distributed: under ``torchrun`` each of the ``W`` processes takes its ``batch_size / W`` slice of the
same global batch and trainable modules are wrapped in ``DistributedDataParallel``; rank 0 alone logs,
validates and writes files.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from camdeblur.engine import distributed as D
from camdeblur.engine.checkpoint import capture_rng, load_checkpoint, restore_rng, save_checkpoint
from camdeblur.engine.optim import EMA, EMAConfig, OptimConfig, SchedConfig, build_optimizer, build_scheduler
from camdeblur.engine.run import RunDir
from camdeblur.errors import CamdeblurError

__all__ = ["StepSampler", "TrainConfig", "Trainer", "sample_seed", "to_device"]

StepFn = Callable[["Trainer", Any, int], Mapping[str, Any]]


@dataclass
class TrainConfig:
    """The training loop's settings (shared by every method)."""

    steps: int = field(default=1000, metadata={"help": "total optimizer steps"})
    batch_size: int = field(default=8, metadata={"help": "global batch size (split evenly over torchrun processes)"})
    seed: int = field(default=0, metadata={"help": "seed of weights init, data order and augmentation"})
    device: str = field(default="auto", metadata={"help": "auto | cpu | cuda | cuda:1 | mps"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes (0 = load in the main process)"})
    shuffle: bool = field(default=True, metadata={"help": "shuffle the training set every epoch"})
    log_every: int = field(default=50, metadata={"help": "write averaged losses to metrics.jsonl every N steps"})
    val_every: int = field(default=500, metadata={"help": "validate every N steps and at the end (0 = never)"})
    ckpt_every: int = field(default=500, metadata={"help": "overwrite checkpoints/last.pt every N steps (and at the end)"})
    keep_every: int = field(default=0, metadata={"help": "also keep checkpoints/step_XXXXXX.pt every N steps (0 = off)"})
    save_best: bool = field(default=True, metadata={"help": "keep checkpoints/best.pt of the best validation score"})
    best_metric: str = field(default="psnr", metadata={"help": "validation metric deciding best.pt (higher is better)"})
    val_batch_size: int = field(default=4, metadata={"help": "batch size of validation"})
    progress: bool = field(default=True, metadata={"help": "tqdm progress bar (only ever shown on a TTY)"})
    optim: OptimConfig = field(default_factory=OptimConfig, metadata={"help": "optimizer"})
    sched: SchedConfig = field(default_factory=SchedConfig, metadata={"help": "learning-rate schedule"})
    ema: EMAConfig = field(default_factory=EMAConfig, metadata={"help": "exponential moving average of weights"})

    def __post_init__(self):
        for name in ("steps", "batch_size", "val_batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("log_every", "val_every", "ckpt_every", "keep_every", "num_workers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


# ----------------------------------------------------------------------------------- data stream
def sample_seed(seed: int, position: int) -> int:
    """The seed of the sample at global ``position`` of the stream (independent of rank/worker)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(position)]).generate_state(1, np.uint32)[0])


class StepSampler:
    """Endless batch sampler: step ``s`` is a pure function of ``(seed, s)``.

    The stream concatenates epoch permutations (epoch ``e`` shuffled with seed ``(seed, e)``); step ``s``
    covers global positions ``[s*B, (s+1)*B)`` and this rank yields its contiguous ``B/W`` slice as a
    list of ``(index, sample_seed)`` pairs. Starting at ``start_step`` resumes the stream exactly.
    """

    def __init__(self, length: int, batch_size: int, seed: int = 0, shuffle: bool = True, rank: int = 0,
                 world_size: int = 1, start_step: int = 0):
        if length < 1:
            raise CamdeblurError("the training set is empty", fix="check the data source in the config")
        if batch_size % world_size:
            raise CamdeblurError(f"global batch size {batch_size} is not divisible by {world_size} processes",
                                 fix=f"use --set train.batch_size={max(world_size, batch_size // world_size * world_size)}")
        self.length, self.batch_size, self.seed, self.shuffle = int(length), int(batch_size), int(seed), bool(shuffle)
        self.rank, self.world_size, self.start_step = int(rank), int(world_size), int(start_step)
        self._epoch, self._perm = -1, None

    def index(self, position: int) -> int:
        epoch, offset = divmod(position, self.length)
        if not self.shuffle:
            return offset
        if epoch != self._epoch:
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + epoch) % (2**63))
            self._perm, self._epoch = torch.randperm(self.length, generator=g).tolist(), epoch
        return self._perm[offset]

    def batch(self, step: int) -> list[tuple[int, int]]:
        per_rank = self.batch_size // self.world_size
        start = step * self.batch_size + self.rank * per_rank
        return [(self.index(p), sample_seed(self.seed, p)) for p in range(start, start + per_rank)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        step = self.start_step
        while True:
            yield self.batch(step)
            step += 1


class _Seeded(Dataset):
    """Wraps a dataset so item ``(index, seed)`` reseeds its augmentation before loading ``index``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, item: tuple[int, int]):
        index, seed = item
        reseed = getattr(self.dataset, "reseed", None)
        if callable(reseed):
            reseed(seed)
        return self.dataset[index]


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a (nested) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def _collate(items: list) -> Any:
    """Default collate that keeps per-sample ``meta`` dicts as a list (they may differ in keys)."""
    from torch.utils.data import default_collate

    if items and isinstance(items[0], Mapping):
        out = {}
        for k in items[0]:
            values = [it[k] for it in items]
            out[k] = values if k == "meta" else default_collate(values)
        return out
    return default_collate(items)


def _restore_output(out: Any) -> torch.Tensor:
    """The full-resolution prediction of a network output (a tensor, or a list of scales)."""
    if isinstance(out, (list, tuple)):
        return max(out, key=lambda t: t.shape[-1] * t.shape[-2])
    return out


# ----------------------------------------------------------------------------------------- trainer
class Trainer:
    """Generic training loop; see the module docstring.

    Args:
        config: :class:`TrainConfig`.
        modules: named networks (all are moved to the device, put in train mode, checkpointed).
        data: map-style training dataset (``reseed(seed)`` is called per sample when it exists).
        step_fn: ``(trainer, batch, step) -> {name: loss}`` doing its own backward/optimizer steps via
            :meth:`optimize`; ``None`` = single-loss supervised step on the first module.
        loss_fn: loss of the default step, ``loss_fn(pred, target)``.
        input_key, target_key: batch keys of the default step and of the default validation.
        optimizers: optimizer name -> names of the modules it trains; default ``{"main": <all modules
            with trainable parameters>}``.
        optim_configs: per-optimizer :class:`OptimConfig` overriding ``config.optim``.
        ema_modules: module names to keep an EMA of when ``config.ema.enabled`` (default: the first).
        val_data: dataset for the default validation (PSNR/SSIM of ``predict(net, batch)`` vs target,
            using the EMA copy when there is one).
        validate: custom ``(trainer) -> {metric: float}`` replacing the default validation.
        predict: ``(net, batch) -> prediction`` for the default validation (default: ``net(batch[input_key])``,
            the full-resolution scale of list outputs).
        run_dir: run folder (``None`` = no files at all).
        config: the method's whole config (dataclass or dict) written to ``config.yaml`` and checkpoints.
        resume: ``True`` = continue from ``run_dir``'s ``checkpoints/last.pt`` if it exists; a path = that checkpoint.
        export: module name -> file name of the safetensors weights exported at the end (default: the first
            module to ``model.safetensors`` when it was built by the registry; its EMA copy when EMA is on).
        collate_fn: batch collation (default keeps ``meta`` dicts as lists).
        ddp_kwargs: extra ``DistributedDataParallel`` arguments (e.g. ``find_unused_parameters=True``).
    """

    def __init__(
        self,
        config: TrainConfig,
        modules: Mapping[str, nn.Module] | nn.Module,
        data: Dataset,
        *,
        step_fn: StepFn | None = None,
        loss_fn: Callable[..., torch.Tensor] | None = None,
        input_key: str = "blur",
        target_key: str = "sharp",
        optimizers: Mapping[str, Sequence[str]] | None = None,
        optim_configs: Mapping[str, OptimConfig] | None = None,
        ema_modules: Sequence[str] | None = None,
        val_data: Dataset | None = None,
        validate: Callable[["Trainer"], Mapping[str, float]] | None = None,
        predict: Callable[[nn.Module, Any], torch.Tensor] | None = None,
        run_dir: str | Path | RunDir | None = None,
        config_dump: Any = None,
        resume: bool | str | Path = False,
        export: Mapping[str, str] | None = None,
        collate_fn: Callable | None = None,
        ddp_kwargs: Mapping[str, Any] | None = None,
    ):
        self.cfg = config
        self.info, self.device = D.init_distributed(config.device)
        self.is_main = self.info.is_main
        if isinstance(modules, nn.Module):
            modules = {"net": modules}
        if not modules:
            raise CamdeblurError("the trainer needs at least one module")
        self.nets: dict[str, nn.Module] = {k: m.to(self.device).train() for k, m in modules.items()}
        self.main_name = next(iter(self.nets))
        self.data = data
        self.step_fn = step_fn or _default_step
        self.loss_fn = loss_fn
        if step_fn is None and loss_fn is None:
            raise CamdeblurError("the default training step needs a loss_fn")
        self.input_key, self.target_key = input_key, target_key
        self.val_data, self._validate, self._predict = val_data, validate, predict
        self.config_dump = config_dump if config_dump is not None else config
        self.collate_fn = collate_fn or _collate

        # run folder (rank 0 writes)
        if isinstance(run_dir, RunDir):
            self.run = run_dir
        else:
            self.run = RunDir(run_dir, main=self.is_main) if run_dir is not None else None

        # distributed wrappers: forward through trainer.modules[name], save/export from trainer.nets[name]
        self.modules: dict[str, nn.Module] = {}
        for name, net in self.nets.items():
            trainable = any(p.requires_grad for p in net.parameters())
            if self.info.enabled and trainable:
                from torch.nn.parallel import DistributedDataParallel as DDP

                ids = [self.device.index] if self.device.type == "cuda" else None
                self.modules[name] = DDP(net, device_ids=ids, **dict(ddp_kwargs or {}))
            else:
                self.modules[name] = net

        # optimizers and schedules
        if optimizers is None:
            optimizers = {"main": [n for n, m in self.nets.items() if any(p.requires_grad for p in m.parameters())]}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.optim_cfgs: dict[str, OptimConfig] = {}
        for oname, names in optimizers.items():
            if isinstance(names, str):
                names = [names]
            missing = [n for n in names if n not in self.nets]
            if missing:
                raise CamdeblurError(f"optimizer '{oname}' names unknown module(s) {missing}", fix=f"modules: {list(self.nets)}")
            ocfg = (optim_configs or {}).get(oname, config.optim)
            params = [p for n in names for p in self.nets[n].parameters()]
            self.optimizers[oname] = build_optimizer(params, ocfg)
            self.schedulers[oname] = build_scheduler(self.optimizers[oname], config.sched, config.steps)
            self.optim_cfgs[oname] = ocfg
        self._opt_params = {k: [p for g in o.param_groups for p in g["params"]] for k, o in self.optimizers.items()}
        self._stepped: set[str] = set()  # optimizers that stepped in the current training step

        # EMA
        self.emas: dict[str, EMA] = {}
        if config.ema.enabled:
            for name in (ema_modules or [self.main_name]):
                self.emas[name] = EMA(self.nets[name], config.ema.decay, config.ema.start_step, config.ema.warmup).to(self.device)

        self.export_map = dict(export) if export is not None else None
        self.step = 0
        self.train_time = 0.0
        self.best: float | None = None
        self.last_val: dict[str, float] = {}
        self._resume_source = resume
        self._loader_iter: Iterator | None = None
        self._resumed_from: Path | None = None
        self._command_pending = True
        self._maybe_resume(resume)

    # ------------------------------------------------------------------ public helpers
    def unwrap(self, name: str | None = None) -> nn.Module:
        """The plain module (not the DDP wrapper) named ``name`` (default: the first)."""
        return self.nets[name or self.main_name]

    def eval_model(self, name: str | None = None) -> nn.Module:
        """What validation and export use: the EMA copy when there is one, else the module itself."""
        name = name or self.main_name
        return self.emas[name].module if name in self.emas else self.nets[name]

    def lr(self, optimizer: str | None = None) -> float:
        opt = self.optimizers[optimizer or next(iter(self.optimizers))]
        return float(opt.param_groups[0]["lr"])

    def optimize(self, optimizer: str, loss: torch.Tensor, retain_graph: bool = False) -> None:
        """``zero_grad`` -> ``loss.backward()`` -> clip (``grad_clip``) -> ``step`` for one optimizer."""
        opt = self.optimizers[optimizer]
        opt.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        clip = self.optim_cfgs[optimizer].grad_clip
        if clip > 0:
            torch.nn.utils.clip_grad_norm_(self._opt_params[optimizer], clip)
        opt.step()
        self._stepped.add(optimizer)

    def _advance_schedules(self) -> None:
        """Every schedule follows the global step, also for an optimizer that skipped this step (e.g. a
        translator held fixed while its discriminator warms up); torch warns about that order, so only
        those skipped schedules advance with the warning silenced."""
        for name, s in self.schedulers.items():
            if name in self._stepped:
                s.step()
                continue
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler\.step\(\)` before")
                s.step()

    def log(self, record: Mapping[str, Any]) -> None:
        """Append a record (with ``step`` and ``time`` = cumulative training seconds) to ``metrics.jsonl`` on rank 0."""
        if self.run is not None:
            self.run.log({"step": self.step, "time": round(self.train_time, 3), **record})

    # ------------------------------------------------------------------ state
    def state_dict(self, gather_rng: bool = True) -> dict[str, Any]:
        """The full training state; ``gather_rng`` collects every rank's RNG state (a collective call)."""
        from camdeblur.engine.config import config_to_dict

        models = {}
        for name, net in self.nets.items():
            arch = getattr(net, "camdeblur_arch", None)
            if arch is not None:
                models[name] = {"arch": arch, "config": dict(getattr(net, "camdeblur_config", {}))}
        return {
            "step": self.step,
            "train_time": self.train_time,
            "best": self.best,
            "modules": {k: m.state_dict() for k, m in self.nets.items()},
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "schedulers": {k: s.state_dict() for k, s in self.schedulers.items()},
            "ema": {k: e.module.state_dict() for k, e in self.emas.items()},
            "rng": self._gather_rng() if gather_rng else [capture_rng()],
            "sampler": {"length": len(self.data), "batch_size": self.cfg.batch_size, "seed": self.cfg.seed,
                        "shuffle": self.cfg.shuffle},
            "world_size": self.info.world_size,
            "config": config_to_dict(self.config_dump),
            "models": models,
        }

    def _gather_rng(self) -> list[dict[str, Any]]:
        state = capture_rng()
        if not self.info.enabled:
            return [state]
        out: list[Any] = [None] * self.info.world_size
        torch.distributed.all_gather_object(out, state)
        return out

    def load_state_dict(self, ckpt: Mapping[str, Any], where: Any = None) -> None:
        from camdeblur.weights import load_into

        for k, net in self.nets.items():
            if k not in ckpt["modules"]:
                raise CamdeblurError(f"checkpoint has no module '{k}'", where=where, fix="resume with the same method")
            load_into(net, ckpt["modules"][k], strict=True, where=where)
        for k, opt in self.optimizers.items():
            if k not in ckpt["optimizers"]:
                raise CamdeblurError(f"checkpoint has no optimizer '{k}'", where=where)
            opt.load_state_dict(ckpt["optimizers"][k])
        for k, s in self.schedulers.items():
            s.load_state_dict(ckpt["schedulers"][k])
        for k, e in self.emas.items():
            if k in ckpt.get("ema", {}):
                e.module.load_state_dict(ckpt["ema"][k])
            else:  # EMA switched on mid-run: start from the current weights
                e.module.load_state_dict(self.nets[k].state_dict())
        samp = ckpt.get("sampler", {})
        now = {"length": len(self.data), "batch_size": self.cfg.batch_size, "seed": self.cfg.seed, "shuffle": self.cfg.shuffle}
        changed = [k for k in now if k in samp and samp[k] != now[k]]
        if changed and self.is_main:
            print(f"camdeblur: warning: {', '.join(changed)} changed since the checkpoint; the data stream will "
                  "not repeat the interrupted run exactly", file=sys.stderr)
        self.step = int(ckpt["step"])
        self.train_time = float(ckpt.get("train_time", 0.0))
        self.best = ckpt.get("best")
        rngs = ckpt.get("rng") or []
        if rngs:
            restore_rng(rngs[self.info.rank] if len(rngs) == self.info.world_size else rngs[0])

    def save(self, path: str | Path | None = None) -> Path | None:
        """Write the training state (``checkpoints/last.pt`` by default); collective under torchrun."""
        state = self.state_dict()  # every rank takes part in gathering RNG states
        if not self.is_main or (path is None and self.run is None):
            return None
        path = Path(path) if path is not None else self.run.last
        return save_checkpoint(path, state)

    def _maybe_resume(self, resume: bool | str | Path) -> None:
        if resume is False or resume is None:
            if self.run is not None and self.run.last.is_file():
                raise CamdeblurError("the run folder already holds a run", where=self.run.path,
                                     fix="resume it (--resume / resume=True) or choose another folder")
            if self.run is not None:
                self.run.truncate_metrics(-1)  # leftovers of a run that died before its first checkpoint
            return
        if resume is True:
            if self.run is None:
                raise CamdeblurError("resume=True needs a run folder", fix="pass run_dir")
            if not self.run.last.is_file():
                if self.is_main:
                    print(f"camdeblur: no checkpoint in {self.run.checkpoints}; starting a new run", file=sys.stderr)
                return
            path = self.run.last
        else:
            path = Path(resume)
        ckpt = load_checkpoint(path, map_location=self.device)
        self.load_state_dict(ckpt, where=path)
        self._resumed_from = path
        if self.run is not None:
            self.run.truncate_metrics(self.step)

    @property
    def resumed_from(self) -> Path | None:
        return self._resumed_from

    # ------------------------------------------------------------------ data
    def _loader(self) -> Iterator:
        sampler = StepSampler(len(self.data), self.cfg.batch_size, self.cfg.seed, self.cfg.shuffle,
                              self.info.rank, self.info.world_size, start_step=self.step)
        loader = DataLoader(
            _Seeded(self.data), batch_sampler=sampler, num_workers=self.cfg.num_workers,
            collate_fn=self.collate_fn, pin_memory=self.device.type == "cuda",
            # a private generator: creating the loader must not consume the global torch RNG
            generator=torch.Generator().manual_seed(self.cfg.seed + self.step),
            persistent_workers=self.cfg.num_workers > 0,
        )
        return iter(loader)

    # ------------------------------------------------------------------ validation
    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        """Run validation (rank 0) and return the metrics (``{}`` without validation data)."""
        if self._validate is not None:
            return dict(self._validate(self))
        if self.val_data is None:
            return {}
        from camdeblur.eval.metrics import psnr, ssim

        net = self.eval_model()
        was_training = net.training
        net.eval()
        if hasattr(self.val_data, "reseed"):
            self.val_data.reseed(self.cfg.seed)
        loader = DataLoader(self.val_data, batch_size=self.cfg.val_batch_size, shuffle=False, num_workers=0,
                            collate_fn=self.collate_fn)
        sums = {"psnr": 0.0, "ssim": 0.0, "psnr_input": 0.0}
        n = 0
        for batch in loader:
            batch = to_device(batch, self.device)
            if self._predict is not None:
                pred = self._predict(net, batch)
            else:
                pred = _restore_output(net(batch[self.input_key]))
            pred = pred.float().clamp(0, 1)
            gt = batch[self.target_key].float()
            sums["psnr"] += float(psnr(pred, gt).sum())
            sums["ssim"] += float(ssim(pred, gt).sum())
            sums["psnr_input"] += float(psnr(batch[self.input_key].float().clamp(0, 1), gt).sum())
            n += gt.shape[0]
        net.train(was_training)
        return {k: v / max(n, 1) for k, v in sums.items()}

    def _run_validation(self) -> None:
        metrics: dict[str, float] = {}
        if self.is_main:
            metrics = self.validate()
            if metrics:
                self.last_val = metrics
                self.log({f"val_{k}": v for k, v in metrics.items()})
        D.barrier()
        if not metrics or self.run is None:
            return
        key = self.cfg.best_metric
        if self.cfg.save_best and key in metrics and math.isfinite(metrics[key]):
            if self.best is None or metrics[key] > self.best:
                self.best = float(metrics[key])
                if self.is_main:
                    save_checkpoint(self.run.best, self.state_dict(gather_rng=False))

    # ------------------------------------------------------------------ export
    def export(self, name: str | None = None, path: str | Path | None = None, ema: bool = True) -> Path | None:
        """Write module ``name`` (its EMA copy when ``ema`` and available) as camdeblur safetensors."""
        from camdeblur.nets.registry import save_model

        name = name or self.main_name
        net = self.eval_model(name) if ema else self.nets[name]
        if path is None:
            if self.run is None:
                raise CamdeblurError("export needs a path or a run folder")
            path = self.run.path / "model.safetensors"
        if not self.is_main:
            return None
        return save_model(net, path, step=self.step, ema=bool(ema and name in self.emas))

    def _export_final(self) -> list[Path]:
        if self.run is None or not self.is_main:
            return []
        mapping = self.export_map
        if mapping is None:
            mapping = {self.main_name: "model.safetensors"} if getattr(self.nets[self.main_name], "camdeblur_arch", None) else {}
        out = []
        for name, fname in mapping.items():
            p = self.export(name, self.run.path / fname)
            if p is not None:
                out.append(p)
        return out

    # ------------------------------------------------------------------ loop
    def fit(self, stop_at: int | None = None) -> dict[str, Any]:
        """Train until ``config.steps`` (or ``stop_at``, e.g. to simulate an interruption); returns a summary.

        Writes ``last.pt`` at the end; exports the final weights when the run is complete.
        """
        cfg = self.cfg
        end = min(cfg.steps, stop_at) if stop_at is not None else cfg.steps
        if self.run is not None and self.is_main:
            if self.config_dump is not None:
                self.run.write_config(self.config_dump)
            if self._command_pending:
                self.run.write_command(resumed=self._resumed_from is not None)
                self._command_pending = False
        if self.step >= end:
            return self._summary([])
        it = self._loader()
        bar = None
        if self.is_main and cfg.progress and sys.stderr.isatty():
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.steps, initial=self.step, desc="train", dynamic_ncols=True, leave=False)
        acc: dict[str, float] = {}
        count = 0
        try:
            while self.step < end:
                t0 = time.perf_counter()
                batch = to_device(next(it), self.device)
                for net in self.nets.values():
                    net.train()
                self._stepped.clear()
                losses = self.step_fn(self, batch, self.step)
                self._advance_schedules()
                self.step += 1
                for name, e in self.emas.items():
                    e.update(self.nets[name], self.step)
                for k, v in losses.items():  # tensors stay on the device until logging (no per-step sync)
                    v = v.detach().float() if isinstance(v, torch.Tensor) else float(v)
                    acc[k] = acc[k] + v if k in acc else v
                count += 1
                self.train_time += time.perf_counter() - t0
                if bar is not None:
                    bar.update(1)
                if cfg.log_every and (self.step % cfg.log_every == 0 or self.step == end):
                    avg = D.all_reduce_mean({k: float(v) / count for k, v in acc.items()}, self.device)
                    bad = [k for k, v in avg.items() if not math.isfinite(v)]
                    if bad:
                        raise CamdeblurError(f"training diverged: loss '{bad[0]}' is {avg[bad[0]]} at step {self.step}",
                                             fix="lower train.optim.lr or set train.optim.grad_clip")
                    lrs = {k: float(o.param_groups[0]["lr"]) for k, o in self.optimizers.items()}
                    self.log({**avg, "lr": lrs[next(iter(lrs))] if len(lrs) == 1 else lrs})
                    if bar is not None:
                        bar.set_postfix({k: f"{v:.4g}" for k, v in avg.items()})
                    acc, count = {}, 0
                if cfg.val_every and (self.step % cfg.val_every == 0 or self.step == cfg.steps):
                    self._run_validation()
                if self.run is not None:
                    if cfg.keep_every and self.step % cfg.keep_every == 0:
                        self.save(self.run.periodic(self.step))
                    if (cfg.ckpt_every and self.step % cfg.ckpt_every == 0) or self.step == end:
                        self.save()
        finally:
            if bar is not None:
                bar.close()
        exported = self._export_final() if self.step >= cfg.steps else []
        D.barrier()
        return self._summary(exported)

    def _summary(self, exported: list[Path]) -> dict[str, Any]:
        return {"step": self.step, "val": dict(self.last_val), "best": self.best,
                "run_dir": str(self.run.path) if self.run is not None else None, "exported": [str(p) for p in exported]}


def _default_step(tr: Trainer, batch: Mapping[str, Any], step: int) -> dict[str, torch.Tensor]:
    """Single-loss supervised step: ``loss_fn(net(batch[input_key]), batch[target_key])``."""
    net = tr.modules[tr.main_name]
    pred = net(batch[tr.input_key])
    loss = tr.loss_fn(pred, batch[tr.target_key])
    tr.optimize(next(iter(tr.optimizers)), loss)
    return {"loss": loss.detach()}
