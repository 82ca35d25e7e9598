"""Model registry (timm-style): small named factory functions plus official class-name aliases.

Every network module registers its factories with :func:`register_model` at import time. The
registry imports the network modules listed in :data:`NET_MODULES` on first use (an explicit list:
no filesystem scanning, and no heavy import when ``camdeblur`` itself is imported).

    >>> from camdeblur.nets import create_model, list_models
    >>> net = create_model("nafnet_tiny")            # a registered configuration
    >>> net = create_model("NAFNet", width=16)       # official class name + official kwargs
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import os
from typing import Any, Callable

import torch
from torch import nn

from camdeblur.errors import CamdeblurError

#: Network modules that register models. Add a new architecture by adding its module here.
NET_MODULES: tuple[str, ...] = (
    "camdeblur.nets.nafnet",
    "camdeblur.nets.restormer",
    "camdeblur.nets.mimo_unet",
    "camdeblur.nets.kernel_wizard",
    "camdeblur.nets.unet",
    "camdeblur.nets.discriminator",
)

_FACTORIES: dict[str, Callable[..., nn.Module]] = {}
_DEFAULTS: dict[str, dict[str, Any]] = {}
_loaded = False


def register_model(fn: Callable[..., nn.Module] | None = None, *, name: str | None = None, **defaults: Any):
    """Register a factory under ``name`` (default: the function's name).

    Use on a function (``@register_model``) or on an ``nn.Module`` class to make its official class
    name an alias accepting the official constructor kwargs (``register_model(NAFNet)``).
    ``defaults`` are recorded so a checkpoint can store the full resolved constructor arguments.
    """

    def wrap(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        key = name or f.__name__
        if key in _FACTORIES and _FACTORIES[key] is not f:
            raise ValueError(f"model '{key}' registered twice")
        _FACTORIES[key] = f
        _DEFAULTS[key] = dict(defaults)
        return f

    return wrap(fn) if fn is not None else wrap


def _ensure_loaded() -> None:
    global _loaded
    if _loaded:
        return
    for mod in NET_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as exc:
            if exc.name != mod:  # a real missing dependency inside an existing module
                raise
    _loaded = True


def list_models(pattern: str = "*") -> list[str]:
    """Registered names matching a glob pattern, sorted."""
    _ensure_loaded()
    return sorted(n for n in _FACTORIES if fnmatch.fnmatch(n, pattern))


def is_model(name: str) -> bool:
    _ensure_loaded()
    return name in _FACTORIES


def create_model(arch: str, **config: Any) -> nn.Module:
    """Build a registered model; ``config`` overrides the factory's keyword arguments.

    The resolved constructor arguments are stored on the module as ``model.camdeblur_config`` and
    the registry name as ``model.camdeblur_arch`` (written into every checkpoint we save).
    """
    _ensure_loaded()
    if arch not in _FACTORIES:
        close = [n for n in _FACTORIES if arch.lower() in n.lower()][:5]
        raise CamdeblurError(
            f"unknown model '{arch}'",
            fix=f"choose one of camdeblur.list_models(){'; close: ' + ', '.join(close) if close else ''}",
        )
    factory = _FACTORIES[arch]
    try:
        model = factory(**config)
    except TypeError as exc:
        raise CamdeblurError(f"bad options for model '{arch}': {exc}") from None
    resolved: dict[str, Any] = {}
    try:
        sig = inspect.signature(factory)
        for p in sig.parameters.values():
            if p.default is not inspect.Parameter.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
                resolved[p.name] = p.default
    except (TypeError, ValueError):
        pass
    resolved.update(_DEFAULTS.get(arch, {}))
    resolved.update(config)
    model.camdeblur_arch = arch
    model.camdeblur_config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in resolved.items()}
    return model


def load_model(
    arch: str | None = None,
    weights: str | os.PathLike | None = None,
    *,
    device: str | torch.device | None = "cpu",
    strict: bool = True,
    checkpoint_key: str | None = None,
    eval: bool = True,
    **config: Any,
) -> nn.Module:
    """Build ``arch`` with ``config`` and load ``weights`` (official ``.pth`` or our safetensors).

    ``arch`` may be omitted for camdeblur safetensors files: the file names its architecture and
    constructor arguments (``config`` then overrides them). Loading is strict by default and reports
    missing/unexpected/mis-shaped keys in one readable line. A network that needs to rename official
    keys defines ``remap_state_dict(sd) -> sd``.
    """
    from camdeblur.utils import pick_device
    from camdeblur.weights import load_into, read_state_dict

    sd, meta = (None, {})
    if weights is not None:
        sd, meta = read_state_dict(weights, key=checkpoint_key)
    if arch is None:
        arch = meta.get("arch")
        if arch is None:
            raise CamdeblurError("no architecture given and the weight file does not name one", where=weights,
                                 fix="pass arch (e.g. 'NAFNet') with its official options")
    if meta.get("arch") and meta.get("arch") != arch and weights is not None:
        raise CamdeblurError(f"checkpoint is for '{meta['arch']}', not '{arch}'", where=weights,
                             fix=f"use arch '{meta['arch']}' or omit arch")
    cfg = dict(meta.get("config") or {})
    cfg.update(config)
    model = create_model(arch, **cfg)
    if sd is not None:
        remap = getattr(model, "remap_state_dict", None)
        if callable(remap):
            sd = remap(sd)
        load_into(model, sd, strict=strict, where=weights)
    model.to(pick_device(device))
    if eval:
        model.eval()
    return model


def save_model(model: nn.Module, path: str | os.PathLike, **extra: Any):
    """Write a model built by :func:`create_model` as safetensors with its arch and config."""
    from camdeblur.weights import write_weights

    arch = getattr(model, "camdeblur_arch", None)
    if arch is None:
        raise CamdeblurError("model was not built by the camdeblur registry; cannot record its architecture")
    return write_weights(path, model.state_dict(), arch=arch, config=getattr(model, "camdeblur_config", {}), **extra)
