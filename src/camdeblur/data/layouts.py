"""Dataset layouts on disk and the map-style datasets that read them.

Paired (aligned blurry/sharp captures) — :func:`open_paired` detects which of these ``root`` is:

- **folders**: ``root/blur/`` + ``root/sharp/``, matched by file name (extension ignored,
  sub-folders allowed: ``blur/a/1.png`` pairs with ``sharp/a/1.png``);
- **GoPro**: ``root/[<split>/]<scene>/{blur,sharp}/*.png`` (``blur_gamma`` when asked for, or when
  a scene has no ``blur``);
- **REDS**: ``root/[<split>/]<split>_blur/<seq>/*.png`` + ``<split>_sharp/<seq>/*.png``
  (``train_blur/000/00000000.png`` pairs with ``train_sharp/000/00000000.png``).

Unpaired (a blurry set B and a sharp set S of the same camera, no correspondence):
:class:`UnpairedImages` (one folder, returns ``{"blur": ...}`` or ``{"sharp": ...}``) and
:class:`UnpairedPairs` (each B item with an independently drawn random S item).

Frame sequences (reference-frame methods such as BluRef): :class:`SequenceFolder` returns a centre
frame plus reference frames at offsets ``±Δ`` (two groups of consecutive frames, as in BluRef Fig. 3).

Every sample is a dict of float32 ``(C, H, W)`` tensors in [0, 1] (``C = 3``) plus ``"name"``
(``str``, the relative path without extension — use it to name outputs) and ``"meta"`` (a dict of
strings/ints). With ``crop_size``/``augment`` the same random crop, flips and 90-degree rotations are
applied to everything in a sample; randomness is seeded per DataLoader worker (see
:mod:`camdeblur.data.transforms`). A wrong layout or unmatched names raise one
:class:`~camdeblur.errors.CamdeblurError` line saying what was expected.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from camdeblur.data.transforms import Augment, CropSize, SeededMixin, hwc_to_chw
from camdeblur.errors import CamdeblurError
from camdeblur.io.image import is_image_file, list_images, natural_key, read_rgb

PathLike = str | os.PathLike

EXPECTED_LAYOUTS = (
    "expected one of: <root>/blur/ + <root>/sharp/ (matched by file name); "
    "GoPro <root>/[<split>/]<scene>/{blur|blur_gamma,sharp}/*.png; "
    "REDS <root>/[<split>/]<split>_blur/<seq>/*.png + <split>_sharp/<seq>/*.png"
)


@dataclass(frozen=True)
class Pair:
    """One aligned blurry/sharp pair on disk; ``name`` is the relative path without extension."""

    blur: Path
    sharp: Path
    name: str


# ------------------------------------------------------------------------------------ matching
def _dirs(folder: Path) -> list[Path]:
    return sorted((d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: natural_key(d.name))


def _keyed(folder: Path, recursive: bool, prefix: str = "") -> dict[str, Path]:
    """Relative path without extension -> file; duplicate stems (a.png + a.jpg) are an error."""
    out: dict[str, Path] = {}
    for p in list_images(folder, recursive=recursive):
        key = prefix + p.relative_to(folder).with_suffix("").as_posix()
        if key in out:
            raise CamdeblurError(f"two images share the name '{key}' ({out[key].name}, {p.name})", where=folder,
                                 fix="keep one file per name; pairs are matched by name without extension")
        out[key] = p
    return out


def _match(blur: dict[str, Path], sharp: dict[str, Path], where: Path, what: str) -> list[Pair]:
    if not blur and not sharp:
        raise CamdeblurError(f"no images found in the {what}", where=where,
                             fix="put PNG/JPEG/TIFF/WebP images in the blur and sharp folders")
    only_b = sorted(set(blur) - set(sharp), key=natural_key)
    only_s = sorted(set(sharp) - set(blur), key=natural_key)
    if only_b or only_s:
        parts = []
        if only_b:
            parts.append(f"{len(only_b)} blurry image(s) have no sharp image of the same name (e.g. '{only_b[0]}')")
        if only_s:
            parts.append(f"{len(only_s)} sharp image(s) have no blurry image of the same name (e.g. '{only_s[0]}')")
        raise CamdeblurError(f"blur/sharp names do not match in the {what}: " + "; ".join(parts), where=where,
                             fix="pairs are matched by file name without extension; rename or remove the unmatched files")
    keys = sorted(blur, key=lambda k: [natural_key(part) for part in k.split("/")])
    return [Pair(blur[k], sharp[k], k) for k in keys]


def folder_pairs(blur_dir: PathLike, sharp_dir: PathLike, recursive: bool = True) -> list[Pair]:
    """Pairs from two folders matched by relative path without extension."""
    blur_dir, sharp_dir = Path(blur_dir), Path(sharp_dir)
    for d in (blur_dir, sharp_dir):
        if not d.is_dir():
            raise CamdeblurError("folder not found", where=d, fix="check the path")
    return _match(_keyed(blur_dir, recursive), _keyed(sharp_dir, recursive), blur_dir.parent,
                  f"folders {blur_dir.name}/ and {sharp_dir.name}/")


def _gopro_blur_name(scene: Path, blur_name: str | None) -> str | None:
    if blur_name is not None:
        return blur_name if (scene / blur_name).is_dir() else None
    for cand in ("blur", "blur_gamma"):
        if (scene / cand).is_dir():
            return cand
    return None


def _gopro_scenes(base: Path, blur_name: str | None) -> list[tuple[Path, str]]:
    scenes = []
    for d in _dirs(base):
        b = _gopro_blur_name(d, blur_name)
        has_sharp = (d / "sharp").is_dir()
        if b and has_sharp:
            scenes.append((d, b))
        elif b or has_sharp:
            missing = "sharp/" if b else f"{blur_name or 'blur'}/"
            raise CamdeblurError(f"GoPro scene '{d.name}' has no {missing} folder", where=d,
                                 fix="each scene needs both blur/ (or blur_gamma/) and sharp/")
    return scenes


def gopro_pairs(base: PathLike, blur_name: str | None = None) -> list[Pair]:
    """Pairs from a GoPro split folder ``base/<scene>/{blur,sharp}/`` (names ``<scene>/<frame>``)."""
    base = Path(base)
    scenes = _gopro_scenes(base, blur_name)
    if not scenes:
        raise CamdeblurError("no GoPro scenes (<scene>/blur + <scene>/sharp) found", where=base, fix=EXPECTED_LAYOUTS)
    blur: dict[str, Path] = {}
    sharp: dict[str, Path] = {}
    for scene, b in scenes:
        blur.update(_keyed(scene / b, False, scene.name + "/"))
        sharp.update(_keyed(scene / "sharp", False, scene.name + "/"))
    return _match(blur, sharp, base, "GoPro scenes")


def _reds_dirs(base: Path, split: str | None) -> tuple[Path, Path] | None:
    if split is not None:
        b, s = base / f"{split}_blur", base / f"{split}_sharp"
        return (b, s) if b.is_dir() and s.is_dir() else None
    found = [(d, base / (d.name[: -len("_blur")] + "_sharp")) for d in _dirs(base) if d.name.endswith("_blur")]
    found = [(b, s) for b, s in found if s.is_dir()]
    if len(found) > 1:
        names = ", ".join(b.name[: -len("_blur")] for b, _ in found)
        raise CamdeblurError(f"several REDS splits found ({names})", where=base, fix="choose one with split=... (--split)")
    return found[0] if found else None


def reds_pairs(blur_dir: PathLike, sharp_dir: PathLike) -> list[Pair]:
    """Pairs from REDS-style ``<x>_blur/<seq>/<frame>`` + ``<x>_sharp/<seq>/<frame>`` (names ``<seq>/<frame>``)."""
    blur_dir, sharp_dir = Path(blur_dir), Path(sharp_dir)
    blur: dict[str, Path] = {}
    sharp: dict[str, Path] = {}
    for d in _dirs(blur_dir):
        blur.update(_keyed(d, False, d.name + "/"))
    for d in _dirs(sharp_dir):
        sharp.update(_keyed(d, False, d.name + "/"))
    return _match(blur, sharp, blur_dir.parent, f"REDS folders {blur_dir.name}/ and {sharp_dir.name}/")


def _try_layout(base: Path, split: str | None, blur_name: str | None) -> tuple[str, list[Pair]] | None:
    b = base / (blur_name or "blur")
    if not b.is_dir() and blur_name is None and (base / "blur_gamma").is_dir():
        b = base / "blur_gamma"
    if b.is_dir() and (base / "sharp").is_dir():
        return "folders", folder_pairs(b, base / "sharp")
    if b.is_dir() != (base / "sharp").is_dir():
        have, missing = (b.name, "sharp") if b.is_dir() else ("sharp", blur_name or "blur")
        raise CamdeblurError(f"found {have}/ but no {missing}/ folder", where=base,
                             fix=f"paired data needs both {missing}/ and {have}/ (matched by file name); "
                                 "for a blurry or sharp set alone use an unpaired dataset")
    reds = _reds_dirs(base, split)
    if reds is not None:
        return "reds", reds_pairs(*reds)
    if _gopro_scenes(base, blur_name):
        return "gopro", gopro_pairs(base, blur_name)
    return None


def find_pairs(root: PathLike, split: str | None = None, blur_name: str | None = None) -> tuple[str, list[Pair]]:
    """Detect the paired layout under ``root`` and list its pairs.

    Args:
        root: dataset folder (see the module docstring for the layouts).
        split: ``"train"``, ``"test"``, ... — a sub-folder of ``root`` (GoPro) or the ``<split>_blur``
            prefix (REDS); needed when ``root`` holds several splits.
        blur_name: blurry folder name (``"blur"`` or GoPro's ``"blur_gamma"``); default ``blur``,
            falling back to ``blur_gamma``.

    Returns:
        ``(layout, pairs)`` with layout ``"folders"``, ``"gopro"`` or ``"reds"``.

    Raises:
        CamdeblurError: missing root, no known layout (lists the expected ones), several splits and
            none chosen, blur/sharp names that do not match (how many and an example).
    """
    root = Path(root)
    if not root.exists():
        raise CamdeblurError("dataset folder not found", where=root, fix="check the path")
    if not root.is_dir():
        raise CamdeblurError("dataset path is a file, not a folder", where=root, fix=EXPECTED_LAYOUTS)
    bases = [root / split, root] if split is not None and (root / split).is_dir() else [root]
    for base in bases:
        found = _try_layout(base, split, blur_name)
        if found is not None:
            return found
    if split is not None and not (root / split).is_dir() and not (root / f"{split}_blur").is_dir():
        raise CamdeblurError(f"split '{split}' not found (no '{split}/' or '{split}_blur/' folder)", where=root,
                             fix="check the split name")
    if split is None:
        splits = [d.name for d in _dirs(root) if _try_layout_quiet(d, blur_name)]
        if splits:
            raise CamdeblurError(f"folder holds several splits ({', '.join(splits)})", where=root,
                                 fix=f"choose one with split=... (--split), e.g. split='{splits[0]}'")
    raise CamdeblurError("no paired dataset layout found", where=root, fix=EXPECTED_LAYOUTS)


def _try_layout_quiet(base: Path, blur_name: str | None) -> bool:
    try:
        return _try_layout(base, None, blur_name) is not None
    except CamdeblurError:
        return True  # it looks like a dataset (the error will show once the user picks it)


# ------------------------------------------------------------------------------------ datasets
class _ImageDataset(SeededMixin, Dataset):
    """Common crop/augment/seed handling."""

    def __init__(self, crop_size: CropSize | None, augment: bool, seed: int, pad_mode: str | None):
        self.augment = Augment(crop_size=crop_size, flip=augment, rot90=augment, pad_mode=pad_mode)
        self.seed = int(seed)

    def _apply(self, sample: dict, rng: np.random.Generator, where) -> dict:
        return self.augment(sample, rng, where=str(where))  # without crop/augment: size checks only

    def __getitem__(self, index: int) -> dict:
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        return self.load(index, self.rng())

    def load(self, index: int, rng: np.random.Generator) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError


class PairedImages(_ImageDataset):
    """Aligned blurry/sharp pairs -> ``{"blur": (3,H,W), "sharp": (3,H,W), "name": str, "meta": dict}``.

    Args:
        pairs: the :class:`Pair` list (from :func:`find_pairs`, :func:`folder_pairs`, ...).
        crop_size: random crop ``s`` or ``(h, w)``, the same on blur and sharp; ``None`` = full images.
        augment: random flips and 90-degree rotations (applied identically to blur and sharp).
        seed: seed of the random stream (per DataLoader worker, see :func:`~camdeblur.data.transforms.worker_rng`).
        pad_mode: how to treat images smaller than the crop: ``None`` = error, or ``"reflect"``/...
        layout: layout name recorded in ``meta``.
    """

    def __init__(self, pairs: Sequence[Pair], crop_size: CropSize | None = None, augment: bool = False, seed: int = 0,
                 pad_mode: str | None = None, layout: str = "custom"):
        super().__init__(crop_size, augment, seed, pad_mode)
        self.pairs = list(pairs)
        self.layout = layout

    def __len__(self) -> int:
        return len(self.pairs)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.pairs]

    def load(self, index: int, rng: np.random.Generator) -> dict:
        p = self.pairs[index]
        sample = {"blur": hwc_to_chw(read_rgb(p.blur)), "sharp": hwc_to_chw(read_rgb(p.sharp))}
        sample = self._apply(sample, rng, p.blur)
        sample["name"] = p.name
        sample["meta"] = {"layout": self.layout, "blur_path": str(p.blur), "sharp_path": str(p.sharp)}
        return sample


class PairedFolders(PairedImages):
    """``blur_dir`` + ``sharp_dir`` matched by file name (relative path without extension)."""

    def __init__(self, blur_dir: PathLike, sharp_dir: PathLike, crop_size: CropSize | None = None, augment: bool = False,
                 seed: int = 0, pad_mode: str | None = None, recursive: bool = True):
        super().__init__(folder_pairs(blur_dir, sharp_dir, recursive), crop_size, augment, seed, pad_mode, "folders")


def open_paired(root: PathLike, crop_size: CropSize | None = None, augment: bool = False, seed: int = 0,
                split: str | None = None, *, blur_name: str | None = None, pad_mode: str | None = None) -> PairedImages:
    """Open a paired dataset of any supported layout (auto-detected; see :func:`find_pairs`)."""
    layout, pairs = find_pairs(root, split=split, blur_name=blur_name)
    return PairedImages(pairs, crop_size=crop_size, augment=augment, seed=seed, pad_mode=pad_mode, layout=layout)


class UnpairedImages(_ImageDataset):
    """One folder of images (a blurry set B or a sharp set S) -> ``{key: (3,H,W), "name": str, "meta": dict}``.

    Args:
        folder: the images (sub-folders included when ``recursive``), natural order.
        key: ``"blur"`` or ``"sharp"`` (any string is allowed; it names the tensor in the sample).
        crop_size, augment, seed, pad_mode: as in :class:`PairedImages`.
    """

    def __init__(self, folder: PathLike, key: str = "blur", crop_size: CropSize | None = None, augment: bool = False,
                 seed: int = 0, recursive: bool = True, pad_mode: str | None = None):
        super().__init__(crop_size, augment, seed, pad_mode)
        self.folder = Path(folder)
        self.key = key
        self.files = list_images(self.folder, recursive=recursive)
        if not self.files:
            raise CamdeblurError("no images found", where=self.folder,
                                 fix="put PNG/JPEG/TIFF/WebP images in the folder (sub-folders are searched)")

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int, rng: np.random.Generator) -> dict:
        path = self.files[index]
        sample = self._apply({self.key: hwc_to_chw(read_rgb(path))}, rng, path)
        sample["name"] = path.relative_to(self.folder).with_suffix("").as_posix()
        sample["meta"] = {"path": str(path)}
        return sample


class UnpairedPairs(SeededMixin, Dataset):
    """Each blurry item together with an independently drawn random sharp item (no correspondence).

    ``len`` is the size of the blurry set. Returns ``{"blur": ..., "sharp": ..., "name": <blurry
    name>, "meta": {"sharp_name": ..., "paired": False}}``. Crops and flips of the two images are
    independent (they show different scenes).

    Args:
        blurry, sharp: folders or :class:`UnpairedImages` (keys are set to ``"blur"``/``"sharp"``).
        crop_size, augment, seed, pad_mode: used when folders are given.
    """

    def __init__(self, blurry: PathLike | UnpairedImages, sharp: PathLike | UnpairedImages,
                 crop_size: CropSize | None = None, augment: bool = False, seed: int = 0, pad_mode: str | None = None):
        def make(x, key):
            if isinstance(x, UnpairedImages):
                x.key = key
                return x
            return UnpairedImages(x, key=key, crop_size=crop_size, augment=augment, seed=seed, pad_mode=pad_mode)

        self.blurry = make(blurry, "blur")
        self.sharp = make(sharp, "sharp")
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.blurry)

    def __getitem__(self, index: int) -> dict:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} items")
        rng = self.rng()
        j = int(rng.integers(0, len(self.sharp)))
        b = self.blurry.load(index % len(self), rng)
        s = self.sharp.load(j, rng)
        return {"blur": b["blur"], "sharp": s["sharp"], "name": b["name"],
                "meta": {"sharp_name": s["name"], "blur_path": b["meta"]["path"], "sharp_path": s["meta"]["path"],
                         "paired": False}}


# ------------------------------------------------------------------------------------ sequences
def reference_offsets(delta: int, num_refs: int) -> list[int]:
    """BluRef's reference protocol: two groups of ``num_refs / 2`` consecutive frames, ``delta`` frames
    before and after the centre: ``delta=1, num_refs=6 -> [-3, -2, -1, 1, 2, 3]``;
    ``delta=10, num_refs=2 -> [-10, 10]``."""
    if num_refs < 0 or num_refs % 2:
        raise ValueError(f"num_refs must be even and >= 0, got {num_refs}")
    if delta < 1:
        raise ValueError(f"delta must be >= 1 (a blurry frame never references itself), got {delta}")
    g = num_refs // 2
    return [-(delta + i) for i in reversed(range(g))] + [delta + i for i in range(g)]


class SequenceFolder(_ImageDataset):
    """Frame sequences: a centre frame plus reference frames at ``±Δ`` (for reference-frame methods).

    ``root`` holds one folder per sequence (frames in natural order), or frames directly (one
    sequence). Each item is one centre frame ``t``::

        {"blur": (3,H,W) frame t, "refs": (N,3,H,W) frames t+o for o in offsets,
         "offsets": LongTensor (N,), "name": "<seq>/<frame>", "meta": {"sequence", "index", "ref_indices"},
         "sharp": (3,H,W) ground truth at t (only with gt_subdir/gt_root)}

    Args:
        root: folder of sequences.
        delta, num_refs: reference offsets from :func:`reference_offsets` (ignored if ``offsets`` given).
        offsets: explicit list of frame offsets for the references.
        subdir: frames of a sequence live in ``<seq>/<subdir>`` (e.g. GoPro ``blur``).
        ref_root, ref_subdir: where references come from (default: the same frames); e.g. GoPro
            ``ref_subdir="sharp"``, REDS ``root=train_blur, ref_root=train_sharp``.
        gt_root, gt_subdir: optional aligned ground truth of the centre frame, returned as ``"sharp"``.
        key, ref_key: sample keys of the centre frame and the reference stack.
        edge: ``"valid"`` (only centres whose references all exist) or ``"clamp"`` (indices clipped
            to the sequence, every frame is a centre).
        crop_size, augment, seed, pad_mode: as in :class:`PairedImages`; the same crop and flips go
            to the centre, the references and the ground truth.
    """

    def __init__(self, root: PathLike, delta: int = 1, num_refs: int = 2, *, offsets: Sequence[int] | None = None,
                 subdir: str | None = None, ref_root: PathLike | None = None, ref_subdir: str | None = None,
                 gt_root: PathLike | None = None, gt_subdir: str | None = None, key: str = "blur",
                 ref_key: str = "refs", edge: str = "valid", crop_size: CropSize | None = None,
                 augment: bool = False, seed: int = 0, pad_mode: str | None = None):
        super().__init__(crop_size, augment, seed, pad_mode)
        if edge not in ("valid", "clamp"):
            raise ValueError(f"edge must be 'valid' or 'clamp', got {edge!r}")
        self.root = Path(root)
        self.offsets = list(offsets) if offsets is not None else reference_offsets(delta, num_refs)
        self.key, self.ref_key, self.edge = key, ref_key, edge
        if not self.root.is_dir():
            raise CamdeblurError("sequence folder not found", where=self.root, fix="check the path")
        ref_root = Path(ref_root) if ref_root is not None else self.root
        has_gt = gt_root is not None or gt_subdir is not None
        gt_root = Path(gt_root) if gt_root is not None else self.root

        seq_dirs = _dirs(self.root)
        direct = [p for p in self.root.iterdir() if is_image_file(p)]
        if direct and not subdir:
            seq_names = [""]
        else:
            seq_names = [d.name for d in seq_dirs]
        self.sequences: list[tuple[str, list[Path], list[Path], list[Path] | None]] = []
        self.items: list[tuple[int, int]] = []
        for name in seq_names:
            frames = self._frames(self.root, name, subdir)
            if not frames:
                continue
            refs = self._frames(ref_root, name, ref_subdir if ref_subdir is not None else subdir, required=True)
            gt = None
            if has_gt:
                gt = self._frames(gt_root, name, gt_subdir if gt_subdir is not None else subdir, required=True)
                if len(gt) != len(frames):
                    raise CamdeblurError(f"sequence '{name}' has {len(frames)} frames but {len(gt)} ground-truth frames",
                                         where=gt_root / name, fix="ground truth must have one frame per input frame")
            s = len(self.sequences)
            self.sequences.append((name, frames, refs, gt))
            for t in range(len(frames)):
                if edge == "clamp" or all(0 <= t + o < len(refs) for o in self.offsets):
                    self.items.append((s, t))
        if not self.sequences:
            raise CamdeblurError("no frame sequences found", where=self.root,
                                 fix="expected <root>/<sequence>/[<subdir>/]<frames> or frames directly in <root>")
        if not self.items:
            longest = max(len(f) for _, f, _, _ in self.sequences)
            raise CamdeblurError(f"no frame has all its references (offsets {self.offsets}, longest sequence {longest} frames)",
                                 where=self.root, fix="use a smaller delta/num_refs, longer sequences, or edge='clamp'")

    @staticmethod
    def _frames(root: Path, name: str, subdir: str | None, required: bool = False) -> list[Path]:
        folder = root / name if name else root
        if subdir:
            folder = folder / subdir
        if not folder.is_dir():
            if required:
                raise CamdeblurError("sequence folder not found", where=folder,
                                     fix="reference/ground-truth sequences must have the same names as the input sequences")
            return []
        return list_images(folder)

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int, rng: np.random.Generator) -> dict:
        s, t = self.items[index]
        name, frames, refs, gt = self.sequences[s]
        n = len(refs)
        idx = [min(max(t + o, 0), n - 1) for o in self.offsets]
        center = hwc_to_chw(read_rgb(frames[t]))
        sample = {self.key: center}
        if idx:
            sample[self.ref_key] = torch.stack([hwc_to_chw(read_rgb(refs[i])) for i in idx])
        else:
            sample[self.ref_key] = center.new_zeros((0, *center.shape))
        if gt is not None:
            sample["sharp"] = hwc_to_chw(read_rgb(gt[t]))
        sample = self._apply(sample, rng, frames[t])
        stem = frames[t].stem
        sample["offsets"] = torch.tensor(self.offsets, dtype=torch.long)
        sample["name"] = f"{name}/{stem}" if name else stem
        sample["meta"] = {"sequence": name, "index": t, "ref_indices": idx}
        return sample
