"""`vimix bench --quick` runs every benchmark area side by side and writes JSON + Markdown."""

from __future__ import annotations

import json

import pytest

from vimix_ssl.jobs.bench import AREAS
from vimix_ssl.jobs.bench.runner import render_markdown, run_suite


@pytest.mark.slow
def test_quick_suite_runs_every_area(tmp_path):
    out = tmp_path / "bench.md"
    results = run_suite(areas=None, quick=True, out=str(out))
    errors = {r["area"]: r["error"] for r in results if r.get("error")}
    assert not errors, errors
    saved = json.loads(out.with_suffix(".json").read_text())
    assert [r["area"] for r in saved["results"]] == list(AREAS)
    for r in saved["results"]:
        assert r["columns"] and r["rows"], r["area"]
        assert all(len(row) == len(r["columns"]) for row in r["rows"]), r["area"]
        assert r["peak_rss_mib"] > 0
    assert saved["machine"]["cores"] >= 1
    text = out.read_text()
    for r in saved["results"]:
        assert r["title"] in text


def test_markdown_reports_a_failed_area():
    text = render_markdown([{"area": "x", "error": "Traceback: boom"}], {"cpu": "c"}, "vimix bench")
    assert "FAILED" in text and "boom" in text
