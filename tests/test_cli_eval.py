"""``camdeblur eval`` in-process: matching by stem, table and JSON values equal the library metrics,
presets/crop, no-reference mode, and one-line errors for bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageFilter

from camdeblur.cli.main import main
from camdeblur.eval.metrics import PRESETS, laplacian_variance, psnr, ssim
from camdeblur.eval.niqe import niqe


def _u8(a: np.ndarray) -> np.ndarray:
    return np.asarray(a, dtype=np.float64) / 255.0


@pytest.fixture
def folders(tmp_path, photos):
    """gt/ with PNGs, pred/ with blurred PNG copies under the same stems (names that sort naturally)."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    gt.mkdir()
    pred.mkdir()
    names = ["img2", "img10", "img1"]
    im = Image.open(photos[1]).convert("RGB")
    im.thumbnail((200, 200))
    for i, (name, radius) in enumerate(zip(names, (0.8, 1.6, 2.4))):
        im = im.rotate(90 * i, expand=True)  # different content per name, the same amount of detail
        im.save(gt / f"{name}.png")
        im.filter(ImageFilter.GaussianBlur(radius)).save(pred / f"{name}.png")
    return pred, gt


def test_eval_table_and_json_match_library(folders, tmp_path, capsys):
    pred, gt = folders
    out = tmp_path / "res" / "r.json"
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    res = json.loads(out.read_text())
    assert res["preset"] == "gopro" and res["crop_border"] == 0
    names = [r["name"] for r in res["images"]]
    assert names == ["img1.png", "img2.png", "img10.png"]  # natural order
    for r in res["images"]:
        x = _u8(Image.open(pred / r["name"]))
        y = _u8(Image.open(gt / r["name"]))
        assert r["psnr"] == pytest.approx(psnr(x, y), abs=1e-4)
        assert r["ssim"] == pytest.approx(ssim(x, y), abs=1e-5)
        assert f"{r['psnr']:.3f}" in text and f"{r['ssim']:.4f}" in text
    # more blur (img2 < img10 < img1) -> lower scores, and the mean is the mean of the rows
    by = {r["name"]: r for r in res["images"]}
    assert by["img2.png"]["psnr"] > by["img10.png"]["psnr"] > by["img1.png"]["psnr"]
    assert res["mean"]["psnr"] == pytest.approx(np.mean([r["psnr"] for r in res["images"]]))
    assert res["mean"]["ssim"] == pytest.approx(np.mean([r["ssim"] for r in res["images"]]))
    assert f"{res['mean']['psnr']:.3f}" in text.splitlines()[-3]


def test_eval_preset_crop_and_stem_matching(folders, tmp_path, capsys):
    pred, gt = folders
    # a prediction saved as TIFF under the same stem still matches; an extra prediction is skipped
    Image.open(pred / "img1.png").save(pred / "img1.tif")
    (pred / "img1.png").unlink()
    Image.open(pred / "img2.png").save(pred / "extra.png")
    out = tmp_path / "y.json"
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--preset", "y", "--crop-border", "4",
                 "--json", str(out)]) == 0
    cap = capsys.readouterr()
    assert "extra" in cap.err and "skipped" in cap.err
    res = json.loads(out.read_text())
    assert res["preset"] == "y" and res["crop_border"] == 4 and len(res["images"]) == 3
    r = next(r for r in res["images"] if r["name"] == "img1.tif")
    x, y = _u8(Image.open(pred / "img1.tif")), _u8(Image.open(gt / "img1.png"))
    assert r["psnr"] == pytest.approx(psnr(x, y, "y", crop_border=4), abs=1e-4)
    assert r["ssim"] == pytest.approx(ssim(x, y, "y", crop_border=4), abs=1e-5)
    assert r["psnr"] != pytest.approx(psnr(x, y), abs=1e-3)
    # the CLI's preset choices are exactly the library's presets
    from camdeblur.cli.eval import _PRESET_NAMES

    assert set(_PRESET_NAMES) == set(PRESETS)


