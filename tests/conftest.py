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
    """The real dataset samples in ../shared/data/real (CI must have them; elsewhere: skip)."""
    if not REAL_DATA.is_dir():
        message = f"real data samples not found at {REAL_DATA} (shared/ beside the checkout)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return REAL_DATA
