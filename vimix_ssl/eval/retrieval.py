"""Nearest-neighbour video retrieval R@k (METHOD §7, peer: CoCLR).

Queries are the test split, the gallery is the train split. Each set is centred by its
*own* mean, L2-normalised, and compared by cosine similarity (= inner product after
normalisation). ``R@k`` is the fraction of queries with at least one same-class video
among their ``k`` nearest gallery videos. Search is exact FAISS ``IndexFlatIP`` by
default; ``ivf`` and ``hnsw`` give approximate search for galleries too large for it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from vimix_ssl.utils.io import atomic_write_json, atomic_write_text

IndexKind = Literal["flat", "ivf", "hnsw"]


@dataclass
class RetrievalConfig:
    """Retrieval protocol; every field is recorded with the result."""

    ks: list[int] = field(default_factory=lambda: [1, 5, 10, 20, 50])  # R@k reported
    centre: bool = True  # subtract each set's own mean before normalising (peer: CoCLR)
    index: IndexKind = "flat"  # flat = exact inner product; ivf / hnsw = approximate
    ivf_lists: int = 1024  # IVF: number of k-means cells (capped at gallery size / 39)
    ivf_probe: int = 32  # IVF: cells visited per query
    hnsw_links: int = 32  # HNSW: neighbours per node (M)
    hnsw_search_depth: int = 128  # HNSW: efSearch
    threads: int = 0  # FAISS OpenMP threads; 0 = FAISS default
    save_neighbours: int = 5  # write the top-n neighbour list per query (0 = none; feeds the report)
    # gallery (train split) windows: "same" as the queries (data.eval_windows) or "random": one
    # seeded random window per video (peer: CoCLR test_retrieval builds the gallery in mode 'train')
    gallery_windows: Literal["same", "random"] = "same"

    def validate(self) -> None:
        if not self.ks or any(k < 1 for k in self.ks):
            raise ValueError(f"retrieval.ks must be positive integers, got {self.ks}")
        if self.save_neighbours < 0:
            raise ValueError(f"retrieval.save_neighbours must be >= 0, got {self.save_neighbours}")


def centre_and_normalise(features: np.ndarray, centre: bool = True) -> np.ndarray:
    """``(N, D)`` -> float32 ``(N, D)``: minus the set's own mean (if ``centre``), unit L2 rows."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"features must be (N, D), got shape {x.shape}")
    if centre:
        x = x - x.mean(axis=0, keepdims=True)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


def build_index(gallery: np.ndarray, config: RetrievalConfig) -> Any:
    """A FAISS inner-product index over ``gallery`` ``(N, D)`` float32 (already normalised)."""
    import faiss

    if config.threads > 0:
        faiss.omp_set_num_threads(config.threads)
    gallery = np.ascontiguousarray(gallery, dtype=np.float32)
    n, dim = gallery.shape
    if config.index == "flat":
        index = faiss.IndexFlatIP(dim)
    elif config.index == "hnsw":
        index = faiss.IndexHNSWFlat(dim, config.hnsw_links, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = config.hnsw_search_depth
    elif config.index == "ivf":
        # FAISS wants >= 39 training points per cell; cap the cell count accordingly.
        lists = max(1, min(config.ivf_lists, n // 39))
        quantiser = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantiser, dim, lists, faiss.METRIC_INNER_PRODUCT)
        index.train(gallery)  # k-means with FAISS's fixed seed: deterministic
        index.nprobe = min(config.ivf_probe, lists)
    else:
        raise ValueError(f"retrieval.index must be flat, ivf or hnsw, got {config.index!r}")
    index.add(gallery)
    return index


def search(queries: np.ndarray, gallery: np.ndarray, k: int,
           config: RetrievalConfig | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` gallery rows per query by inner product: ``(Q, k)`` scores and indices."""
    config = config or RetrievalConfig()
    if queries.shape[1] != gallery.shape[1]:
        raise ValueError(f"query dim {queries.shape[1]} != gallery dim {gallery.shape[1]}")
    k = min(k, gallery.shape[0])
    index = build_index(gallery, config)
    scores, neighbours = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
    return scores, neighbours.astype(np.int64)


def recall_at_k(neighbours: np.ndarray, query_labels: np.ndarray, gallery_labels: np.ndarray,
                ks: Sequence[int]) -> dict[int, float]:
    """``neighbours`` ``(Q, K)`` gallery indices, best first -> ``{k: R@k}``.

    R@k = fraction of queries with at least one same-class gallery item in the first k.
    An index of -1 (FAISS found fewer than K neighbours, possible with ivf / hnsw) is a miss.
    """
    query_labels = np.asarray(query_labels)
    neighbours = np.asarray(neighbours)
    found = neighbours >= 0  # (Q, K)
    labels = np.asarray(gallery_labels)[np.where(found, neighbours, 0)]
    hits = found & (labels == query_labels[:, None])  # (Q, K) bool
    # first_hit[i] = rank of the first correct neighbour (K if none)
    first_hit = np.where(hits.any(axis=1), hits.argmax(axis=1), hits.shape[1])
    return {int(k): float((first_hit < k).mean()) for k in ks}


@dataclass
class RetrievalOutput:
    recall: dict[int, float]  # k -> R@k
    neighbours: np.ndarray  # (Q, K) gallery indices, best first
    scores: np.ndarray  # (Q, K) cosine similarities


def evaluate_retrieval(train_features: np.ndarray, train_labels: np.ndarray,
                       test_features: np.ndarray, test_labels: np.ndarray,
                       config: RetrievalConfig | None = None) -> RetrievalOutput:
    """Queries = test ``(Q, D)``, gallery = train ``(N, D)`` -> R@k for ``config.ks``."""
    config = config or RetrievalConfig()
    config.validate()
    if len(train_features) != len(train_labels) or len(test_features) != len(test_labels):
        raise ValueError("features and labels differ in length: "
                         f"train {len(train_features)}/{len(train_labels)}, "
                         f"test {len(test_features)}/{len(test_labels)}")
    gallery = centre_and_normalise(train_features, config.centre)
    queries = centre_and_normalise(test_features, config.centre)
    k_max = max(max(config.ks), config.save_neighbours)
    scores, neighbours = search(queries, gallery, k_max, config)
    recall = recall_at_k(neighbours, test_labels, train_labels, config.ks)
    return RetrievalOutput(recall, neighbours, scores)


def write_neighbours(path: str | Path, output: RetrievalOutput, count: int,
                     query_ids: Sequence[str], query_labels: Sequence[int],
                     gallery_ids: Sequence[str], gallery_labels: Sequence[int]) -> Path:
    """Write the top-``count`` neighbours of every query as JSON (``.json``) or CSV (``.csv``)."""
    path = Path(path)
    count = min(count, output.neighbours.shape[1])
    rows = []
    for q in range(len(query_ids)):
        for rank in range(count):
            g = int(output.neighbours[q, rank])
            if g < 0:
                continue  # FAISS -1: no neighbour at this rank
            rows.append({"query_index": q, "query_id": query_ids[q], "query_label": int(query_labels[q]),
                         "rank": rank + 1, "gallery_index": g, "gallery_id": gallery_ids[g],
                         "gallery_label": int(gallery_labels[g]),
                         "score": float(output.scores[q, rank]),
                         "correct": int(gallery_labels[g]) == int(query_labels[q])})
    if path.suffix == ".csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["query_index"])
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(path, buffer.getvalue())
    elif path.suffix == ".json":
        atomic_write_json(path, rows)
    else:
        raise ValueError(f"neighbour list {path}: expected a .json or .csv file name")
    return path
