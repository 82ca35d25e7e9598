"""Video I/O on the shared real video (tree.avi: 68 frames, 320x240, 15 fps) and write/read round trips."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from camdeblur.errors import CamdeblurError
from camdeblur.io import list_images, read_image

pytest.importorskip("av")

from camdeblur.io.video import (  # noqa: E402
    folder_to_video,
    frames_to_folder,
    iter_video_frames,
    video_info,
    write_video,
)


@pytest.fixture(scope="module")
def tree(shared):
    return shared / "corpus" / "video" / "tree.avi"


@pytest.fixture(scope="module")
def tree_frames(tree):
    return list(iter_video_frames(tree))


def _psnr(a, b):
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def test_info_and_frames_of_tree_avi(tree, tree_frames):
    info = video_info(tree)
    assert (info.frames, info.width, info.height) == (68, 320, 240)
    assert info.fps == pytest.approx(15.0, abs=1e-3)
    assert len(tree_frames) == 68
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f in tree_frames)
    # a hand-held real video: consecutive frames differ, and not trivially (not a constant image)
    assert tree_frames[0].std() > 10
    assert np.abs(tree_frames[0].astype(int) - tree_frames[30].astype(int)).mean() > 1


def test_frame_range(tree, tree_frames):
    sub = list(iter_video_frames(tree, start=10, stop=25, step=5))
    assert len(sub) == 3
    for got, want in zip(sub, tree_frames[10:25:5]):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("ext,codec", [("mp4", None), ("avi", None), ("mp4", "mpeg4")])
def test_write_read_round_trip(tmp_path, tree_frames, ext, codec):
    src = tree_frames[:8]
    out = tmp_path / "sub" / f"clip.{ext}"
    info = write_video(out, src, fps=15, codec=codec)
    assert info.frames == 8 and (info.width, info.height) == (320, 240)
    back = list(iter_video_frames(out))
    assert len(back) == 8
    rinfo = video_info(out)
    assert rinfo.frames == 8 and rinfo.fps == pytest.approx(15.0) and (rinfo.width, rinfo.height) == (320, 240)
    for i, frame in enumerate(back):
        assert _psnr(frame, src[i]) > 30
        # order is kept: each decoded frame is closest to its own source frame
        assert int(np.argmin([np.mean((frame.astype(float) - s) ** 2) for s in src])) == i
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp files left


def test_float_odd_size_frames_are_padded(tmp_path, rng):
    frames = [rng.random((31, 45, 3)).astype(np.float32) * 0.2 + 0.4 for _ in range(3)]
    with pytest.warns(UserWarning, match="odd"):
        info = write_video(tmp_path / "odd.mp4", frames, fps=10)
    assert (info.width, info.height) == (46, 32)
    back = list(iter_video_frames(tmp_path / "odd.mp4"))
    assert len(back) == 3 and back[0].shape == (32, 46, 3)
    assert abs(back[0][:31, :45].mean() / 255 - frames[0].mean()) < 0.02


def test_failed_write_keeps_previous_video(tmp_path, tree_frames):
    out = tmp_path / "v.avi"
    write_video(out, tree_frames[:3], fps=15)
    before = out.read_bytes()
    bad = [tree_frames[0], tree_frames[1][:100]]
    with pytest.raises(CamdeblurError, match="frame 1 is"):
        write_video(out, bad, fps=15)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["v.avi"]


def test_frames_to_folder_and_back(tmp_path, tree, tree_frames):
    paths = frames_to_folder(tree, tmp_path / "frames", stop=12)
    assert [p.name for p in paths] == [f"{i:06d}.png" for i in range(12)]
    assert list_images(tmp_path / "frames") == paths
    np.testing.assert_array_equal(np.rint(read_image(paths[7]).data * 255).astype(np.uint8), tree_frames[7])
    with pytest.raises(CamdeblurError, match="already exists"):
        frames_to_folder(tree, tmp_path / "frames", stop=2)
    info = folder_to_video(tmp_path / "frames", tmp_path / "again.mp4", fps=15)
    assert info.frames == 12
    back = list(iter_video_frames(tmp_path / "again.mp4"))
    assert len(back) == 12 and _psnr(back[11], tree_frames[11]) > 30


def test_video_errors(tmp_path, tree_frames):
    with pytest.raises(CamdeblurError, match="video file not found"):
        video_info(tmp_path / "none.mp4")
    (tmp_path / "fake.mp4").write_text("not a video")
    with pytest.raises(CamdeblurError, match="not a readable video") as exc:
        iter_video_frames(tmp_path / "fake.mp4")  # reported on the call, before any frame is consumed
    assert "\n" not in exc.value.line()
    with pytest.raises(CamdeblurError, match="unsupported video format"):
        write_video(tmp_path / "x.gifx", tree_frames[:1], fps=5)
    with pytest.raises(CamdeblurError, match="no frames"):
        write_video(tmp_path / "x.mp4", [], fps=5)
    with pytest.raises(CamdeblurError, match="no images"):
        (tmp_path / "empty").mkdir()
        folder_to_video(tmp_path / "empty", tmp_path / "e.mp4", fps=5)


def test_missing_extra_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # makes 'import av' fail like an uninstalled package
    with pytest.raises(CamdeblurError, match=r"camdeblur\[video\]"):
        video_info(tmp_path / "x.mp4")


def test_truncated_video(tmp_path, tree):
    blob = tree.read_bytes()
    half = tmp_path / "half.avi"
    half.write_bytes(blob[: len(blob) // 2])
    info = video_info(half)
    frames = list(iter_video_frames(half))
    assert 0 < len(frames) == info.frames < 68  # what survived is decoded, and counted consistently
    stub = tmp_path / "stub.avi"
    stub.write_bytes(blob[: len(blob) // 50])
    with pytest.raises(CamdeblurError, match="truncated or corrupt") as exc:
        list(iter_video_frames(stub))
    assert "\n" not in exc.value.line()
