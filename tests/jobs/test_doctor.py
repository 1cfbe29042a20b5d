"""``vimix doctor`` on CPU (reduced shapes): every training path runs, failures make it exit 1."""

from __future__ import annotations

import math

from vimix_ssl.cli import main

PATHS = ("S3D rgb MoCo+mixup", "S3D flow MoCo+mixup", "S3D CMMC rgb<-flow", "ST-GCN SkeletonCLR joint",
         "ST-GCN CMMC joint<-motion", "R3D-RS-50 supervised+mixup")


def test_doctor_runs_every_training_path_and_retrieval_on_cpu(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIMIX_THREADS", "1")
    report = tmp_path / "doctor.md"
    assert main(["doctor", "--quick", "--device", "cpu", "--steps", "1", "--out", str(report)]) == 0
    out = capsys.readouterr().out
    for key in ("python:", "torch:", "opencv:", "faiss:", "cores available:", "torch threads:", "cuda"):
        assert key in out, key
    text = report.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and "|---" not in line][1:]
    assert sorted({r.split(" | ")[0][2:] for r in rows}) == sorted(PATHS)
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[6] == "yes" and math.isfinite(float(cells[3])) and float(cells[4]) > 0, row
    assert "ok: feature extraction + retrieval" in text and "all checks passed" in text


def test_doctor_exits_nonzero_when_a_check_fails(capsys, monkeypatch):
    from vimix_ssl.jobs import doctor

    monkeypatch.setenv("VIMIX_THREADS", "1")
    real = doctor.training_paths

    def broken():
        raise RuntimeError("simulated: this path cannot be built here")

    def one_broken(quick):
        path = real(quick)[-1]
        path.build = broken
        return [path]

    monkeypatch.setattr(doctor, "training_paths", one_broken)
    assert main(["doctor", "--quick", "--device", "cpu", "--steps", "0"]) == 1
    out = capsys.readouterr().out
    assert "R3D-RS-50 supervised+mixup" in out and "FAILED RuntimeError: simulated" in out
    assert "SOME CHECKS FAILED" in out


def test_amp_and_layout_rows_are_held_to_the_stated_tolerances():
    from vimix_ssl.jobs.doctor import AMP_TOLERANCE, LAYOUT_TOLERANCE, Row, compare_rows

    def rows(amp_loss: float, layout_loss: float) -> list[Row]:
        made = [Row("p", "fp32", False, 2.0, ok=True), Row("p", "bf16", False, amp_loss, ok=True),
                Row("p", "fp32", True, layout_loss, ok=True)]
        compare_rows(made)
        return made

    inside = rows(2.0 * (1 + 0.9 * AMP_TOLERANCE), 2.0 * (1 + 0.9 * LAYOUT_TOLERANCE))
    assert all(r.ok for r in inside)
    outside = rows(2.0 * (1 + 1.1 * AMP_TOLERANCE), 2.0 * (1 + 1.1 * LAYOUT_TOLERANCE))
    assert [r.ok for r in outside] == [True, False, False] and "differs from fp32" in outside[1].note
