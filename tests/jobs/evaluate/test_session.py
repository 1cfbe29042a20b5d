"""Issue 16 (and 18 items 3, 7) through the real `vimix eval` entry point on tiny generated data.

Self-describing encoders (units refused, recorded values taken, forced mismatches written into the
result), nothing substituted (unreadable videos are errors or explicitly excluded and listed), the
feature cache invalidated by new video contents, splits smaller than one batch refused, and
`--protocol clean,coclr` side by side in one results table.
"""

from __future__ import annotations

import argparse
import os
import shutil

import pytest
import torch

from vimix_ssl.cli import main as vimix
from vimix_ssl.data.inputs import input_record
from vimix_ssl.data.synthetic_video import SynthVideoConfig, generate_synthetic_ucf
from vimix_ssl.eval.results import load_results
from vimix_ssl.models.export import export_encoder
from vimix_ssl.models.registry import build_encoder

KWARGS = {"in_channels": 3, "width": 0.0625, "conv_init_std": None}
DATA = ["data.clip_len=8", "data.size=32", "data.eval_window_stride=8", "data.num_workers=0",
        "features.device=cpu", "retrieval.ks=[1,2]", "retrieval.save_neighbours=0"]


def _videos(root, seed=0):
    generate_synthetic_ucf(root, SynthVideoConfig(classes=2, per_class=4, frames_min=8, frames_max=9,
                                                  width=32, height=24, seed=seed))
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("trust")
    _videos(base / "videos")
    torch.manual_seed(0)
    encoder = build_encoder("s3d_small", **KWARGS)
    data = {"dataset": "ucf101", "root": str(base / "videos"), "clip_len": 8, "size": 32}
    export_encoder(base / "rgb.pt", "s3d_small", KWARGS, encoder.state_dict(), "rgb",
                   inputs=input_record("rgb", data, KWARGS))
    export_encoder(base / "old.pt", "s3d_small", KWARGS, encoder.state_dict(), "rgb")  # no record
    return base


def _run(command, *extra, out, encoder, protocol=None):
    args = ["eval", command, *extra, "--encoder", str(encoder), "--out", str(out)]
    return vimix(args + (["--protocol", protocol] if protocol else []))


def _session(*overrides, encoder, force=False):
    from vimix_ssl.jobs.evaluate.session import start_session

    args = argparse.Namespace(config=None, overrides=list(overrides), encoder=str(encoder), modality=None,
                              out="unused", force=force)
    return start_session(args)


