"""Supervised deblurrer training: CLI plumbing on paired folders, resume, and a learning test on the simulator."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from scipy.ndimage import uniform_filter
from torch import nn

from camdeblur.cli.main import main
from camdeblur.engine.config import load_config
from camdeblur.methods.supervised import SupervisedConfig
from camdeblur.nets import registry


class _Res(nn.Module):
    def __init__(self, width: int = 8):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 3, 3, padding=1))

    def forward(self, x):
        return x + self.body(x)


@pytest.fixture
def toy_arch():
    registry._ensure_loaded()
    registry.register_model(_Res, name="_res_supervised_test")
    yield "_res_supervised_test"
    registry._FACTORIES.pop("_res_supervised_test", None)
    registry._DEFAULTS.pop("_res_supervised_test", None)


@pytest.fixture
def paired_dir(tmp_path, rng):
    root = tmp_path / "pairs"
    for sub in ("blur", "sharp"):
        (root / sub).mkdir(parents=True)
    for i in range(6):
        sharp = uniform_filter(rng.random((40, 44, 3)), size=(3, 3, 1))
        blur = uniform_filter(sharp, size=(1, 7, 1))        # horizontal motion blur
        for sub, img in (("sharp", sharp), ("blur", blur)):
            Image.fromarray((img * 255).round().astype(np.uint8)).save(root / sub / f"im{i:02d}.png")
    return root


def test_print_config_round_trips_to_the_defaults(tmp_path, capsys):
    assert main(["train", "deblurrer", "--print-config"]) == 0
    text = capsys.readouterr().out
    assert "# training pairs" in text and "source: sim:gopro" in text
    (tmp_path / "d.yaml").write_text(text)
    assert load_config(SupervisedConfig, tmp_path / "d.yaml") == SupervisedConfig()


def test_cli_trains_on_folders_exports_and_resumes(tmp_path, paired_dir, toy_arch, capsys):
    run = tmp_path / "run"
    common = ["--set", f"data.source={paired_dir}", "--set", f"model.arch={toy_arch}", "--set", "model.args={width: 6}",
              "--set", "data.crop=24", "--set", "train.batch_size=2", "--set", "train.val_every=0", "--set", "loss=l1",
              "--set", "train.log_every=2", "--set", "train.ckpt_every=2", "--set", "train.device=cpu", "--out", str(run)]
    assert main(["train", "deblurrer", *common, "--set", "train.steps=4"]) == 0
    assert "weights:" in capsys.readouterr().out
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["source"] == str(paired_dir) and cfg["train"]["steps"] == 4 and cfg["model"]["args"] == {"width": 6}
    assert "train deblurrer" in (run / "command.txt").read_text()
    model = registry.load_model(weights=run / "model.safetensors")
    assert isinstance(model, _Res) and model.body[0].out_channels == 6
    # a second start without --resume must not clobber the run
    assert main(["train", "deblurrer", *common, "--set", "train.steps=4"]) == 2
    assert "already holds a run" in capsys.readouterr().err
    # resume (settings come from the run's config.yaml) and extend to 8 steps
    assert main(["train", "deblurrer", "--out", str(run), "--resume", "--set", "train.steps=8"]) == 0
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows if "loss" in r] == [2, 4, 6, 8]
    assert torch.load(run / "checkpoints" / "last.pt", weights_only=True)["step"] == 8
    # bad inputs: one line, exit 2
    assert main(["train", "deblurrer", "--set", "data.source=/no/such/dir", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "paired data folder not found" in err and err.count("\n") == 1
    assert main(["train", "deblurrer", "--out", str(tmp_path / "y"), "--resume"]) == 2
    assert "nothing to resume" in capsys.readouterr().err


#: small sharp photos of ../shared: the training stream and disjoint held-out validation photos
TRAIN_PHOTOS = ["libjxl-cvo9xd_keong_macan_srgb8.png", "libjxl-tmshre_riaphotographs_srgb8.png",
                "libjxl-u76c0g_bliznaca_srgb8.png", "misc-china.jpg", "misc-grace_hopper.jpg", "opencv-board.jpg",
                "opencv-building.jpg", "opencv-fruits.jpg", "opencv-home.jpg", "opencv-leuvenA.jpg"]
VAL_PHOTOS = ["misc-flower.jpg", "opencv-scenetext01.jpg", "opencv-rubberwhale1.png", "opencv-ela_original.jpg"]


def test_tiny_nafnet_learns_simulated_gopro_deblurring(tmp_path, shared):
    """Measured PSNR gain over the blurry input on held-out photos after a short run of the default recipe.

    SupervisedConfig's defaults (nafnet_tiny_cpu, 64-px crops, AdamW 3e-3 with warm-up + cosine, clipping, EMA,
    Charbonnier) with batch 4 and 500 steps, so it stays well inside 40 s on 2 cores. Training renders and
    validation samples are both 96 px (same content scale), validation photos are disjoint from training."""
    from camdeblur.engine.config import apply_overrides
    from camdeblur.methods.supervised import train

    photos = shared / "corpus" / "photos"
    steps = 500
    cfg = apply_overrides(SupervisedConfig(), [
        "data.source=sim:gopro", "data.cache=128", "data.cache_size=96", f"train.steps={steps}", "train.batch_size=4",
        "train.device=cpu", f"train.val_every={steps}", f"train.log_every={steps // 4}", "val.length=16", "val.crop=96",
        f"train.ckpt_every={steps}"])
    cfg.data.photos = [str(photos / p) for p in TRAIN_PHOTOS]
    cfg.val.photos = [str(photos / p) for p in VAL_PHOTOS]
    summary = train(cfg, out=tmp_path / "run")
    val = summary["val"]
    gain = val["psnr"] - val["psnr_input"]
    print(f"held-out simulated gopro: input {val['psnr_input']:.2f} dB -> {val['psnr']:.2f} dB (gain {gain:.2f} dB), "
          f"SSIM {val['ssim']:.4f}")
    # measured +0.72 dB (26.38 -> 27.10, 1 thread, 16 held-out samples) when this test was written; a broken
    # trainer (no learning, misaligned pairs, wrong export) stays near 0 or below. 0.5 dB leaves room for
    # thread-count numerics
    assert gain >= 0.5
    # the exported weights reproduce the validated network from the file alone
    net = registry.load_model(weights=tmp_path / "run" / "model.safetensors")
    x = torch.rand(1, 3, 37, 31)
    torch.testing.assert_close(net(x), summary["trainer"].eval_model().eval()(x))
