"""Exposure renderer: determinism, physics (energy, noise, saturation), uniform blur == convolution."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from camdeblur.sim import crf, expected_noise_std, get_camera, inverse_crf, load_photos, render, render_batch
from camdeblur.sim.camera import Camera


@pytest.fixture(scope="module")
def photo():
    return load_photos()[4]  # motorcycle: detail everywhere


def _quiet(cam: Camera) -> Camera:
    return cam.replace(shot_noise=[0.0, 0.0], read_noise=[0.0, 0.0], jpeg_prob=0.0)


@pytest.mark.parametrize("name", ["gopro", "phone", "rsblur", "uniform"])
def test_same_seed_same_bits_and_batch_independent(photo, name):
    b1, s1, m1 = render(photo, name, seed=7, size=40)
    b2, s2, m2 = render(photo, name, seed=7, size=40)
    assert np.array_equal(b1, b2) and np.array_equal(s1, s2) and m1 == m2
    b3, _, _ = render(photo, name, seed=8, size=40)
    assert not np.array_equal(b1, b3)
    photos = load_photos()
    B, S, _ = render_batch([photos[0], photo, photos[2]], name, [3, 7, 5], size=40)
    assert torch.equal(B[1], torch.from_numpy(b1).permute(2, 0, 1))
    assert torch.equal(S[1], torch.from_numpy(s1).permute(2, 0, 1))


def test_mid_exposure_is_a_subframe_and_the_sharp_target(photo):
    for name in ("gopro", "phone", "rsblur"):
        for seed in range(4):
            _, _, meta = render(photo, name, seed=seed, size=32)
            n = meta["subframes"]
            assert n % 2 == 1 and n <= get_camera(name).max_subframes
            assert meta["subframe_times"][n // 2] == 0.0
            assert np.allclose(np.asarray(meta["homographies"][n // 2]), np.eye(3).reshape(-1))


def test_output_contract_odd_size(photo):
    for name in ("gopro", "phone", "uniform"):
        b, s, meta = render(photo, name, seed=1, size=(37, 31))
        for a in (b, s):
            assert a.shape == (37, 31, 3) and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
        json.dumps(meta)
        assert meta["camera"] == name


@pytest.mark.parametrize("name", ["gopro", "reds", "phone", "rsblur"])
def test_zero_length_trajectory_gives_blur_equal_sharp(photo, name):
    cam = _quiet(get_camera(name)).replace(speed=[0.0, 0.0], jitter=0.0, rotation_max=0.0, zoom_max=0.0,
                                           perspective_max=0.0, object_prob=0.0, highlight_prob=0.0)
    b, s, meta = render(photo, cam, seed=3, size=48)
    assert meta["exposure_frames"] > 0 and meta["blur_length_px"] == 0.0
    assert np.array_equal(b, s)
    # and a moving camera does blur
    b2, s2, _ = render(photo, _quiet(get_camera(name)), seed=3, size=48)
    assert np.abs(b2 - s2).mean() > 1e-3


@pytest.mark.parametrize("crf_name", ["linear", "gamma", "srgb", "tone"])
def test_crf_inverse_round_trip(crf_name):
    cam = Camera(crf=crf_name, gamma=2.4, tone=0.5)
    y = torch.linspace(0, 1, 1001)
    assert torch.allclose(crf(inverse_crf(y, cam), cam), y, atol=2e-5)
    x = inverse_crf(y, cam)
    assert (x[1:] >= x[:-1]).all()  # monotone


@pytest.mark.parametrize("name", ["gopro", "reds", "phone", "rsblur", "uniform"])
def test_energy_preserved_constant_image_stays_constant(name):
    cam = _quiet(get_camera(name)).replace(object_prob=1.0 if name != "uniform" else 0.0)
    for value in (0.2, 0.55):
        flat = np.full((300, 400, 3), value, dtype=np.float32)
        b, s, meta = render(flat, cam, seed=11, size=48)
        assert np.abs(s - value).max() < 2e-5
        assert np.abs(b - value).max() < 2e-5, (name, value, np.abs(b - value).max())


@pytest.mark.parametrize("cam", [
    get_camera("rsblur").replace(highlight_prob=0.0),
    get_camera("phone").replace(jpeg_prob=0.0, highlight_prob=0.0),
    Camera(name="gamma-noisy", crf="gamma", gamma=2.2, shot_noise=[0.002, 0.002], read_noise=[0.004, 0.004]),
])
def test_noise_level_from_flat_patch_matches_preset(cam):
    # noise is added in linear space before the CRF: its display std depends on the CRF slope, which
    # differs by several times between dark and bright patches
    for value in (0.4, 0.8):
        flat = np.full((200, 200, 3), value, dtype=np.float32)
        measured, predicted = [], []
        for seed in range(4):
            b, _, meta = render(flat, cam, seed=seed, size=64)
            measured.append(b[8:-8, 8:-8].std())
            predicted.append(expected_noise_std(value, cam, meta["noise"]["shot"], meta["noise"]["read"]))
        ratio = np.mean(measured) / np.mean(predicted)
        assert 0.8 < ratio < 1.2, (cam.name, value, ratio)


def test_saturated_highlights_are_clipped_streaks():
    # a dark scene with a small light: boosted before the blur, it stays saturated along the streak
    img = np.full((200, 200, 3), 0.05, dtype=np.float32)
    img[95:105, 95:105] = 1.0
    base = get_camera("gopro").replace(speed=[2.0, 2.0], exposure_frames=[13, 13], object_prob=0.0,
                                       scene_scale=[1.0, 1.0], jitter=0.0)
    plain, _, _ = render(img, base, seed=0, size=200)
    boosted, sharp, meta = render(img, base.replace(highlight_prob=1.0, highlight_gain=[8.0, 8.0]), seed=0, size=200)
    assert meta["highlight_gain"] == 8.0
    assert plain.max() < 0.99  # averaging spreads the light below saturation
    assert boosted.max() == 1.0 and (boosted >= 0.999).sum() > 3 * (sharp >= 0.999).sum() // 2
    assert boosted.max() <= 1.0 and sharp.max() <= 1.0


def _interior_check(photo, cam, seed):
    b, s, meta = render(photo, cam, seed=seed, size=48)
    k = np.asarray(meta["kernel"]["psf"], dtype=np.float64)
    r = k.shape[0] // 2
    for c in range(3):
        ref = convolve2d(s[..., c].astype(np.float64), k, mode="valid")
        assert np.abs(b[r:-r or None, r:-r or None, c] - ref).max() < 2e-6
    return k


def test_uniform_domain_equals_convolution_random_kernels(photo):
    ks = [_interior_check(photo, get_camera("uniform"), seed) for seed in range(3)]
    assert all(abs(k.sum() - 1) < 1e-5 and k.shape[0] % 2 == 1 for k in ks)
    assert len({k.shape for k in ks}) > 1 or not np.allclose(ks[0], ks[1])


def test_uniform_domain_equals_convolution_kernel_file(photo, shared):
    path = shared / "kernels" / "psf.npz"
    cam = get_camera("uniform", kernel_source="file", kernel_file=str(path))
    with np.load(path) as z:
        for seed in range(3):
            b, s, meta = render(photo, cam, seed=seed, size=48)
            idx = meta["kernel"]["index"]
            ref = z[str(sorted(z.files, key=lambda x: (len(x), x))[idx])]
            k = np.asarray(meta["kernel"]["psf"])
            assert k.shape[0] >= max(ref.shape)
            assert abs(np.asarray(k).sum() - 1) < 1e-5
            _interior_check(photo, cam, seed)


def test_moving_object_only_changes_its_neighbourhood(photo):
    cam = _quiet(get_camera("gopro")).replace(speed=[0.0, 0.0], jitter=0.0, rotation_max=0.0, zoom_max=0.0,
                                              perspective_max=0.0, object_prob=1.0, object_speed=[3.0, 3.0])
    b, s, meta = render(photo, cam, seed=5, size=64)
    ob = meta["object"]
    yy, xx = np.mgrid[0:64, 0:64]
    rho = np.hypot((xx - ob["center"][0]) / ob["radii"][0], (yy - ob["center"][1]) / ob["radii"][1])
    far = rho > 1 + (ob["path_length_px"] / 2 + 2) / min(ob["radii"])
    near = rho < 1.0
    assert far.sum() > 100 and near.sum() > 50
    assert np.abs(b - s)[far].max() < 1e-6  # static background: untouched
    assert np.abs(b - s)[near].mean() > 1e-3  # the object moved


def test_bad_photo_is_a_clear_error():
    from camdeblur.errors import CamdeblurError

    with pytest.raises(CamdeblurError, match="RGB"):
        render(np.zeros((10, 10)), "gopro", seed=0, size=8)


def test_shake_psf_from_meta_explains_translation_blur(photo):
    from camdeblur.sim import psf_from_meta

    cam = get_camera("gopro").replace(rotation_max=0.0, zoom_max=0.0, perspective_max=0.0, object_prob=0.0,
                                      speed=[1.5, 1.5], exposure_frames=[13, 13], crf="linear", jitter=0.0,
                                      curvature_max=0.25)  # curved paths: the PSF is not point-symmetric
    for seed in range(3):
        b, s, meta = render(photo, cam, seed=seed, size=64)
        k = psf_from_meta(meta).astype(np.float64)
        assert abs(k.sum() - 1) < 1e-5 and meta["blur_length_px"] > 15
        r = k.shape[0] // 2
        err = np.abs(b[r:-r, r:-r, 1] - convolve2d(s[..., 1], k, mode="valid")).mean()
        err_flipped = np.abs(b[r:-r, r:-r, 1] - convolve2d(s[..., 1], k[::-1, ::-1], mode="valid")).mean()
        err_none = np.abs(b[r:-r, r:-r, 1] - s[r:-r, r:-r, 1]).mean()
        assert err < 0.1 * err_none and err < 0.5 * err_flipped, (err, err_flipped, err_none)
