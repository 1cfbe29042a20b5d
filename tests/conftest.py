"""Shared fixtures: tests run on CPU, single-threaded, with no progress bars."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("VIMIX_NO_PROGRESS", "1")
# one compute thread per process: tests that start several processes must not oversubscribe the cores
os.environ.setdefault("VIMIX_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
# The real dataset samples (UCF101/HMDB51/K400/NTU files, see docs/TESTING.md): one setting.
REAL_DATA_VARIABLE = "VIMIX_REAL_DATA"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real dataset samples at ``$VIMIX_REAL_DATA`` (required under CI; elsewhere: skip)."""
    location = os.environ.get(REAL_DATA_VARIABLE, "")
    if not location or not Path(location).is_dir():
        where = f"; {location!r} is not a folder" if location else ""
        message = (f"real data samples not found: set {REAL_DATA_VARIABLE}=/path/to/real-samples "
                   f"(the folder described in docs/TESTING.md){where}")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(location)
