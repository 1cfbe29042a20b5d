"""Benchmarks: one module per area, each ``run(quick) -> dict`` measuring ratios side by side.

Result dict keys: ``title``, ``columns``, ``rows``, ``goal``, ``goal_met`` (bool or None),
``notes``. ``vimix bench`` runs every area in its own process (so peak memory is per area)
and writes JSON + Markdown.
"""

AREAS: dict[str, str] = {
    "loader": "vimix_ssl.jobs.bench.loader",  # raw video vs prepared store; per-clip vs batched aug
    "flow": "vimix_ssl.jobs.bench.flow",  # TV-L1 / DIS / Farneback fps and scaling
    "moco": "vimix_ssl.jobs.bench.moco",  # MoCo step with / without input mixing
    "cmmc": "vimix_ssl.jobs.bench.cmmc",  # CMMC step vs MoCo step
    "retrieval": "vimix_ssl.jobs.bench.retrieval",  # FAISS vs scikit-learn brute force
    "speed": "vimix_ssl.jobs.bench.speed",  # small-scale path, old vs new: augmentation, step, sharing
}