def test_flow_encoder_on_normalised_flow_is_refused_with_pixels(tmp_path, capsys):
    """A training checkpoint assembled by the pre-training job records the flow units; export keeps them."""
    from vimix_ssl.jobs.pretrain.build import build_mocos
    from vimix_ssl.jobs.pretrain.config import load_pretrain_config
    from vimix_ssl.jobs.pretrain.schedule import RunCheckpointer

    config = load_pretrain_config(None, [
        "modalities={flow: {encoder: s3d_small, encoder_kwargs: {in_channels: 2, width: 0.0625}, "
        "head_hidden: 32, queue_size: 32, store: /nowhere, flow_units: normalized}}",
        "stages=[{name: moco, train: flow}]", "data={clip_len: 8, size: 32}"])
    mocos = build_mocos(config)
    state = {"epoch": 1, "step": 1, "step_in_epoch": 0, "optimizer": None, "scheduler": None, "scaler": None}
    RunCheckpointer(config, mocos, tmp_path).save(0, 0, state)
    assert vimix(["export", str(tmp_path / "checkpoint.pt"), "--modality", "flow",
                  "--out", str(tmp_path / "flow.pt")]) == 0
    code = vimix(["eval", "retrieval", "configs/eval/ucf101_flow.yaml", "flow_units=pixels",
                  "--encoder", str(tmp_path / "flow.pt"), "--out", str(tmp_path / "eval")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "flow_units: the encoder was trained on 'normalized', the config says 'pixels'" in err
    assert not (tmp_path / "eval" / "feature_cache").exists()  # refused before any work
    # the shipped flow config leaves the units to the file; the checkpoint itself is read the same way
    for encoder in (tmp_path / "flow.pt", tmp_path / "checkpoint.pt"):
        session = _session("flow_store=/nowhere", encoder=encoder)
        assert session.config.flow_units == "normalized" and session.config.data.clip_len == 8
        assert session.inputs["taken_from_file"]["flow_units"] == "normalized"
        assert session.inputs["recorded"]["channels"] == 2


def test_forced_mismatch_is_written_into_the_result(tiny, capsys):
    out = tiny / "forced"
    assert _run("retrieval", f"data.root={tiny / 'videos'}", *DATA, "data.augment.mean=[0.5,0.5,0.5]",
                out=out, encoder=tiny / "rgb.pt") == 2
    assert "data.augment.mean: the encoder was trained on [0.485, 0.456, 0.406]" in capsys.readouterr().err
    assert _run("retrieval", f"data.root={tiny / 'videos'}", *DATA, "data.augment.mean=[0.5,0.5,0.5]",
                "--force", out=out, encoder=tiny / "rgb.pt") == 0
    (result,) = load_results(out)
    assert result["protocol"]["inputs"]["forced_mismatches"][0].startswith("data.augment.mean")
    assert "FORCED INPUT MISMATCH: data.augment.mean" in result["notes"]
    assert "FORCED INPUT MISMATCH" in (out / "results.md").read_text()
    # an encoder file without a record: said so, the config is used
    old = _session(encoder=tiny / "old.pt")
    assert old.inputs["recorded"] is None and "records no inputs" in old.inputs["note"]


def test_unreadable_video_is_an_error_or_explicitly_excluded(tiny, capsys):
    root = tiny / "broken"
    shutil.copytree(tiny / "videos", root)
    bad = sorted(root.glob("*/*.avi"))[0]
    bad.write_bytes(b"not a video" * 100)
    bad_id = f"{bad.parent.name}/{bad.name}"
    out = tiny / "broken_eval"
    assert _run("retrieval", f"data.root={root}", *DATA, out=out, encoder=tiny / "rgb.pt") == 2
    err = capsys.readouterr().err
    assert f"{bad_id}: unreadable (sample" in err and len(err.strip().splitlines()) == 1
    assert _run("retrieval", f"data.root={root}", *DATA, "unreadable=exclude", out=out,
                encoder=tiny / "rgb.pt") == 0
    (result,) = load_results(out)
    exclusions = result["protocol"]["exclusions"]
    split = "train" if exclusions["excluded"]["train"] else "test"
    assert [e["video_id"] for e in exclusions["excluded"][split]] == [bad_id]
    assert exclusions["counts"][split] == {"listed": 4, "excluded": 1, "kept": 3}
    assert result["protocol"]["cache"][split]["screening"]["kept"] == 3
    # a missing video: listed before any work
    bad.unlink()
    assert _run("knn", f"data.root={root}", *DATA, "knn.k=2", out=tiny / "missing_eval",
                encoder=tiny / "rgb.pt") == 2
    err = capsys.readouterr().err
    assert f"1 of the 4 {split} videos are missing: {bad_id}" in err
    assert not (tiny / "missing_eval" / "feature_cache").exists()


def test_replacing_the_videos_invalidates_the_feature_cache(tiny):
    """Issue 18 item 3: same --out, every video replaced -> features extracted again."""
    root, out = tiny / "replaced", tiny / "replaced_eval"
    shutil.copytree(tiny / "videos", root)
    assert _run("retrieval", f"data.root={root}", *DATA, out=out, encoder=tiny / "rgb.pt") == 0
    shutil.rmtree(root)
    _videos(root, seed=1)  # same names, new contents
    assert _run("retrieval", f"data.root={root}", *DATA, out=out, encoder=tiny / "rgb.pt") == 0
    first, second = load_results(out)
    assert not any(record["hit"] for record in second["protocol"]["cache"].values())
    assert first["protocol"]["cache"]["train"]["key"] != second["protocol"]["cache"]["train"]["key"]
    # a same-size replacement with the old mtime is caught by the content blocks
    video = sorted(root.glob("*/*.avi"))[0]
    stat, data = video.stat(), bytearray(video.read_bytes())
    data[len(data) // 2] ^= 0xFF
    from vimix_ssl.eval.features import file_fingerprint

    before = file_fingerprint(video)
    video.write_bytes(bytes(data))
    os.utime(video, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    after = file_fingerprint(video)
    assert before[:2] == after[:2] and before[2] != after[2]


def test_splits_smaller_than_one_batch_are_refused(tiny, capsys):
    """Issue 18 item 7: 4 train videos, batch 8 -> no training step would run."""
    common = [f"data.root={tiny / 'videos'}", *DATA, "data.batch_size=8", "finetune.epochs=1"]
    assert _run("finetune", *common, out=tiny / "ft", encoder=tiny / "rgb.pt") == 2
    err = capsys.readouterr().err
    assert "finetune: the train split has 4 videos, fewer than one batch (data.batch_size=8)" in err
    assert _run("linear", *common, "probe_mode=end_to_end", out=tiny / "e2e", encoder=tiny / "rgb.pt") == 2
    assert "end-to-end linear probe: the train split has 4 videos" in capsys.readouterr().err
    assert not (tiny / "ft" / "eval").exists() and not (tiny / "e2e" / "eval").exists()


def test_protocols_side_by_side(tiny, capsys):
    out = tiny / "both"
    # CoCLR drops videos shorter than 18 frames; the tiny videos have 8-9
    assert _run("retrieval", f"data.root={tiny / 'videos'}", *DATA, out=tiny / "short",
                encoder=tiny / "rgb.pt", protocol="coclr") == 2
    assert "fewer than min_frames=18 frames" in capsys.readouterr().err
    assert _run("retrieval", f"data.root={tiny / 'videos'}", *DATA, "min_frames=0", out=out,
                encoder=tiny / "rgb.pt", protocol="clean,coclr") == 0
    clean, coclr = load_results(out)
    assert (clean["protocol"]["protocol_preset"], coclr["protocol"]["protocol_preset"]) == ("clean", "coclr")
    assert (coclr["protocol"]["gallery_windows"], clean["protocol"]["gallery_windows"]) == ("random", "dense")
    assert coclr["protocol"]["config"]["features"]["normalise_clips"] is False
    assert coclr["protocol"]["config"]["eval_crop"] == 0.875
    table = (out / "results.md").read_text()
    assert "protocol clean" in table and "protocol coclr" in table
    assert _run("retrieval", "protocol=nope", out=out, encoder=tiny / "rgb.pt") == 2
    assert "unknown preset(s) ['nope']" in capsys.readouterr().err


def test_coclr_linear_probe_trains_on_one_random_window_per_video(tiny):
    from vimix_ssl.eval.features import FeatureSet

    out = tiny / "probe"
    common = [f"data.root={tiny / 'videos'}", *DATA, "min_frames=0", "probe.epochs=2", "probe.batch_size=4"]
    assert _run("linear", *common, out=out, encoder=tiny / "rgb.pt", protocol="clean,coclr") == 0
    clean, coclr = load_results(out)
    counts = {name: FeatureSet.load(r["protocol"]["cache"]["train"]["cache"]).clip_counts.tolist()
              for name, r in (("clean", clean), ("coclr", coclr))}
    assert counts["coclr"] == [1] * 4 and max(counts["clean"]) == 2  # 9-frame videos: two dense windows


def test_coclr_finetune_tests_on_five_crops_of_the_whole_frame(tiny, tmp_path):
    """Issue 16 part 4: `finetune.test_frame: full` runs end to end on 32x24 frames and is recorded."""
    common = [f"data.root={tiny / 'videos'}", *DATA, "data.batch_size=2", "finetune.epochs=1",
              "finetune.milestones=[]", "data.eval_windows=centre", "features.videos_per_batch=3",
              "min_frames=0"]
    out = tmp_path / "ft"
    assert _run("finetune", *common, out=out, encoder=tiny / "rgb.pt", protocol="clean,coclr") == 0
    clean, coclr = load_results(out)
    assert clean["protocol"]["finetune"]["test_frame"] == "square"
    assert clean["protocol"]["test_frame_size"] == 37  # round(32 × 1.15), the centre square
    assert coclr["protocol"]["finetune"]["test_frame"] == "full"
    assert coclr["protocol"]["test_frame_size"] == "short side 37, aspect ratio kept"
