"""NIQE with the shared LIVE pristine model: finite on real photos, higher for blurred copies, the MATLAB
bicubic resize it relies on, and one-line errors for bad model files and too-small images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage

from camdeblur.errors import CamdeblurError
from camdeblur.eval.niqe import imresize_matlab, load_niqe_model, niqe, to_luminance


@pytest.fixture(scope="module")
def model(shared):
    return shared / "iqa" / "niqe_pris_params.npz"


def _load(path, max_side=320) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    im.thumbnail((max_side, max_side), Image.LANCZOS)
    return np.asarray(im, dtype=np.float32) / 255.0


def test_niqe_finite_and_higher_when_blurred(photos, model):
    picked = [p for p in photos if p.suffix.lower() in (".jpg", ".png")][:: max(1, len(photos) // 5)][:5]
    assert len(picked) >= 4
    for path in picked:
        img = _load(path)
        sharp = niqe(img, model)
        blurred = niqe(ndimage.gaussian_filter(img, sigma=(2.5, 2.5, 0)), model)
        assert np.isfinite(sharp) and 0 < sharp < 30, (path.name, sharp)
        assert blurred > sharp + 0.5, (path.name, sharp, blurred)


def test_niqe_protocol_details(photos, model):
    img = _load(photos[2], 300)
    base = niqe(img, model)
    # only whole 96x96 blocks count: pixels beyond the grid change nothing
    h, w = (img.shape[0] // 96) * 96, (img.shape[1] // 96) * 96
    assert niqe(img[:h, :w], model) == pytest.approx(base, abs=1e-9)
    # the torch batch path gives the same per-image values; a grey image equals its Y-only input
    t = torch.from_numpy(np.stack([img, img[::-1].copy()])).permute(0, 3, 1, 2)
    out = niqe(t, model)
    assert out.shape == (2,) and float(out[0]) == pytest.approx(base, abs=1e-6)
    y = (to_luminance(img) / 255.0)
    assert niqe(y, model) == pytest.approx(base, abs=1e-9)
    assert niqe(img, model, crop_border=4) != pytest.approx(base, abs=1e-6)
    assert niqe(img, model, convert_to="gray") != pytest.approx(base, abs=1e-6)


def test_matlab_imresize_properties(rng):
    a = rng.random((37, 31))
    half = imresize_matlab(a, 0.5)
    assert half.shape == (19, 16)
    assert np.allclose(imresize_matlab(np.full((20, 14), 0.3), 0.5), 0.3)
    # a linear ramp is reproduced exactly away from the borders (cubic kernels preserve linear functions)
    ramp = np.tile(np.arange(64, dtype=np.float64), (8, 1))
    out = imresize_matlab(ramp, 0.5)[:, 4:-4]
    centres = (np.arange(1, 33) * 2 - 0.5 - 1)[4:-4]  # output pixel i (1-based) sits at input 2i - 0.5
    assert np.allclose(out, centres[None, :], atol=1e-9)
    # antialiasing: a Nyquist checkerboard is smoothed out, not aliased
    checker = (np.indices((32, 32)).sum(0) % 2).astype(np.float64)
    assert np.ptp(imresize_matlab(checker, 0.5)[3:-3, 3:-3]) < 0.05


def test_niqe_errors(tmp_path, model, rng):
    img = rng.random((200, 200, 3))
    with pytest.raises(CamdeblurError, match="not found"):
        niqe(img, tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu_pris_param=np.zeros((1, 36)))
    with pytest.raises(CamdeblurError, match="lacks key"):
        niqe(img, bad)
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CamdeblurError, match="not a readable"):
        load_niqe_model(junk)
    with pytest.raises(CamdeblurError, match="too small for NIQE"):
        niqe(rng.random((150, 95, 3)), model)
    with pytest.raises(CamdeblurError, match="too small for NIQE"):
        niqe(rng.random((192, 120, 3)), model, crop_border=20)
