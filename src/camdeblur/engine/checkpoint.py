"""Training checkpoints: atomic ``torch.save`` files that load with ``weights_only=True``.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts::

    {"format": "camdeblur-train", "version": 1, "step": int,
     "modules": {name: state_dict}, "optimizers": {...}, "schedulers": {...}, "ema": {...},
     "rng": {"python": [...], "numpy": {...}, "torch": ByteTensor, "cuda": [ByteTensor, ...]},
     "config": {...}, "models": {name: {"arch": str, "config": {...}}}, "extra": {...}}

so nothing is unpickled on load. Files are written to a temporary name and renamed into place
(:func:`camdeblur.utils.atomic_path`): a kill mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from camdeblur.errors import CamdeblurError
from camdeblur.utils import atomic_path

__all__ = ["CHECKPOINT_FORMAT", "capture_rng", "load_checkpoint", "restore_rng", "save_checkpoint"]

CHECKPOINT_FORMAT = "camdeblur-train"
CHECKPOINT_VERSION = 1


def capture_rng() -> dict[str, Any]:
    """The global RNG states of python, numpy, torch (CPU) and CUDA as tensors/lists/numbers."""
    version, internal, gauss = random.getstate()
    np_state = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": int(version), "state": list(internal), "gauss": gauss},
        "numpy": {
            "kind": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = list(torch.cuda.get_rng_state_all())
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(v) for v in py["state"]), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state((nps["kind"], nps["keys"].numpy().astype(np.uint32), nps["pos"], nps["has_gauss"], nps["cached_gaussian"]))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all([s.cpu() for s in cuda])


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Atomically ``torch.save`` a checkpoint dict (tensors moved to the CPU by torch on load)."""
    path = Path(path)
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, **state}
    try:
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
    except OSError as exc:
        raise CamdeblurError(f"cannot write checkpoint ({exc.strerror or exc})", where=path,
                             fix="check free disk space and that the run folder is writable") from None
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a training checkpoint with ``weights_only=True``; one clear error line if it is not one."""
    path = Path(path)
    if not path.is_file():
        raise CamdeblurError("checkpoint not found", where=path, fix="check the path, or start without --resume")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling/zip error is a bad file
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CamdeblurError(f"not a readable training checkpoint ({msg})", where=path,
                             fix="use another checkpoint from the run's checkpoints/ folder") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CamdeblurError("not a camdeblur training checkpoint", where=path,
                             fix="pass a file written by camdeblur train (checkpoints/last.pt)")
    if int(ckpt.get("version", 0)) > CHECKPOINT_VERSION:
        raise CamdeblurError(f"checkpoint version {ckpt.get('version')} is newer than this camdeblur", where=path,
                             fix="upgrade camdeblur")
    return ckpt
