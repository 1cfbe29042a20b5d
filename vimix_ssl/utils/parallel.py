"""Run independent per-item jobs (one video, one skeleton file) over processes.

Shared by every ``vimix prepare`` command: a progress bar with ETA, finished items
skipped (resume), a failing item reported with its reason and never losing the others'
results, and a summary at the end. Each job is expected to write its own output
atomically, so an interrupted run leaves only complete outputs behind. Worker processes
die with the parent (``die_with_parent``): a ``kill -9`` of ``vimix prepare`` leaves none
running.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from vimix_ssl.utils.logging import progress

T = TypeVar("T")


@dataclass
class JobSummary(Generic[T]):
    done: list[T] = field(default_factory=list)
    skipped: list[T] = field(default_factory=list)
    failed: list[tuple[T, str]] = field(default_factory=list)

    def format(self, what: str = "items", show: int = 5) -> str:
        lines = [f"{what}: {len(self.done)} done, {len(self.skipped)} skipped (already finished), "
                 f"{len(self.failed)} failed"]
        for item, reason in self.failed[:show]:
            lines.append(f"  FAILED {item}: {reason}")
        if len(self.failed) > show:
            lines.append(f"  ... and {len(self.failed) - show} more failures")
        return "\n".join(lines)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent_pid: int) -> None:
    """Make this process exit when ``parent_pid`` dies (even by ``kill -9``).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGKILL)``; elsewhere a daemon thread polls the parent.
    Either way a parent that is already gone (it died before this ran) ends the process now.
    """
    import signal
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:  # pragma: no cover
        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, name="vimix-parent-watch", daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)


def _init_worker(parent_pid: int) -> None:
    die_with_parent(parent_pid)
    # One job per core: keep each worker's libraries single-threaded.
    os.environ["OMP_NUM_THREADS"] = "1"
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover
        pass
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def _call(fn: Callable[[T], object], item: T) -> None:
    fn(item)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def run_jobs(
    items: Sequence[T],
    fn: Callable[[T], object],
    *,
    is_done: Callable[[T], bool] | None = None,
    workers: int | None = None,
    desc: str = "jobs",
) -> JobSummary[T]:
    """Apply ``fn`` to every item not ``is_done``; ``fn`` must be picklable for workers > 1."""
    summary: JobSummary[T] = JobSummary()
    todo: list[T] = []
    for item in items:
        (summary.skipped if is_done is not None and is_done(item) else todo).append(item)
    workers = default_workers() if workers is None else max(1, workers)
    bar = progress(total=len(todo), desc=desc, unit="item")
    if workers == 1 or len(todo) <= 1:
        for item in todo:
            try:
                fn(item)
                summary.done.append(item)
            except Exception as e:  # report, keep going
                summary.failed.append((item, f"{type(e).__name__}: {e}"))
            bar.update(1)
        bar.close()
        return summary
    # spawn, not fork: forking a process whose OpenCV/OpenMP threads are running can deadlock.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(todo)), initializer=_init_worker,
                             initargs=(os.getpid(),), mp_context=context) as pool:
        pending = {}
        queue = list(reversed(todo))
        # Keep at most 2 jobs per worker in flight so Ctrl-C stops quickly.
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                item = queue.pop()
                pending[pool.submit(_call, fn, item)] = item
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                item = pending.pop(fut)
                err = fut.exception()
                if err is None:
                    summary.done.append(item)
                else:
                    summary.failed.append((item, f"{type(err).__name__}: {err}"))
                bar.update(1)
    bar.close()
    return summary
