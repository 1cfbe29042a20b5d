"""Optical flow: accuracy, the peers' uint8 format, the flow store, resumable extraction, the check."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from vimix_ssl import cli
from vimix_ssl.commands.prepare_check import check_stores
from vimix_ssl.data import flow_extract
from vimix_ssl.data.flow import FLOW_METHODS, FlowEstimator, dequantize_flow, quantize_flow
from vimix_ssl.data.flow_extract import FlowExtractSpec, extract_flow_store
from vimix_ssl.data.flow_store import FlowStoreSource, flow_file_path
from vimix_ssl.data.store import (
    PrepareSpec,
    StoreError,
    encode_image,
    prepare_video_store,
    store_file_path,
    write_store_file,
)
from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf


def _texture(size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = cv2.GaussianBlur((rng.random((size, size)) * 255).astype(np.float32), (0, 0), 1.5)
    return cv2.normalize(image, None, 0, 255, cv2.NORM_MINMAX)


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize("shift", [(2.5, -1.5), (-3.25, 0.75)])
def test_flow_recovers_a_known_translation(method: str, shift: tuple[float, float]) -> None:
    dx, dy = shift
    image = _texture()
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    moved = cv2.warpAffine(image, matrix, (64, 64), borderMode=cv2.BORDER_REFLECT)
    flow = FlowEstimator(method)(image.astype(np.uint8), moved.astype(np.uint8))  # (H, W, 2)
    assert flow.shape == (64, 64, 2) and flow.dtype == np.float32
    error = np.hypot(flow[..., 0] - dx, flow[..., 1] - dy)[12:-12, 12:-12].mean()
    assert error < (0.5 if method == "tvl1" else 1.0), f"{method}: mean end-point error {error:.3f} px"


def test_quantisation_round_trip_and_clipping() -> None:
    inside = np.concatenate([np.linspace(-20, 20, 20001, dtype=np.float32),
                             np.random.default_rng(0).uniform(-20, 20, 5000).astype(np.float32)])
    assert np.abs(dequantize_flow(quantize_flow(inside)) - inside).max() <= 0.08
    outside = np.array([-20.001, -25, -1e6, 20.001, 33, 1e6], np.float32)
    back = dequantize_flow(quantize_flow(outside))
    assert back.tolist() == [-20.0] * 3 + [20.0] * 3  # exactly the bound
    assert quantize_flow(outside).tolist() == [0, 0, 0, 255, 255, 255]
    normalised = dequantize_flow(quantize_flow(inside), units="normalized")
    np.testing.assert_allclose(normalised * 20, dequantize_flow(quantize_flow(inside)), atol=1e-5)
    assert normalised.min() >= -1 and normalised.max() <= 1
    with pytest.raises(ValueError, match="units"):
        dequantize_flow(quantize_flow(inside), units="metres")


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> tuple[Path, list[str]]:
    """4 synthetic UCF101-layout videos of 8 frames, 32x24."""
    config = SynthVideoConfig(classes=2, per_class=2, clips_per_group=1, frames_min=8, frames_max=8,
                              width=32, height=24, seed=3)
    result = generate_synthetic_ucf(tmp_path / "videos", config)
    return result.root, sorted(result.train + result.test)


def _read_bgr(path: Path) -> list[np.ndarray]:
    capture, frames = cv2.VideoCapture(str(path)), []
    while (frame := capture.read()[1]) is not None:
        frames.append(frame)
    return frames


def test_stored_bytes_equal_the_reference_recipe(tiny_dataset, tmp_path: Path) -> None:
    root, videos = tiny_dataset
    # Chunks of 3 frames: fields across chunk boundaries must be exact too.
    spec = FlowExtractSpec(source="raw", source_root=str(root), out_dir=str(tmp_path / "flow"),
                           chunk_frames=3)
    assert not extract_flow_store(videos[:1], spec, workers=1).failed
    stored = FlowStoreSource(tmp_path / "flow").read_quantized(videos[0], range(7))  # (7, H, W, 2)
    # The peer recipe, spelled out: OpenCV BGR frames, BGR2GRAY, TV-L1 defaults, clip, map, round.
    gray = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in _read_bgr(root / videos[0])]
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create()
    for t in range(7):
        flow = tvl1.calc(gray[t], gray[t + 1], None)
        reference = np.round((np.clip(flow, -20, 20) + 20) * 255 / 40).astype(np.uint8)
        assert np.array_equal(stored[t], reference), f"field {t} differs from the reference recipe"


def test_flow_store_source_reads_back_dequantised_flow(tiny_dataset, tmp_path: Path) -> None:
    root, videos = tiny_dataset
    spec = FlowExtractSpec(source="raw", source_root=str(root), out_dir=str(tmp_path / "flow"), method="dis")
    extract_flow_store(videos[:1], spec, workers=1)
    source = FlowStoreSource(tmp_path / "flow")
    assert source.field_kind == "flow"
    assert source.num_frames(videos[0]) == 7  # 8 RGB frames -> 7 fields
    meta = source.file(videos[0]).meta
    assert (meta["method"], meta["bound"], meta["source_frames"], meta["height"], meta["width"]) == (
        "dis", 20.0, 8, 24, 32)
    pixels = source.read(videos[0], [3, 0, 3])  # order and repeats kept
    assert pixels.shape == (3, 24, 32, 2) and pixels.dtype == np.float32
    np.testing.assert_array_equal(pixels[0], pixels[2])
    quantized = source.read_quantized(videos[0], [3, 0, 3])
    np.testing.assert_array_equal(pixels, dequantize_flow(quantized))
    normalised = FlowStoreSource(tmp_path / "flow", units="normalized", channels=3, third_channel_value=0.5)
    three = normalised.read(videos[0], [3, 0])
    assert three.shape == (2, 24, 32, 3)
    np.testing.assert_allclose(three[..., :2] * 20, pixels[:2], atol=1e-5)
    assert (three[..., 2] == 0.5).all()
    with pytest.raises(StoreError, match="not in the flow store"):
        source.read("Nope/v_nope.avi", [0])
    with pytest.raises(StoreError, match="other settings"):  # resume with another method is refused
        extract_flow_store(videos, FlowExtractSpec(source="raw", source_root=str(root),
                                                   out_dir=str(tmp_path / "flow"), method="tvl1"), workers=1)


def test_extraction_resumes_after_an_interruption(tiny_dataset, tmp_path: Path, monkeypatch) -> None:
    root, videos = tiny_dataset
    out = tmp_path / "flow"
    spec = FlowExtractSpec(source="raw", source_root=str(root), out_dir=str(out), method="tvl1")
    calls: list[str] = []
    real = flow_extract.extract_video_flow

    def counting(spec_: FlowExtractSpec, video_id: str) -> Path:
        if len(calls) == 2 and interrupt:
            raise KeyboardInterrupt  # the user presses Ctrl-C while the third video runs
        calls.append(video_id)
        return real(spec_, video_id)

    monkeypatch.setattr(flow_extract, "extract_video_flow", counting)
    interrupt = True
    with pytest.raises(KeyboardInterrupt):
        extract_flow_store(videos, spec, workers=1)
    assert [v for v in videos if flow_file_path(out, v).is_file()] == videos[:2]
    assert not list(out.rglob("*.tmp"))  # no half-written files
    first = {v: (flow_file_path(out, v).read_bytes(), flow_file_path(out, v).stat().st_mtime_ns)
             for v in videos[:2]}

    interrupt = False
    calls.clear()
    summary = extract_flow_store(videos, spec, workers=1)
    assert calls == videos[2:] and summary.skipped == videos[:2] and summary.done == videos[2:]
    for v in videos[:2]:  # untouched: same bytes, not rewritten
        assert (flow_file_path(out, v).read_bytes(), flow_file_path(out, v).stat().st_mtime_ns) == first[v]

    # Delete one output: only it is recomputed, to the same bytes.
    before = {v: flow_file_path(out, v).read_bytes() for v in videos}
    mtimes = {v: flow_file_path(out, v).stat().st_mtime_ns for v in videos}
    flow_file_path(out, videos[1]).unlink()
    calls.clear()
    summary = extract_flow_store(videos, spec, workers=1)
    assert calls == [videos[1]] and len(summary.skipped) == 3
    assert {v: flow_file_path(out, v).read_bytes() for v in videos} == before
    assert all(flow_file_path(out, v).stat().st_mtime_ns == mtimes[v] for v in videos if v != videos[1])


def test_changed_sources_are_redone_and_stale_temps_removed(tiny_dataset, tmp_path: Path, monkeypatch,
                                                            capsys) -> None:
    """Issue 18 trials 4 and 11: reruns redo exactly the changed sources; a killed run's temp files go."""
    root, videos = tiny_dataset
    out = tmp_path / "flow"
    spec = FlowExtractSpec(source="raw", source_root=str(root), out_dir=str(out), method="farneback")
    assert extract_flow_store(videos, spec, workers=1).done == videos
    assert check_stores(out).ok
    first = {v: flow_file_path(out, v).read_bytes() for v in videos}
    replacement = generate_synthetic_ucf(tmp_path / "other", SynthVideoConfig(
        classes=2, per_class=2, clips_per_group=1, frames_min=6, frames_max=6, width=32, height=24, seed=9))
    (root / videos[2]).write_bytes((replacement.root / videos[2]).read_bytes())  # a 6-frame video now
    orphan = flow_file_path(out, videos[0]).with_name(".x.frames.999999999-0123abcd.tmp")  # no such pid
    orphan.write_bytes(b"half")
    report = check_stores(out)
    assert [v.split(": ", 1)[1] for v, _ in report.stale] == [videos[2]] and "changed" in report.stale[0][1]
    calls: list[str] = []
    real = flow_extract.extract_video_flow
    monkeypatch.setattr(flow_extract, "extract_video_flow",
                        lambda spec_, video_id: calls.append(video_id) or real(spec_, video_id))
    summary = extract_flow_store(videos, spec, workers=1)
    assert calls == [videos[2]] and summary.done == [videos[2]] and len(summary.skipped) == 3
    assert FlowStoreSource(out).num_frames(videos[2]) == 5
    assert {v: flow_file_path(out, v).read_bytes() for v in videos if v != videos[2]} == \
        {v: b for v, b in first.items() if v != videos[2]}
    assert not orphan.exists() and check_stores(out).ok


