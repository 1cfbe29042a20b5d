"""Retrieval R@k: brute-force agreement, FAISS vs torch, centring, neighbour lists."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vimix_ssl.eval.retrieval import (
    RetrievalConfig,
    centre_and_normalise,
    evaluate_retrieval,
    recall_at_k,
    search,
    write_neighbours,
)


def _brute_force_recall(train, train_labels, test, test_labels, ks, centre=True):
    """Independent pure-Python R@k: sort all similarities per query, look for a class hit."""
    def prep(x):
        x = np.asarray(x, dtype=np.float64)
        if centre:
            x = x - x.mean(0)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    gallery, queries = prep(train), prep(test)
    out = {}
    for k in ks:
        hits = 0
        for q in range(len(queries)):
            sims = [float(queries[q] @ gallery[g]) for g in range(len(gallery))]
            order = sorted(range(len(gallery)), key=lambda g: -sims[g])[:k]
            hits += any(train_labels[g] == test_labels[q] for g in order)
        out[k] = hits / len(queries)
    return out


def _problem(seed=0, n_train=60, n_test=25, dim=16, classes=5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)) * 0.8
    train_labels = rng.integers(classes, size=n_train)
    test_labels = rng.integers(classes, size=n_test)
    train = centres[train_labels] + rng.normal(size=(n_train, dim)) + 3.0  # a shared offset
    test = centres[test_labels] + rng.normal(size=(n_test, dim)) - 2.0
    return train.astype(np.float32), train_labels, test.astype(np.float32), test_labels


def test_recall_matches_brute_force():
    train, train_labels, test, test_labels = _problem()
    ks = [1, 5, 10, 20, 50]
    out = evaluate_retrieval(train, train_labels, test, test_labels, RetrievalConfig(ks=ks))
    expected = _brute_force_recall(train, train_labels, test, test_labels, ks)
    assert out.recall == pytest.approx(expected, abs=0)
    assert 0 < out.recall[1] < 1  # a non-trivial problem
    values = [out.recall[k] for k in ks]
    assert values == sorted(values)  # R@k is monotone in k


def test_recall_hand_built():
    # gallery labels [0, 1, 2]; query 0 (label 1) ranks [2, 1, 0]; query 1 (label 0) ranks [0, ...]
    neighbours = np.array([[2, 1, 0], [0, 2, 1]])
    out = recall_at_k(neighbours, np.array([1, 0]), np.array([0, 1, 2]), [1, 2, 3])
    assert out == {1: 0.5, 2: 1.0, 3: 1.0}


def test_faiss_agrees_with_torch_exactly_on_tie_free_data():
    rng = np.random.default_rng(2)  # a seed whose top-20 scores are separated by > 1e-4
    gallery = centre_and_normalise(rng.normal(size=(100, 32)))
    queries = centre_and_normalise(rng.normal(size=(16, 32)))
    scores, neighbours = search(queries, gallery, 20)
    sims = torch.from_numpy(queries).double() @ torch.from_numpy(gallery).double().T
    top = sims.topk(20, dim=1)
    # tie-free: the smallest gap between consecutive sorted scores is far above float error
    assert float((top.values[:, :-1] - top.values[:, 1:]).min()) > 1e-4
    np.testing.assert_array_equal(neighbours, top.indices.numpy())
    np.testing.assert_allclose(scores, top.values.numpy(), atol=1e-5)


def test_centring_is_a_no_op_for_zero_mean_sets():
    rng = np.random.default_rng(2)
    train = rng.normal(size=(50, 8))
    train -= train.mean(0)
    test = rng.normal(size=(20, 8))
    test -= test.mean(0)
    train_labels, test_labels = rng.integers(4, size=50), rng.integers(4, size=20)
    on = evaluate_retrieval(train, train_labels, test, test_labels, RetrievalConfig(centre=True))
    off = evaluate_retrieval(train, train_labels, test, test_labels, RetrievalConfig(centre=False))
    assert on.recall == off.recall
    np.testing.assert_array_equal(on.neighbours, off.neighbours)
    # ... and centring does matter when the sets have an offset
    shifted = evaluate_retrieval(train + 5, train_labels, test - 5, test_labels,
                                 RetrievalConfig(centre=False))
    assert shifted.recall != on.recall


@pytest.mark.parametrize("index", ["ivf", "hnsw"])
def test_approximate_indexes_close_to_exact(index):
    train, train_labels, test, test_labels = _problem(seed=3, n_train=400, n_test=50)
    exact = evaluate_retrieval(train, train_labels, test, test_labels, RetrievalConfig(ks=[1, 5]))
    approx = evaluate_retrieval(train, train_labels, test, test_labels,
                                RetrievalConfig(ks=[1, 5], index=index, ivf_lists=4, ivf_probe=4))
    # IVF visiting every cell and HNSW with a deep search are exact on this small problem
    assert approx.recall == exact.recall


def test_repeated_retrieval_is_bit_identical():
    train, train_labels, test, test_labels = _problem(seed=4)
    a = evaluate_retrieval(train, train_labels, test, test_labels)
    b = evaluate_retrieval(train, train_labels, test, test_labels)
    assert a.recall == b.recall
    np.testing.assert_array_equal(a.scores, b.scores)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="differ in length"):
        evaluate_retrieval(np.zeros((3, 2)), np.zeros(2), np.zeros((1, 2)), np.zeros(1))
    with pytest.raises(ValueError, match="retrieval.index"):
        evaluate_retrieval(np.eye(3), np.arange(3), np.eye(3), np.arange(3),
                           RetrievalConfig(index="kd"))  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_neighbour_list_output(tmp_path, suffix):
    train, train_labels, test, test_labels = _problem(seed=5, n_train=20, n_test=3)
    out = evaluate_retrieval(train, train_labels, test, test_labels,
                             RetrievalConfig(ks=[1], save_neighbours=4))
    path = write_neighbours(tmp_path / f"nn{suffix}", out, 4, [f"q{i}" for i in range(3)], test_labels,
                            [f"g{i}" for i in range(20)], train_labels)
    text = path.read_text()
    if suffix == ".json":
        rows = json.loads(text)
        assert len(rows) == 12 and rows[0]["rank"] == 1
        assert rows[0]["gallery_id"] == f"g{out.neighbours[0, 0]}"
        assert rows[0]["correct"] == (train_labels[out.neighbours[0, 0]] == test_labels[0])
    else:
        assert text.splitlines()[0].startswith("query_index,query_id")
        assert len(text.splitlines()) == 13


def test_faiss_minus_one_is_a_miss():
    """FAISS pads with -1 when it finds fewer than k neighbours (ivf/hnsw); -1 is not the last item."""
    gallery_labels = np.array([0, 1, 2])
    query_labels = np.array([2, 2])
    neighbours = np.array([[-1, -1], [1, 2]])  # query 0 found nothing; gallery[-1] has its label 2
    assert recall_at_k(neighbours, query_labels, gallery_labels, [1, 2]) == {1: 0.0, 2: 0.5}


class _ClipFeatures(torch.utils.data.Dataset):
    """Samples whose 'rgb' clips are fixed feature vectors shaped (N_clips, D, 1, 1, 1)."""

    def __init__(self, clips, labels):
        self.clips, self.labels = clips, labels

    def __len__(self):
        return len(self.clips)

    def __getitem__(self, i):
        return {"rgb": self.clips[i][:, :, None, None, None], "label": self.labels[i], "index": i,
                "video_id": f"v{i}"}


def _coclr_test_retrieval(train_clips, train_labels, test_clips, test_labels, ks):
    """CoCLR eval/main_classifier.py test_retrieval, re-implemented: feature.mean(0) over a video's
    clips, each set centred by its own mean, F.normalize, test @ train.T, topk, any label match."""
    train = torch.stack([c.mean(0) for c in train_clips]).double()
    test = torch.stack([c.mean(0) for c in test_clips]).double()
    train, test = train - train.mean(0, keepdim=True), test - test.mean(0, keepdim=True)
    train, test = torch.nn.functional.normalize(train, dim=1), torch.nn.functional.normalize(test, dim=1)
    sim = test @ train.t()
    out = {}
    for k in ks:
        hits = 0
        for q in range(len(test)):
            top = torch.topk(sim[q], k).indices
            hits += int(any(int(train_labels[g]) == int(test_labels[q]) for g in top))
        out[k] = hits / len(test)
    return out


def test_coclr_preset_retrieval_equals_coclr_test_retrieval(tmp_path):
    from vimix_ssl.eval.features import extract_features
    from vimix_ssl.jobs.evaluate.session import load_eval_config

    config, _ = load_eval_config(None, ["protocol=coclr", "features.device=cpu"])
    assert config.retrieval.gallery_windows == "random" and config.data.eval_windows == "dense_coclr"
    assert config.features.normalise_clips is False
    generator = torch.Generator().manual_seed(0)
    dim = 16
    centres = torch.randn(4, dim, generator=generator) * 2 + 5  # a shared offset: centring matters
    train_labels = [i % 4 for i in range(64)]
    test_labels = [i % 4 for i in range(12)]
    # gallery: one window per video (CoCLR's mode 'train'); queries: 1-4 dense windows of varying norm
    train_clips = [(centres[y] + torch.randn(1, dim, generator=generator) * 3) for y in train_labels]
    test_clips = [(centres[y] + torch.randn(1 + i % 4, dim, generator=generator) * 3)
                  * (1 + torch.rand(1 + i % 4, 1, generator=generator) * 4)
                  for i, y in enumerate(test_labels)]
    encoder = torch.nn.Flatten()
    train = extract_features(encoder, _ClipFeatures(train_clips, train_labels), "rgb", config.features)
    test = extract_features(encoder, _ClipFeatures(test_clips, test_labels), "rgb", config.features)
    ours = evaluate_retrieval(train.features.numpy(), train.labels.numpy(), test.features.numpy(),
                              test.labels.numpy(), config.retrieval).recall
    reference = _coclr_test_retrieval(train_clips, train_labels, test_clips, test_labels, config.retrieval.ks)
    assert ours == pytest.approx(reference, abs=1e-12)
    # the clean protocol averages L2-normalised clips: a different feature on unequal-norm clips
    clean, _ = load_eval_config(None, ["features.device=cpu"])
    normalised = extract_features(encoder, _ClipFeatures(test_clips, test_labels), "rgb", clean.features)
    assert not torch.allclose(normalised.features, test.features)
