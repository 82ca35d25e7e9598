"""GAN losses (signs, hand values, multi-scale reduction) and the gradient penalty for any batch size."""

from __future__ import annotations

import math

import pytest
import torch

from camdeblur.errors import CamdeblurError
from camdeblur.losses import GANLoss, GradientPenalty, gradient_penalty
from camdeblur.nets import create_model


@pytest.mark.parametrize("mode", ["vanilla", "lsgan", "hinge"])
def test_discriminator_loss_lower_when_real_scored_high(mode):
    gan = GANLoss(mode)
    hi, lo = torch.full((2, 1, 5, 5), 2.0), torch.full((2, 1, 5, 5), -2.0)
    good = gan.discriminator_loss(hi, lo)   # real scored real, fake scored fake
    bad = gan.discriminator_loss(lo, hi)
    assert good.item() < bad.item()
    # the generator wants its outputs scored as real
    assert gan.generator_loss(hi).item() < gan.generator_loss(lo).item()
    with pytest.raises(CamdeblurError):
        gan(hi, False, for_discriminator=False)


def test_hand_values():
    z = torch.zeros(3, 1, 4, 4)
    assert GANLoss("vanilla")(z, True).item() == pytest.approx(math.log(2), rel=1e-6)
    assert GANLoss("vanilla")(z, False).item() == pytest.approx(math.log(2), rel=1e-6)
    x = torch.tensor([[-1.0, 0.5, 2.0]])
    # hinge D: mean(relu(1 - x)) for real, mean(relu(1 + x)) for fake; G: -mean(x)
    assert GANLoss("hinge")(x, True).item() == pytest.approx((2.0 + 0.5 + 0.0) / 3)
    assert GANLoss("hinge")(x, False).item() == pytest.approx((0.0 + 1.5 + 3.0) / 3)
    assert GANLoss("hinge").generator_loss(x).item() == pytest.approx(-0.5)
    assert GANLoss("lsgan")(x, True).item() == pytest.approx((4 + 0.25 + 1) / 3)
    # vanilla = -log sigmoid(x) for real
    expect = (-torch.nn.functional.logsigmoid(x)).mean().item()
    assert GANLoss("vanilla")(x, True).item() == pytest.approx(expect, rel=1e-6)
    with pytest.raises(CamdeblurError):
        GANLoss("wgan")


def test_multiscale_outputs_average_scales():
    gan = GANLoss("hinge")
    outs = [torch.full((1, 1, 1, 1), 0.0), torch.full((1, 1, 2, 2), 0.5), torch.full((1, 1, 6, 6), 3.0)]
    expect = (1.0 + 0.5 + 0.0) / 3  # per-scale means, then the mean over scales
    assert gan(outs, True).item() == pytest.approx(expect)


def test_gp_hand_value_linear_discriminator():
    w = torch.randn(1, 3, 8, 8)

    def lin(x):
        return (x * w).sum(dim=(1, 2, 3))

    real, fake = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    gp = gradient_penalty(lin, real, fake)
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-4)


def _disc():
    torch.manual_seed(0)
    return create_model("patchgan", ndf=8, n_layers=3)


def test_gp_batch4_equals_mean_of_single_sample_penalties():
    d = _disc()
    real, fake = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    alpha = torch.tensor([0.1, 0.5, 0.9, 0.3])
    batch = gradient_penalty(d, real, fake, alpha=alpha)
    singles = [gradient_penalty(d, real[i:i + 1], fake[i:i + 1], alpha=alpha[i:i + 1]) for i in range(4)]
    assert batch.item() == pytest.approx(torch.stack(singles).mean().item(), rel=1e-5)
    # the penalties differ per sample, so a batch-wide norm (the classic bug) would not match
    assert max(s.item() for s in singles) - min(s.item() for s in singles) > 1e-6
    # a norm over the whole batch (instead of per sample) gives a different value
    a = alpha.view(4, 1, 1, 1)
    xi = (a * real + (1 - a) * fake).requires_grad_(True)
    (g,) = torch.autograd.grad(d(xi).sum(), xi)
    assert abs(((g.norm() - 1) ** 2).item() - batch.item()) > 1e-3 * batch.item()


