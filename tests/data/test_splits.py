"""Annotation parsing on the real UCF101, HMDB51 and Kinetics-400 files."""

from __future__ import annotations

import pytest

from vimix_ssl.data.splits import (
    SplitError,
    all_videos,
    load_video_list,
    parse_hmdb51,
    parse_kinetics400,
    parse_ucf101,
    require_videos,
    scan_folder,
)

UCF_COUNTS = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}


@pytest.fixture(scope="module")
def ucf_dir(real_data):
    return real_data / "ucf101" / "ucfTrainTestlist"


@pytest.mark.parametrize("split", [1, 2, 3])
def test_ucf101_official_counts(ucf_dir, split):
    train, test = parse_ucf101(ucf_dir, split, "train"), parse_ucf101(ucf_dir, split, "test")
    assert (len(train), len(test)) == UCF_COUNTS[split]
    train_ids, test_ids = {e.video_id for e in train.entries}, {e.video_id for e in test.entries}
    assert not train_ids & test_ids and len(train_ids | test_ids) == 13320
    for entry in train.entries[:: 500] + test.entries[:: 500]:  # label = class of the folder
        assert train.class_names[entry.label] == entry.video_id.split("/")[0]


def test_ucf101_class_order_is_classind_not_sorted(ucf_dir):
    classes = parse_ucf101(ucf_dir, 1, "test").class_names
    assert len(classes) == 101 and classes[0] == "ApplyEyeMakeup" and classes[-1] == "YoYo"
    lines = (ucf_dir / "classInd.txt").read_text().split()
    assert classes == lines[1::2]
    assert classes != sorted(classes)
    assert classes.index("Hammering") + 1 == 35 and classes.index("HammerThrow") + 1 == 36
    assert sorted(classes).index("HammerThrow") < sorted(classes).index("Hammering")
    assert classes.index("JumpingJack") < classes.index("JumpRope")


def test_ucf101_split_dir_or_its_parent(real_data, ucf_dir):
    direct = parse_ucf101(ucf_dir, 1, "test")
    via_parent = load_video_list("ucf101", real_data / "ucf101", None, 1, "test")  # splits found under root
    assert direct.entries == via_parent.entries


def test_ucf101_testlist_with_labels_and_wrong_labels(ucf_dir, tmp_path):
    (tmp_path / "classInd.txt").write_bytes((ucf_dir / "classInd.txt").read_bytes())
    plain = parse_ucf101(ucf_dir, 1, "test")
    labelled = [f"{e.video_id} {e.label + 1}" for e in plain.entries]
    (tmp_path / "testlist01.txt").write_text("\r\n".join(labelled) + "\r\n")
    assert parse_ucf101(tmp_path, 1, "test").entries == plain.entries
    labelled[3] = f"{plain.entries[3].video_id} 99"
    (tmp_path / "testlist01.txt").write_text("\n".join(labelled))
    with pytest.raises(SplitError, match=r"testlist01.txt:4: label 99 disagrees with classInd"):
        parse_ucf101(tmp_path, 1, "test")


def test_ucf101_bad_inputs(ucf_dir, tmp_path):
    with pytest.raises(SplitError, match="split must be 1, 2 or 3"):
        parse_ucf101(ucf_dir, 4)
    with pytest.raises(SplitError, match="no classInd.txt"):
        parse_ucf101(tmp_path, 1)
    (tmp_path / "classInd.txt").write_text("1 A\n2 B\n")
    (tmp_path / "trainlist01.txt").write_text("A/v_A_g01_c01.avi 1\nC/v_C_g01_c01.avi 3\n")
    with pytest.raises(SplitError, match=r"trainlist01.txt:2: 'C/v_C_g01_c01.avi'"):
        parse_ucf101(tmp_path, 1, "train")


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_official_counts(real_data, split):
    splits = real_data / "hmdb51"
    train, test = parse_hmdb51(splits, split, "train"), parse_hmdb51(splits, split, "test")
    assert (len(train), len(test), len(train.class_names)) == (3570, 1530, 51)
    assert len(parse_hmdb51(splits, split, "all")) == 5100  # id 0 (unused) is left out
    assert not {e.video_id for e in train.entries} & {e.video_id for e in test.entries}
    first = train.entries[0]
    assert first.video_id.startswith("brush_hair/") and first.video_id.endswith(".avi") and first.label == 0


def test_hmdb51_classes_are_the_sorted_split_file_actions(real_data):
    classes = parse_hmdb51(real_data / "hmdb51" / "testTrainMulti_7030_splits", 1).class_names
    assert classes == sorted((real_data / "hmdb51" / "class_list.txt").read_text().split())
    assert classes.index("kick") < classes.index("kick_ball")  # underscored names are whole actions


