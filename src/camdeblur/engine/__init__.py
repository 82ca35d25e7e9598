"""Training engine: dataclass configs <-> YAML, run folders, checkpoints, the generic Trainer, DDP.

Submodules (imported on first use of a name below, so ``import camdeblur.engine`` stays cheap):

- :mod:`~camdeblur.engine.config`: ``load_config(cls, yaml_path, ["a.b=v"])``, ``config_to_yaml``.
- :mod:`~camdeblur.engine.run`: :class:`RunDir` (config.yaml, command.txt, metrics.jsonl, checkpoints/).
- :mod:`~camdeblur.engine.checkpoint`: atomic ``weights_only``-loadable training checkpoints.
- :mod:`~camdeblur.engine.optim`: optimizer/schedule/EMA from config.
- :mod:`~camdeblur.engine.distributed`: torchrun detection (gloo on CPU, NCCL on CUDA).
- :mod:`~camdeblur.engine.trainer`: :class:`Trainer`, :class:`TrainConfig`, the deterministic step sampler.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "load_config": "config", "apply_overrides": "config", "config_from_dict": "config", "config_to_dict": "config",
    "config_to_yaml": "config", "save_config": "config", "parse_override": "config",
    "RunDir": "run",
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "capture_rng": "checkpoint",
    "restore_rng": "checkpoint",
    "OptimConfig": "optim", "SchedConfig": "optim", "EMAConfig": "optim", "EMA": "optim",
    "build_optimizer": "optim", "build_scheduler": "optim",
    "init_distributed": "distributed", "DistInfo": "distributed", "is_main": "distributed",
    "Trainer": "trainer", "TrainConfig": "trainer", "StepSampler": "trainer", "to_device": "trainer",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"camdeblur.engine.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'camdeblur.engine' has no attribute '{name}'")