def test_eval_no_ref(folders, tmp_path, shared, capsys):
    pred, gt = folders
    model = shared / "iqa" / "niqe_pris_params.npz"
    out = tmp_path / "nr.json"
    assert main(["eval", "--no-ref", "--pred", str(pred), "--niqe-model", str(model), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["gt"] is None and res["niqe_model"] == str(model)
    for r in res["images"]:
        assert set(r) == {"name", "laplacian_variance", "niqe"}
        x = _u8(Image.open(pred / r["name"]))
        assert r["laplacian_variance"] == pytest.approx(laplacian_variance(x), rel=1e-6)
        assert r["niqe"] == pytest.approx(niqe(x.astype(np.float32), model), abs=1e-6)
        assert r["niqe"] == pytest.approx(niqe(x, model), abs=1e-6)  # float32/float64 of 8-bit data agree
    # the sharp folder is less blurry by both measures
    assert main(["eval", "--no-ref", "--pred", str(gt), "--niqe-model", str(model), "--json", str(tmp_path / "s.json")]) == 0
    sharp = json.loads((tmp_path / "s.json").read_text())
    assert sharp["mean"]["laplacian_variance"] > 2 * res["mean"]["laplacian_variance"]
    assert sharp["mean"]["niqe"] < res["mean"]["niqe"]
    # without a model only the blur degree is computed
    assert main(["eval", "--no-ref", "--pred", str(pred)]) == 0
    assert "niqe" not in capsys.readouterr().out.splitlines()[-4]


def test_identical_images_write_null_not_infinity(folders, tmp_path):
    _, gt = folders
    out = tmp_path / "same.json"
    assert main(["eval", "--pred", str(gt), "--gt", str(gt), "--json", str(out)]) == 0
    res = json.loads(out.read_text())  # strict JSON (no Infinity)
    assert all(r["psnr"] is None and r["ssim"] == pytest.approx(1.0) for r in res["images"])


@pytest.mark.parametrize("case, needle", [
    ("missing_gt", "folder not found"),
    ("no_gt_option", "--gt DIR is required"),
    ("no_match", "no prediction has a ground-truth image"),
    ("size", "size differs from its ground truth"),
    ("empty", "no images in folder"),
    ("json_is_input", "would overwrite an input"),
    ("bad_model", "NIQE model file not found"),
    ("small_niqe", "too small for NIQE"),
    ("ambiguous", "two images share the name 'img1'"),
    ("bad_crop", "crop_border=100 leaves nothing"),
])
def test_eval_errors_are_one_line(folders, tmp_path, shared, capsys, case, needle):
    pred, gt = folders
    args = ["eval", "--pred", str(pred), "--gt", str(gt)]
    if case == "missing_gt":
        args[-1] = str(tmp_path / "nope")
    elif case == "no_gt_option":
        args = args[:3]
    elif case == "no_match":
        other = tmp_path / "other"
        other.mkdir()
        Image.new("RGB", (32, 32)).save(other / "zzz.png")
        args[-1] = str(other)
    elif case == "size":
        Image.open(gt / "img1.png").crop((0, 0, 64, 60)).save(gt / "img1.png")
    elif case == "empty":
        (tmp_path / "empty").mkdir()
        args[2] = str(tmp_path / "empty")
    elif case == "json_is_input":
        args += ["--json", str(gt / "img1.png")]
    elif case == "bad_model":
        args = ["eval", "--no-ref", "--pred", str(pred), "--niqe-model", str(tmp_path / "m.npz")]
    elif case == "small_niqe":
        small = tmp_path / "small"
        small.mkdir()
        Image.new("RGB", (120, 90), (90, 40, 20)).save(small / "a.png")
        args = ["eval", "--no-ref", "--pred", str(small), "--niqe-model", str(shared / "iqa" / "niqe_pris_params.npz")]
    elif case == "ambiguous":
        Image.open(gt / "img1.png").save(gt / "img1.jpg")
    elif case == "bad_crop":
        args += ["--crop-border", "100"]
    before = (gt / "img1.png").read_bytes()
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("camdeblur: error:") and needle in err[0], err
    if case == "json_is_input":
        assert (gt / "img1.png").read_bytes() == before



def test_eval_recursive_names_are_relative_paths(folders, tmp_path):
    pred, gt = folders
    for d in (pred, gt):
        (d / "scene").mkdir()
        (d / "img1.png").rename(d / "scene" / "img1.png")
    out = tmp_path / "r.json"
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(out)]) == 0
    assert len(json.loads(out.read_text())["images"]) == 2
    assert main(["eval", "--pred", str(pred), "--gt", str(gt), "--json", str(out), "--recursive"]) == 0
    names = [r["name"] for r in json.loads(out.read_text())["images"]]
    assert sorted(names) == ["img10.png", "img2.png", "scene/img1.png"]
