"""Pixel losses against hand computations (numpy), gradcheck, multi-scale targets, the build_loss factory."""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F

from camdeblur.errors import CamdeblurError
from camdeblur.losses import (CharbonnierLoss, FFTLoss, L1Loss, MIMOLoss, MSELoss, MultiScaleLoss, PSNRLoss,
                              WeightedSumLoss, build_loss)


@pytest.fixture
def pair(rng):
    p = rng.random((2, 3, 37, 31))
    t = rng.random((2, 3, 37, 31))
    return p, t, torch.from_numpy(p).float(), torch.from_numpy(t).float()


def test_l1_mse_match_hand_computation(pair):
    p, t, tp, tt = pair
    assert L1Loss()(tp, tt).item() == pytest.approx(np.abs(p - t).mean(), rel=1e-5)
    assert MSELoss()(tp, tt).item() == pytest.approx(((p - t) ** 2).mean(), rel=1e-5)


def test_weighted_mean_uses_broadcast_mask(pair, rng):
    p, t, tp, tt = pair
    w = (rng.random((2, 1, 37, 31)) > 0.5).astype(np.float64)
    wb = np.broadcast_to(w, p.shape)
    expect = (wb * np.abs(p - t)).sum() / wb.sum()
    got = L1Loss()(tp, tt, torch.from_numpy(w).float()).item()
    assert got == pytest.approx(expect, rel=1e-5)
    # a mask of ones is the plain mean
    assert L1Loss()(tp, tt, torch.ones(2, 1, 37, 31)).item() == pytest.approx(np.abs(p - t).mean(), rel=1e-5)


def test_charbonnier_value_and_eps(pair):
    p, t, tp, tt = pair
    eps = 1e-2
    expect = np.sqrt((p - t) ** 2 + eps ** 2).mean()
    assert CharbonnierLoss(eps=eps)(tp, tt).item() == pytest.approx(expect, rel=1e-5)
    # identical inputs: exactly eps (the floor), not zero
    assert CharbonnierLoss(eps=1e-3)(tp, tp).item() == pytest.approx(1e-3, rel=1e-4)


def test_charbonnier_gradcheck():
    torch.manual_seed(0)
    p = torch.rand(1, 2, 5, 4, dtype=torch.float64, requires_grad=True)
    t = torch.rand(1, 2, 5, 4, dtype=torch.float64)
    w = torch.rand(1, 1, 5, 4, dtype=torch.float64)
    loss = CharbonnierLoss(eps=1e-3)
    assert torch.autograd.gradcheck(lambda a: loss(a, t), (p,))
    assert torch.autograd.gradcheck(lambda a: loss(a, t, w), (p,))


def test_psnr_loss_is_negative_psnr(pair):
    p, t, tp, tt = pair
    mse = ((p - t) ** 2).reshape(2, -1).mean(axis=1)
    expect = np.mean(10 * np.log10(mse + 1e-8))
    got = PSNRLoss()(tp, tt).item()
    assert got == pytest.approx(expect, rel=1e-5)
    # a better prediction has a lower loss
    assert PSNRLoss()(tt + 0.01, tt).item() < got
    assert PSNRLoss()(tt + 0.01, tt).item() == pytest.approx(-40.0, abs=1e-3)


def test_fft_loss_matches_numpy(pair):
    p, t, tp, tt = pair
    fp, ft = np.fft.rfft2(p), np.fft.rfft2(t)
    d = np.stack([fp.real - ft.real, fp.imag - ft.imag], -1)
    assert FFTLoss()(tp, tt).item() == pytest.approx(np.abs(d).mean(), rel=1e-4)
    with pytest.raises(CamdeblurError):
        FFTLoss()(tp, tt, torch.ones(2, 1, 37, 31))


def _quarter(x: torch.Tensor) -> torch.Tensor:
    # bilinear 1/4 (align_corners=False) samples at 4i+1.5: the mean of pixels 4i+1 and 4i+2 in each axis
    h, w = x.shape[-2] // 4, x.shape[-1] // 4
    rows = (x[..., 1::4, :][..., :h, :] + x[..., 2::4, :][..., :h, :]) / 2
    return (rows[..., 1::4][..., :w] + rows[..., 2::4][..., :w]) / 2


