"""Converter validation (paper Table 6): the independent K-vs-B classifier and the discriminator judge."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from camdeblur.eval import converter_validation as cv
from camdeblur.methods.synthetic_blur import linear_motion_kernel, motion_blur


@pytest.fixture(scope="module")
def domains():
    """Two clearly different blur domains on disjoint photos: K = 9 px horizontal motion, other = 9 px vertical.
    Test crops come from other photos than the training crops, and both classes share the same test crops."""
    from camdeblur.sim.datasets import resolve_photos

    photos = [torch.from_numpy(a).permute(2, 0, 1).float() for _, a in resolve_photos(None, max_side=128)]
    gen = torch.Generator().manual_seed(0)

    def crops(imgs, n, size=48):
        out = []
        for i in range(n):
            x = imgs[i % len(imgs)]
            a = int(torch.randint(x.shape[1] - size + 1, (1,), generator=gen))
            b = int(torch.randint(x.shape[2] - size + 1, (1,), generator=gen))
            out.append(x[:, a:a + size, b:b + size])
        return torch.stack(out)

    train, test = crops(photos[:-6], 96), crops(photos[-6:], 24)
    k_h, k_v = linear_motion_kernel(9, 0.0), linear_motion_kernel(9, 90.0)
    return {"train_known": motion_blur(train, k_h), "train_other": motion_blur(train[torch.randperm(len(train), generator=gen)], k_v),
            "test_known": motion_blur(test, k_h), "test_other": motion_blur(test, k_v), "test_sharp": test}


def test_classifier_separates_blur_domains_on_heldout_photos(domains):
    cfg = cv.ClassifierConfig(steps=150, batch_size=8, crop=32, width=8)
    clf = cv.train_blur_classifier(domains["train_known"], domains["train_other"], cfg)
    acc = cv.classifier_accuracy(clf, domains["test_known"], domains["test_other"])
    assert acc >= 0.85, acc  # chance is 0.5; measured 0.94-0.96 over seeds 0-3
    assert cv.fraction_known(clf, domains["test_known"]) > cv.fraction_known(clf, domains["test_other"]) + 0.5
    # same settings, same classifier (seeded)
    again = cv.train_blur_classifier(domains["train_known"], domains["train_other"], cfg)
    torch.testing.assert_close(cv.classifier_logits(again, domains["test_known"]),
                               cv.classifier_logits(clf, domains["test_known"]))


class _BrightD(nn.Module):
    """A stand-in discriminator: logit map = pixel mean - 0.5 at every scale (bright = "K")."""

    def __init__(self):
        super().__init__()
        self.p = nn.Parameter(torch.zeros(()))

    def forward(self, xs):
        return [x.mean(1, keepdim=True) - 0.5 + self.p for x in xs]


def test_validate_converter_report(domains):
    """A 'translator' that turns the other blur into K (here: re-blurring the sharp test crops with K's kernel)
    is judged K by the classifier; its inputs are not. The discriminator path averages scales and thresholds at 0."""
    k_h = linear_motion_kernel(9, 0.0)
    converted = motion_blur(domains["test_sharp"], k_h) * 0.999
    rep = cv.validate_converter(None, _BrightD(), domains["test_other"], domains["test_known"],
                                train_known=domains["train_known"], train_blurry=domains["train_other"],
                                classifier=cv.ClassifierConfig(steps=150, batch_size=8, crop=32, width=8),
                                converted=converted)
    c = rep["classifier"]
    assert c["converted"] > c["input"] + 0.5 and c["heldout_accuracy"] >= 0.8
    assert rep["images"] == len(domains["test_other"])
    d = rep["discriminator"]
    bright = (domains["test_other"].mean(dim=(1, 2, 3)) > 0.5).float().mean()
    assert d["input"] == pytest.approx(float(bright), abs=1e-6)
    # a dark translator output is judged "not K" by the bright-D, all of it
    dark = cv.validate_converter(None, _BrightD(), domains["test_other"], domains["test_known"],
                                 converted=torch.zeros_like(converted))
    assert dark["discriminator"]["converted"] == 0.0 and dark["classifier"] is None


def test_classifier_any_size_and_bad_input():
    clf = cv.BlurDomainClassifier(width=4)
    assert clf(torch.rand(2, 3, 37, 31)).shape == (2,)
    with pytest.raises(ValueError):
        cv.train_blur_classifier(torch.rand(0, 3, 16, 16), torch.rand(2, 3, 16, 16))


def test_discriminator_tiles():
    """With ``crop`` the judge averages non-overlapping tiles of that size (each seen at its three scales)."""
    class TileSizeD(nn.Module):  # logit = 1 if the finest scale it sees is <= 32 px, else -1
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(()))

        def forward(self, xs):
            return [torch.full((x.shape[0], 1, 2, 2), 1.0 if xs[-1].shape[-1] <= 32 else -1.0) + self.p for x in xs]

    x = torch.rand(3, 3, 96, 64)
    assert cv.discriminator_fraction_known(TileSizeD(), x) == 0.0
    assert cv.discriminator_fraction_known(TileSizeD(), x, crop=32) == 1.0
    assert cv._tiles(x[0], 32).shape == (6, 3, 32, 32) and cv._tiles(x[0], 128).shape == (1, 3, 96, 64)
