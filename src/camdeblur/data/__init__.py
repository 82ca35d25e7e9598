"""Datasets and joint augmentations.

Paired layouts (plain folders, GoPro, REDS) through :func:`open_paired`; unpaired blurry/sharp sets
(:class:`UnpairedImages`, :class:`UnpairedPairs`); frame sequences (:class:`SequenceFolder`).
Samples are dicts of float32 ``(C, H, W)`` tensors in [0, 1] plus ``"name"`` and ``"meta"``.
"""

from camdeblur.data.layouts import (
    EXPECTED_LAYOUTS,
    Pair,
    PairedFolders,
    PairedImages,
    SequenceFolder,
    UnpairedImages,
    UnpairedPairs,
    find_pairs,
    folder_pairs,
    gopro_pairs,
    open_paired,
    reds_pairs,
    reference_offsets,
)
from camdeblur.data.transforms import (
    Augment,
    crop_params,
    pad_to,
    paired_random_crop,
    random_flip_rot,
    seed_worker,
    worker_rng,
)

__all__ = [
    "EXPECTED_LAYOUTS",
    "Augment",
    "Pair",
    "PairedFolders",
    "PairedImages",
    "SequenceFolder",
    "UnpairedImages",
    "UnpairedPairs",
    "crop_params",
    "find_pairs",
    "folder_pairs",
    "gopro_pairs",
    "open_paired",
    "pad_to",
    "paired_random_crop",
    "random_flip_rot",
    "reds_pairs",
    "reference_offsets",
    "seed_worker",
    "worker_rng",
]
