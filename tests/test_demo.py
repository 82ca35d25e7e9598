"""`camdeblur demo` end to end at the smallest scale: report files, rows, grid, resuming."""

from __future__ import annotations

import json

import pytest
import torch

from camdeblur.eval.demo import GRID_COLUMNS, DemoConfig, run_demo

TINY = dict(steps=4, batch_size=2, crop=32, cache=8, test_size=48, test_images=2, translator_steps=4,
            translator_crop=32, b_images=4, render_size=48)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_demo_blur2blur_report_and_reuse(tmp_path):
    cfg = DemoConfig(**TINY, cameras=["phone"])
    res = run_demo(tmp_path, cfg)
    assert [(r["camera"], r["method"]) for r in res["rows"]] == [
        ("gopro", "input"), ("gopro", "direct"), ("phone", "input"), ("phone", "direct"), ("phone", "blur2blur")]
    for r in res["rows"]:
        assert 10 < r["psnr"] < 60 and 0 < r["ssim"] <= 1 and r["niqe"] is None
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["rows"] == res["rows"] and 0 <= on_disk["discriminator_judged_known"]["phone"]["translated"] <= 1
    md = (tmp_path / "results.md").read_text()
    assert "| phone | blur2blur |" in md and " | ".join(GRID_COLUMNS) in md
    from camdeblur.io import read_image

    grid = read_image(tmp_path / "grid.png").data  # one camera row, five 48-px panels with 2-px borders
    assert grid.shape[:2] == (48 + 4, 5 * (48 + 4))
    photos = {k: set(v) for k, v in res["photos"].items()}
    assert photos["B"] and photos["S"] and photos["test"]
    assert not (photos["B"] & photos["S"]) and not (photos["test"] & (photos["B"] | photos["S"]))
    assert (tmp_path / "phone" / "blur2blur" / "translator.safetensors").exists()
    stamps = {f: f.stat().st_mtime_ns for f in tmp_path.rglob("*.safetensors")}
    again = run_demo(tmp_path, cfg)  # rerun: the trained models are reused, numbers identical
    assert {f: f.stat().st_mtime_ns for f in tmp_path.rglob("*.safetensors")} == stamps
    assert again["rows"] == res["rows"]


def test_demo_niqe_column_with_model(tmp_path, shared):
    cfg = DemoConfig(**{**TINY, "test_size": 192, "test_images": 1}, cameras=[],
                     niqe_model=str(shared / "iqa" / "niqe_pris_params.npz"))
    res = run_demo(tmp_path, cfg)
    assert len(res["rows"]) == 2 and all(r["niqe"] is not None and r["niqe"] > 0 for r in res["rows"])
    assert res["grid"] is None
