"""Bootstrap confidence intervals for per-video scores, and verdicts on claimed orderings.

Every evaluation here ends in a per-test-video score (1/0: linear probe correct, nearest
neighbour of the same class, kNN vote correct). With ``S`` seeds evaluated on the same
``N`` test videos the scores form an ``(S, N)`` array; a result is their mean, in percent.

``interval(scores)`` is a percentile bootstrap: each replicate resamples the seeds with
replacement (when there are several) and, independently, the test videos with replacement,
and takes the mean of the resampled ``(S, N)`` block. With one seed only the videos are
resampled, so the interval is the test-set sampling error alone (seed-to-seed variation is
then not in it, and the report says so).

``compare(a, b)`` does the same on the paired difference ``a - b`` of two encoders scored
on the same videos and seeds (the same resampling for both), and gives a verdict:

* ``holds`` — the whole 95 % interval of ``a - b`` is above 0;
* ``reversed`` — the whole interval is below 0;
* ``not resolved`` — the interval contains 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

HOLDS, REVERSED, NOT_RESOLVED = "holds", "reversed", "not resolved"
REPLICATES = 2000  # bootstrap replicates; MC error of a 95 % bound ~0.2 points at N = 500
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean and its bootstrap interval, in the units of the scores (percent for 0/1 x 100)."""

    mean: float
    low: float
    high: float
    seeds: int
    videos: int

    def format(self, digits: int = 1) -> str:
        return f"{self.mean:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """``a - b`` with its interval and verdict."""

    difference: Interval
    verdict: str

    def to_dict(self) -> dict[str, object]:
        return {"difference": self.difference.to_dict(), "verdict": self.verdict}


def as_scores(scores: np.ndarray | list) -> np.ndarray:
    """``(N,)`` or ``(S, N)`` -> float ``(S, N)``; rejects empty or ragged input."""
    array = np.asarray(scores, dtype=np.float64)
    if array.ndim == 1:
        array = array[None]
    if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
        raise ValueError(f"scores must be (N,) or (S, N) with S, N >= 1, got shape {array.shape}")
    return array


def bootstrap_means(scores: np.ndarray | list, replicates: int = REPLICATES, seed: int = 0) -> np.ndarray:
    """``(replicates,)`` means of resampled ``(S, N)`` blocks (seeds and videos resampled independently)."""
    array = as_scores(scores)
    seeds, videos = array.shape
    rng = np.random.default_rng(seed)
    video_idx = rng.integers(0, videos, size=(replicates, videos))  # (R, N)
    if seeds == 1:
        return array[0][video_idx].mean(axis=1)
    seed_idx = rng.integers(0, seeds, size=(replicates, seeds))  # (R, S)
    per_seed = np.stack([array[:, idx].mean(axis=1) for idx in video_idx])  # (R, S): video means
    return np.take_along_axis(per_seed, seed_idx, axis=1).mean(axis=1)


def interval(scores: np.ndarray | list, level: float = LEVEL, replicates: int = REPLICATES,
             seed: int = 0) -> Interval:
    """Mean of ``scores`` with its percentile-bootstrap ``level`` interval."""
    array = as_scores(scores)
    means = bootstrap_means(array, replicates, seed)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(array.mean()), float(low), float(high), array.shape[0], array.shape[1])


def verdict(difference: Interval) -> str:
    if difference.low > 0:
        return HOLDS
    if difference.high < 0:
        return REVERSED
    return NOT_RESOLVED


def compare(a: np.ndarray | list, b: np.ndarray | list, level: float = LEVEL, replicates: int = REPLICATES,
            seed: int = 0) -> Comparison:
    """Paired ``a - b`` over the same seeds and videos, with its interval and verdict."""
    a, b = as_scores(a), as_scores(b)
    if a.shape != b.shape:
        raise ValueError("paired scores must have the same (seeds, videos) shape, "
                         f"got {a.shape} and {b.shape}")
    difference = interval(a - b, level, replicates, seed)
    return Comparison(difference, verdict(difference))


def correct(predicted: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Per-video score in percent: 100 where ``predicted == labels``, else 0."""
    return 100.0 * (np.asarray(predicted) == np.asarray(labels))
