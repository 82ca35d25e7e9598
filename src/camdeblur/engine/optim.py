"""Optimizers, learning-rate schedules and an exponential moving average of weights, from config.

    opt = build_optimizer(model.parameters(), OptimConfig(name="adamw", lr=2e-4, weight_decay=1e-4))
    sched = build_scheduler(opt, SchedConfig(name="cosine", warmup_steps=100, eta_min=1e-7), total_steps=10_000)
    ema = EMA(model, decay=0.999)
    ...; opt.step(); sched.step(); ema.update(model)

Schedules are ``LambdaLR`` factors computed from the config, so a scheduler's state dict is just
its step count and resuming rebuilds the exact same curve.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Iterable, Literal

import torch
from torch import nn

from camdeblur.errors import CamdeblurError

__all__ = ["EMA", "EMAConfig", "OptimConfig", "SchedConfig", "build_optimizer", "build_scheduler", "lr_factor"]


@dataclass
class OptimConfig:
    """Optimizer settings (one per optimizer; methods with two networks may use two)."""

    name: Literal["adam", "adamw", "sgd"] = field(default="adamw", metadata={"help": "adam | adamw | sgd"})
    lr: float = field(default=1e-3, metadata={"help": "peak learning rate"})
    betas: tuple[float, float] = field(default=(0.9, 0.9), metadata={"help": "Adam betas (NAFNet uses 0.9, 0.9)"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight decay (decoupled for adamw)"})
    momentum: float = field(default=0.9, metadata={"help": "sgd momentum"})
    grad_clip: float = field(default=0.0, metadata={"help": "clip the global gradient norm to this value (0 = off)"})

    def __post_init__(self):
        if self.lr <= 0:
            raise ValueError(f"optim.lr must be > 0, got {self.lr}")
        if self.grad_clip < 0:
            raise ValueError(f"optim.grad_clip must be >= 0, got {self.grad_clip}")


@dataclass
class SchedConfig:
    """Learning-rate schedule over the run's total number of steps."""

    name: Literal["constant", "cosine", "linear"] = field(
        default="cosine", metadata={"help": "constant | cosine (to eta_min) | linear (decay to eta_min)"})
    warmup_steps: int = field(default=0, metadata={"help": "linear warm-up from 0 over this many steps"})
    eta_min: float = field(default=1e-7, metadata={"help": "final learning rate of cosine/linear"})

    def __post_init__(self):
        if self.warmup_steps < 0:
            raise ValueError(f"sched.warmup_steps must be >= 0, got {self.warmup_steps}")


@dataclass
class EMAConfig:
    """Exponential moving average of the weights (validation and export use the EMA copy when on)."""

    enabled: bool = field(default=False, metadata={"help": "keep an EMA copy of the trained network"})
    decay: float = field(default=0.999, metadata={"help": "ema = decay * ema + (1 - decay) * weights"})
    start_step: int = field(default=0, metadata={"help": "copy the weights (no averaging) until this step"})
    warmup: bool = field(default=True, metadata={
        "help": "use decay min(decay, (1 + n) / (10 + n)) after n averaged steps, so short runs are not\n"
                "dominated by the initial weights"})

    def __post_init__(self):
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"ema.decay must be in [0, 1), got {self.decay}")


def build_optimizer(params: Iterable[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if not params:
        raise CamdeblurError("nothing to optimize: the module has no trainable parameters")
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    if cfg.name == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    raise CamdeblurError(f"unknown optimizer '{cfg.name}'", fix="use adam, adamw or sgd")


def lr_factor(step: int, cfg: SchedConfig, total_steps: int, base_lr: float) -> float:
    """Multiplier of the base learning rate after ``step`` optimizer steps."""
    if cfg.warmup_steps > 0 and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.name == "constant":
        return 1.0
    floor = min(cfg.eta_min / base_lr, 1.0) if base_lr > 0 else 0.0
    span = max(1, total_steps - cfg.warmup_steps)
    t = min(1.0, max(0.0, (step - cfg.warmup_steps) / span))
    if cfg.name == "cosine":
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
    if cfg.name == "linear":
        return floor + (1.0 - floor) * (1.0 - t)
    raise CamdeblurError(f"unknown schedule '{cfg.name}'", fix="use constant, cosine or linear")


class _Factor:
    """Picklable-free callable (LambdaLR does not store plain functions in its state dict)."""

    def __init__(self, cfg: SchedConfig, total_steps: int, base_lr: float):
        self.cfg, self.total_steps, self.base_lr = cfg, total_steps, base_lr

    def __call__(self, step: int) -> float:
        return lr_factor(step, self.cfg, self.total_steps, self.base_lr)


class _Scheduler(torch.optim.lr_scheduler.LambdaLR):
    """``LambdaLR`` whose state dict holds only numbers (loadable with ``weights_only=True``)."""

    def state_dict(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "lr_lambdas")}

    def load_state_dict(self, state_dict):
        self.__dict__.update({k: v for k, v in state_dict.items() if k not in ("optimizer", "lr_lambdas")})


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: SchedConfig, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    lambdas = [_Factor(cfg, total_steps, g["lr"]) for g in optimizer.param_groups]
    lr_factor(0, cfg, total_steps, optimizer.param_groups[0]["lr"])  # validates the name early
    return _Scheduler(optimizer, lambdas)


class EMA(nn.Module):
    """A frozen copy of ``model`` tracking ``decay``-weighted averages of its parameters.

    ``update(model, step)`` is called after every optimizer step; ``step`` (the trainer's step) makes
    the average a pure function of the training history, so it resumes exactly.

    Buffers (e.g. norm statistics) are copied as they are. The copy keeps the registry attributes
    (``camdeblur_arch``/``camdeblur_config``) so it can be exported with ``save_model``.
    """

    def __init__(self, model: nn.Module, decay: float = 0.999, start_step: int = 0, warmup: bool = True):
        super().__init__()
        self.warmup = bool(warmup)
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay = float(decay)
        self.start_step = int(start_step)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        if step < self.start_step:
            d = 0.0
        else:
            n = step - self.start_step
            d = min(self.decay, (1.0 + n) / (10.0 + n)) if self.warmup else self.decay
        for e, p in zip(self.module.parameters(), model.parameters()):
            e.lerp_(p.detach(), 1.0 - d)
        for e, b in zip(self.module.buffers(), model.buffers()):
            e.copy_(b)

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)
