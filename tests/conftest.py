"""Shared test fixtures: paths into ../shared, small seeded images, thread limits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found beside the checkout ({SHARED}); tests need it")
    return SHARED


@pytest.fixture(scope="session")
def photos(shared) -> list[Path]:
    return sorted((shared / "corpus" / "photos").iterdir())


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)
