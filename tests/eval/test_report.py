"""Result records and the Markdown/plot report of a run directory."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vimix_ssl.eval.features import FeatureSet
from vimix_ssl.eval.finetune import save_predictions
from vimix_ssl.eval.report import confusion_matrix, pca_2d, render_report
from vimix_ssl.eval.results import format_metrics, load_results, now_iso, write_result


def _features(path, n=30, dim=6, classes=3):
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % classes
    features = torch.randn(n, dim, generator=g) + 3 * torch.nn.functional.one_hot(labels, dim).float()
    FeatureSet(features, labels, torch.arange(n), [f"v{i}" for i in range(n)], features,
               torch.ones(n, dtype=torch.long)).save(path)
    return path


def test_result_json_and_table_row(tmp_path):
    encoder = {"path": "/x/rgb.pt", "sha256": "ab" * 32, "modality": "rgb"}
    path = write_result(tmp_path, "linear", {"top1": 0.5, "top5": 0.875}, {"probe": {"lr": 1.0}}, encoder,
                        now_iso(), data="ucf101 split 1", notes="SELECTED ON TEST")
    record = json.loads(path.read_text())
    assert record["metrics"] == {"top1": 0.5, "top5": 0.875}
    assert record["protocol"] == {"probe": {"lr": 1.0}} and record["encoder"]["sha256"] == "ab" * 32
    assert record["started"] <= record["finished"]
    write_result(tmp_path, "knn", {"top1": 0.25}, {}, encoder, now_iso())
    table = (tmp_path / "results.md").read_text().splitlines()
    assert table[2].startswith("| finished |") and len(table) == 6  # title, blank, header, rule, 2 rows
    assert "top1 50.00 · top5 87.50" in table[4] and "SELECTED ON TEST" in table[4]
    assert "`abababababab`" in table[4]
    assert [r["evaluator"] for r in load_results(tmp_path)] == ["linear", "knn"]
    with pytest.raises(TypeError):
        write_result(tmp_path, "bad", {"top1": 0.1}, {"x": object()}, None, now_iso())
    assert format_metrics({"R@1": 0.1234, "n": 3}) == "R@1 12.34 · n 3"


def test_confusion_and_pca_helpers():
    matrix = confusion_matrix(np.array([0, 0, 1, 2]), np.array([0, 1, 1, 2]), 3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    x = np.random.default_rng(0).normal(size=(50, 5)) * np.array([10, 1, 1, 1, 0.1])
    points = pca_2d(x)
    assert points.shape == (50, 2) and points[:, 0].var() > points[:, 1].var()


def test_report_renders_table_and_plots(tmp_path):
    features = _features(tmp_path / "test_features.npz")
    predictions = save_predictions(tmp_path / "p.npz", ["a", "b", "c"], torch.tensor([0, 1, 2]),
                                   torch.eye(3)[[0, 2, 2]], "rgb")
    protocol = {"selected_on_test": True, "class_names": ["x", "y", "z"]}
    write_result(tmp_path, "linear", {"top1": 2 / 3}, protocol,
                 {"path": "e.pt", "sha256": "c" * 64, "modality": "rgb"}, now_iso(),
                 files={"predictions": str(predictions), "features": {"test": str(features)}})
    write_result(tmp_path, "retrieval", {"R@1": 0.5}, {"modality": "rgb"}, None, now_iso(),
                 files={"neighbours": str(tmp_path / "gone.json")})
    report = render_report(tmp_path)
    text = report.read_text()
    assert "| 1 | linear |" in text and "**yes**" in text  # selection on test is flagged
    assert (tmp_path / "report" / "001_linear_confusion.png").stat().st_size > 1000
    assert (tmp_path / "report" / "001_linear_pca.png").stat().st_size > 1000
    assert "retrieval examples**: not drawn" in text  # missing neighbour file: said, not fatal
    with pytest.raises(FileNotFoundError, match="no evaluation results"):
        render_report(tmp_path / "empty")


def test_pca_plot_has_a_class_legend_and_axis_labels(tmp_path, monkeypatch):
    import vimix_ssl.eval.report as report

    captured = {}
    monkeypatch.setattr(report, "save_figure", lambda figure, path: captured.setdefault("figure", figure))
    features = _features(tmp_path / "test_features.npz")
    report.plot_pca(features, tmp_path / "pca.png", "linear", class_names=["x", "y", "z"])
    axis = captured["figure"].axes[0]
    assert axis.get_xlabel().startswith("PC1 (") and axis.get_ylabel().startswith("PC2 (")
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    assert sorted(legend) == ["x", "y", "z"]  # one entry per class, by name
