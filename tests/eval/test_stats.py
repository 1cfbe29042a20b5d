"""Bootstrap intervals and verdicts, checked against a loop-based bootstrap written here."""

from __future__ import annotations

import numpy as np
import pytest

from vimix_ssl.eval.stats import HOLDS, NOT_RESOLVED, REVERSED, compare, correct, interval


def _loop_bootstrap(scores: np.ndarray, replicates: int, seed: int) -> tuple[float, float]:
    """The textbook two-level percentile bootstrap, one replicate at a time."""
    rng = np.random.default_rng(seed)
    seeds, videos = scores.shape
    means = []
    for _ in range(replicates):
        chosen_videos = [int(rng.integers(videos)) for _ in range(videos)]
        chosen_seeds = [int(rng.integers(seeds)) for _ in range(seeds)] if seeds > 1 else [0]
        total = 0.0
        for s in chosen_seeds:
            total += sum(scores[s, v] for v in chosen_videos) / videos
        means.append(total / len(chosen_seeds))
    means.sort()
    return means[int(0.025 * replicates)], means[int(0.975 * replicates) - 1]


@pytest.mark.parametrize("seeds", [1, 3])
def test_interval_matches_a_loop_bootstrap(seeds):
    rng = np.random.default_rng(0)
    # per-seed accuracy differs (seed-to-seed variation), videos are 0/100 scores
    scores = np.stack([100.0 * (rng.random(120) < p) for p in (0.55, 0.7, 0.62)[:seeds]])
    got = interval(scores, replicates=2000, seed=1)
    low, high = _loop_bootstrap(scores, 1000, seed=2)
    assert got.mean == pytest.approx(scores.mean())
    assert got.low == pytest.approx(low, abs=1.5) and got.high == pytest.approx(high, abs=1.5)
    assert (got.seeds, got.videos) == (seeds, 120)


def test_one_seed_interval_is_the_binomial_sampling_error():
    scores = np.array([100.0] * 350 + [0.0] * 150)  # 70 % of 500 test videos
    got = interval(scores)
    half_width = 1.96 * 100 * np.sqrt(0.7 * 0.3 / 500)  # normal approximation, 4.0 points
    assert got.mean == pytest.approx(70.0)
    assert got.high - got.mean == pytest.approx(half_width, abs=0.4)
    assert got.mean - got.low == pytest.approx(half_width, abs=0.4)
    # more seeds that disagree widen the interval beyond the single-seed one
    spread = interval(np.stack([np.roll(scores, 0), np.where(np.arange(500) < 250, 100.0, 0.0)]))
    assert spread.high - spread.low > got.high - got.low


def test_paired_verdicts():
    rng = np.random.default_rng(3)
    b = 100.0 * (rng.random(500) < 0.5)
    better = b.copy()
    better[np.flatnonzero(b == 0)[:50]] = 100.0  # +10 points on the same videos
    assert compare(better, b).verdict == HOLDS
    assert compare(b, better).verdict == REVERSED
    noisy = b.copy()
    flip = rng.choice(500, 40, replace=False)
    noisy[flip] = 100.0 - noisy[flip]  # as many gained as lost on average
    result = compare(noisy, b)
    assert result.verdict == NOT_RESOLVED and result.difference.low < 0 < result.difference.high
    # pairing matters: the same 10-point gain on independent samples of 60 videos is not resolved
    small_a, small_b = 100.0 * (rng.random(60) < 0.6), 100.0 * (rng.random(60) < 0.5)
    assert compare(small_a, small_b).verdict == NOT_RESOLVED


def test_bad_input_is_an_error_and_correct_scores_percent():
    with pytest.raises(ValueError, match="same"):
        compare(np.zeros(5), np.zeros(6))
    with pytest.raises(ValueError, match="shape"):
        interval(np.zeros((0,)))
    np.testing.assert_array_equal(correct(np.array([1, 2, 3]), np.array([1, 0, 3])), [100.0, 0.0, 100.0])
