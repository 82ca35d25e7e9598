"""Map-style datasets that render simulated samples on the fly (no files written).

Item ``i`` depends only on ``(camera, photos, size, seed, i)`` — not on workers, batch or epoch — so
a training run is reproducible and an evaluation set is fixed by its seed. Samples follow the shared
dataset contract: float32 ``(3, H, W)`` tensors in [0, 1], ``"name"`` and a JSON-able ``"meta"``.

- :class:`SimulatedPairs`: ``{"blur", "sharp", "name", "meta"}`` from one camera.
- :class:`SimulatedUnpaired`: Blur2Blur's unpaired protocol: the blurry set B (``{"blur"}``) from one
  part of the photos, the sharp set S (``{"sharp"}``) from the disjoint rest (default 0.6 : 0.4).
- :class:`SimulatedSequences`: BluRef's protocol: a long-exposure frame plus ``num_refs`` short
  (sharp, noisy) frames of the same sequence at ``±delta`` — never its own ground truth.
"""

from __future__ import annotations

import os
from typing import Iterable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from camdeblur.errors import CamdeblurError
from camdeblur.sim.camera import Camera, get_camera

PathLike = str | os.PathLike
PhotosLike = PathLike | Iterable[PathLike] | Sequence[np.ndarray] | None


def resolve_photos(photos: PhotosLike, max_side: int | None = 1024) -> list[tuple[str, np.ndarray]]:
    """``(name, array)`` pairs from ``None`` (bundled photos), paths/folders, arrays or (name, array) pairs."""
    from camdeblur.sim.photos import load_named_photos

    if photos is None or isinstance(photos, (str, os.PathLike)):
        return load_named_photos(photos, max_side)
    items = list(photos)
    if not items:
        raise CamdeblurError("no photos given", where="photos", fix="give a folder of photos or None for the defaults")
    if all(isinstance(p, np.ndarray) for p in items):
        return [(f"photo{i:03d}", p) for i, p in enumerate(items)]
    if all(isinstance(p, tuple) and len(p) == 2 for p in items):
        return [(str(n), a) for n, a in items]
    return load_named_photos(items, max_side)


def split_photos(names: Sequence[str], fractions: dict[str, float], seed: int = 0) -> dict[str, list[int]]:
    """Disjoint photo index sets, e.g. ``{"train": 0.8, "test": 0.2}``; every part gets at least one photo.

    The assignment is a seeded shuffle, so the same names, fractions and seed give the same split."""
    n = len(names)
    parts = list(fractions)
    if n < len(parts):
        raise CamdeblurError(f"{n} photo(s) cannot be split into {len(parts)} disjoint parts ({', '.join(parts)})",
                             where="--split/--unpaired", fix=f"give at least {len(parts)} photos")
    tot = sum(fractions.values())
    if tot <= 0 or any(f <= 0 for f in fractions.values()):
        raise CamdeblurError(f"split fractions must be positive, got {fractions}", where="--split/--unpaired")
    order = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5917])).permutation(n)
    counts = [max(1, int(round(n * fractions[p] / tot))) for p in parts]
    while sum(counts) > n:  # take from the largest part
        counts[int(np.argmax(counts))] -= 1
    counts[int(np.argmax(counts))] += n - sum(counts)
    out, start = {}, 0
    for p, c in zip(parts, counts):
        out[p] = sorted(int(i) for i in order[start:start + c])
        start += c
    return out


def flat_meta(meta: dict) -> dict:
    """The scalar summary of a sample's metadata (str/int/float only), so items batch with torch's
    default ``collate``; the full record (homographies, PSF, ...) comes from ``batch()`` or ``full_meta=True``."""
    out = {"camera": str(meta.get("camera", "")), "photo": str(meta.get("photo", "")), "index": int(meta.get("index", -1)),
           "blur_length_px": float(meta.get("blur_length_px", 0.0)),
           "max_corner_path_px": float(meta.get("max_corner_path_px", 0.0)),
           "exposure_frames": int(meta.get("exposure_frames", 0)), "subframes": int(meta.get("subframes", 1)),
           "noise_shot": float(meta.get("noise", {}).get("shot", 0.0)),
           "noise_read": float(meta.get("noise", {}).get("read", 0.0)),
           "jpeg_quality": int(meta.get("jpeg_quality") or 0), "highlight_gain": float(meta.get("highlight_gain") or 0.0),
           "moving_object": int(meta.get("object") is not None)}
    if meta.get("kernel"):
        out["kernel_size"] = int(meta["kernel"]["size"])
        out["kernel_index"] = int(meta["kernel"].get("index", -1))
    return out


