"""A PNG figure of what each camera does: sharp crop, blurry render, and the trajectory/PSF.

Drawn with numpy + Pillow only (no plotting library). One row per camera::

    | sharp | blurry | trajectory of the 4 corners + centre (or the PSF) | PSF at the centre |
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from camdeblur.sim.camera import Camera, get_camera, list_cameras

PathLike = str | os.PathLike
_COLOURS = [(255, 99, 71), (65, 105, 225), (50, 205, 50), (255, 215, 0), (255, 255, 255)]


def _u8(a: np.ndarray) -> np.ndarray:
    return (np.clip(a, 0, 1) * 255.0 + 0.5).astype(np.uint8)


def _psf_tile(k: np.ndarray, size: int) -> np.ndarray:
    """A PSF shown as a square tile (nearest-neighbour upscaling, normalised to its peak)."""
    from PIL import Image

    k = np.asarray(k, dtype=np.float64)
    k = k / max(k.max(), 1e-12)
    im = Image.fromarray(_u8(k)).resize((size, size), Image.NEAREST)
    return np.repeat(np.asarray(im)[..., None], 3, axis=2)


def _trajectory_tile(meta: dict, size: int) -> np.ndarray:
    """Paths of the four corners and the centre (relative to mid exposure) during the exposure."""
    from PIL import Image, ImageDraw

    from camdeblur.sim.trajectory import apply_homographies, corners

    im = Image.new("RGB", (size, size), (24, 24, 24))
    dr = ImageDraw.Draw(im)
    H = np.asarray(meta.get("homographies", [[1, 0, 0, 0, 1, 0, 0, 0, 1]]), dtype=np.float64).reshape(-1, 3, 3)
    hw = tuple(meta.get("size", [size, size]))
    c = corners(hw)
    paths = apply_homographies(H, c) - c[None]  # (T, 5, 2)
    ext = max(float(np.abs(paths).max()), 1.0)
    s = (size * 0.4) / ext
    for i in range(paths.shape[1]):
        pts = [(size / 2 + float(p[0]) * s, size / 2 + float(p[1]) * s) for p in paths[:, i]]
        if len(pts) > 1:
            dr.line(pts, fill=_COLOURS[i], width=2)
        dr.ellipse([pts[0][0] - 2, pts[0][1] - 2, pts[0][0] + 2, pts[0][1] + 2], fill=_COLOURS[i])
    dr.text((4, 4), f"max {ext:.1f}px", fill=(230, 230, 230))
    dr.text((4, size - 14), f"centre {meta.get('blur_length_px', 0.0):.1f}px", fill=(230, 230, 230))
    return np.asarray(im)


def _centre_psf(meta: dict) -> np.ndarray:
    from camdeblur.sim.psf import psf_from_meta

    return psf_from_meta(meta)


def preview_image(cameras: Sequence[str | Camera] | None = None, photo: np.ndarray | None = None, seed: int = 0,
                  size: int = 160) -> np.ndarray:
    """The preview grid as uint8 ``(H, W, 3)``."""
    from PIL import Image, ImageDraw

    from camdeblur.sim.photos import load_photos
    from camdeblur.sim.exposure import render

    cams = [get_camera(c) for c in (cameras or list_cameras())]
    if photo is None:
        photo = load_photos()[4]  # scikit-image's motorcycle: fine detail everywhere
    label_w, head_h, gap = 120, 18, 4
    cols = ["sharp", "blurry", "trajectory (4 corners + centre)", "PSF at centre"]
    W = label_w + len(cols) * (size + gap)
    H = head_h + len(cams) * (size + gap)
    canvas = Image.new("RGB", (W, H), (255, 255, 255))
    dr = ImageDraw.Draw(canvas)
    for j, c in enumerate(cols):
        dr.text((label_w + j * (size + gap) + 2, 3), c, fill=(0, 0, 0))
    for i, cam in enumerate(cams):
        blur, sharp, meta = render(photo, cam, seed=(seed, i), size=size)
        y = head_h + i * (size + gap)
        traj_tile = (_psf_tile(_centre_psf(meta), size) if cam.kind == "uniform" else _trajectory_tile(meta, size))
        tiles = [_u8(sharp), _u8(blur), traj_tile, _psf_tile(_centre_psf(meta), size)]
        for j, t in enumerate(tiles):
            canvas.paste(Image.fromarray(t), (label_w + j * (size + gap), y))
        psnr = 10 * np.log10(1.0 / max(float(np.mean((blur - sharp) ** 2)), 1e-12))
        lines = [cam.name, f"PSNR {psnr:.1f} dB"]
        if cam.kind == "shake":
            lines.append(f"exp {meta['exposure_frames']}f @ {cam.fps:g}fps")
        noise = meta["noise"]
        if noise["shot"] or noise["read"]:
            lines.append(f"noise {noise['shot']:.4f}/{noise['read']:.4f}")
        if meta.get("jpeg_quality"):
            lines.append(f"JPEG q{meta['jpeg_quality']}")
        if meta.get("object"):
            lines.append("moving object")
        for k, line in enumerate(lines):
            dr.text((4, y + 4 + 14 * k), line, fill=(0, 0, 0))
    return np.asarray(canvas)


def write_preview(path: PathLike, cameras: Sequence[str | Camera] | None = None, photo: np.ndarray | None = None,
                  seed: int = 0, size: int = 160):
    """Write the preview grid PNG to ``path`` (atomically) and return the path."""
    from camdeblur.io import write_image

    return write_image(path, preview_image(cameras, photo, seed, size))
