"""``camdeblur simulate``: layouts on disk, splits, unpaired protocol, sequences, no overwrite."""

from __future__ import annotations

import json

import numpy as np
import pytest

from camdeblur.cli.main import main
from camdeblur.data.layouts import SequenceFolder, find_pairs
from camdeblur.io import list_images, read_rgb


def _photo_of(path) -> str:
    return path.parent.parent.name


def test_paired_gopro_layout_with_disjoint_splits(tmp_path, capsys):
    out = tmp_path / "ds"
    assert main(["simulate", "--camera", "phone", "--out", str(out), "--num", "10", "--size", "32",
                 "--seed", "1", "--split", "test=0.25"]) == 0
    layout, train = find_pairs(out, split="train")
    _, test = find_pairs(out, split="test")
    assert layout == "gopro" and len(train) + len(test) == 10 and len(test) >= 2
    train_photos = {p.name.split("/")[0] for p in train}
    test_photos = {p.name.split("/")[0] for p in test}
    assert train_photos and test_photos and not train_photos & test_photos
    pair = train[0]
    blur, sharp = read_rgb(pair.blur), read_rgb(pair.sharp)
    assert blur.shape == sharp.shape == (32, 32, 3) and np.abs(blur - sharp).mean() > 0.005
    meta = json.loads((pair.blur.parent.parent / "meta" / (pair.blur.stem + ".json")).read_text())
    assert meta["camera"] == "phone" and len(meta["homographies"]) == meta["subframes"]
    assert meta["shake"]["speed"] > 0 and meta["split"] == "train"
    manifest = json.loads((out / "simulate.json").read_text())
    assert train_photos <= set(manifest["photos"]["train"]) and test_photos <= set(manifest["photos"]["test"])
    assert not set(manifest["photos"]["train"]) & set(manifest["photos"]["test"])
    # the same command again must not overwrite anything
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    capsys.readouterr()
    assert main(["simulate", "--camera", "phone", "--out", str(out), "--num", "10", "--size", "32",
                 "--seed", "1", "--split", "test=0.25"]) == 2
    err = capsys.readouterr().err
    assert "already exist" in err and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert main(["simulate", "--camera", "phone", "--out", str(out), "--num", "10", "--size", "32",
                 "--seed", "1", "--split", "test=0.25", "--overwrite"]) == 0
    assert np.array_equal(read_rgb(pair.blur), blur)  # same seed, same bits


def test_unpaired_protocol_b_and_s_from_disjoint_photos(tmp_path):
    out = tmp_path / "u"
    assert main(["simulate", "--camera", "gopro", "--out", str(out), "--num", "12", "--size", "32",
                 "--unpaired", "0.6", "--split", "test=0.2"]) == 0
    B = list_images(out / "train" / "B")
    S = list_images(out / "train" / "S")
    assert len(B) > len(S) > 0 and not (out / "train" / "blur").exists()
    stem = lambda p: p.stem.rsplit("_", 1)[0]  # noqa: E731
    b_ph, s_ph = {stem(p) for p in B}, {stem(p) for p in S}
    _, test = find_pairs(out, split="test")
    t_ph = {p.name.split("/")[0] for p in test}
    assert b_ph and s_ph and t_ph
    assert not b_ph & s_ph and not (b_ph | s_ph) & t_ph
    meta = json.loads((out / "train" / "meta" / "S" / (S[0].stem + ".json")).read_text())
    assert meta["role"] == "S"


def test_sequences_layout(tmp_path):
    out = tmp_path / "s"
    assert main(["simulate", "--camera", "rsblur", "--out", str(out), "--num", "1", "--size", "32",
                 "--sequences", "--frames", "6", "--delta", "1", "--num-refs", "2"]) == 0
    seq_dirs = [d for d in out.iterdir() if d.is_dir()]
    assert len(seq_dirs) == 1
    info = json.loads((seq_dirs[0] / "sequence.json").read_text())
    assert info["long"] == [True, False, True, False, True, False] and info["offsets"] == [-1, 1]
    ds = SequenceFolder(out, delta=1, num_refs=2, subdir="blur", gt_subdir="sharp")
    assert len(ds) == 4 and ds[0]["refs"].shape == (2, 3, 32, 32)


def test_print_yaml_camera_yaml_and_preview(tmp_path, capsys):
    assert main(["simulate", "--camera", "reds", "--print-yaml"]) == 0
    text = capsys.readouterr().out
    assert "exposure_frames: [5, 11]" in text and "# " in text
    y = tmp_path / "my.yaml"
    y.write_text(text.replace("name: reds", "name: mycam").replace("exposure_frames: [5, 11]", "exposure_frames: [3, 4]"))
    assert main(["simulate", "--camera-yaml", str(y), "--out", str(tmp_path / "o"), "--num", "2", "--size", "24",
                 "--preview"]) == 0
    png = tmp_path / "o" / "preview.png"
    img = read_rgb(png)
    assert img.shape[0] == 18 + 6 * (24 + 4)  # header + 5 presets + the custom camera
    metas = [json.loads(p.read_text()) for p in (tmp_path / "o").rglob("meta/*.json")]
    assert len(metas) == 2 and all(m["camera"] == "mycam" and m["exposure_frames"] in (3, 4) for m in metas)
    y.write_text("base: reds\nexposure_frames: [3, 1]\n")
    capsys.readouterr()
    assert main(["simulate", "--camera-yaml", str(y), "--out", str(tmp_path / "p"), "--num", "1"]) == 2
    err = capsys.readouterr().err
    assert "exposure_frames" in err and "[3, 1]" in err and not (tmp_path / "p").exists()


@pytest.mark.parametrize("argv, needle", [
    (["--num", "0"], "--num"),
    (["--num", "2", "--split", "test=1.5"], "split"),
    (["--num", "2", "--unpaired", "1.2"], "--unpaired"),
    (["--num", "2", "--camera", "uniform", "--sequences"], "sequences"),
    (["--split", "test=0.2"], "--num"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, argv, needle):
    assert main(["simulate", "--out", str(tmp_path / "x"), "--size", "16", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert needle in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()  # nothing written