class SimulatedPairs(Dataset):
    """Simulated (blurry, sharp) pairs of one camera, rendered on the fly.

    Args:
        camera: preset name, YAML path or :class:`Camera`.
        photos: ``None`` (scikit-image's photographs), a folder/paths, or arrays.
        size: crop size ``S`` (or ``(H, W)``).
        length: number of items.
        seed: item ``i`` is rendered with seed ``(seed, i)`` from photo ``i % len(photos)``.
        photo_indices: restrict to these photos (e.g. one side of :func:`split_photos`).
        full_meta: items carry the full JSON-able record (homographies, PSF, ...) instead of the scalar
            summary of :func:`flat_meta` (which is what lets a DataLoader collate items).

    Item: ``{"blur": (3, H, W), "sharp": (3, H, W), "name": "<photo>/<i>", "meta": dict}``.
    ``batch(indices)`` renders several items in one vectorised call (same bits as item by item).
    """

    def __init__(self, camera: str | Camera = "gopro", photos: PhotosLike = None, size=64, length: int = 1000,
                 seed: int = 0, photo_indices: Sequence[int] | None = None, max_side: int | None = 1024,
                 full_meta: bool = False):
        self.camera = get_camera(camera)
        self.full_meta = bool(full_meta)
        named = resolve_photos(photos, max_side)
        if photo_indices is not None:
            named = [named[i] for i in photo_indices]
        if not named:
            raise CamdeblurError("no photos left for this dataset", where="photo_indices")
        self.names = [n for n, _ in named]
        self.photos = [a for _, a in named]
        self.size = size
        self.length = int(length)
        self.seed = int(seed)

    def __len__(self) -> int:
        return self.length

    def _check(self, index: int) -> int:
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        return index

    _sharp_only = False

    def batch(self, indices: Sequence[int], exposed_by: str | Camera | None = None) -> dict:
        """Render ``indices`` together: ``{"blur": (B, 3, H, W), "sharp": ..., "name": [...], "meta": [...]}``.

        ``exposed_by``: the same items' source windows exposed by another camera instead (see
        :func:`~camdeblur.sim.exposure.render_batch`): e.g. what a perfect translator to that camera outputs."""
        from camdeblur.sim.exposure import render_batch

        idx = [self._check(int(i)) for i in indices]
        p = [i % len(self.photos) for i in idx]
        blur, sharp, metas = render_batch([self.photos[j] for j in p], self.camera, [(self.seed, i) for i in idx],
                                          size=self.size, names=[self.names[j] for j in p], sharp_only=self._sharp_only,
                                          exposed_by=exposed_by)
        for m, i in zip(metas, idx):
            m["index"] = i
        return {"blur": blur, "sharp": sharp, "name": [f"{self.names[j]}/{i:06d}" for j, i in zip(p, idx)],
                "meta": metas}

    def __getitem__(self, index: int) -> dict:
        b = self.batch([index])
        meta = b["meta"][0] if self.full_meta else flat_meta(b["meta"][0])
        return {"blur": b["blur"][0], "sharp": b["sharp"][0], "name": b["name"][0], "meta": meta}


