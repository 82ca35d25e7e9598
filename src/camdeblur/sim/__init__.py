"""Camera simulator: named blur domains rendered from real sharp photographs.

Public API (imported lazily, so ``import camdeblur.sim`` is cheap)::

    get_camera(name_or_yaml) -> Camera       list_cameras() -> ["gopro", "reds", "phone", "rsblur", "uniform"]
    load_photos(paths_or_dir=None)           # None: scikit-image's bundled photographs (offline)
    render(photo, camera, seed, size)        # -> blur, sharp (H, W, 3) float32, meta (JSON-able)
    render_batch(photos, camera, seeds, size)  # batched torch renderer -> (B, 3, H, W) tensors
    SimulatedPairs, SimulatedUnpaired, SimulatedSequences   # map-style Datasets rendering on the fly
    render_sequence(photo, camera, seed, ...)  # BluRef-style frame sequences
    write_preview(path, ...)                  # PNG grid: sharp, blurry per preset, trajectory/PSF
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Camera": "camera", "get_camera": "camera", "list_cameras": "camera", "load_camera_yaml": "camera",
    "PRESETS": "camera", "PSNR_ORDER": "camera",
    "render": "exposure", "render_batch": "exposure", "crf": "exposure", "inverse_crf": "exposure",
    "expected_noise_std": "exposure",
    "load_photos": "photos", "load_named_photos": "photos",
    "random_psf": "psf", "load_kernels": "psf", "psf_from_meta": "psf",
    "SimulatedPairs": "datasets", "SimulatedUnpaired": "datasets", "SimulatedSequences": "datasets",
    "split_photos": "datasets", "flat_meta": "datasets",
    "render_sequence": "sequences",
    "write_preview": "preview",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'camdeblur.sim' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"camdeblur.sim.{mod}"), name)
    globals()[name] = value
    return value


def __dir__():
    return __all__
