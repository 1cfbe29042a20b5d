"""Thread counts from the affinity mask and cgroup quota; worker caps."""

from __future__ import annotations

import os

import pytest
import torch

from vimix_ssl.utils import threads


def test_cgroup_v2_and_v1_quotas_cap_the_affinity_mask(tmp_path):
    mask = len(os.sched_getaffinity(0))
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # 1.5 cores -> 2
    assert threads.available_cores(tmp_path) == min(mask, 2)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads.available_cores(tmp_path) == mask
    (tmp_path / "cpu.max").unlink()
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("50000")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert threads.available_cores(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert threads.available_cores(tmp_path) == mask


def test_configure_threads_never_exceeds_the_cores_and_honours_the_env(monkeypatch):
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "available_cores", lambda *a: 2)
    try:
        monkeypatch.setenv(threads.ENV, "1")
        assert threads.configure_threads() == 1 and torch.get_num_threads() == 1
        monkeypatch.delenv(threads.ENV)
        assert threads.configure_threads(64) == 2 and torch.get_num_threads() == 2
        monkeypatch.setenv(threads.ENV, "two")
        with pytest.raises(ValueError, match="VIMIX_THREADS='two'"):
            threads.configure_threads()
        assert threads.loader_workers(4, training_threads=2) == 0
        assert threads.loader_workers(4, training_threads=1) == 1
    finally:
        torch.set_num_threads(before)


def test_prepare_process_sets_the_wait_policy_only_before_torch_and_on_shared_cores(monkeypatch):
    import sys

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setenv("VIMIX_SHARED_CORES", "1")
    assert threads.prepare_process() is False  # torch is already loaded here: too late, nothing set
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delitem(sys.modules, "torch")  # as in a fresh interpreter
    monkeypatch.delenv("VIMIX_SHARED_CORES")
    assert threads.prepare_process() is True and "OMP_WAIT_POLICY" not in os.environ  # alone: OpenMP's
    monkeypatch.setenv("VIMIX_SHARED_CORES", "1")
    assert threads.prepare_process() is True and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # a value the user set is kept
    assert threads.prepare_process() is True and os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