def test_multiscale_downsamples_targets(rng):
    t = torch.from_numpy(rng.random((2, 3, 64, 48))).float()
    preds = [_quarter(t), F.avg_pool2d(t, 2), t.clone()]  # bilinear 1/2 of an even size == 2x2 mean
    ms = MultiScaleLoss(L1Loss())
    assert ms(preds, t).item() == pytest.approx(0.0, abs=1e-6)
    off = [p + 0.1 * (i + 1) for i, p in enumerate(preds)]
    assert ms(off, t).item() == pytest.approx(0.1 + 0.2 + 0.3, rel=1e-4)
    assert MultiScaleLoss(L1Loss(), reduction="mean")(off, t).item() == pytest.approx(0.2, rel=1e-4)
    assert MultiScaleLoss(L1Loss(), scale_weights=[0, 0, 1])(off, t).item() == pytest.approx(0.3, rel=1e-4)
    # targets given as a list are used as they are; a mismatched count is an error
    assert ms(off, preds).item() == pytest.approx(0.6, rel=1e-4)
    with pytest.raises(CamdeblurError):
        ms(off, preds[:2])
    # a single tensor is the base loss
    assert ms(t + 0.5, t).item() == pytest.approx(0.5, rel=1e-5)


def test_multiscale_odd_sizes_and_mask(rng):
    t = torch.from_numpy(rng.random((1, 3, 37, 31))).float()
    preds = [torch.rand(1, 3, 9, 7), torch.rand(1, 3, 18, 15), torch.rand(1, 3, 37, 31)]
    v = MultiScaleLoss(CharbonnierLoss())(preds, t, torch.ones(1, 1, 37, 31))
    assert torch.isfinite(v) and v.item() > 0


def test_mimo_loss_is_l1_plus_tenth_fft(rng):
    t = torch.from_numpy(rng.random((1, 3, 32, 32))).float()
    preds = [torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16), torch.rand(1, 3, 32, 32)]
    l1 = MultiScaleLoss(L1Loss())(preds, t)
    ff = MultiScaleLoss(FFTLoss())(preds, t)
    assert MIMOLoss()(preds, t).item() == pytest.approx((l1 + 0.1 * ff).item(), rel=1e-5)
    assert build_loss("mimo")(preds, t).item() == pytest.approx((l1 + 0.1 * ff).item(), rel=1e-5)


def test_shape_mismatch_is_one_clear_error():
    with pytest.raises(CamdeblurError, match="differ in shape"):
        L1Loss()(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 4, 4))


def test_build_loss_names_dicts_and_sums(pair):
    p, t, tp, tt = pair
    assert isinstance(build_loss("l1"), L1Loss)
    ch = build_loss({"name": "charbonnier", "eps": 0.5})
    assert isinstance(ch, CharbonnierLoss) and ch.eps == 0.5
    s = build_loss({"l1": 1.0, "mse": 0.5})
    assert isinstance(s, WeightedSumLoss)
    expect = np.abs(p - t).mean() + 0.5 * ((p - t) ** 2).mean()
    assert s(tp, tt).item() == pytest.approx(expect, rel=1e-5)
    assert float(s.last_terms["mse"]) == pytest.approx(((p - t) ** 2).mean(), rel=1e-5)
    s2 = build_loss({"l1": 2.0, "charbonnier": {"weight": 3.0, "eps": 0.1}})
    expect2 = 2 * np.abs(p - t).mean() + 3 * np.sqrt((p - t) ** 2 + 0.01).mean()
    assert s2(tp, tt).item() == pytest.approx(expect2, rel=1e-5)
    ms = build_loss({"name": "multiscale", "base": "l1", "reduction": "mean"})
    assert isinstance(ms, MultiScaleLoss) and isinstance(ms.base, L1Loss) and ms.reduction == "mean"
    assert isinstance(build_loss({"psnr": 1.0}), PSNRLoss)
    with pytest.raises(CamdeblurError, match="unknown loss"):
        build_loss("l3")
    with pytest.raises(CamdeblurError, match="bad options"):
        build_loss({"name": "l1", "eps": 1})
