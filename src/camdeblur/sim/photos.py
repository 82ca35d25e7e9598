"""Sharp source photographs for the simulator.

Default (no folder given): scikit-image's bundled colour photographs, available offline
(:data:`SKIMAGE_PHOTOS`). Otherwise image files or folders read through :mod:`camdeblur.io`. Large
photos are downscaled on load (antialiased) so that the long side is at most ``max_side`` pixels,
which bounds memory; the simulator downscales further per sample.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Iterable

import numpy as np

from camdeblur.errors import CamdeblurError

PathLike = str | os.PathLike

#: scikit-image photographs that load without network (colour, natural content). ``stereo_motorcycle``
#: contributes its left view.
SKIMAGE_PHOTOS: tuple[str, ...] = ("astronaut", "coffee", "chelsea", "rocket", "stereo_motorcycle",
                                   "immunohistochemistry", "hubble_deep_field", "retina")


def _shrink(a: np.ndarray, max_side: int | None) -> np.ndarray:
    if not max_side or max(a.shape[:2]) <= max_side:
        return a
    import torch
    import torch.nn.functional as F

    s = max_side / max(a.shape[:2])
    h, w = max(1, round(a.shape[0] * s)), max(1, round(a.shape[1] * s))
    t = torch.from_numpy(np.array(a, dtype=np.float32)).permute(2, 0, 1)[None]
    t = F.interpolate(t, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
    return t[0].permute(1, 2, 0).clamp(0, 1).numpy().astype(np.float32)


@functools.lru_cache(maxsize=None)
def _skimage_photo(name: str) -> np.ndarray:
    import skimage.data

    a = getattr(skimage.data, name)()
    if isinstance(a, tuple):
        a = a[0]
    a = np.asarray(a)
    if a.ndim != 3 or a.shape[2] < 3:
        raise CamdeblurError(f"scikit-image photo '{name}' is not colour")
    a = a[..., :3].astype(np.float32) / 255.0
    a.setflags(write=False)
    return a


def _paths(paths_or_dir) -> list[Path]:
    from camdeblur.io import list_images

    items = [paths_or_dir] if isinstance(paths_or_dir, (str, os.PathLike)) else list(paths_or_dir)
    out: list[Path] = []
    for it in items:
        p = Path(it)
        if p.is_dir():
            out.extend(list_images(p, recursive=True))
        elif p.exists():
            out.append(p)
        else:
            raise CamdeblurError("photo file or folder not found", where=p, fix="check the path given to --photos")
    if not out:
        raise CamdeblurError("no photos found", where=", ".join(str(i) for i in items),
                             fix="give a folder of PNG/JPEG/TIFF/WebP photos")
    return out


def load_named_photos(paths_or_dir: PathLike | Iterable[PathLike] | None = None, max_side: int | None = 1024
                      ) -> list[tuple[str, np.ndarray]]:
    """``(name, float32 (H, W, 3) in [0, 1])`` per photo; names are file stems (``skimage-<name>`` for the defaults).

    Args:
        paths_or_dir: a folder (searched recursively), a file, a list of them, or ``None`` for the
            bundled scikit-image photographs.
        max_side: downscale photos whose long side exceeds this (``None`` keeps full size).
    """
    if paths_or_dir is None:
        return [(f"skimage-{n}", _shrink(_skimage_photo(n), max_side)) for n in SKIMAGE_PHOTOS]
    from camdeblur.io import read_rgb

    out, seen = [], set()
    for p in _paths(paths_or_dir):
        name = p.stem
        k = 2
        while name in seen:  # same stem in two sub-folders
            name = f"{p.stem}-{k}"
            k += 1
        seen.add(name)
        out.append((name, _shrink(read_rgb(p), max_side)))
    return out


def load_photos(paths_or_dir: PathLike | Iterable[PathLike] | None = None, max_side: int | None = 1024
                ) -> list[np.ndarray]:
    """Sharp photos as float32 ``(H, W, 3)`` arrays in [0, 1] (see :func:`load_named_photos`)."""
    return [a for _, a in load_named_photos(paths_or_dir, max_side)]
