"""Benchmark: optical-flow frames/s for TV-L1, DIS and Farneback, one process vs all cores.

For each method and frame size the same frame pairs (a synthetic textured object moving
over a textured background) are timed in one single-threaded process, then in a pool of
one single-threaded process per core where every process computes the same number of
pairs. Scaling efficiency = (fps all cores / fps one process) / cores: 1.0 means perfect
linear scaling, which is what ``vimix prepare flow`` (one video per process) relies on.
Each process computes one warm-up pair, then all wait at a barrier and start together;
the all-cores time runs from the first start to the last finish (process start-up and
imports are not counted, contention for cores and memory bandwidth is).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from typing import Any

import numpy as np

METHODS = ("tvl1", "dis", "farneback")
SIZES = ((128, 171), (240, 320))  # (height, width): the common flow sizes (short side 128, raw UCF101)
QUICK_SIZES = ((24, 32),)
GOAL_EFFICIENCY = 0.9  # issue 3: TV-L1 scaling >= 0.9 x cores

_frames: dict[tuple[int, int], np.ndarray] = {}  # per process: (height, width) -> gray (P+1, H, W)
_barrier: Any = None  # per pool process: all processes start timing together


def _gray_clip(height: int, width: int, pairs: int) -> np.ndarray:
    from vimix_ssl.data.flow import to_gray
    from vimix_ssl.data.synthetic_video import render_clip

    frames = render_clip("TranslateRight", pairs + 1, width, height, np.random.default_rng(0))
    return to_gray(frames)  # (P+1, H, W) uint8


def _init(clips: dict[tuple[int, int], np.ndarray], barrier: Any = None) -> None:
    global _barrier
    import cv2

    cv2.setNumThreads(1)  # one core per process
    _frames.update(clips)
    _barrier = barrier


def _compute(method: str, size: tuple[int, int], pairs: int, synchronised: bool) -> tuple[float, float]:
    """Flow of ``pairs`` consecutive pairs of the clip of ``size``; returns (start, end) perf_counter.

    ``synchronised``: wait at the pool's barrier first, so every process runs at the same time
    (and every task lands on a different process: a waiting process takes no other task).
    """
    from vimix_ssl.data.flow import FlowEstimator

    gray = _frames[size][: pairs + 1]
    estimator = FlowEstimator(method)
    estimator(gray[0], gray[1])  # warm-up: allocations, first-call setup
    if synchronised:
        _barrier.wait()
    start = time.perf_counter()  # CLOCK_MONOTONIC: comparable between processes
    for t in range(pairs):
        estimator(gray[t], gray[t + 1])
    return start, time.perf_counter()


def _parallel_fps(pool: Any, cores: int, method: str, size: tuple[int, int], pairs: int) -> float:
    spans = pool.starmap(_compute, [(method, size, pairs, True)] * cores, chunksize=1)
    return cores * pairs / (max(end for _, end in spans) - min(start for start, _ in spans))


def run(quick: bool = False) -> dict[str, Any]:
    import cv2

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    sizes = QUICK_SIZES if quick else SIZES
    pairs = {"tvl1": 2, "dis": 4, "farneback": 4} if quick else {"tvl1": 4, "dis": 40, "farneback": 20}
    longest = max(pairs.values())
    clips = {size: _gray_clip(*size, longest) for size in sizes}
    _init(clips)
    previous_threads = cv2.getNumThreads()
    ctx = mp.get_context("spawn")  # no fork of a process that may hold OpenCV/OpenMP threads
    rows = []
    rounds = 1 if quick else 3
    load_before = os.getloadavg()[0]
    try:
        with ctx.Pool(cores, initializer=_init, initargs=(clips, ctx.Barrier(cores))) as pool:
            for method in METHODS:
                for size in sizes:
                    # Interleaved rounds, best of each: transient load from other jobs hits both alike.
                    single, parallel = 0.0, 0.0
                    for _ in range(rounds):
                        start, end = _compute(method, size, pairs[method], False)
                        single = max(single, pairs[method] / (end - start))
                        parallel = max(parallel, _parallel_fps(pool, cores, method, size, pairs[method]))
                    efficiency = parallel / single / cores
                    rows.append([method, f"{size[0]}x{size[1]}", round(single, 1), round(parallel, 1),
                                 cores, round(efficiency, 2)])
    finally:
        cv2.setNumThreads(previous_threads)
    tvl1 = [row[5] for row in rows if row[0] == "tvl1"]
    return {
        "title": "Optical flow: frames/s, one process vs all cores",
        "columns": ["method", "size (HxW)", "fps 1 process", "fps all cores", "cores",
                    "scaling efficiency"],
        "rows": rows,
        "goal": f"TV-L1 scaling efficiency >= {GOAL_EFFICIENCY} (fps all cores >= {GOAL_EFFICIENCY} x cores "
                "x fps one process)",
        "goal_met": None if quick else bool(min(tvl1) >= GOAL_EFFICIENCY),
        "notes": (f"{'quick mode: tiny frames, ' if quick else ''}pairs per process: {pairs}, best of "
                  f"{rounds} interleaved round(s); load average before/after: {load_before:.1f}/"
                  f"{os.getloadavg()[0]:.1f} on {cores} cores; each process "
                  "single-threaded (cv2.setNumThreads(1)); the same pairs in every process; processes "
                  "start together (barrier) after a warm-up pair; the all-cores time runs from the first "
                  "start to the last finish. On a machine shared with other jobs, fps all cores and "
                  "the efficiency are lower bounds."),
    }
