"""The NTU RGB+D skeleton graph and ST-GCN's "spatial" partition, as plain data.

Follows the original ST-GCN ``Graph`` (peer: CrosSCLR ``net/utils/graph.py``, layout
``ntu-rgb+d``, strategy ``spatial``, ``max_hop=1``, ``dilation=1``):

1. edges = self-links + the 24 bones below; ``hop[i, j]`` = graph distance, ``inf`` beyond
   ``max_hop``;
2. ``normalized[j, i] = adjacency[j, i] / deg(i)`` (column normalisation of the ≤max_hop
   adjacency, ``A·D⁻¹``);
3. subsets for each pair ``(j, i)`` at hop distance ``h``: ``h = 0`` → *root*; else compare
   the distances of ``j`` and ``i`` to the centre joint: equal → *root*, ``j`` farther →
   *close* (centripetal), ``j`` nearer → *far* (centrifugal); the stacked subsets are
   ``[root(hop 0), root+close (hop 1), far (hop 1)]`` → ``(3, 25, 25)``.

With ``center_distance="peer"`` the distance to the centre is read from the same
``max_hop``-truncated hop matrix, exactly as the original code does (joints more than one
hop from the centre then all compare as ``inf == inf`` and fall into *root*); this is
what ST-GCN / CrosSCLR weights were trained with. ``center_distance="true"`` uses the
full shortest-path distance instead, the partition the ST-GCN paper describes.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

NUM_JOINTS = 25
CENTER_JOINT = 21  # 1-based ("spine" joint), METHOD §4
# NTU bones (1-based joint indices), from ST-GCN's ntu-rgb+d layout
NTU_BONES_1BASED: tuple[tuple[int, int], ...] = (
    (1, 2), (2, 21), (3, 21), (4, 3), (5, 21), (6, 5), (7, 6), (8, 7), (9, 21), (10, 9),
    (11, 10), (12, 11), (13, 1), (14, 13), (15, 14), (16, 15), (17, 1), (18, 17), (19, 18),
    (20, 19), (22, 23), (23, 8), (24, 25), (25, 12),
)


def hop_distance(num_nodes: int, edges: list[tuple[int, int]], max_hop: int | None) -> np.ndarray:
    """Symmetric hop distance ``(N, N)``; ``inf`` beyond ``max_hop`` (``None``: no limit)."""
    adjacency = np.zeros((num_nodes, num_nodes))
    for i, j in edges:
        adjacency[i, j] = adjacency[j, i] = 1
    limit = num_nodes if max_hop is None else max_hop
    distance = np.full((num_nodes, num_nodes), np.inf)
    reach = [np.linalg.matrix_power(adjacency, d) > 0 for d in range(limit + 1)]
    for d in range(limit, -1, -1):  # smallest d wins
        distance[reach[d]] = d
    return distance


def normalize_columns(adjacency: np.ndarray) -> np.ndarray:
    """``A · D⁻¹`` with ``D`` the column degrees (ST-GCN's ``normalize_digraph``)."""
    degree = adjacency.sum(axis=0)
    inverse = np.where(degree > 0, 1.0 / np.where(degree > 0, degree, 1.0), 0.0)
    return adjacency * inverse[None, :]


def spatial_partition(num_nodes: int, edges: list[tuple[int, int]], center: int, max_hop: int = 1,
                      center_distance: Literal["peer", "true"] = "peer") -> np.ndarray:
    """ST-GCN "spatial" partition: ``(1 + 2·max_hop, N, N)`` normalised adjacency subsets."""
    if center_distance not in ("peer", "true"):
        raise ValueError(f"center_distance must be 'peer' or 'true', got {center_distance!r}")
    hop = hop_distance(num_nodes, edges, max_hop)
    full = hop if center_distance == "peer" else hop_distance(num_nodes, edges, None)
    to_center = full[:, center]
    normalized = normalize_columns((hop <= max_hop).astype(np.float64))
    subsets = []
    for h in range(max_hop + 1):
        root, close, far = (np.zeros((num_nodes, num_nodes)) for _ in range(3))
        j_idx, i_idx = np.nonzero(hop == h)
        for j, i in zip(j_idx, i_idx):
            if to_center[j] == to_center[i]:
                root[j, i] = normalized[j, i]
            elif to_center[j] > to_center[i]:
                close[j, i] = normalized[j, i]
            else:
                far[j, i] = normalized[j, i]
        subsets.extend([root] if h == 0 else [root + close, far])
    return np.stack(subsets)


def ntu_graph(max_hop: int = 1, center_distance: Literal["peer", "true"] = "peer") -> np.ndarray:
    """NTU RGB+D adjacency subsets ``(3, 25, 25)`` (float32) for ST-GCN."""
    edges = [(i, i) for i in range(NUM_JOINTS)] + [(i - 1, j - 1) for i, j in NTU_BONES_1BASED]
    return spatial_partition(NUM_JOINTS, edges, CENTER_JOINT - 1, max_hop, center_distance).astype(np.float32)
