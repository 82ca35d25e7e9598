"""PSNR/SSIM presets cross-checked against scikit-image, the torch path (batched, differentiable,
float32) against the numpy path, and the Laplacian-variance blur degree against scipy.ndimage."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from scipy import ndimage
from skimage.color import rgb2ycbcr
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_ssim

from camdeblur.errors import CamdeblurError
from camdeblur.eval.metrics import PRESETS, SSIM, laplacian_variance, psnr, ssim


def _noisy(a: np.ndarray, rng, sigma=0.08) -> np.ndarray:
    return np.clip(a + sigma * rng.standard_normal(a.shape), 0, 1)


def _photo(path, size=(64, 48)) -> np.ndarray:
    im = Image.open(path).convert("RGB")
    im.thumbnail((max(size) * 4, max(size) * 4))
    return np.asarray(im.resize(size, Image.BICUBIC), dtype=np.float64) / 255.0


def _t(a: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    a = a if a.ndim == 3 else a[..., None]
    return torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1)[None].to(dtype)


def _y(a: np.ndarray) -> np.ndarray:
    return rgb2ycbcr(a)[..., 0] / 255.0


def _cases(rng, photos):
    rand = rng.random((37, 31, 3))
    real = _photo(photos[0], (45, 38))
    blurred = ndimage.gaussian_filter(real, sigma=(1.2, 1.2, 0))
    return [(rand, _noisy(rand, rng)), (real, _noisy(real, rng, 0.03)), (real, blurred),
            (rng.random((40, 33)), rng.random((40, 33)))]


def test_gopro_preset_matches_skimage(rng, photos):
    for a, b in _cases(rng, photos):
        kw = {"channel_axis": -1} if a.ndim == 3 else {}
        assert psnr(b, a) == pytest.approx(sk_psnr(a, b, data_range=1), abs=1e-6)
        assert ssim(b, a) == pytest.approx(sk_ssim(b, a, data_range=1, **kw), abs=1e-4)
        # float32 torch path agrees with the skimage values too
        assert float(psnr(_t(b, torch.float32), _t(a, torch.float32))[0]) == pytest.approx(sk_psnr(a, b, data_range=1), abs=1e-4)
        assert float(ssim(_t(b, torch.float32), _t(a, torch.float32))[0]) == pytest.approx(
            sk_ssim(b, a, data_range=1, **kw), abs=1e-4)


def test_gaussian_and_y_presets_match_skimage(rng, photos):
    gauss = dict(data_range=1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    for a, b in _cases(rng, photos)[:3]:
        assert ssim(b, a, "gaussian") == pytest.approx(sk_ssim(b, a, channel_axis=-1, **gauss), abs=1e-4)
        ya, yb = _y(a), _y(b)
        assert psnr(b, a, "y") == pytest.approx(sk_psnr(ya, yb, data_range=1), abs=1e-6)
        assert ssim(b, a, "y") == pytest.approx(sk_ssim(yb, ya, **gauss), abs=1e-4)
        c = 4
        assert psnr(b, a, "y", crop_border=c) == pytest.approx(sk_psnr(ya[c:-c, c:-c], yb[c:-c, c:-c], data_range=1), abs=1e-6)
        assert ssim(b, a, "y", crop_border=c) == pytest.approx(sk_ssim(yb[c:-c, c:-c], ya[c:-c, c:-c], **gauss), abs=1e-4)
    # presets really differ (a bug mapping them all to one computation would pass the checks above only by luck)
    a, b = rng.random((32, 32, 3)), rng.random((32, 32, 3))
    assert abs(ssim(b, a, "gopro") - ssim(b, a, "gaussian")) > 1e-3
    assert all(p.doc for p in PRESETS.values())


def test_torch_is_batched_per_image_and_on_dtype(rng):
    a = rng.random((3, 3, 37, 31))
    b = np.clip(a + np.array([0.02, 0.05, 0.1])[:, None, None, None] * rng.standard_normal(a.shape), 0, 1)
    ta, tb = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
    p, s = psnr(tb, ta), ssim(tb, ta)
    assert p.shape == (3,) and s.shape == (3,) and p.dtype == torch.float32
    for i in range(3):
        hwc_a, hwc_b = a[i].transpose(1, 2, 0), b[i].transpose(1, 2, 0)
        assert float(p[i]) == pytest.approx(psnr(hwc_b, hwc_a), abs=1e-4)
        assert float(s[i]) == pytest.approx(ssim(hwc_b, hwc_a), abs=1e-5)
    assert p[0] > p[1] > p[2] and s[0] > s[1] > s[2]
    assert torch.isinf(psnr(ta, ta)).all() and torch.allclose(ssim(ta, ta), torch.ones(3))
    assert isinstance(psnr(hwc_b, hwc_a), float)


def test_ssim_gradcheck_and_loss_learns():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 11, 12, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.rand(2, 3, 11, 12, dtype=torch.float64, generator=g)
    for preset in ("gopro", "y"):
        assert torch.autograd.gradcheck(lambda t: ssim(t, y, preset), (x,), fast_mode=True)
    assert torch.autograd.gradcheck(lambda t: psnr(t, y, "y"), (x,), fast_mode=True)
    # SSIM as a loss: a few Adam steps from noise towards a target raise SSIM
    target = torch.rand(1, 3, 24, 24, generator=g)
    est = (target + 0.3 * torch.randn(1, 3, 24, 24, generator=g)).clamp(0, 1).requires_grad_(True)
    loss_fn = SSIM()
    start = float(loss_fn(est, target).detach())
    opt = torch.optim.Adam([est], lr=0.02)
    for _ in range(30):
        opt.zero_grad()
        (1 - loss_fn(est, target).mean()).backward()
        opt.step()
    assert float(loss_fn(est, target).detach()) > start + 0.2


def test_metric_errors(rng):
    a = rng.random((16, 16, 3))
    with pytest.raises(CamdeblurError, match="differ in size"):
        psnr(a, a[:15])
    with pytest.raises(CamdeblurError, match="unknown metric preset"):
        ssim(a, a, "nope")
    with pytest.raises(CamdeblurError, match="smaller than the 11x11"):
        ssim(a[:10, :10], a[:10, :10], "gaussian")
    with pytest.raises(CamdeblurError, match="crop_border"):
        psnr(a, a, crop_border=8)
    with pytest.raises(CamdeblurError, match="integer"):
        psnr((a * 255).astype(np.uint8), (a * 255).astype(np.uint8))
    with pytest.raises(CamdeblurError, match=r"\(B, C, H, W\)"):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 8))


def test_laplacian_variance_matches_scipy_and_drops_with_blur(photos, rng):
    img = _photo(photos[1], (64, 48))
    gray = 255.0 * (0.299 * img[..., 0] + 0.587 * img[..., 1] + 0.114 * img[..., 2])
    ref = ndimage.laplace(gray, mode="mirror").var()  # 'mirror' = reflect-101, OpenCV's default border
    assert laplacian_variance(img) == pytest.approx(ref, rel=1e-9)
    blurred = ndimage.gaussian_filter(img, sigma=(1.5, 1.5, 0))
    assert laplacian_variance(blurred) < 0.5 * laplacian_variance(img)
    # batched torch version: one value per image, same as numpy, in float32 too
    batch = torch.stack([_t(img)[0], _t(blurred)[0]])
    lv = laplacian_variance(batch.float())
    assert lv.shape == (2,)
    assert float(lv[0]) == pytest.approx(ref, rel=1e-4)
    assert float(lv[1]) == pytest.approx(laplacian_variance(blurred), rel=1e-4)
    g1 = rng.random((20, 17))
    assert laplacian_variance(g1) == pytest.approx(ndimage.laplace(255 * g1, mode="mirror").var(), rel=1e-9)
    assert laplacian_variance(np.full((9, 9, 3), 0.4)) == pytest.approx(0.0, abs=1e-9)
