"""Configs are dataclasses; YAML files and ``--set a.b=value`` overlay their defaults.

The dataclass *is* the documented default config (YAML-as-defaults, timm/nanoGPT style)::

    @dataclass
    class MyConfig:
        lr: float = field(default=1e-3, metadata={"help": "learning rate"})
        optim: OptimConfig = field(default_factory=OptimConfig)

    cfg = load_config(MyConfig, "run.yaml", ["optim.lr=2e-4", "train.steps=100"])
    print(config_to_yaml(cfg, comments=True))   # the resolved config, documented

Values from YAML and ``--set`` are converted to the field's declared type (``int``, ``float``,
``bool``, ``str``, ``X | None``, ``list[X]``, ``tuple``, ``dict``, ``Literal[...]``, nested
dataclasses). Unknown keys and values of the wrong type raise one :class:`CamdeblurError` line that
names the key and the accepted values. Fields typed ``dict``/``Any`` accept any YAML value, and
``--set`` may reach inside a dict field (``--set loss.l1=0.5``).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, TypeVar, Union

import yaml

from camdeblur.errors import CamdeblurError

T = TypeVar("T")

__all__ = [
    "apply_overrides",
    "config_from_dict",
    "config_to_dict",
    "config_to_yaml",
    "load_config",
    "parse_override",
    "save_config",
]

_MISSING = object()


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001 - fall back to the raw annotations
        return {f.name: f.type for f in dataclasses.fields(cls)}


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_describe(a) for a in typing.get_args(tp))
    if tp is type(None):
        return "null"
    if _is_dataclass_type(tp):
        return f"a mapping of {tp.__name__} fields"
    return getattr(tp, "__name__", str(tp))


def _bad(key: str, value: Any, tp: Any) -> CamdeblurError:
    return CamdeblurError(f"config key '{key}': {value!r} is not {_describe(tp)}", fix="fix the YAML file or the --set value")


def _convert(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML/CLI value to type ``tp`` or raise a :class:`CamdeblurError` naming ``key``."""
    if tp is Any or tp is object:
        return value
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("null", "none", "~") and type(None) in args):
            if type(None) in args:
                return None
        # try the exact-type members first so "3" stays a str in ``str | int``
        for a in sorted(args, key=lambda a: 0 if isinstance(a, type) and isinstance(value, a) else 1):
            if a is type(None):
                continue
            try:
                return _convert(value, a, key)
            except CamdeblurError:
                continue
        raise _bad(key, value, tp)
    if origin is Literal:
        for a in args:
            if value == a or (isinstance(value, str) and str(a) == value):
                return a
        raise _bad(key, value, tp)
    if _is_dataclass_type(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise _bad(key, value, tp)
        return config_from_dict(tp, value, prefix=key + ".")
    if origin in (list, tuple) or tp in (list, tuple):
        if isinstance(value, str):
            value = yaml.safe_load(value) if value.strip().startswith("[") else [v for v in value.split(",") if v != ""]
        if not isinstance(value, (list, tuple)):
            raise _bad(key, value, tp)
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                raise CamdeblurError(f"config key '{key}': expected {len(args)} values, got {list(value)!r}")
            return tuple(_convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item = args[0] if args else Any
        out = [_convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(out) if (origin is tuple or tp is tuple) else out
    if origin is dict or tp is dict:
        if isinstance(value, str):
            value = yaml.safe_load(value)
        if not isinstance(value, Mapping):
            raise _bad(key, value, tp)
        vt = args[1] if len(args) == 2 else Any
        return {k: _convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1", "false", "no", "off", "0"):
            return value.lower() in ("true", "yes", "on", "1")
        if isinstance(value, int) and value in (0, 1):
            return bool(value)
        raise _bad(key, value, tp)
    if tp is int:
        if isinstance(value, bool):
            raise _bad(key, value, tp)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                f = float(value.replace("_", ""))
            except ValueError:
                raise _bad(key, value, tp) from None
            if f.is_integer():
                return int(f)
        raise _bad(key, value, tp)
    if tp is float:
        if isinstance(value, bool):
            raise _bad(key, value, tp)
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
            try:
                return float(value)
            except ValueError:
                raise _bad(key, value, tp) from None
        raise _bad(key, value, tp)
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise _bad(key, value, tp)
    if isinstance(tp, type):
        if isinstance(value, tp):
            return value
        try:
            return tp(value)
        except Exception:  # noqa: BLE001
            raise _bad(key, value, tp) from None
    return value


def config_from_dict(cls: type[T], data: Mapping[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a (partial) mapping: missing keys keep their defaults."""
    data = dict(data or {})
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise CamdeblurError(
            f"unknown config key '{prefix}{unknown[0]}'",
            fix=f"valid keys under '{prefix.rstrip('.') or cls.__name__}': {', '.join(fields)}",
        )
    hints = _hints(cls)
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _convert(value, hints.get(name, Any), prefix + name)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise CamdeblurError(f"invalid config{' ' + prefix.rstrip('.') if prefix else ''}: {exc}") from None


def config_to_dict(cfg: Any) -> Any:
    """Plain ``dict``/``list``/scalar tree of a config (tuples become lists; safe for YAML and JSON)."""
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: config_to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, Mapping):
        return {str(k): config_to_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [config_to_dict(v) for v in cfg]
    if isinstance(cfg, Path):
        return str(cfg)
    return cfg


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=value"`` -> ``(["a", "b"], yaml-parsed value)``."""
    if "=" not in text:
        raise CamdeblurError(f"--set expects key=value, got '{text}'", fix="e.g. --set train.steps=1000")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise CamdeblurError(f"--set has an empty key in '{text}'", fix="e.g. --set optim.lr=1e-3")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key.split("."), value


def _set_path(cls: type, tree: dict, path: list[str], value: Any, full: str) -> None:
    """Set ``tree[path] = value`` checking each step against dataclass ``cls``'s fields."""
    node, node_cls = tree, cls
    for i, part in enumerate(path):
        last = i == len(path) - 1
        if node_cls is not None:
            fields = [f.name for f in dataclasses.fields(node_cls) if f.init]
            if part not in fields:
                where = ".".join(path[:i]) or node_cls.__name__
                raise CamdeblurError(f"unknown config key '{full}'", fix=f"valid keys under '{where}': {', '.join(fields)}")
            tp = _hints(node_cls).get(part, Any)
            # unwrap Optional[Dataclass]
            cand = [a for a in (typing.get_args(tp) or (tp,)) if _is_dataclass_type(a)]
            next_cls = cand[0] if cand else None
        else:
            next_cls = None
        if last:
            node[part] = value
            return
        child = node.get(part)
        if not isinstance(child, dict):
            if node_cls is not None and next_cls is None and typing.get_origin(tp) is not dict and tp not in (dict, Any):
                raise CamdeblurError(f"config key '{'.'.join(path[: i + 1])}' has no sub-keys (in '{full}')",
                                     fix=f"use --set {'.'.join(path[: i + 1])}=VALUE")
            child = {} if child is None or not isinstance(child, dict) else child
            node[part] = child
        node, node_cls = child, next_cls


def apply_overrides(cfg: T, overrides: Iterable[str]) -> T:
    """Return a new config with ``key.path=value`` overrides applied (typed by the dataclass fields)."""
    tree = config_to_dict(cfg)
    for text in overrides:
        path, value = parse_override(text)
        _set_path(type(cfg), tree, path, value, ".".join(path))
    return config_from_dict(type(cfg), tree)


def _read_yaml(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.is_file():
        raise CamdeblurError("config file not found", where=path, fix="check the path given to --config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        line = str(exc).strip().splitlines()[0]
        raise CamdeblurError(f"not valid YAML ({line})", where=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CamdeblurError(f"a config file must hold a mapping, got {type(data).__name__}", where=path)
    return data


def load_config(cls: type[T], path: str | os.PathLike | None = None, overrides: Iterable[str] = ()) -> T:
    """Defaults of ``cls`` <- YAML file ``path`` (partial is fine) <- ``--set`` ``overrides``."""
    data = _read_yaml(path) if path is not None else {}
    try:
        cfg = config_from_dict(cls, data)
    except CamdeblurError as exc:
        if path is not None and exc.where is None:
            raise CamdeblurError(exc.what, where=path, fix=exc.fix) from None
        raise
    return apply_overrides(cfg, overrides)


def _scalar(value: Any) -> str:
    text = yaml.safe_dump(value, default_flow_style=True, width=10_000, sort_keys=False).strip()
    if text.endswith("\n...") or text.endswith("..."):
        text = text.rsplit("\n", 1)[0].strip() if "\n" in text else text[:-3].strip()
    return text


def _emit(cfg: Any, indent: int, comments: bool, lines: list[str]) -> None:
    pad = "  " * indent
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        help_text = f.metadata.get("help") if comments else None
        if help_text:
            for hl in str(help_text).splitlines():
                lines.append(f"{pad}# {hl}")
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            lines.append(f"{pad}{f.name}:")
            _emit(value, indent + 1, comments, lines)
        else:
            lines.append(f"{pad}{f.name}: {_scalar(config_to_dict(value))}")


def config_to_yaml(cfg: Any, comments: bool = False, header: str | None = None) -> str:
    """YAML text of a config; with ``comments`` each field's ``metadata["help"]`` is written above it."""
    lines: list[str] = []
    if header:
        lines += [f"# {h}" if h else "#" for h in header.splitlines()]
    _emit(cfg, 0, comments, lines)
    return "\n".join(lines) + "\n"


def save_config(cfg: Any, path: str | os.PathLike, comments: bool = True) -> Path:
    """Atomically write the resolved config as YAML."""
    from camdeblur.utils import atomic_write

    path = Path(path)
    with atomic_write(path, "w") as fh:
        fh.write(config_to_yaml(cfg, comments=comments))
    return path
