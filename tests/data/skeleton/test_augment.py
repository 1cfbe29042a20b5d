"""frame50 preprocessing, streams (motion, bone) and augmentations: invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vimix_ssl.data.skeleton.augment import augment_view, shear, shear_matrix, temporal_crop
from vimix_ssl.data.skeleton.parser import read_skeleton, select_bodies
from vimix_ssl.data.skeleton.preprocess import frame50, resample_linear, rotate_shoulders_to_x
from vimix_ssl.data.skeleton.streams import NTU_PARENTS_1BASED, bone, compute_stream, motion

REAL = ["S001C001P001R001A001", "S001C003P008R002A058", "S017C003P020R002A056"]


def real_sample(real_data, name: str, pad_to: int = 0, lead: int = 0) -> np.ndarray:
    """(3, T, 25, 2) float32 as prepare writes it, optionally with empty lead frames and padding."""
    path = real_data / "ntu_rgbd60" / "nturgb+d_skeletons" / f"{name}.skeleton"
    joints = select_bodies(read_skeleton(path), 2).astype(np.float32)  # (T, 2, 25, 3)
    sample = np.zeros((3, max(pad_to, lead + len(joints)), 25, 2), dtype=np.float32)
    sample[:, lead:lead + len(joints)] = joints.transpose(3, 0, 2, 1)
    return sample


@pytest.mark.parametrize("name", REAL)
def test_frame50_invariants_on_real_samples(real_data, name):
    sample = real_sample(real_data, name, pad_to=300)
    out = frame50(sample)
    assert out.shape == (3, 50, 25, 2) and out.dtype == np.float32
    bodies = [m for m in range(2) if np.abs(sample[..., m]).sum() > 0]
    for m in bodies:
        np.testing.assert_allclose(out[:, :, 20, m], 0, atol=1e-6)  # joint 21 at the origin
        shoulders = out[:, :, 8, m] - out[:, :, 4, m]  # joint 9 - joint 5, (3, 50)
        np.testing.assert_allclose(shoulders[2], 0, atol=1e-5)  # no z component
        assert (shoulders[0] > 0).all()  # along +x
    # centring + rotation keep limb lengths of every body
    raw = sample[:, :2]  # first two frames, both present
    for m in bodies:
        length_raw = np.linalg.norm(raw[:, 0, 8, m] - raw[:, 0, 4, m])
        length_out = np.linalg.norm(out[:, 0, 8, m] - out[:, 0, 4, m])
        assert abs(length_raw - length_out) < 0.02  # (resampled frame 0 sits near source frame 0)


def test_frame50_uses_only_valid_frames(real_data):
    plain = real_sample(real_data, REAL[0])
    shifted = real_sample(real_data, REAL[0], pad_to=300, lead=7)  # 7 empty frames, then padding
    np.testing.assert_allclose(frame50(shifted), frame50(plain), atol=1e-6)
    assert np.all(frame50(np.zeros((3, 300, 25, 2), np.float32)) == 0)


def test_resample_matches_opencv_linear_resize():
    import cv2

    rng = np.random.default_rng(0)
    sample = rng.normal(size=(3, 73, 25, 2)).astype(np.float32)
    for length in (50, 120, 73):
        reference = np.stack([cv2.resize(sample[..., m].transpose(1, 2, 0), (25, length),
                                         interpolation=cv2.INTER_LINEAR).transpose(2, 0, 1)
                              for m in range(2)], axis=-1)
        np.testing.assert_allclose(resample_linear(sample, length), reference, atol=1e-5)


def test_rotation_is_about_y_and_keeps_every_distance():
    rng = np.random.default_rng(1)
    sample = rng.normal(size=(3, 5, 25, 2))
    rotated = rotate_shoulders_to_x(sample)
    np.testing.assert_allclose(rotated[1], sample[1])  # y untouched
    np.testing.assert_allclose(np.hypot(rotated[0], rotated[2]), np.hypot(sample[0], sample[2]))


def test_motion_is_the_frame_difference_with_last_frame_zero():
    x = np.random.default_rng(2).normal(size=(3, 50, 25, 2)).astype(np.float32)
    m = motion(x)
    assert m.shape == x.shape
    assert np.all(m[:, -1] == 0)
    np.testing.assert_allclose(m[:, 10], x[:, 11] - x[:, 10])
    batch = torch.from_numpy(np.stack([x, 2 * x]))  # (B, 3, T, 25, M) torch works the same
    torch.testing.assert_close(motion(batch)[0], torch.from_numpy(m))
    assert torch.all(motion(batch)[:, :, -1] == 0)


def test_bone_subtracts_the_parent_and_joint_21_is_zero():
    x = np.random.default_rng(3).normal(size=(3, 50, 25, 2)).astype(np.float32)
    b = bone(x)
    assert np.all(b[:, :, 20] == 0)
    for joint, parent in enumerate(NTU_PARENTS_1BASED):
        np.testing.assert_array_equal(b[:, :, joint], x[:, :, joint] - x[:, :, parent - 1])
    torch.testing.assert_close(bone(torch.from_numpy(x)[None])[0], torch.from_numpy(b))
    with pytest.raises(ValueError, match="unknown skeleton stream"):
        compute_stream(x, "velocity")


def test_shear_with_amplitude_zero_is_identity_and_views_differ():
    x = np.random.default_rng(4).normal(size=(3, 50, 25, 2)).astype(np.float32)
    rng = np.random.default_rng(5)
    np.testing.assert_array_equal(shear(x, 0.0, rng), x)
    matrix = shear_matrix(0.5, rng)
    assert np.all(np.diag(matrix) == 1) and np.abs(matrix).max() <= 1
    assert np.abs(matrix - np.eye(3)).max() > 0
    one, two = shear(x, 0.5, rng), shear(x, 0.5, rng)  # a fresh matrix per view
    assert not np.allclose(one, two)
    # one matrix for every point of a view: unit diagonal, off-diagonal within the amplitude
    points, sheared = x.reshape(3, -1).T, one.reshape(3, -1).T  # (N, 3)
    recovered = np.linalg.lstsq(points, sheared, rcond=None)[0].T
    np.testing.assert_allclose(points @ recovered.T, sheared, atol=1e-4)
    np.testing.assert_allclose(np.diag(recovered), 1, atol=1e-4)
    assert np.abs(recovered - np.eye(3)).max() <= 0.5 + 1e-4


def test_temporal_crop_keeps_length_and_takes_a_mirror_padded_window():
    frames = 50
    x = np.broadcast_to(np.arange(frames, dtype=np.float32)[None, :, None, None], (3, frames, 25, 2)).copy()
    pad = frames // 6
    padded_index = np.concatenate([np.arange(pad)[::-1], np.arange(frames),
                                   np.arange(frames - pad, frames)[::-1]])
    starts = set()
    rng = np.random.default_rng(6)
    for _ in range(60):
        out = temporal_crop(x, 6, rng)
        assert out.shape == x.shape
        sequence = out[0, :, 0, 0]
        start = [s for s in range(2 * pad + 1) if np.array_equal(sequence, padded_index[s:s + frames])]
        assert len(start) >= 1
        starts.add(start[0])
    assert len(starts) > 5  # random window start in [0, 2 * pad]
    np.testing.assert_array_equal(temporal_crop(x[:, :4], 6, rng), x[:, :4])  # too short to pad


def test_two_augmented_views_differ_and_keep_shape():
    x = np.random.default_rng(7).normal(size=(3, 50, 25, 2)).astype(np.float32)
    rng = np.random.default_rng(8)
    v1, v2 = augment_view(x, 0.5, 6, rng), augment_view(x, 0.5, 6, rng)
    assert v1.shape == v2.shape == x.shape and v1.dtype == np.float32
    assert not np.allclose(v1, v2)
    np.testing.assert_array_equal(augment_view(x, 0.0, 0, rng), x)  # both off: identity
