"""The photo split shared by the kernel-space benchmarks (kernel_space_transfer/_swap/_blind).

``../shared/corpus/photos`` split 75/25 into training and held-out photos with
:func:`camdeblur.sim.split_photos` (seed 0), so the kernel space trained by one script is evaluated by
the others on photos it never saw.
"""

from __future__ import annotations

from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"


def corpus_split() -> tuple[list[str], list[str]]:
    """(train, test) photo paths of the corpus, disjoint and deterministic."""
    from camdeblur.sim import split_photos

    photos = sorted(str(p) for p in (SHARED / "corpus" / "photos").iterdir())
    split = split_photos([Path(p).name for p in photos], {"train": 0.75, "test": 0.25}, seed=0)
    return [photos[i] for i in split["train"]], [photos[i] for i in split["test"]]
