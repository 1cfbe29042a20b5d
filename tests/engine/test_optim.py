"""Learning rates stated at a reference batch, scaled linearly to the global batch (Goyal et al.)."""

from __future__ import annotations

import math

import pytest

from vimix_ssl.engine.optim import LRSchedule, OptimConfig, global_batch_size, resolve_lr


@pytest.mark.parametrize("batch,world", [(16, 1), (16, 4), (8, 64), (32, 32)])
def test_resolved_lr_scales_with_world_size_times_batch(batch, world):
    config = OptimConfig(name="sgd", lr=0.8, reference_batch=1024)  # seed 003: 0.8 at 1024
    total = 0
    for _ in range(world):  # every process contributes its batch
        total += batch
    assert global_batch_size(batch, world) == total
    assert resolve_lr(config, global_batch_size(batch, world)) == pytest.approx(0.8 * total / 1024)


def test_schedule_scales_peak_and_floor_and_is_unchanged_without_reference():
    scaled = OptimConfig(lr=0.8, min_lr=0.008, reference_batch=1024, schedule="cosine", warmup_epochs=1)
    schedule = LRSchedule(scaled, steps_per_epoch=10, epochs=5, global_batch=64)
    factor = 64 / 1024
    assert schedule.lr(9) == pytest.approx(0.8 * factor)  # end of warm-up: the scaled peak
    assert schedule.lr(49) == pytest.approx(0.008 * factor + (0.8 - 0.008) * factor * 0.5
                                            * (1 + math.cos(math.pi * 39 / 40)))
    plain = OptimConfig(lr=0.1, schedule="constant")  # pre-training configs: lr as given
    assert LRSchedule(plain, 10, 5).lr(3) == LRSchedule(plain, 10, 5, global_batch=4096).lr(3) == 0.1


def test_reference_batch_without_a_global_batch_is_an_error():
    with pytest.raises(ValueError, match="reference_batch: 256 is set"):
        LRSchedule(OptimConfig(reference_batch=256), 10, 5)
    with pytest.raises(ValueError, match="reference_batch: expected a positive"):
        resolve_lr(OptimConfig(reference_batch=0), 16)
