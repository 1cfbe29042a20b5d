"""Linear CKA and effective rank on constructed features with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from vimix_ssl.eval.diagnostics import effective_rank, linear_cka


def _hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Kornblith et al.'s definition through Gram matrices and the centring matrix H."""
    n = len(x)
    h = np.eye(n) - np.ones((n, n)) / n
    gram_x, gram_y = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h)) / (n - 1) ** 2

    return hsic(gram_x, gram_y) / np.sqrt(hsic(gram_x, gram_x) * hsic(gram_y, gram_y))


def test_cka_is_one_for_rotations_and_scaling_and_matches_the_hsic_definition():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    rotation, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    assert linear_cka(x, 3.0 * x @ rotation + 5.0) == pytest.approx(1.0, abs=1e-9)
    unrelated = rng.normal(size=(60, 5))
    assert linear_cka(x, unrelated) == pytest.approx(_hsic_cka(x, unrelated), abs=1e-9)
    assert linear_cka(x, unrelated) < 0.3
    half = np.concatenate([x[:, :4], rng.normal(size=(60, 4))], axis=1)  # shares half its directions
    assert _hsic_cka(x, half) == pytest.approx(linear_cka(x, half), abs=1e-9)
    assert linear_cka(x, unrelated) < linear_cka(x, half) < 1.0
    with pytest.raises(ValueError, match="same clips"):
        linear_cka(x, x[:10])


def test_effective_rank_counts_equal_directions_and_sees_collapse():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.normal(size=(32, 32)))
    for k in (1, 3, 7):
        # 2k points: +-1 along each of k orthonormal directions -> k equal singular values
        points = np.concatenate([np.eye(k), -np.eye(k)]) @ basis[:k]
        assert effective_rank(points) == pytest.approx(k, rel=1e-6)
    t = np.linspace(-1, 1, 200)[:, None]
    line = t * basis[0] + 1e-3 * rng.normal(size=(200, 32))  # collapsed: one direction, 0.1 % noise
    assert effective_rank(line) < 1.5
    assert effective_rank(rng.normal(size=(500, 16))) > 14
    assert effective_rank(np.ones((5, 3))) == 0.0
