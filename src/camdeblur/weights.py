"""Reading and writing weight files: official ``.pth`` wrappers and camdeblur's safetensors.

camdeblur's own model files are safetensors whose metadata carries ``{"format": "camdeblur",
"arch": <registry name>, "config": <constructor kwargs as JSON>}`` so a model is rebuilt from the
file alone (nanoGPT-style). Official checkpoints are read with ``torch.load(weights_only=True)`` and
unwrapped from their training wrappers (``params_ema``, ``params``, ``model``, ``state_dict``,
``net``) and ``module.`` prefixes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping

import torch

from camdeblur.errors import CamdeblurError
from camdeblur.utils import atomic_path

#: Wrapper keys tried in order when a checkpoint is a dict of dicts (BasicSR, MIMO-UNet, Lightning...).
WRAPPER_KEYS = ("params_ema", "params", "model", "state_dict", "net", "network", "generator")


def is_safetensors(path: str | os.PathLike) -> bool:
    return str(path).endswith(".safetensors")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise CamdeblurError("weight file not found", where=path, fix="check the path given to --weights")
    if path.is_dir():
        raise CamdeblurError("expected a weight file, got a folder", where=path)


def read_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The camdeblur metadata of a safetensors file (``{}`` for official/other files)."""
    path = Path(path)
    _check_file(path)
    if not is_safetensors(path):
        return {}
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
    except Exception as exc:
        raise CamdeblurError(f"not a readable safetensors file ({exc})", where=path) from None
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def unwrap_state_dict(obj: Any, key: str | None = None, where: str | os.PathLike | None = None) -> dict[str, torch.Tensor]:
    """Return the bare ``{name: tensor}`` state dict inside an official checkpoint object."""
    if key is not None:
        if not isinstance(obj, Mapping) or key not in obj:
            keys = list(obj.keys())[:8] if isinstance(obj, Mapping) else type(obj).__name__
            raise CamdeblurError(f"checkpoint has no key '{key}' (top-level keys: {keys})", where=where)
        obj = obj[key]
    elif isinstance(obj, Mapping) and not all(isinstance(v, torch.Tensor) for v in obj.values()):
        for k in WRAPPER_KEYS:
            if k in obj and isinstance(obj[k], Mapping):
                obj = obj[k]
                break
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CamdeblurError(
            "checkpoint holds no state dict of tensors",
            where=where,
            fix=f"pass the wrapper key explicitly (tried {', '.join(WRAPPER_KEYS)})",
        )
    sd = dict(obj)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def read_state_dict(path: str | os.PathLike, key: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load ``(state_dict, metadata)`` from safetensors or a ``.pth`` file, always onto the CPU."""
    path = Path(path)
    _check_file(path)
    if is_safetensors(path):
        from safetensors.torch import load_file

        try:
            sd = load_file(str(path), device="cpu")
        except Exception as exc:
            raise CamdeblurError(f"not a readable safetensors file ({exc})", where=path) from None
        return sd, read_metadata(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CamdeblurError(
            f"cannot load weights safely ({msg})", where=path,
            fix="give a .pth/.pt state dict or a .safetensors file; pickled objects other than tensors are refused",
        ) from None
    return unwrap_state_dict(obj, key, where=path), {}


def write_weights(
    path: str | os.PathLike,
    state_dict: Mapping[str, torch.Tensor],
    arch: str | None = None,
    config: Mapping[str, Any] | None = None,
    **extra: Any,
) -> Path:
    """Atomically write a safetensors file carrying ``arch`` and constructor ``config`` in its metadata."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {"format": "camdeblur"}
    if arch is not None:
        meta["arch"] = arch
    if config is not None:
        meta["config"] = json.dumps(dict(config), sort_keys=True)
    for k, v in extra.items():
        meta[k] = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    # safetensors refuses shared/non-contiguous storage: clone to independent contiguous tensors.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_into(
    model: torch.nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    strict: bool = True,
    where: str | os.PathLike | None = None,
) -> dict[str, list[str]]:
    """Load *state_dict* into *model* with a readable report of missing/unexpected/mis-shaped keys.

    Returns the report; raises :class:`CamdeblurError` when ``strict`` and anything does not match.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict]
    unexpected = [k for k in state_dict if k not in own]
    mis_shaped = [
        f"{k} {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and tuple(own[k].shape) != tuple(state_dict[k].shape)
    ]
    report = {"missing": missing, "unexpected": unexpected, "mis_shaped": mis_shaped}
    if strict and (missing or unexpected or mis_shaped):
        def show(name: str, items: list[str]) -> str:
            head = ", ".join(items[:3]) + (f", ... ({len(items)} total)" if len(items) > 3 else "")
            return f"{len(items)} {name} [{head}]" if items else ""

        detail = "; ".join(s for s in (show("missing", missing), show("unexpected", unexpected), show("mis-shaped", mis_shaped)) if s)
        raise CamdeblurError(
            f"weights do not match the {type(model).__name__} architecture: {detail}",
            where=where,
            fix="check --model/arch and its options match the checkpoint, or load with strict=False",
        )
    loadable = {k: v for k, v in state_dict.items() if k in own and tuple(own[k].shape) == tuple(v.shape)}
    model.load_state_dict(loadable, strict=False)
    return report
