"""Representation diagnostics: linear CKA between two feature sets, effective rank of one.

* ``linear_cka(X, Y)`` (Kornblith et al., 2019, "Similarity of Neural Network
  Representations Revisited", eq. for linear kernels): with column-centred ``X (N, D1)`` and
  ``Y (N, D2)`` of the same N clips, ``||Yᵀ X||_F² / (||Xᵀ X||_F ||Yᵀ Y||_F)``. 1 when one is
  an orthogonal transform plus isotropic scaling of the other, near 0 for unrelated features.
  Used between the RGB and flow features of the same test clips, per stage: does CMMC pull
  the two encoders' representations together?
* ``effective_rank(X)`` (Roy & Vetterli, 2007): ``exp(H(p))`` with ``p`` the singular values
  of the centred features normalised to sum 1. k equally strong orthogonal directions give
  k; features on a one-dimensional arc (dimensional collapse) give close to 1.
"""

from __future__ import annotations

import numpy as np


def _centred(features: np.ndarray) -> np.ndarray:
    array = np.asarray(features, dtype=np.float64)
    if array.ndim != 2 or len(array) < 2:
        raise ValueError(f"features must be (N, D) with N >= 2, got shape {array.shape}")
    return array - array.mean(axis=0, keepdims=True)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA of ``x (N, D1)`` and ``y (N, D2)`` (rows: the same N clips)."""
    x, y = _centred(x), _centred(y)
    if len(x) != len(y):
        raise ValueError(f"CKA needs the same clips in both: {len(x)} vs {len(y)} rows")
    cross = np.linalg.norm(y.T @ x) ** 2
    norms = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(cross / norms) if norms > 0 else 0.0


def effective_rank(features: np.ndarray) -> float:
    """``exp(entropy)`` of the normalised singular values of the centred ``(N, D)`` features."""
    singular = np.linalg.svd(_centred(features), compute_uv=False)
    total = singular.sum()
    if total <= 0:
        return 0.0  # all rows equal: no direction at all
    p = singular[singular > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))