def test_gp_multiscale_lists_and_backprop_to_discriminator():
    d = _disc()
    sizes = (16, 32, 64)
    real = [torch.rand(4, 3, s, s) for s in sizes]
    fake = [torch.rand(4, 3, s, s) for s in sizes]
    alpha = torch.tensor([0.2, 0.4, 0.6, 0.8])
    batch = gradient_penalty(d, real, fake, alpha=alpha)
    singles = [gradient_penalty(d, [r[i:i + 1] for r in real], [f[i:i + 1] for f in fake], alpha=alpha[i:i + 1])
               for i in range(4)]
    assert batch.item() == pytest.approx(torch.stack(singles).mean().item(), rel=1e-5)
    d.zero_grad()
    (1e-4 * batch).backward()
    # the input gradient depends on every conv weight (biases only act through piecewise-constant slopes)
    grads = [p.grad for n, p in d.named_parameters() if n.endswith("weight")]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_gp_random_alpha_and_module():
    d = _disc()
    real, fake = torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 32)
    g1 = gradient_penalty(d, real, fake, generator=torch.Generator().manual_seed(1))
    g2 = gradient_penalty(d, real, fake, generator=torch.Generator().manual_seed(1))
    assert g1.item() == g2.item() and torch.isfinite(g1)
    alpha = torch.tensor([0.3, 0.6, 0.9])
    assert GradientPenalty(weight=0.005)(d, real, fake, alpha=alpha).item() == pytest.approx(
        0.005 * gradient_penalty(d, real, fake, alpha=alpha).item(), rel=1e-6)
    with pytest.raises(CamdeblurError):
        gradient_penalty(d, real, fake[:2])


def _crops(paths, n, size, seed):
    import numpy as np
    from PIL import Image

    g = np.random.default_rng(seed)
    imgs = [np.asarray(Image.open(p).convert("RGB").resize((192, 192)), dtype=np.float32) / 255 for p in paths]
    out = []
    for _ in range(n):
        im = imgs[g.integers(len(imgs))]
        y, x = g.integers(0, 192 - size, 2)
        out.append(im[y:y + size, x:x + size])
    return torch.from_numpy(np.stack(out)).permute(0, 3, 1, 2).contiguous()


def _box_h(x, length=9):  # horizontal box blur: the "known" domain
    k = torch.ones(3, 1, 1, length) / length
    return torch.nn.functional.conv2d(torch.nn.functional.pad(x, [length // 2] * 2 + [0, 0], mode="reflect"), k, groups=3)


def _gauss(x, s=2.0):
    r = int(3 * s)
    t = torch.exp(-torch.arange(-r, r + 1.0) ** 2 / (2 * s * s))
    t = t / t.sum()
    x = torch.nn.functional.pad(x, [r] * 4, mode="reflect")
    x = torch.nn.functional.conv2d(x, t.view(1, 1, 1, -1).repeat(3, 1, 1, 1), groups=3)
    return torch.nn.functional.conv2d(x, t.view(1, 1, -1, 1).repeat(3, 1, 1, 1), groups=3)


def test_discriminator_learns_known_blur_with_hinge_and_gp(photos):
    """PatchGAN + hinge + GP (official lambda) learns to tell the known blur from another blur on held-out photos."""
    torch.manual_seed(0)
    train = _crops(photos[:20], 192, 40, seed=1)
    test = _crops(photos[20:], 48, 40, seed=2)
    d = create_model("patchgan_tiny")
    gan = GANLoss("hinge")
    opt = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.5, 0.999))

    def ranking():  # fraction of held-out photos whose known-blur version D scores above the other blur
        with torch.no_grad():
            return (d(_box_h(test)).mean((1, 2, 3)) > d(_gauss(test)).mean((1, 2, 3))).float().mean().item()

    before = ranking()
    for _ in range(300):
        x = train[torch.randint(0, len(train), (8,))]
        k, f = _box_h(x[:4]), _gauss(x[4:])
        loss = gan.discriminator_loss(d(k), d(f)) + 1e-4 * gradient_penalty(d, k, f)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = ranking()
    assert after >= 0.85 and after >= before + 0.2, (before, after)
