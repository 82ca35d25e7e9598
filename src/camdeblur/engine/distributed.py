"""Distributed training detected from the environment (``torchrun`` sets RANK/WORLD_SIZE/LOCAL_RANK).

The same script runs under ``python`` (one process) and ``torchrun --nproc_per_node N`` (N processes):
:func:`init_distributed` starts a process group (NCCL on CUDA, gloo on CPU) only when
``WORLD_SIZE > 1``; everything else asks :func:`rank` / :func:`is_main` and writes files on rank 0.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from camdeblur.errors import CamdeblurError

__all__ = ["DistInfo", "all_reduce_mean", "barrier", "cleanup", "env_info", "init_distributed", "is_main", "rank", "world_size"]


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise CamdeblurError(f"environment variable {name}={raw!r} is not an integer", fix="unset it or run under torchrun") from None


def env_info() -> DistInfo:
    """Rank/world size from the environment (what ``torchrun`` exports); 0/1/0 when absent."""
    ws = _env_int("WORLD_SIZE", 1)
    rk = _env_int("RANK", 0)
    lr = _env_int("LOCAL_RANK", rk)
    if ws < 1 or not 0 <= rk < ws:
        raise CamdeblurError(f"inconsistent RANK={rk} / WORLD_SIZE={ws} in the environment", fix="launch with torchrun")
    return DistInfo(rk, ws, lr)


def init_distributed(device: torch.device | str | None = None, timeout_s: float = 600.0) -> tuple[DistInfo, torch.device]:
    """Join the process group when launched by ``torchrun``; return ``(info, device)``.

    ``device`` ``None``/``"auto"`` picks ``cuda:LOCAL_RANK`` when CUDA is available, else the CPU.
    Safe to call twice (the existing group is reused).
    """
    from camdeblur.utils import pick_device

    info = env_info()
    if device is None or str(device) == "auto":
        dev = torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
        if not torch.cuda.is_available():
            dev = pick_device(None) if not info.enabled else torch.device("cpu")
    else:
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None and info.enabled:
            dev = torch.device(f"cuda:{info.local_rank}")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if info.enabled and not (dist.is_available() and dist.is_initialized()):
        if not dist.is_available():
            raise CamdeblurError("torch.distributed is not available in this torch build", fix="run with one process")
        backend = "nccl" if dev.type == "cuda" else "gloo"
        kwargs = {"device_id": dev} if dev.type == "cuda" else {}
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s), **kwargs)
    return info, dev


def is_initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_initialized() else 0


def world_size() -> int:
    return dist.get_world_size() if is_initialized() else 1


def is_main() -> bool:
    return rank() == 0


def barrier() -> None:
    if is_initialized() and world_size() > 1:
        dist.barrier()


def all_reduce_mean(values: dict[str, float], device: torch.device | str = "cpu") -> dict[str, float]:
    """Average a dict of floats over all processes (identity in a single process)."""
    if not values or not is_initialized() or world_size() == 1:
        return dict(values)
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    t /= world_size()
    return {k: float(v) for k, v in zip(keys, t.tolist())}


def cleanup() -> None:
    """Leave the process group (call at the end of a torchrun script)."""
    if is_initialized():
        dist.destroy_process_group()
