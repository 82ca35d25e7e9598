"""Run folders: resolved config, command line, JSONL metrics and checkpoints in one place.

::

    runs/my-run/
      config.yaml          resolved config (defaults <- --config <- --set), documented
      command.txt          the command line(s) that produced / resumed the run
      metrics.jsonl        one JSON object per line: {"step", "time", "lr", <losses>, "val_psnr", ...}
      checkpoints/last.pt  latest training state (resume point)
      checkpoints/step_000500.pt, best.pt    periodic / best-validation states
      model.safetensors    final exported weights (arch + constructor args in the metadata)

Only rank 0 writes (every method is a no-op on other ranks).
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any, Mapping

from camdeblur.errors import CamdeblurError

__all__ = ["RunDir"]


def _jsonable(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else (1e308 if v > 0 else -1e308)
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if hasattr(v, "item") and callable(v.item):
        try:
            return _jsonable(v.item())
        except (ValueError, RuntimeError):
            pass
    return v


class RunDir:
    """A training run's folder. ``main=False`` (non-zero ranks) turns every write into a no-op."""

    def __init__(self, path: str | os.PathLike, main: bool = True):
        self.path = Path(path)
        self.main = bool(main)
        if self.path.exists() and not self.path.is_dir():
            raise CamdeblurError("run folder path is a file", where=self.path, fix="choose another --out folder")
        if self.main:
            try:
                self.checkpoints.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise CamdeblurError(f"cannot create the run folder ({exc.strerror or exc})", where=self.path,
                                     fix="choose a writable --out folder") from None

    # ------------------------------------------------------------------ paths
    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def best(self) -> Path:
        return self.checkpoints / "best.pt"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    def periodic(self, step: int) -> Path:
        return self.checkpoints / f"step_{step:06d}.pt"

    def has_checkpoint(self) -> bool:
        return self.last.is_file()

    # ------------------------------------------------------------------ writing
    def write_config(self, cfg: Any) -> None:
        """Save the resolved config (a dataclass, or a plain mapping) as ``config.yaml``."""
        if not self.main:
            return
        from camdeblur.engine.config import save_config

        if isinstance(cfg, Mapping):
            import yaml

            from camdeblur.utils import atomic_write

            with atomic_write(self.config_file, "w") as fh:
                yaml.safe_dump(dict(cfg), fh, sort_keys=False)
        else:
            save_config(cfg, self.config_file)

    def write_command(self, argv: list[str] | None = None, resumed: bool = False) -> None:
        """Record the command line (appended on resume so the history is kept)."""
        if not self.main:
            return
        argv = list(sys.argv if argv is None else argv)
        line = " ".join(shlex.quote(a) for a in argv)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        mode = "a" if resumed and (self.path / "command.txt").exists() else "w"
        with open(self.path / "command.txt", mode, encoding="utf-8") as fh:
            fh.write(f"{'# resumed ' if resumed else '# '}{stamp}\n{line}\n")

    def log(self, record: Mapping[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl`` (flushed immediately)."""
        if not self.main:
            return
        with open(self.metrics_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_jsonable(dict(record)), sort_keys=False) + "\n")
            fh.flush()

    def truncate_metrics(self, step: int) -> None:
        """Drop metric lines with ``step`` after ``step`` (work redone after a resume is logged again)."""
        if not self.main or not self.metrics_file.is_file():
            return
        from camdeblur.utils import atomic_write

        keep = []
        for line in self.metrics_file.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill
            if int(rec.get("step", 0)) <= step:
                keep.append(line)
        with atomic_write(self.metrics_file, "w") as fh:
            fh.write("".join(k + "\n" for k in keep))

    def read_metrics(self) -> list[dict]:
        if not self.metrics_file.is_file():
            return []
        out = []
        for line in self.metrics_file.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
        return out
