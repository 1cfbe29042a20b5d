"""Shared fixtures: tests run on CPU, single-threaded, with no progress bars."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("VIMIX_NO_PROGRESS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_DATA = SHARED / "data" / "real"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real dataset samples in ../shared/data/real (skips if this checkout lacks them)."""
    if not REAL_DATA.is_dir():
        pytest.skip(f"real data samples not found at {REAL_DATA}")
    return REAL_DATA
