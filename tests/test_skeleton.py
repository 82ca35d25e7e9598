"""Registry, weight files and the CLI's error contract."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from torch import nn

from camdeblur.cli.main import main
from camdeblur.errors import CamdeblurError
from camdeblur.nets import registry
from camdeblur.weights import load_into, read_state_dict, unwrap_state_dict, write_weights


class _Toy(nn.Module):
    def __init__(self, width: int = 4, depth: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.out = nn.Conv2d(width, 3, 1)
        self.depth = depth

    def forward(self, x):
        return self.out(self.conv(x))


@pytest.fixture
def toy_registered():
    registry._ensure_loaded()
    registry.register_model(_Toy, name="_toy_test")
    yield "_toy_test"
    registry._FACTORIES.pop("_toy_test", None)
    registry._DEFAULTS.pop("_toy_test", None)


def test_create_model_records_resolved_config(toy_registered):
    m = registry.create_model(toy_registered, width=6)
    assert m.camdeblur_arch == "_toy_test"
    assert m.camdeblur_config == {"width": 6, "depth": 1}


def test_save_and_rebuild_from_file_alone(tmp_path, toy_registered):
    m = registry.create_model(toy_registered, width=5)
    path = registry.save_model(m, tmp_path / "toy.safetensors")
    m2 = registry.load_model(weights=path)
    assert isinstance(m2, _Toy) and m2.conv.out_channels == 5 and not m2.training
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(m(x), m2(x))


def test_official_wrappers_and_module_prefix(tmp_path):
    sd = _Toy().state_dict()
    for wrapped in ({"params": sd}, {"params_ema": sd, "params": {}}, {"model": sd},
                    {f"module.{k}": v for k, v in sd.items()}):
        p = tmp_path / "w.pth"
        torch.save(wrapped, p)
        got, meta = read_state_dict(p)
        assert set(got) == set(sd) and meta == {}
    with pytest.raises(CamdeblurError, match="no key 'nope'"):
        unwrap_state_dict({"params": sd}, key="nope")


def test_pickled_objects_are_refused(tmp_path):
    p = tmp_path / "evil.pth"
    torch.save({"params": _Toy()}, p)  # a whole module: needs unpickling arbitrary classes
    with pytest.raises(CamdeblurError, match="cannot load weights safely"):
        read_state_dict(p)


def test_strict_load_reports_mismatches(tmp_path):
    sd = _Toy(width=4).state_dict()
    with pytest.raises(CamdeblurError) as err:
        load_into(_Toy(width=8), sd, where="x.pth")
    line = str(err.value)
    assert "mis-shaped" in line and "conv.weight" in line and "\n" not in line
    report = load_into(_Toy(width=8), {"extra": torch.zeros(1), **sd}, strict=False)
    assert report["unexpected"] == ["extra"] and len(report["mis_shaped"]) == 3


def test_checkpoint_of_wrong_arch_is_refused(tmp_path, toy_registered):
    p = write_weights(tmp_path / "w.safetensors", _Toy().state_dict(), arch="something_else", config={})
    with pytest.raises(CamdeblurError, match="not '_toy_test'"):
        registry.load_model(toy_registered, weights=p)


def test_unknown_model_is_one_line_error(capsys):
    code = main(["models", "x"])  # listing never fails
    assert code == 0
    with pytest.raises(CamdeblurError, match="unknown model"):
        registry.create_model("definitely_not_a_model")


def test_cli_help_lists_commands():
    out = subprocess.run([sys.executable, "-m", "camdeblur.cli.main", "--help"], capture_output=True, text=True, check=True)
    assert "models" in out.stdout


def test_cli_error_is_one_line_without_traceback(tmp_path, capsys, monkeypatch):
    import argparse

    from camdeblur.cli import main as cli_main

    def boom(args):
        raise CamdeblurError("not a readable image", where=tmp_path / "a.png", fix="check the file")

    def fake_parser():
        p = argparse.ArgumentParser()
        p.add_argument("--debug", action="store_true")
        p.set_defaults(func=boom)
        return p

    monkeypatch.setattr(cli_main, "build_parser", fake_parser)
    assert cli_main.main([]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a.png: not a readable image (check the file)" in err
    assert "Traceback" not in err
    with pytest.raises(CamdeblurError):
        cli_main.main(["--debug"])


def test_atomic_writes_get_normal_permissions(tmp_path):
    import os

    from camdeblur.utils import atomic_path, atomic_write

    mask = os.umask(0o022)
    try:
        with atomic_write(tmp_path / "a.txt", "w") as fh:
            fh.write("x")
        with atomic_path(tmp_path / "b.bin") as tmp:
            tmp.write_bytes(b"x")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.bin").stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]
