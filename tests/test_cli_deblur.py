"""`camdeblur deblur` end to end on tiny inputs (in-process, tiny random-init NAFNet weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camdeblur.cli.main import main
from camdeblur.io import read_image, write_image


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    import camdeblur

    torch.manual_seed(0)
    net = camdeblur.create_model("nafnet_tiny", width=4, enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    path = tmp_path_factory.mktemp("w") / "tiny.safetensors"
    camdeblur.save_model(net, path)
    return path


@pytest.fixture
def folder(tmp_path, rng):
    src = tmp_path / "in"
    write_image(src / "img2.png", rng.random((37, 31, 3)).astype(np.float32))
    write_image(src / "img10.jpg", rng.random((24, 40, 3)).astype(np.float32))
    write_image(src / "sub" / "deep.png", rng.random((20, 22, 3)).astype(np.float32), bit_depth=16,
                alpha=rng.random((20, 22)).astype(np.float32))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    return src


def test_folder_with_corrupt_file(folder, tmp_path, weights, capsys):
    out = tmp_path / "out"
    code = main(["deblur", "-i", str(folder), "-o", str(out), "--weights", str(weights)])
    err = capsys.readouterr().err
    assert code != 0
    bad = [line for line in err.splitlines() if "broken.png" in line]
    assert len(bad) == 1 and "Traceback" not in err
    assert "3 images written" in err and "1 failed" in err
    assert (out / "img2.png").is_file() and (out / "img10.jpg").is_file()
    deep = read_image(out / "sub" / "deep.png")  # relative sub-folder, 16 bit and alpha kept
    src = read_image(folder / "sub" / "deep.png")
    assert deep.bit_depth == 16 and deep.alpha is not None
    np.testing.assert_array_equal(deep.alpha, src.alpha)
    assert read_image(out / "img2.png").data.shape == (37, 31, 3)
    assert not (out / "broken.png").exists()


def test_skip_existing_and_overwrite(tmp_path, rng, weights, capsys):
    src = tmp_path / "a.png"
    write_image(src, rng.random((16, 16, 3)).astype(np.float32))
    out = tmp_path / "out"
    out.mkdir()
    sentinel = out / "a.png"
    write_image(sentinel, np.zeros((5, 5, 3), np.float32))
    assert main(["deblur", "-i", str(src), "-o", str(out), "--weights", str(weights)]) == 0
    assert read_image(sentinel).data.shape == (5, 5, 3)  # skipped, untouched
    assert "1 skipped" in capsys.readouterr().err
    assert main(["deblur", "-i", str(src), "-o", str(out), "--weights", str(weights), "--overwrite"]) == 0
    assert read_image(sentinel).data.shape == (16, 16, 3)
    # --ext changes the container, keeps the name
    assert main(["deblur", "-i", str(src), "-o", str(out), "--weights", str(weights), "--ext", "tif"]) == 0
    assert (out / "a.tif").is_file()


def test_refuses_to_overwrite_input(folder, weights, capsys):
    before = {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    code = main(["deblur", "-i", str(folder), "-o", str(folder), "--weights", str(weights), "--overwrite"])
    err = capsys.readouterr().err
    assert code == 2 and "overwrite an input" in err and len(err.strip().splitlines()) == 1
    assert {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()} == before
    single = folder / "img2.png"
    assert main(["deblur", "-i", str(single), "-o", str(single), "--weights", str(weights), "--overwrite"]) == 2
    assert single.read_bytes() == before[single]


def test_16bit_single_file_and_tiling(tmp_path, rng, weights):
    src = tmp_path / "x16.png"
    img = rng.random((33, 29, 3)).astype(np.float32)
    write_image(src, img, bit_depth=16)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    assert main(["deblur", "-i", str(src), "-o", str(a), "--weights", str(weights)]) == 0
    assert main(["deblur", "-i", str(src), "-o", str(b), "--weights", str(weights), "--tile", "24",
                 "--tile-overlap", "8", "--precision", "bf16"]) == 0
    ra, rb = read_image(a), read_image(b)
    assert ra.bit_depth == 16 and rb.bit_depth == 16
    assert np.abs(ra.data - img).max() > 1e-3  # the net did something
    # the options reach the engine: same result as the API with the same settings (to 16-bit quantisation)
    import camdeblur
    from camdeblur.engine.inference import deblur

    net = camdeblur.load_model(weights=weights)
    src_data = read_image(src).data
    np.testing.assert_allclose(ra.data, deblur(net, src_data), atol=1 / 65535 + 1e-6)
    np.testing.assert_allclose(rb.data, deblur(net, src_data, tile=24, tile_overlap=8, precision="bf16"),
                               atol=1 / 65535 + 1e-6)
    assert not np.allclose(ra.data, rb.data, atol=1e-4)


def test_model_errors(tmp_path, rng, weights, capsys):
    src = tmp_path / "a.png"
    write_image(src, rng.random((8, 8, 3)).astype(np.float32))
    assert main(["deblur", "-i", str(src), "-o", str(tmp_path / "o"), "--model", "nafnet_tiny"]) == 2
    assert "no weights" in capsys.readouterr().err
    assert main(["deblur", "-i", str(src), "-o", str(tmp_path / "o"), "--weights", str(weights),
                 "--arch", "restormer_tiny"]) == 2
    assert "checkpoint is for" in capsys.readouterr().err


def test_video_to_video_and_frames(shared, tmp_path, weights):
    from camdeblur.io.video import iter_video_frames, video_info, write_video

    clip = tmp_path / "clip.avi"
    small = [f[::4, ::4] for f in iter_video_frames(shared / "corpus" / "video" / "tree.avi", stop=3)]  # 80x60
    write_video(clip, small, fps=15)
    out = tmp_path / "clip_sharp.mp4"
    assert main(["deblur", "-i", str(clip), "-o", str(out), "--weights", str(weights)]) == 0
    info = video_info(out)
    assert info.frames == 3 and abs(info.fps - 15) < 1e-6 and (info.width, info.height) == (80, 60)
    frames = tmp_path / "frames"
    assert main(["deblur", "-i", str(clip), "-o", str(frames), "--weights", str(weights)]) == 0
    assert sorted(p.name for p in frames.iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert read_image(frames / "000000.png").data.shape == (60, 80, 3)


def test_output_folder_inside_input_is_not_reprocessed(tmp_path, rng, weights, capsys):
    src = tmp_path / "in"
    write_image(src / "a.png", rng.random((12, 12, 3)).astype(np.float32))
    out = src / "sharp"
    assert main(["deblur", "-i", str(src), "-o", str(out), "--weights", str(weights)]) == 0
    assert main(["deblur", "-i", str(src), "-o", str(out), "--weights", str(weights)]) == 0
    assert "1 skipped" in capsys.readouterr().err
    assert sorted(p.relative_to(src).as_posix() for p in src.rglob("*.png")) == ["a.png", "sharp/a.png"]


# ------------------------------------------------------------------------- Blur2Blur translator
@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    """A tiny translator that visibly changes its input (registry UNet, weights perturbed off the identity)."""
    import camdeblur

    torch.manual_seed(1)
    net = camdeblur.create_model("unet_tiny")
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("t") / "translator.safetensors"
    camdeblur.save_model(net, path)
    return path


def _pipeline(weights, translator):
    import camdeblur
    from camdeblur.nets.pipeline import Pipeline

    return Pipeline(camdeblur.load_model(weights=weights), camdeblur.load_model(weights=translator)).eval()


def test_translator_folder_with_saved_translations(tmp_path, rng, weights, translator):
    """--translator on a folder = deblurrer(translator(x)); --save-translated writes translator(x) under the same
    relative names (paper Fig. 4) and does not change the deblurred output."""
    from camdeblur.engine.inference import deblur

    src = tmp_path / "in"
    imgs = {"a.png": rng.random((37, 31, 3)).astype(np.float32), "sub/b.png": rng.random((24, 40, 3)).astype(np.float32)}
    for k, v in imgs.items():
        write_image(src / k, v)
    base = ["deblur", "-i", str(src), "--weights", str(weights), "--translator", str(translator)]
    assert main([*base, "-o", str(tmp_path / "plain")]) == 0
    tdir = src / "translated"  # inside the input folder: must not be read back as an input on a rerun
    assert main([*base, "-o", str(tmp_path / "out"), "--save-translated", str(tdir)]) == 0
    pipe = _pipeline(weights, translator)
    for k in imgs:
        x = read_image(src / k).data
        t = read_image(tdir / k).data
        np.testing.assert_allclose(t, deblur(pipe.translator, x).clip(0, 1), atol=1 / 255 + 1e-6)
        assert np.abs(t - x).mean() > 1e-3  # the translator changed the image
        got = read_image(tmp_path / "out" / k).data
        np.testing.assert_allclose(got, deblur(pipe, x), atol=1 / 255 + 1e-6)
        np.testing.assert_array_equal(got, read_image(tmp_path / "plain" / k).data)
        import camdeblur

        assert np.abs(got - deblur(camdeblur.load_model(weights=weights), x)).max() > 2 / 255  # translator used
    assert main([*base, "-o", str(tmp_path / "out2"), "--save-translated", str(tdir)]) == 0
    assert sorted(p.relative_to(tmp_path / "out2").as_posix() for p in (tmp_path / "out2").rglob("*.png")) == ["a.png", "sub/b.png"]


def test_translator_single_image_and_video(shared, tmp_path, rng, weights, translator):
    from camdeblur.io.video import iter_video_frames, video_info, write_video

    one = tmp_path / "one.png"
    write_image(one, rng.random((20, 22, 3)).astype(np.float32))
    assert main(["deblur", "-i", str(one), "-o", str(tmp_path / "res.png"), "--weights", str(weights),
                 "--translator", str(translator), "--save-translated", str(tmp_path / "t1")]) == 0
    assert (tmp_path / "res.png").is_file() and (tmp_path / "t1" / "res.png").is_file()

    clip = tmp_path / "clip.avi"
    write_video(clip, [f[::4, ::4] for f in iter_video_frames(shared / "corpus" / "video" / "tree.avi", stop=2)], fps=15)
    out = tmp_path / "clip_sharp.mp4"
    assert main(["deblur", "-i", str(clip), "-o", str(out), "--weights", str(weights), "--translator", str(translator),
                 "--save-translated", str(tmp_path / "tframes")]) == 0
    assert video_info(out).frames == 2
    assert sorted(p.name for p in (tmp_path / "tframes").iterdir()) == ["000000.png", "000001.png"]
    assert read_image(tmp_path / "tframes" / "000000.png").data.shape == (60, 80, 3)
    frames = tmp_path / "frames"  # video -> folder of frames through the translator
    assert main(["deblur", "-i", str(clip), "-o", str(frames), "--weights", str(weights), "--translator", str(translator)]) == 0
    assert len(list(frames.iterdir())) == 2


def test_save_translated_needs_translator(tmp_path, rng, weights, translator, capsys):
    src = tmp_path / "a.png"
    write_image(src, rng.random((8, 8, 3)).astype(np.float32))
    assert main(["deblur", "-i", str(src), "-o", str(tmp_path / "o"), "--weights", str(weights),
                 "--save-translated", str(tmp_path / "t")]) == 2
    err = capsys.readouterr().err
    assert "needs a translator" in err and len(err.strip().splitlines()) == 1
    assert main(["deblur", "-i", str(src), "-o", str(tmp_path / "o"), "--weights", str(weights),
                 "--translator", str(tmp_path / "missing.safetensors")]) == 2
    assert "translator weight file not found" in capsys.readouterr().err
    # the translated copy may not land on the input
    assert main(["deblur", "-i", str(src), "-o", str(tmp_path / "o"), "--weights", str(weights),
                 "--translator", str(translator), "--save-translated", str(tmp_path)]) == 2
    assert "overwrite an input" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", [["deblur"], ["convert"], ["bench", "blur2blur"], ["demo"]])
def test_help_is_plain_text(cmd, capsys):
    """--help shows plain text, not reST markup from the module docstrings."""
    with pytest.raises(SystemExit) as e:
        main([*cmd, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "usage: camdeblur" in out and "``" not in out and ":func:" not in out
