"""VGG16 / VGG19 feature extractors (Simonyan & Zisserman 2015) in torchvision's key layout.

Only the convolutional trunk is built (``features.N.weight`` / ``features.N.bias`` with torchvision's
indices), so a torchvision ImageNet weight file (``vgg16-397923af.pth``, ``vgg19-dcbb9e9d.pth``) loads
unchanged; its ``classifier.*`` keys are ignored. torchvision itself is not needed. Nothing is ever
downloaded: weights come from a path the user gives, or from the standard torch hub cache
(``$TORCH_HOME/hub/checkpoints``, default ``~/.cache/torch/hub/checkpoints``) if a file sits there.

Layers are addressed by name: ``conv{b}_{i}`` (pre-activation), ``relu{b}_{i}``, ``pool{b}``.

    >>> net = vgg_features("vgg16", weights="vgg16-397923af.pth")
    >>> feats = net.extract(x, ["conv2_2", "relu3_3"])   # x: (B,3,H,W) in [0,1]
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from camdeblur.errors import CamdeblurError

#: Convolution widths per block ("M" = max-pool), torchvision configurations D and E.
CONFIGS: dict[str, tuple] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}

#: File names torchvision uses for the ImageNet weights (looked up in the hub cache only).
HUB_FILES = {"vgg16": "vgg16-397923af.pth", "vgg19": "vgg19-dcbb9e9d.pth"}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def layer_names(arch: str) -> list[str]:
    """Names of the modules of ``features`` in order, e.g. ``['conv1_1', 'relu1_1', 'conv1_2', ...]``."""
    if arch not in CONFIGS:
        raise CamdeblurError(f"unknown VGG variant '{arch}'", fix="use vgg16 or vgg19")
    names, block, idx = [], 1, 1
    for v in CONFIGS[arch]:
        if v == "M":
            names.append(f"pool{block}")
            block, idx = block + 1, 1
        else:
            names += [f"conv{block}_{idx}", f"relu{block}_{idx}"]
            idx += 1
    return names


class VGGFeatures(nn.Module):
    """The ``features`` trunk of torchvision's VGG (no batch norm), with named taps.

    ``extract`` stops at the deepest requested layer. Input (B,3,H,W) RGB in [0,1]; ImageNet
    mean/std normalisation is applied inside unless ``normalize=False``.
    """

    def __init__(self, arch: str = "vgg16"):
        super().__init__()
        self.arch = arch
        self.names = layer_names(arch)
        layers: list[nn.Module] = []
        cin = 3
        for v in CONFIGS[arch]:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU(inplace=False)]
                cin = v
        self.features = nn.Sequential(*layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def extract(self, x: torch.Tensor, taps: Sequence[str], normalize: bool = True) -> dict[str, torch.Tensor]:
        unknown = [t for t in taps if t not in self.names]
        if unknown:
            raise CamdeblurError(f"unknown {self.arch} layer(s) {unknown}", fix=f"choose from {', '.join(self.names)}")
        last = max(self.names.index(t) for t in taps)
        wanted = set(taps)
        h = (x - self.mean) / self.std if normalize else x
        out: dict[str, torch.Tensor] = {}
        for i in range(last + 1):
            h = self.features[i](h)
            if self.names[i] in wanted:
                out[self.names[i]] = h
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std)


def hub_checkpoint_dirs() -> list[Path]:
    """Where torch's hub keeps downloaded checkpoints: ``$TORCH_HOME/hub/checkpoints`` and the default."""
    dirs = []
    if os.environ.get("TORCH_HOME"):
        dirs.append(Path(os.environ["TORCH_HOME"]).expanduser() / "hub" / "checkpoints")
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    dirs.append(base / "torch" / "hub" / "checkpoints")
    out: list[Path] = []
    for d in dirs:
        if d not in out:
            out.append(d)
    return out


def find_vgg_weights(arch: str) -> Path | None:
    """The torchvision ImageNet weight file for ``arch`` in the hub cache, or ``None``."""
    name = HUB_FILES.get(arch)
    if name is None:
        return None
    for d in hub_checkpoint_dirs():
        if (d / name).is_file():
            return d / name
    return None


def detect_vgg_arch(sd: dict[str, torch.Tensor]) -> str | None:
    """``vgg16``/``vgg19`` from the conv keys of a torchvision-format state dict (``None`` if neither)."""
    convs = sorted(int(k.split(".")[1]) for k in sd if k.startswith("features.") and k.endswith(".weight"))
    for arch in CONFIGS:
        names = layer_names(arch)
        if convs == [i for i, n in enumerate(names) if n.startswith("conv")]:
            return arch
    return None


def vgg_features(arch: str = "vgg16", weights: str | os.PathLike | None = None) -> VGGFeatures:
    """Build ``arch`` and load a torchvision-format weight file (features.* keys, strict).

    ``classifier.*`` keys in the file are ignored; anything else that does not match (wrong VGG
    variant, a batch-norm VGG, a different network) raises one clear :class:`CamdeblurError`.
    """
    from camdeblur.weights import load_into, read_state_dict

    net = VGGFeatures(arch)
    if weights is not None:
        sd, _ = read_state_dict(weights)
        feats = {k: v for k, v in sd.items() if k.startswith("features.")}
        other = [k for k in sd if not k.startswith(("features.", "classifier."))]
        found = detect_vgg_arch(feats)
        if other or found is None or found != arch:
            what = (f"not a torchvision {arch} weight file"
                    + (f" (it looks like {found})" if found and found != arch else "")
                    + (f" (unexpected keys such as {other[:3]})" if other else ""))
            raise CamdeblurError(what, where=weights,
                                 fix=f"give torchvision's {HUB_FILES[arch]} (keys features.N.weight/bias) or choose the matching VGG variant")
        load_into(net, feats, strict=True, where=weights)
        net.weights_path = str(weights)
    return net
