"""NTU .skeleton parser and NTU naming/splits, on the real sample files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vimix_ssl.data.skeleton.ntu import (
    XSUB_TRAIN_PERFORMERS,
    XVIEW_TRAIN_CAMERAS,
    load_name_list,
    parse_ntu_name,
    split_names,
    split_of,
)
from vimix_ssl.data.skeleton.parser import SkeletonParseError, read_skeleton, select_bodies

# From shared/data/real/SOURCES.md: file -> (frames, bodies in every frame, line ending)
REAL_FILES = {
    "S001C001P001R001A001": (103, 1, "CRLF"), "S001C001P001R001A011": (82, 1, "CRLF"),
    "S001C001P001R001A050": (74, 2, "LF"), "S001C003P008R002A058": (70, 2, "CRLF"),
    "S002C001P003R001A003": (100, 1, "CRLF"), "S003C001P015R001A034": (71, 1, "CRLF"),
    "S004C002P003R001A017": (124, 1, "CRLF"), "S017C003P020R002A054": (42, 2, "LF"),
    "S017C003P020R002A055": (66, 2, "LF"), "S017C003P020R002A056": (80, 2, "LF"),
    "S017C003P020R002A057": (76, 2, "LF"), "S017C003P020R002A058": (65, 2, "LF"),
}


def skeleton_dir(real_data: Path) -> Path:
    return real_data / "ntu_rgbd60" / "nturgb+d_skeletons"


def test_every_real_file_has_the_documented_frames_and_bodies(real_data):
    files = sorted(skeleton_dir(real_data).glob("*.skeleton"))
    assert [f.name[:-9] for f in files] == sorted(REAL_FILES)
    for path in files:
        frames, bodies, ending = REAL_FILES[path.name[:-9]]
        assert (b"\r\n" in path.read_bytes()[:200]) == (ending == "CRLF"), path.name
        sequence = read_skeleton(path)
        assert sequence.num_frames == frames, path.name
        assert (sequence.bodies_per_frame == bodies).all(), path.name
        assert sequence.xyz.shape == (frames, bodies, 25, 3)
        assert np.abs(sequence.xyz).min(axis=(2, 3)).shape == (frames, bodies)
        if bodies == 2:  # two distinct tracking ids in every frame
            assert all(len(set(ids)) == 2 for ids in sequence.body_ids), path.name


def test_parse_equals_official_converter_output_exactly(real_data):
    root = real_data / "ntu_rgbd60"
    oracle = np.load(root / "preprocessed" / "S001C001P001R001A001.skeleton.npy", allow_pickle=True).item()
    sequence = read_skeleton(skeleton_dir(real_data) / "S001C001P001R001A001.skeleton")
    assert oracle["skel_body0"].shape == (103, 25, 3)
    assert sequence.xyz.dtype == np.float64
    np.testing.assert_array_equal(sequence.xyz[:, 0], oracle["skel_body0"])


def test_all_fields_and_line_endings_agree(real_data, tmp_path):
    source = skeleton_dir(real_data) / "S001C001P001R001A001.skeleton"
    full = read_skeleton(source, all_fields=True)
    assert full.joints.shape == (103, 1, 25, 12)
    # first joint line of the file: "0.2181153 0.1725972 3.785547 277.419 ... 2"
    np.testing.assert_allclose(full.joints[0, 0, 0, [0, 3, 11]], [0.2181153, 277.419, 2])
    lf_copy = tmp_path / source.name
    lf_copy.write_bytes(source.read_bytes().replace(b"\r\n", b"\n"))
    np.testing.assert_array_equal(read_skeleton(lf_copy).xyz, full.xyz)


def _lines(real_data: Path, name: str = "S001C001P001R001A001") -> list[bytes]:
    return (skeleton_dir(real_data) / f"{name}.skeleton").read_bytes().splitlines(keepends=True)


def _broken(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_bytes(b"".join(lines))
    return path


def test_truncated_file_names_file_and_line(real_data, tmp_path):
    lines = _lines(real_data)
    path = _broken(tmp_path, lines[:1000])  # stops inside frame 37's joints
    with pytest.raises(SkeletonParseError) as info:
        read_skeleton(path)
    assert info.value.path == str(path) and info.value.line == 1001
    assert str(path) in str(info.value) and "unexpected end of file" in str(info.value)


@pytest.mark.parametrize("line, replacement, message", [
    (4, b"24\r\n", "joint count 24, expected 25"),
    (7, b"0.1 0.2 abc 1 2 3 4 0 0 0 0 2\r\n", "non-numeric"),
    (7, b"0.1 0.2 0.3 1 2 3 4 0 0 0 2\r\n", "11 fields, expected 12"),
    (3, b"72057594037931101 0 1 1 1 1 0 0.02 2\r\n", "body info line has 9 fields"),
    (2, b"one\r\n", "body count of frame 1/103"),
    (1, b"x\r\n", "frame count"),
])
def test_malformed_lines_are_reported_with_their_number(real_data, tmp_path, line, replacement, message):
    lines = _lines(real_data)
    lines[line - 1] = replacement
    with pytest.raises(SkeletonParseError, match=message) as info:
        read_skeleton(_broken(tmp_path, lines))
    assert info.value.line == line


def test_trailing_data_is_an_error(real_data, tmp_path):
    lines = _lines(real_data) + [b"\r\n", b"1 2 3\r\n"]
    with pytest.raises(SkeletonParseError, match="trailing data") as info:
        read_skeleton(_broken(tmp_path, lines))
    assert info.value.line == len(lines)


def _body_block(offset: float, wiggle: float, frame: int) -> list[str]:
    rows = [f"{offset + wiggle * np.sin(frame + j):.6f} {j * 0.05:.6f} 3.0 0 0 0 0 0 0 0 0 2"
            for j in range(25)]
    return ["1 0 0 0 0 0 0 0 0 2", "25"] + rows


def test_zero_body_frames_and_more_than_two_bodies(tmp_path):
    # frame 1: no body; frames 2-4: three bodies, the second still, the third moving most;
    # frame 5: one body
    text = ["5", "0"]
    for frame in range(1, 4):
        text += ["3"] + _body_block(0.0, 0.2, frame) + _body_block(1.0, 0.0, frame) \
            + _body_block(2.0, 0.5, frame)
    text += ["1"] + _body_block(0.0, 0.2, 4)
    path = tmp_path / "S001C001P001R001A001.skeleton"
    path.write_text("\n".join(text) + "\n")
    sequence = read_skeleton(path)
    assert sequence.bodies_per_frame.tolist() == [0, 3, 3, 3, 1]
    assert sequence.xyz.shape == (5, 3, 25, 3)
    assert np.all(sequence.xyz[0] == 0) and np.all(sequence.xyz[4, 1:] == 0)
    first = select_bodies(sequence, 2, "first")
    active = select_bodies(sequence, 2, "active")
    assert first.shape == active.shape == (5, 2, 25, 3)
    np.testing.assert_array_equal(first, sequence.xyz[:, :2])
    # most active = slots 2 and 0 (slot 1 stands still), kept in listing order
    np.testing.assert_array_equal(active, sequence.xyz[:, [0, 2]])


def test_ntu_name_fields_and_errors():
    name = parse_ntu_name("/x/S017C003P020R002A058.skeleton")
    assert (name.setup, name.camera, name.performer, name.replication, name.action) == (17, 3, 20, 2, 58)
    assert name.label == 57 and str(name) == "S017C003P020R002A058"
    with pytest.raises(ValueError, match="SsssCcccPpppRrrrAaaa"):
        parse_ntu_name("S17C003P020R002A058")


def test_split_membership_of_the_real_files(real_data):
    names = sorted(REAL_FILES)
    for name in names:
        fields = parse_ntu_name(name)
        assert split_of(name, "xsub") == ("train" if fields.performer in (1, 8, 15) else "test")
        assert split_of(name, "xview") == ("test" if fields.camera == 1 else "train")
    assert XSUB_TRAIN_PERFORMERS == (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
    assert XVIEW_TRAIN_CAMERAS == (2, 3)


def test_split_counts_equal_the_published_ntu60_numbers(real_data):
    root = real_data / "ntu_rgbd60"
    available = load_name_list(root / "statistics" / "skes_available_name.txt")
    missing = load_name_list(root / "NTU_RGBD_samples_with_missing_skeletons.txt")
    assert len(available) == 56578 and len(missing) == 302 and not set(available) & set(missing)
    counts = {b: {k: len(v) for k, v in split_names(available, b).items()} for b in ("xsub", "xview")}
    print("after removing the 302 missing:", counts)
    assert counts == {"xsub": {"train": 40091, "test": 16487}, "xview": {"train": 37646, "test": 18932}}
    # the NTU RGB+D paper's numbers count all 56,880 samples
    full = {b: {k: len(v) for k, v in split_names(available + missing, b).items()} for b in ("xsub", "xview")}
    assert full == {"xsub": {"train": 40320, "test": 16560}, "xview": {"train": 37920, "test": 18960}}


def test_name_list_skips_the_header_and_accepts_names_only(real_data, tmp_path):
    official = real_data / "ntu_rgbd60" / "NTU_RGBD_samples_with_missing_skeletons.txt"
    names = load_name_list(official)
    assert names[0] == "S001C002P005R002A008" and names[-1] == "S017C003P020R001A059"
    plain = tmp_path / "names.txt"
    plain.write_text("S001C001P001R001A001.skeleton\r\n\r\nS001C001P001R001A002\r\n")
    assert load_name_list(plain) == ["S001C001P001R001A001", "S001C001P001R001A002"]
    plain.write_text("S001C001P001R001A001\nnot a name\n")
    with pytest.raises(ValueError, match=r"names.txt:2: expected an NTU sample name"):
        load_name_list(plain)
