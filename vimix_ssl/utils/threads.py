"""Thread counts per process from the cores this process may actually use.

``os.cpu_count()`` is the machine's count; a container or ``taskset`` gives a process fewer
cores (the affinity mask), and a cgroup CPU quota (``cpu.max``, or v1's ``cfs_quota_us``)
fewer still. Torch and OpenCV default to the machine's count, so on a 2-core slice of a
64-core host every op spins 64 threads on 2 cores, and two jobs sharing the cores each
think they own them. ``prepare_process`` (called first by the command line) makes idle
OpenMP threads sleep rather than spin. ``configure_threads`` sets torch's and OpenCV's pools from
``available_cores()``; ``VIMIX_THREADS=N`` overrides it (e.g. 1 per job when several jobs
share a machine). DataLoader workers are capped so that workers + training threads do not
exceed the cores (``loader_workers``); PyTorch runs each worker with one torch thread.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

ENV = "VIMIX_THREADS"
WAIT_POLICY = "PASSIVE"  # OpenMP threads waiting for work sleep instead of spinning (see prepare_process)
SHARED_ENV = "VIMIX_SHARED_CORES"  # "1": other jobs share these cores -> WAIT_POLICY


def _cgroup_quota(root: Path = Path("/sys/fs/cgroup")) -> float | None:
    """Cores allowed by the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_*``), None without one."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """Cores this process may run on: the affinity mask, capped by a cgroup quota (rounded up)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def requested_threads() -> int | None:
    """``VIMIX_THREADS`` as a positive int, None when unset; a bad value is an error naming it."""
    value = os.environ.get(ENV, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{ENV}={value!r}: expected a positive integer (threads per process)")
    return int(value)


def prepare_process() -> bool:
    """Before torch is imported: with ``VIMIX_SHARED_CORES=1``, idle OpenMP threads sleep.

    OpenMP's default spins waiting threads for a while. When another job shares the cores the
    spinning threads take turns from the working ones (a demo-sized step 4.1x slower than alone;
    sleeping threads: 0.9x), but alone, sleeping threads make the same step 2.7x slower and
    ``vimix demo --quick`` 1.4x (``vimix bench --only speed`` and docs/BENCHMARKS.md, quiet
    machine). So the default stays OpenMP's and shared machines opt in
    (``OMP_WAIT_POLICY=PASSIVE`` is set; a value the user set is kept). Returns whether the
    policy could still take effect (torch not yet imported).
    """
    import sys

    if "torch" in sys.modules:
        return False
    if os.environ.get(SHARED_ENV, "") == "1":
        os.environ.setdefault("OMP_WAIT_POLICY", WAIT_POLICY)
    return True


def configure_threads(threads: int | None = None) -> int:
    """Set torch's intra-op and OpenCV's thread pools; returns the count used.

    ``threads`` (or ``VIMIX_THREADS``, or ``available_cores()``), never above the available cores.
    """
    import cv2
    import torch

    cores = available_cores()
    count = max(1, min(threads or requested_threads() or cores, cores))
    torch.set_num_threads(count)
    cv2.setNumThreads(count)
    return count


def loader_workers(requested: int, training_threads: int | None = None) -> int:
    """DataLoader workers that leave the training threads their cores: ``min(requested, cores - threads)``."""
    import torch

    threads = training_threads if training_threads is not None else torch.get_num_threads()
    return max(0, min(requested, available_cores() - threads))

