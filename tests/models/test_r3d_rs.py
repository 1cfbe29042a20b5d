"""R3D-RS against seed 003's reported model size and cost (Table 3 / Fig. 2).

Counted on the ``meta`` device (no memory, no arithmetic), so each check takes well under a
second. Parameters are counted as TF counts variables (BN moving mean and variance
included), FLOPs as multiply-adds of the convolutions and the classifier at one
32×256² view (the paper's "FLOPs are calculated on single view inference at 32×256²"):
``FlopCounterMode`` counts 2 FLOPs per multiply-add, hence the division by 2.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from vimix_ssl.models.r3d_rs import R3DRS, SelfGating, paper_parameter_count
from vimix_ssl.models.registry import build_encoder

PAPER_PARAMS_M = {50: 48.2, 101: 85.1, 152: 114.9, 200: 121.6}  # seed 003 Table 3, 400 classes
PAPER_GFLOPS = {50: 58.0, 101: 115.0, 152: 168.0, 200: 204.0}  # seed 003 Table 3, one 32×256² view


def _meta_model(depth: int, **kwargs) -> tuple[nn.Module, nn.Module]:
    with torch.device("meta"):
        return R3DRS(depth=depth, **kwargs).eval(), nn.Linear(2048, 400)


def _reference_count(model: nn.Module, head: nn.Module) -> int:
    """Independent count: every tensor of the state dict except BN's step counter (TF variables)."""
    tensors = {**model.state_dict(), **{f"head.{k}": v for k, v in head.state_dict().items()}}
    return sum(v.numel() for k, v in tensors.items() if not k.endswith("num_batches_tracked"))


@pytest.mark.parametrize("depth", sorted(PAPER_PARAMS_M))
def test_parameter_counts_match_the_paper(depth):
    model, head = _meta_model(depth)
    count = _reference_count(model, head)
    assert paper_parameter_count(model) + sum(p.numel() for p in head.parameters()) == count
    assert abs(count / 1e6 - PAPER_PARAMS_M[depth]) / PAPER_PARAMS_M[depth] < 0.005, count


def test_every_block_gating_is_the_named_option_and_too_big():
    model, head = _meta_model(50, self_gating="all")
    assert all(isinstance(b.gate, SelfGating) for i in range(2, 6) for b in model.stages[f"res{i}"])
    assert _reference_count(model, head) / 1e6 > 60  # the 62.69 M
    model, _ = _meta_model(50, self_gating="none")
    assert not any(isinstance(m, SelfGating) for m in model.modules())
    with pytest.raises(ValueError, match="last, all, none"):
        R3DRS(depth=50, self_gating=True)


@pytest.mark.parametrize("depth", sorted(PAPER_GFLOPS))
def test_flops_at_32x256_match_the_paper(depth):
    model, head = _meta_model(depth)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        head(model(torch.empty(1, 3, 32, 256, 256, device="meta")))
    multiply_adds = counter.get_total_flops() / 2
    assert abs(multiply_adds / 1e9 - PAPER_GFLOPS[depth]) / PAPER_GFLOPS[depth] < 0.02, multiply_adds


def _expected_side(side: int) -> int:
    """Loop-based reference: stem conv, max-pool and res3..res5 each map n -> ceil(n / 2)."""
    for _ in range(5):
        side = -(-side // 2)
    return side


@pytest.mark.parametrize("shape", [(1, 1, 1), (3, 7, 9), (8, 16, 16), (2, 33, 20)])
def test_small_and_odd_inputs_work_with_projection_shortcuts(shape):
    encoder = build_encoder("r3d_rs_small", width=0.0625, drop_path_rate=0.0).eval()
    x = torch.randn(1, 3, *shape)
    hidden = encoder.forward_stages(x)
    assert hidden.shape[3:] == (_expected_side(shape[1]), _expected_side(shape[2]))
    assert encoder.pool(hidden).shape == (1, 128)


def test_resnet_d_shortcuts_refuse_inputs_below_their_minimum():
    encoder = build_encoder("r3d_rs_small", width=0.0625, shortcut="resnet_d").eval()
    assert isinstance(encoder.stages["res3"][0].shortcut[0], nn.AvgPool3d)
    assert encoder(torch.randn(1, 3, 4, 17, 17)).shape == (1, 128)
    with pytest.raises(ValueError, match=r"at least 1 frame and 17×17 px.*\(4, 16, 16\)"):
        encoder(torch.randn(1, 3, 4, 16, 16))
    with pytest.raises(ValueError, match="projection, resnet_d"):
        R3DRS(depth=50, shortcut="avgpool")
