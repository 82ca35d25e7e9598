"""Dataclass configs <-> YAML, --set overrides, one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
import yaml

from camdeblur.engine.config import (
    apply_overrides,
    config_from_dict,
    config_to_dict,
    config_to_yaml,
    load_config,
    parse_override,
)
from camdeblur.engine.optim import OptimConfig
from camdeblur.engine.trainer import TrainConfig
from camdeblur.errors import CamdeblurError


@dataclass
class Inner:
    width: int = 16
    mode: Literal["a", "b"] = "a"
    scales: list[float] = field(default_factory=lambda: [1.0, 0.5])


@dataclass
class Outer:
    name: str = "run"
    path: str | None = None
    inner: Inner = field(default_factory=Inner, metadata={"help": "the inner part"})
    loss: Any = field(default_factory=lambda: {"l1": 1.0})
    opts: dict[str, float] = field(default_factory=dict)
    train: TrainConfig = field(default_factory=TrainConfig)


def test_yaml_round_trip_is_identity(tmp_path):
    cfg = Outer(name="x", path="/data", inner=Inner(width=3, mode="b", scales=[2.0]), loss="charbonnier",
                opts={"k": 0.5}, train=TrainConfig(steps=7, optim=OptimConfig(lr=2e-4, betas=(0.5, 0.99))))
    for comments in (False, True):
        p = tmp_path / f"c{comments}.yaml"
        p.write_text(config_to_yaml(cfg, comments=comments))
        back = load_config(Outer, p)
        assert back == cfg
        assert config_to_dict(back) == yaml.safe_load(p.read_text())
    assert "# the inner part" in config_to_yaml(cfg, comments=True)


def test_partial_yaml_keeps_defaults_and_set_overrides_win(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("inner:\n  width: 8\ntrain:\n  optim:\n    lr: 0.01\n")
    cfg = load_config(Outer, p, ["train.optim.lr=1e-3", "inner.mode=b", "train.steps=12", "path=null",
                                 "inner.scales=[1, 2]", "loss.perceptual=0.1", "train.ema.enabled=true",
                                 "train.optim.betas=[0.8, 0.95]"])
    assert cfg.inner.width == 8 and cfg.inner.mode == "b" and cfg.inner.scales == [1.0, 2.0]
    assert cfg.train.optim.lr == pytest.approx(1e-3) and isinstance(cfg.train.optim.lr, float)  # YAML 1.1 "1e-3" is a str
    assert cfg.train.steps == 12 and cfg.path is None and cfg.train.ema.enabled is True
    assert cfg.loss == {"l1": 1.0, "perceptual": 0.1}
    assert cfg.train.optim.betas == (0.8, 0.95)
    assert cfg.train.batch_size == TrainConfig().batch_size  # untouched default


@pytest.mark.parametrize("override, needle", [
    ("train.stepz=3", "unknown config key 'train.stepz'"),
    ("inner.width=abc", "'inner.width'"),
    ("inner.mode=c", "one of 'a', 'b'"),
    ("train.steps=1.5", "'train.steps'"),
    ("train.steps=0", "steps must be >= 1"),
    ("name.sub=1", "has no sub-keys"),
    ("train.ema.enabled=maybe", "'train.ema.enabled'"),
    ("novalue", "key=value"),
])
def test_bad_overrides_give_one_clear_line(override, needle):
    with pytest.raises(CamdeblurError) as exc:
        apply_overrides(Outer(), [override])
    assert needle in str(exc.value) and "\n" not in str(exc.value)


def test_unknown_yaml_key_names_file_and_valid_keys(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("inner:\n  widht: 3\n")
    with pytest.raises(CamdeblurError) as exc:
        load_config(Outer, p)
    msg = str(exc.value)
    assert "inner.widht" in msg and str(p) in msg and "width" in msg
    p.write_text("- a list\n")
    with pytest.raises(CamdeblurError, match="mapping"):
        load_config(Outer, p)
    p.write_text("a: [unclosed\n")
    with pytest.raises(CamdeblurError, match="not valid YAML"):
        load_config(Outer, p)
    with pytest.raises(CamdeblurError, match="not found"):
        load_config(Outer, tmp_path / "missing.yaml")


def test_parse_override_and_typed_conversion():
    assert parse_override("a.b=3") == (["a", "b"], 3)
    assert parse_override("a=x=y") == (["a"], "x=y")
    assert config_from_dict(Inner, {"width": "12"}).width == 12
    with pytest.raises(CamdeblurError):
        config_from_dict(Inner, {"width": True})
