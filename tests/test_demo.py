"""`camdeblur demo` end to end at the smallest scale: report files, rows, and resuming."""

from __future__ import annotations

import json

from camdeblur.eval.demo import DemoConfig, run_demo


def test_demo_writes_report_and_reuses_trained_model(tmp_path):
    cfg = DemoConfig(steps=4, batch_size=2, crop=32, cache=8, test_size=48, test_images=2, cameras=["phone"])
    res = run_demo(tmp_path, cfg)
    assert {(r["camera"], r["method"]) for r in res["rows"]} == {
        ("gopro", "input"), ("gopro", "direct"), ("phone", "input"), ("phone", "direct")}
    for r in res["rows"]:
        assert 10 < r["psnr"] < 60 and 0 < r["ssim"] <= 1 and r["niqe"] is None
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["rows"] == res["rows"]
    assert (tmp_path / "grid.png").stat().st_size > 0 and "| phone | direct |" in (tmp_path / "results.md").read_text()
    assert not set(res["photos"]["train"]) & set(res["photos"]["test"])
    mtime = (tmp_path / "run" / "model.safetensors").stat().st_mtime_ns
    again = run_demo(tmp_path, cfg)  # rerun: the trained model is reused, numbers identical
    assert (tmp_path / "run" / "model.safetensors").stat().st_mtime_ns == mtime
    assert again["rows"] == res["rows"]


def test_demo_niqe_column_with_model(tmp_path, shared):
    cfg = DemoConfig(steps=2, batch_size=2, crop=32, cache=4, test_size=192, test_images=1, cameras=[],
                     niqe_model=str(shared / "iqa" / "niqe_pris_params.npz"))
    res = run_demo(tmp_path, cfg)
    assert all(r["niqe"] is not None and r["niqe"] > 0 for r in res["rows"])