class SimulatedUnpaired(SimulatedPairs):
    """One side of Blur2Blur's unpaired protocol.

    The photos are split once by :func:`split_photos` (``fraction`` : ``1 - fraction``, seeded by
    ``split_seed``); ``part="blur"`` gives the blurry set B from the first part (``{"blur", "name",
    "meta"}``), ``part="sharp"`` the sharp set S from the other (``{"sharp", ...}``). B and S never
    share a photo.
    """

    def __init__(self, camera: str | Camera = "gopro", photos: PhotosLike = None, size=64, length: int = 1000,
                 seed: int = 0, part: str = "blur", fraction: float = 0.6, split_seed: int = 0,
                 max_side: int | None = 1024, full_meta: bool = False):
        if part not in ("blur", "sharp"):
            raise ValueError(f"part must be 'blur' or 'sharp', got {part!r}")
        if not 0 < fraction < 1:
            raise CamdeblurError(f"unpaired fraction must be in (0, 1), got {fraction}", where="--unpaired")
        named = resolve_photos(photos, max_side)
        parts = split_photos([n for n, _ in named], {"B": fraction, "S": 1 - fraction}, split_seed)
        self.part = part
        self.photo_indices = parts["B" if part == "blur" else "S"]
        super().__init__(camera, named, size, length, seed, photo_indices=self.photo_indices, full_meta=full_meta)

    @property
    def _sharp_only(self) -> bool:  # the sharp set needs only the mid-exposure frame (same bits as a full render)
        return self.part == "sharp"

    def batch(self, indices: Sequence[int]) -> dict:
        b = super().batch(indices)
        b.pop("sharp" if self.part == "blur" else "blur")
        return b

    def __getitem__(self, index: int) -> dict:
        b = self.batch([index])
        item = {k: v[0] for k, v in b.items()}
        if not self.full_meta:
            item["meta"] = flat_meta(item["meta"])
        return item


class SimulatedSequences(Dataset):
    """BluRef-style items from simulated video: a long-exposure frame and its short-exposure references.

    Item: ``{"blur": (3, H, W) long exposure, "refs": (N, 3, H, W) short exposures at ``offsets``,
    "offsets": LongTensor (N,), "sharp": (3, H, W) ground truth of the centre (evaluation only),
    "name", "meta"}``. Offsets are BluRef's two groups of ``num_refs / 2`` frames at ``±delta``.
    ``meta`` is a scalar summary unless ``full_meta=True`` (then per-frame records under ``"frames"``).
    """

    def __init__(self, camera: str | Camera = "gopro", photos: PhotosLike = None, size=64, length: int = 100,
                 seed: int = 0, delta: int = 1, num_refs: int = 6, interval: int | None = None,
                 photo_indices: Sequence[int] | None = None, max_side: int | None = 1024, full_meta: bool = False):
        from camdeblur.sim.sequences import reference_offsets

        self.full_meta = bool(full_meta)
        self.camera = get_camera(camera)
        named = resolve_photos(photos, max_side)
        if photo_indices is not None:
            named = [named[i] for i in photo_indices]
        self.names = [n for n, _ in named]
        self.photos = [a for _, a in named]
        self.size, self.length, self.seed = size, int(length), int(seed)
        self.offsets = reference_offsets(delta, num_refs)
        self.interval = interval

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        from camdeblur.sim.sequences import render_frames

        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} items")
        j = index % len(self.photos)
        frames = [0] + self.offsets
        captured, sharp, metas, seq = render_frames(self.photos[j], self.camera, (self.seed, index), self.size, frames,
                                                    [True] + [False] * len(self.offsets), interval=self.interval)
        seq.update({"index": index, "photo": self.names[j], "frames": metas})
        if not self.full_meta:
            seq = {"camera": seq["camera"], "photo": seq["photo"], "index": index, "interval_frames": seq["interval_frames"],
                   "blur_length_px": float(metas[0]["blur_length_px"]), "exposure_frames": int(metas[0]["exposure_frames"]),
                   "noise_shot": float(metas[0]["noise"]["shot"]), "noise_read": float(metas[0]["noise"]["read"])}
        return {"blur": captured[0], "refs": captured[1:], "offsets": torch.tensor(self.offsets, dtype=torch.long),
                "sharp": sharp[0], "name": f"{self.names[j]}/{index:06d}", "meta": seq}