def test_kinetics400_val_csv(real_data):
    videos = parse_kinetics400(real_data / "kinetics400" / "annotations" / "kinetics-400_val.csv")
    assert len(videos) == 19906 and len(videos.class_names) == 400
    assert videos.class_names == (real_data / "kinetics400" / "label_map_k400.txt").read_text().splitlines()
    first = videos.entries[0]
    assert first.video_id == "abseiling/0wR5jVB-WPk_000417_000427.mp4" and first.label == 0
    assert any(" " in e.video_id for e in videos.entries)  # label folders keep their spaces


def test_kinetics400_csv_without_is_cc_and_underscore_folders(tmp_path):
    csv = tmp_path / "train.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split\n"
                   "arm wrestling,abc,5,15,train\nabseiling,xyz,0.0,10.0,train\n")
    videos = parse_kinetics400(csv)
    assert [e.video_id for e in videos.entries] == ["arm wrestling/abc_000005_000015.mp4",
                                                    "abseiling/xyz_000000_000010.mp4"]
    assert videos.class_names == ["abseiling", "arm wrestling"] and videos.entries[0].label == 1
    (tmp_path / "arm_wrestling").mkdir()
    assert parse_kinetics400(csv, root=tmp_path).entries[0].video_id == "arm_wrestling/abc_000005_000015.mp4"
    assert load_video_list("kinetics400", tmp_path, tmp_path, subset="train").entries == \
        parse_kinetics400(csv, root=tmp_path).entries


def test_kinetics400_test_csv_without_labels_is_refused(real_data):
    with pytest.raises(SplitError, match=r"kinetics-400_test.csv: missing column\(s\) \['label'\]"):
        parse_kinetics400(real_data / "kinetics400" / "annotations" / "kinetics-400_test.csv")


