"""`camdeblur bench blur2blur` plumbing at a few steps: rows, disjoint photo split, shared known-domain
deblurrer, converter validation in results.json, resume, settings that drop in."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from camdeblur.errors import CamdeblurError
from camdeblur.eval import bench_blur2blur as bb

TINY = ["deblurrer_steps=3", "translator_steps=3", "cache=6", "b_images=6", "render_size=48", "test_items=2",
        "test_size=48", "classifier={steps: 3, batch_size: 2, crop: 32, width: 4}", "max_side=128", "crop=32"]


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_bench_two_cameras_resume_and_settings_guard(tmp_path):
    p = bb.resolve_preset("mini", TINY)
    res = bb.run_bench(tmp_path, ["phone", "rsblur"], preset=p, log=lambda *a: None)
    assert [(r["camera"], r["method"]) for r in res["rows"]] == [(c, m) for c in ("phone", "rsblur") for m in bb.METHODS]
    assert all(np.isfinite(r["psnr"]) and 0 < r["ssim"] <= 1 and r["niqe"] is None for r in res["rows"])
    # the input row is the blurry frame itself: its PSNR differs between the two cameras' renders
    assert res["rows"][0]["psnr"] != res["rows"][5]["psnr"]
    # B, S and test are disjoint photo sets
    names = {d: {p.name for p in (tmp_path / "photos" / d).iterdir()} for d in ("B", "S", "test")}
    assert names["B"] and names["S"] and names["test"]
    assert not (names["B"] & names["S"]) and not (names["test"] & (names["B"] | names["S"]))
    # the known-domain and synthetic deblurrers are trained once, for both cameras
    assert (tmp_path / "shared" / "known_deblurrer" / "model.safetensors").exists()
    assert (tmp_path / "shared" / "synthetic" / "model.safetensors").exists()
    for cam in ("phone", "rsblur"):
        assert sorted(q.name for q in (tmp_path / cam).iterdir()) == ["blur2blur", "data", "results.json", "supervised"]
        cv = res["converter_validation"][cam]
        for judge in ("discriminator", "classifier"):
            assert all(0.0 <= cv[judge][k] <= 1.0 for k in ("input", "converted", "known"))
        assert 0 <= cv["classifier"]["heldout_accuracy"] <= 1 and cv["images"] == 2
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk["rows"] == res["rows"] and set(on_disk) >= {"rows", "config", "seconds", "converter_validation"}
    assert "simulated camera 'gopro'" in on_disk["config"]["known_domain"]
    kt = on_disk["known_domain_test"]
    assert set(kt) == {"input_psnr", "direct_psnr"} and 10 < kt["input_psnr"] < 60
    md = (tmp_path / "results.md").read_text()
    assert "| rsblur | blur2blur |" in md and "classifier (Acc2)" in md

    # rerun: every finished stage is reused (weights untouched), identical numbers
    stamps = {f: f.stat().st_mtime_ns for f in tmp_path.rglob("*.safetensors")}
    again = bb.run_bench(tmp_path, ["phone", "rsblur"], preset=p, log=lambda *a: None)
    assert {f: f.stat().st_mtime_ns for f in tmp_path.rglob("*.safetensors")} == stamps
    assert again["rows"] == res["rows"]
    # other settings in the same folder: refused, nothing mixed
    with pytest.raises(CamdeblurError, match="other settings"):
        bb.run_bench(tmp_path, ["phone"], preset=bb.resolve_preset("mini", TINY + ["translator_steps=4"]))


def test_split_guard_catches_a_shared_photo(tmp_path, rng):
    from camdeblur.io import write_image

    img = rng.random((16, 16, 3)).astype(np.float32)
    dirs = {k: tmp_path / k for k in ("B", "S", "test")}
    write_image(dirs["B"] / "a.png", img)
    write_image(dirs["S"] / "b.png", rng.random((16, 16, 3)).astype(np.float32))
    write_image(dirs["test"] / "renamed.png", img)  # the same photo under another name
    with pytest.raises(CamdeblurError, match="in both B and test"):
        bb._check_disjoint(dirs)


def test_stage_settings_drop_in(tmp_path, capsys):
    """Preset fields via --set, translator/deblurrer overrides appended after the preset's, a Blur2Blur YAML
    underneath; the bench still owns data paths and step counts."""
    from camdeblur.cli.main import main

    yml = tmp_path / "winner.yaml"
    yml.write_text("loss:\n  reconstruction: mse\n  overrides: {lambda_rec: 3.0}\nconstant_fraction: 0.25\n"
                   "data:\n  blurry: /elsewhere\n")
    rc = main(["bench", "blur2blur", "--print-config", "--set", "translator_steps=7", "--translator-config", str(yml),
               "--translator-set", "train.optim.lr=1e-3", "--deblurrer-set", "train.optim.lr=5e-4", "--camera", "phone"])
    printed = json.loads(capsys.readouterr().out)
    assert rc == 0 and printed["cameras"] == ["phone"]
    pr = printed["preset"]
    assert pr["translator_steps"] == 7 and pr["translator_sets"][-1] == "train.optim.lr=1e-3"
    assert pr["deblurrer_sets"][-1] == "train.optim.lr=5e-4" and pr["translator_config"] == str(yml)
    assert pr["translator_sets"] == ["train.optim.lr=1e-3"]
    p = bb.resolve_preset("mini", ["translator_steps=7"], ["train.optim.lr=1e-3"], [], str(yml))
    cfg = bb.translator_config(p, tmp_path / "B", tmp_path / "S", "sim:gopro", seed=3)
    # the YAML replaces the preset's translator recipe (l1, lambda_rec 10); --translator-set applies on top
    assert cfg.loss.reconstruction == "mse" and cfg.loss.overrides == {"lambda_rec": 3.0}
    assert cfg.constant_fraction == 0.25 and cfg.train.optim.lr == 1e-3
    assert cfg.train.steps == 7 and cfg.data.blurry == str(tmp_path / "B") and cfg.known.source == "sim:gopro"
    assert main(["bench", "blur2blur", "--camera-yaml", str(tmp_path / "nope.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "camera YAML not found" in capsys.readouterr().err
    with pytest.raises(CamdeblurError, match="unknown benchmark preset"):
        bb.resolve_preset("huge")


def test_paper_preset_resolves(tmp_path):
    """The GPU preset is documented, not run: its stage configs must still parse and name real architectures."""
    from camdeblur.engine.config import load_config
    from camdeblur.methods.supervised import SupervisedConfig
    from camdeblur.nets.registry import create_model

    p = bb.resolve_preset("paper")
    cfg = bb.translator_config(p, tmp_path / "B", tmp_path / "S", "sim:gopro", seed=0)
    assert cfg.loss.preset == "paper" and cfg.loss.reconstruction == "perceptual" and cfg.train.steps == 1_000_000
    assert cfg.curriculum.enabled and cfg.data.crop == 256
    sup = load_config(SupervisedConfig, None, p.deblurrer_sets)
    for arch in (cfg.translator.arch, cfg.discriminator.arch, sup.model.arch):
        assert sum(q.numel() for q in create_model(arch).parameters()) > 100_000


def test_cli_camera_yaml_and_photos(tmp_path, capsys):
    """Any camera (a YAML file) on any photo folder through the CLI; the table is printed and written."""
    from camdeblur.cli.main import main
    from camdeblur.io import write_image
    from camdeblur.sim.camera import get_camera
    from camdeblur.sim.datasets import resolve_photos

    yml = tmp_path / "mycam.yaml"
    yml.write_text(get_camera("rsblur").to_yaml())
    photos = tmp_path / "photos"
    for name, arr in resolve_photos(None, max_side=128)[:6]:
        write_image(photos / f"{name}.png", arr)
    args = [a for kv in TINY for a in ("--set", kv)]
    rc = main(["bench", "blur2blur", "--camera-yaml", str(yml), "--photos", str(photos), *args, "--out", str(tmp_path / "o")])
    out = capsys.readouterr().out
    assert rc == 0 and "| mycam | blur2blur |" in out and "results.json" in out
    res = json.loads((tmp_path / "o" / "results.json").read_text())
    assert [r["camera"] for r in res["rows"]] == ["mycam"] * 5 and res["config"]["photos"]["test"] >= 1
    assert (tmp_path / "o" / "mycam" / "data" / "B").is_dir()
