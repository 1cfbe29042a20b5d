"""The speed area measures the old and the new path side by side on the same data."""

from __future__ import annotations

import torch

from vimix_ssl.jobs.bench import AREAS
from vimix_ssl.jobs.bench.speed import _dataset, _photometric_rows, _pipeline_rows, _step_rates


def test_old_and_new_paths_are_measured_side_by_side():
    assert AREAS["speed"] == "vimix_ssl.jobs.bench.speed"
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        rows, new_ms = _photometric_rows(quick=True)
        assert [r[0].split(": ", 1)[1][:4] for r in rows] == ["old:", "new:"]
        assert rows[1][2] == round(new_ms, 1)
        dataset = _dataset(videos=4, frames=10, height=48, width=64, clip_len=8, size=32)  # S3D minimum
        rows, rate = _pipeline_rows(dataset, batch=2, what="tiny", count=1)
        assert [r[0].rsplit(": ", 1)[1] for r in rows] == ["old path", "new path"]
        assert rows[0][3] == 1.0 and rate > 0 and rows[1][2] == round(rate, 1)
        rates = _step_rates(dataset, batch=2, steps=1)
        assert set(rates) == {"old", "new"} and all(r > 0 for r in rates.values())
    finally:
        torch.set_num_threads(threads)