def test_folder_per_class(tmp_path):
    for name in ["b/clip1.avi", "b/clip2.mp4", "a/x/clip3.avi", "a/notes.txt", "c/readme.md"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    videos = scan_folder(tmp_path)
    assert videos.class_names == ["a", "b", "c"]
    assert [(e.video_id, e.label) for e in videos.entries] == [("a/x/clip3.avi", 0), ("b/clip1.avi", 1),
                                                               ("b/clip2.mp4", 1)]
    with pytest.raises(SplitError, match="dataset folder not found"):
        scan_folder(tmp_path / "missing")


def test_folder_with_train_and_test_subfolders(tmp_path):
    for name in ["train/dog/1.avi", "train/cat/2.avi", "val/dog/3.avi", "val/cat/4.avi"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    train, test = scan_folder(tmp_path, "train"), scan_folder(tmp_path, "test")
    assert [e.video_id for e in train.entries] == ["train/cat/2.avi", "train/dog/1.avi"]
    assert [(e.video_id, e.label) for e in test.entries] == [("val/cat/4.avi", 0), ("val/dog/3.avi", 1)]


def test_all_videos_is_the_union_of_every_split(real_data):
    videos = all_videos("ucf101", real_data / "ucf101", real_data / "ucf101")
    assert len(videos) == 13320 == len(set(videos))
    union = {e.video_id for s in (1, 2, 3) for e in parse_hmdb51(real_data / "hmdb51", s, "all").entries}
    hmdb = all_videos("hmdb51", "/nowhere", real_data / "hmdb51")
    assert len(hmdb) == len(set(hmdb)) and set(hmdb) == union and len(union) > 5100


# -- issue 16: Kinetics split column and one class list (real K400 CSV and label map) -------------

@pytest.fixture(scope="module")
def k400(real_data):
    return real_data / "kinetics400"


def test_kinetics400_val_csv_is_never_the_training_list(k400):
    val = k400 / "annotations" / "kinetics-400_val.csv"
    # as data.splits=<the val CSV>: the split column says 'val' for every row
    with pytest.raises(SplitError, match=r"kinetics-400_val.csv: no rows with split train .*\['val'\]"):
        load_video_list("kinetics400", k400 / "videos", val, subset="train")
    test = load_video_list("kinetics400", k400 / "videos", val, subset="test",
                           label_map=k400 / "label_map_k400.txt")
    assert len(test) == 19906


def test_kinetics400_one_csv_with_both_splits_gives_disjoint_subsets(k400, tmp_path):
    rows = (k400 / "annotations" / "kinetics-400_val.csv").read_text().splitlines()
    header, body = rows[0], rows[1:]
    mixed = [header] + [r.replace(",val,", ",train,") if i % 3 else r for i, r in enumerate(body)]
    (tmp_path / "both.csv").write_text("\n".join(mixed) + "\n")
    train = load_video_list("kinetics400", tmp_path, tmp_path / "both.csv", subset="train")
    test = load_video_list("kinetics400", tmp_path, tmp_path / "both.csv", subset="test")
    expected_test = len(range(0, len(body), 3))
    assert (len(train), len(test)) == (len(body) - expected_test, expected_test)
    assert not {e.video_id for e in train.entries} & {e.video_id for e in test.entries}
    assert train.class_names == test.class_names  # the train rows' labels serve both


def test_kinetics400_same_file_without_split_column_is_refused(tmp_path):
    (tmp_path / "list.csv").write_text("label,youtube_id,time_start,time_end\nabseiling,abc,0,10\n")
    with pytest.raises(SplitError, match="no split column, so it cannot give both the train and the test"):
        load_video_list("kinetics400", tmp_path, tmp_path / "list.csv", subset="test")


def test_kinetics400_class_indices_follow_the_label_map_not_the_val_csv(k400, tmp_path):
    """A val CSV missing one class must not shift every later label (19,856 of 19,906 before)."""
    names = (k400 / "label_map_k400.txt").read_text().splitlines()
    rows = (k400 / "annotations" / "kinetics-400_val.csv").read_text().splitlines()
    dropped = names[5]
    kept = [rows[0]] + [r for r in rows[1:] if not r.startswith(dropped + ",")]
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "kinetics-400_val.csv").write_text("\n".join(kept) + "\n")
    test = load_video_list("kinetics400", tmp_path, tmp_path, subset="test",
                           label_map=k400 / "label_map_k400.txt")
    assert test.class_names == names and len(test) == len(kept) - 1
    for entry in test.entries[::997]:  # the independent rule: label = line of the label map
        assert names[entry.label] == entry.video_id.split("/")[0]
    # a train CSV (all 400 classes) gives the same class list when no label map is given
    train_rows = [rows[0]] + [r.replace(",val,", ",train,") for r in rows[1:]]
    (tmp_path / "annotations" / "kinetics-400_train.csv").write_text("\n".join(train_rows) + "\n")
    assert load_video_list("kinetics400", tmp_path, tmp_path, subset="test").entries == test.entries
    with pytest.raises(SplitError, match="label_map"):
        load_video_list("kinetics400", tmp_path, tmp_path / "annotations" / "kinetics-400_val.csv",
                        subset="test")


# -- issue 16: datasets as they are shipped (split subsets, the official UCF101 layout) --------------

def _ucf_with_splits(ucf_dir, target, splits):
    target.mkdir(parents=True)
    (target / "classInd.txt").write_bytes((ucf_dir / "classInd.txt").read_bytes())
    for s in splits:
        for kind in ("trainlist", "testlist"):
            name = f"{kind}0{s}.txt"
            (target / name).write_bytes((ucf_dir / name).read_bytes())
    return target


def test_ucf101_with_only_split_1(ucf_dir, tmp_path):
    splits = _ucf_with_splits(ucf_dir, tmp_path / "ucfTrainTestlist", [1])
    assert len(all_videos("ucf101", tmp_path, tmp_path)) == sum(UCF_COUNTS[1])
    assert len(load_video_list("ucf101", tmp_path, None, 1, "test")) == UCF_COUNTS[1][1]
    with pytest.raises(SplitError, match=r"UCF101 split 2 is not in .*trainlist02.txt not found "
                                         r"\(splits present: \[1\]\)"):
        load_video_list("ucf101", tmp_path, splits, 2, "train")


def test_hmdb51_with_only_split_2(real_data, tmp_path):
    source = real_data / "hmdb51" / "testTrainMulti_7030_splits"
    for path in source.glob("*_test_split2.txt"):
        (tmp_path / path.name).write_bytes(path.read_bytes())
    assert len(parse_hmdb51(tmp_path, 2, "train")) == 3570
    assert len(all_videos("hmdb51", "/nowhere", tmp_path)) == 5100
    with pytest.raises(SplitError, match=r"HMDB51 split 1 is not in .*splits present: \[2\]"):
        parse_hmdb51(tmp_path, 1, "train")


def test_official_unpacked_ucf101_layout(ucf_dir, tmp_path):
    """DIR/UCF-101/<Class>/*.avi beside DIR/ucfTrainTestlist/: ids are relative to DIR."""
    _ucf_with_splits(ucf_dir, tmp_path / "ucfTrainTestlist", [1])
    test = parse_ucf101(ucf_dir, 1, "test")
    for entry in test.entries[:3]:
        video = tmp_path / "UCF-101" / entry.video_id
        video.parent.mkdir(parents=True, exist_ok=True)
        video.write_bytes(b"")
    listed = load_video_list("ucf101", tmp_path, None, 1, "test")
    assert [e.video_id for e in listed.entries] == ["UCF-101/" + e.video_id for e in test.entries]
    assert all((tmp_path / e.video_id).is_file() for e in listed.entries[:3])
    assert all(v.startswith("UCF-101/") for v in all_videos("ucf101", tmp_path))
    with pytest.raises(SplitError, match=r"3780 of the 3783 videos of the test list are not under .*"
                                         r"UCF-101/.*and 3770 more"):
        require_videos(tmp_path, [e.video_id for e in listed.entries], "the test list")