def test_corrupt_and_missing_videos_are_reported_and_the_rest_finish(tiny_dataset, tmp_path: Path,
                                                                     capsys) -> None:
    root, videos = tiny_dataset
    (root / videos[1]).write_bytes(b"this is not a video" * 100)
    (root / videos[2]).unlink()
    out = tmp_path / "flow"
    code = cli.main(["prepare", "flow", "--source", "raw", "--dataset", "ucf101", "--root", str(root),
                     "--out", str(out), "--method", "farneback", "--workers", "1"])
    printed = capsys.readouterr().out
    assert code == 1
    assert "2 done" in printed and "2 failed" in printed
    assert f"FAILED {videos[1]}" in printed and f"FAILED {videos[2]}" in printed and "not found" in printed
    assert flow_file_path(out, videos[0]).is_file() and flow_file_path(out, videos[3]).is_file()


def _write_rgb_store(store: Path, root: Path, videos: list[str]) -> None:
    """The RGB frame store `vimix prepare video` writes (PNG frames, original size)."""
    spec = PrepareSpec(root=str(root), out_dir=str(store), short_side=None, codec="png")
    assert not prepare_video_store(videos, "ucf101", spec, workers=1).failed


def test_flow_from_a_frame_store_and_the_consistency_check(tiny_dataset, tmp_path: Path, capsys) -> None:
    root, videos = tiny_dataset
    rgb, flow = tmp_path / "rgb", tmp_path / "flow"
    _write_rgb_store(rgb, root, videos)
    code = cli.main(["prepare", "flow", "--source", "store", "--store", str(rgb), "--out", str(flow),
                     "--method", "dis", "--size", "16", "--workers", "1"])
    assert code == 0
    source = FlowStoreSource(flow)
    assert source.read(videos[0], [0]).shape == (1, 16, 21, 2)  # resized: short side 16
    assert check_stores(flow, rgb).ok and check_stores(flow).ok
    assert cli.main(["prepare", "check", "--rgb", str(rgb), "--flow", str(flow)]) == 0

    flow_file_path(flow, videos[0]).unlink()                    # missing flow
    frames = store_file_path(rgb, videos[1])                    # RGB store grew a frame
    image = encode_image(np.zeros((24, 32, 3), np.uint8), "png")
    write_store_file(frames, [image] * 9, {})
    report = check_stores(flow, rgb)
    assert report.missing_flow == [videos[0]]
    assert [v for v, _ in report.mismatched] == [videos[1]]
    assert "RGB has 9" in report.mismatched[0][1]
    capsys.readouterr()
    assert cli.main(["prepare", "check", "--rgb", str(rgb), "--flow", str(flow)]) == 1
    printed = capsys.readouterr().out
    assert videos[0] in printed and videos[1] in printed and "PROBLEMS" in printed


def test_benchmark_quick_mode_reports_every_method() -> None:
    from vimix_ssl.jobs.bench.flow import METHODS, run

    result = run(quick=True)
    assert {"title", "columns", "rows", "goal", "goal_met", "notes"} <= set(result)
    assert [row[0] for row in result["rows"]] == list(METHODS)
    for row in result["rows"]:
        assert len(row) == len(result["columns"]) and row[2] > 0 and row[3] > 0
        assert row[5] == pytest.approx(row[3] / row[2] / row[4], abs=0.01)
