"""Synthetic linear motion blur baseline (imgaug-style MotionBlur)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camdeblur.methods.synthetic_blur import SyntheticMotionBlur, linear_motion_kernel, motion_blur


def test_kernel_geometry():
    k = linear_motion_kernel(7, 0.0)
    assert k.shape == (7, 7) and k.sum() == pytest.approx(1.0, abs=1e-6)
    assert np.allclose(k[3], 1 / 7, atol=1e-6) and np.allclose(np.delete(k, 3, 0), 0)  # uniform horizontal line
    v = linear_motion_kernel(7, 90.0)
    assert np.allclose(v[:, 3].sum(), 1.0, atol=1e-5)  # vertical
    tilt = linear_motion_kernel(7, 0.0, direction=1.0)
    assert tilt[3, 0] > tilt[3, 3] > tilt[3, 6] - 1e-9 and tilt[3, 6] == pytest.approx(0.0, abs=1e-7)
    with pytest.raises(ValueError):
        linear_motion_kernel(5, 0.0, direction=2.0)


def test_motion_blur_is_convolution_and_keeps_size():
    from scipy.ndimage import convolve

    x = torch.rand(3, 37, 31, dtype=torch.float64)
    k = linear_motion_kernel(9, 30.0, 0.4).astype(np.float64)
    y = motion_blur(x, k)
    assert y.shape == x.shape
    ref = np.stack([convolve(x[c].numpy(), k, mode="mirror") for c in range(3)])
    # interior equals scipy's convolution (borders differ only by the padding convention)
    assert np.allclose(y[:, 5:-5, 5:-5].numpy(), ref[:, 5:-5, 5:-5], atol=1e-10)
    # a horizontal line kernel leaves horizontal stripes (constant along each row) unchanged
    rows = torch.zeros(1, 16, 16)
    rows[:, ::2] = 1.0
    assert torch.allclose(motion_blur(rows, linear_motion_kernel(5, 0.0)), rows, atol=1e-6)


class _Sharp(torch.utils.data.Dataset):
    def __init__(self, n=6):
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 3, 32, 32, generator=g)

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"sharp": self.x[i], "name": f"s{i}"}


def test_dataset_pairs_deterministic_and_blurrier():
    from camdeblur.eval.metrics import laplacian_variance

    ds = SyntheticMotionBlur(_Sharp(), size=(5, 11))
    ds.reseed(3)
    a = ds[1]
    ds.reseed(3)
    b = ds[1]
    assert torch.equal(a["blur"], b["blur"]) and a["meta"] == b["meta"]
    assert 5 <= a["meta"]["size"] <= 11
    assert float(laplacian_variance(a["blur"][None])) < 0.5 * float(laplacian_variance(a["sharp"][None]))
