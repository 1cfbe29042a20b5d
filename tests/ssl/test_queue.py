"""MomentumQueue is FIFO, wraps, refuses bad batch sizes and round-trips; EMA limits m=0 and m=1."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from vimix_ssl.ssl.momentum import copy_and_freeze, momentum_update
from vimix_ssl.ssl.queue import MomentumQueue


def test_queue_is_fifo_and_wraps():
    queue = MomentumQueue(dim=3, size=6)
    batches = [torch.full((2, 3), float(v)) for v in (1, 2, 3, 4)]
    for b in batches[:3]:
        queue.enqueue(b)
    assert queue.keys[0].tolist() == [1, 1, 2, 2, 3, 3]
    assert int(queue.pointer) == 0
    queue.enqueue(batches[3])  # the oldest batch is overwritten first
    assert queue.keys[0].tolist() == [4, 4, 2, 2, 3, 3]
    assert int(queue.pointer) == 2


def test_queue_size_must_divide_by_the_batch():
    queue = MomentumQueue(dim=4, size=10)
    with pytest.raises(ValueError, match=r"queue size 10 .* global batch size 4"):
        queue.enqueue(torch.zeros(4, 4))
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        queue.enqueue(torch.zeros(2, 5))


def test_queue_state_dict_round_trips():
    queue = MomentumQueue(dim=4, size=8)
    queue.enqueue(torch.randn(4, 4))
    other = MomentumQueue(dim=4, size=8)
    other.load_state_dict(queue.state_dict())
    assert torch.equal(other.keys, queue.keys) and int(other.pointer) == 4
    assert set(queue.state_dict()) == {"keys", "pointer"}


def test_initial_queue_is_unit_norm_and_snapshot_is_a_copy():
    queue = MomentumQueue(dim=5, size=4)
    assert torch.allclose(queue.keys.norm(dim=0), torch.ones(4))
    snapshot = queue.snapshot()
    queue.enqueue(torch.zeros(4, 5))
    assert not torch.equal(snapshot, queue.keys)


def _pair() -> tuple[nn.Module, nn.Module]:
    torch.manual_seed(0)
    source, target = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)), nn.Sequential(nn.Linear(3, 4),
                                                                                       nn.BatchNorm1d(4))
    return source, target


def test_ema_with_momentum_zero_copies_and_one_is_a_no_op():
    source, target = _pair()
    before = [p.clone() for p in target.parameters()]
    momentum_update(target, source, 1.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), before))
    momentum_update(target, source, 0.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), source.parameters()))


def test_ema_intermediate_value_and_buffers_untouched():
    source, target = _pair()
    target.train()(torch.randn(8, 3))  # give the target its own BN statistics
    stats = target[1].running_mean.clone()
    expected = [0.9 * t + 0.1 * s for t, s in zip(target.parameters(), source.parameters())]
    momentum_update(target, source, 0.9)
    assert all(torch.allclose(a, b) for a, b in zip(target.parameters(), expected))
    assert torch.equal(target[1].running_mean, stats)
    with pytest.raises(ValueError, match="momentum must be in"):
        momentum_update(target, source, 1.5)


def test_copy_and_freeze():
    source, target = _pair()
    copy_and_freeze(target, source)
    assert all(torch.equal(a, b) for a, b in zip(target.state_dict().values(), source.state_dict().values()))
    assert not any(p.requires_grad for p in target.parameters())
