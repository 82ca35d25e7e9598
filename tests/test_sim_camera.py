"""Camera presets: range checks with clear errors, YAML round trip, measurable differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camdeblur.errors import CamdeblurError
from camdeblur.sim import PSNR_ORDER, SimulatedPairs, get_camera, list_cameras, load_camera_yaml
from camdeblur.sim.camera import Camera


def test_presets_exist_and_are_valid():
    names = list_cameras()
    for n in ("gopro", "reds", "phone", "rsblur", "uniform"):
        assert n in names
        cam = get_camera(n)
        assert cam.name == n
    assert get_camera("uniform").kind == "uniform"
    g = get_camera("gopro")
    assert g.exposure_frames == [7, 13] and g.fps == 240 and g.crf == "gamma" and not g.noisy
    assert get_camera("phone").jpeg_prob > 0 and get_camera("phone").noisy
    assert get_camera("rsblur").highlight_prob > 0 and get_camera("rsblur").noisy


@pytest.mark.parametrize("name", ["gopro", "phone", "uniform"])
def test_print_yaml_round_trip(tmp_path, name):
    cam = get_camera(name)
    p = tmp_path / "cam.yaml"
    p.write_text(cam.to_yaml())
    assert load_camera_yaml(p) == cam
    assert get_camera(str(p)) == cam  # --camera accepts a YAML path too


@pytest.mark.parametrize("text, field, value", [
    ("base: phone\nspeed: [2.0, -1.0]\n", "speed", "-1.0"),
    ("base: phone\nspeed: [5.0, 2.0]\n", "speed", "[5.0, 2.0]"),
    ("base: gopro\njitter: 99\n", "jitter", "99"),
    ("base: gopro\nexposure_frames: [7.5, 9]\n", "exposure_frames", "7.5"),
    ("base: gopro\ngamma: hello\n", "gamma", "'hello'"),
    ("base: gopro\ncrf: log\n", "crf", "'log'"),
    ("base: gopro\nread_noise: 0.1\n", "read_noise", "0.1"),
    ("base: gopro\njpeg_quality: [0, 50]\n", "jpeg_quality", "0"),
])
def test_bad_yaml_values_name_field_value_and_range(tmp_path, text, field, value):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(CamdeblurError) as e:
        load_camera_yaml(p)
    msg = e.value.line()
    assert f"'{field}'" in msg and value in msg and "allowed" in msg and str(p) in msg
    assert "\n" not in msg


def test_unknown_field_and_unknown_preset(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("base: gopro\nshutter: 3\n")
    with pytest.raises(CamdeblurError, match="unknown camera field 'shutter'"):
        load_camera_yaml(p)
    with pytest.raises(CamdeblurError, match="unknown camera 'nikon'"):
        get_camera("nikon")
    with pytest.raises(CamdeblurError, match="kernel_file"):
        Camera(kind="uniform", kernel_source="file")
    with pytest.raises(CamdeblurError, match="'fps'"):
        get_camera("gopro", fps=0.0)


def _psnr_and_length(name: str, n: int = 24, size: int = 48):
    d = SimulatedPairs(name, size=size, length=n, seed=0)
    b = d.batch(range(n))
    mse = ((b["blur"] - b["sharp"]) ** 2).mean((1, 2, 3))
    psnr = (10 * torch.log10(1 / mse)).mean().item()
    length = float(np.mean([m["blur_length_px"] for m in b["meta"]]))
    return psnr, length, b["meta"]


def test_presets_differ_in_documented_psnr_order_and_blur_length():
    stats = {n: _psnr_and_length(n) for n in PSNR_ORDER}
    psnrs = [stats[n][0] for n in PSNR_ORDER]
    # documented order (camera.PSNR_ORDER), each step at least 0.5 dB
    assert all(a > b + 0.5 for a, b in zip(psnrs, psnrs[1:])), dict(zip(PSNR_ORDER, psnrs))
    # blur length: gopro shortest, reds longer, phone/rsblur longest
    assert stats["gopro"][1] < stats["reds"][1] < min(stats["phone"][1], stats["rsblur"][1])
    # noise: gopro and reds clean, phone and rsblur noisy
    for n in ("gopro", "reds"):
        assert all(m["noise"]["read"] == 0 and m["noise"]["shot"] == 0 for m in stats[n][2])
    for n in ("phone", "rsblur"):
        assert all(m["noise"]["read"] > 0 and m["noise"]["shot"] > 0 for m in stats[n][2])
    assert all(m["jpeg_quality"] is not None for m in stats["phone"][2])


def test_kernel_file_relative_to_yaml(tmp_path, shared):
    (tmp_path / "k.npz").symlink_to(shared / "kernels" / "psf.npz")
    y = tmp_path / "cam.yaml"
    y.write_text("base: uniform\nkernel_source: file\nkernel_file: k.npz\n")
    cam = load_camera_yaml(y)
    assert cam.kernel_file == str((tmp_path / "k.npz").resolve())
