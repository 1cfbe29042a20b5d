"""Staged-encoder contract for every registered encoder, plus per-architecture shape/size checks."""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision
from torch import nn

from vimix_ssl.models import build_encoder, list_encoders
from vimix_ssl.models.graph import ntu_graph
from vimix_ssl.models.heads import LinearClassifier, skeleton_projection_head, video_projection_head
from vimix_ssl.models.r3d_rs import BLOCK_COUNTS, Bottleneck3d, DropPath, SelfGating, SqueezeExcite3d
from vimix_ssl.models.registry import UnknownEncoderError
from vimix_ssl.models.stgcn import STGCNBlock

# Tiny builds of every registered encoder (the contract test refuses unlisted encoders).
TINY: dict[str, dict] = {
    "s3d": {"width": 0.0625},
    "s3d_small": {"in_channels": 2, "width": 0.0625},  # flow input
    "stgcn": {"width": 0.25},
    "stgcn_small": {},
    "r3d_rs": {"depth": 50, "width": 0.0625, "drop_path_rate": 0.1},
    "r3d_rs_small": {"width": 0.0625},
    "r3d_18": {"width": 0.125, "layers": [1, 1, 1, 1]},
    "r2plus1d_18": {"width": 0.125, "layers": [1, 1, 1, 1]},
}


def _cuts(name: str) -> list[int]:
    with torch.device("meta"):
        return build_encoder(name, **TINY[name]).mixable_cuts()


CASES = [(name, cut) for name in sorted(TINY) for cut in _cuts(name)]


@functools.cache
def _tiny(name: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    encoder = build_encoder(name, **TINY[name]).eval()
    x = torch.randn(encoder.example_input_shape(2))
    with torch.no_grad():
        full = encoder(x)
    return encoder, x, full


def test_every_registered_encoder_has_a_tiny_build():
    # encoders registered by tests themselves (named test_*) are not the package's
    assert sorted(TINY) == [name for name in list_encoders() if not name.startswith("test_")]
    for required in ("s3d", "stgcn", "r3d_rs", "r3d_18", "r2plus1d_18"):
        assert required in list_encoders()


@pytest.mark.parametrize("name,cut", CASES, ids=[f"{n}-cut{k}" for n, k in CASES])
def test_split_forward_equals_full_forward(name, cut):
    encoder, x, full = _tiny(name)
    with torch.no_grad():
        hidden = encoder.forward_stages(x, 0, cut)
        assert hidden.dim() == len(encoder.feature_layout) + 1
        channel_axis = 1 + encoder.feature_layout.index("c")
        assert hidden.shape[channel_axis] == encoder.cut_channels(cut)
        assert hidden.shape[0] == x.shape[0]
        rest = encoder.forward_from(hidden, cut)
        staged = encoder.pool(encoder.forward_stages(hidden, cut, encoder.num_stages))
    assert full.shape == (2, encoder.feature_dim)
    torch.testing.assert_close(rest, full, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(staged, full, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(TINY))
def test_stage_metadata_is_consistent(name):
    encoder, x, _ = _tiny(name)
    assert list(encoder.stage_channels) == encoder.stage_names
    assert encoder.mixable and set(encoder.mixable) <= set(encoder.stage_names)
    assert 0 not in encoder.mixable_cuts()  # the raw input is never mixable
    assert encoder.cut_channels(encoder.num_stages) == encoder.feature_dim
    h = x
    with torch.no_grad():  # every stage's reported channels, not only the mixable ones
        for k, stage in enumerate(encoder.stage_names, start=1):
            h = encoder.forward_stages(h, k - 1, k)
            assert h.shape[1 + encoder.feature_layout.index("c")] == encoder.stage_channels[stage], stage


@pytest.mark.parametrize("name", sorted(TINY))
def test_bad_input_shape_is_a_clear_error(name):
    encoder, x, _ = _tiny(name)
    with pytest.raises(ValueError, match="expects"):
        encoder(x[0])  # missing batch axis
    wrong_channels = torch.zeros((2, encoder.in_channels + 1) + tuple(x.shape[2:]))
    with pytest.raises(ValueError, match="input channels"):
        encoder(wrong_channels)
    with pytest.raises(ValueError, match="invalid stage range"):
        encoder.forward_stages(x, 2, 1)


def test_gradient_flows_through_a_cut():
    torch.manual_seed(0)
    encoder = build_encoder("s3d_small", width=0.0625).train()
    x = torch.randn(2, 3, 8, 32, 32)
    hidden = encoder.forward_stages(x, 0, 3)
    encoder.forward_from(hidden * 0.5, 3).sum().backward()
    first = next(encoder.stages["stem"].parameters())
    assert first.grad is not None and first.grad.abs().sum() > 0


# --- S3D -------------------------------------------------------------------------------------
def test_s3d_full_width_matches_torchvision_features_parameter_for_parameter():
    with torch.device("meta"):
        ours = build_encoder("s3d")
        reference = torchvision.models.video.s3d(weights=None).features
    ours_count = sum(p.numel() for p in ours.parameters())
    reference_count = sum(p.numel() for p in reference.parameters())
    assert abs(ours_count - reference_count) <= 0.01 * reference_count
    shapes = [tuple(v.shape) for v in ours.state_dict().values()]
    assert shapes == [tuple(v.shape) for v in reference.state_dict().values()]
    assert ours.feature_dim == 1024 and ours.num_stages == 10


def test_s3d_computes_what_torchvision_s3d_features_compute():
    torch.manual_seed(0)
    reference = torchvision.models.video.s3d(weights=None).features.eval()
    ours = build_encoder("s3d").eval()
    ours.load_state_dict(dict(zip(ours.state_dict(), reference.state_dict().values())))
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours.forward_stages(x), reference(x), rtol=1e-4, atol=1e-4)


def test_s3d_128px_clip_gives_1024x4x4x4_map():
    encoder = build_encoder("s3d").eval()
    with torch.no_grad():
        hidden = encoder.forward_stages(torch.randn(1, 3, 32, 128, 128))
    assert hidden.shape == (1, 1024, 4, 4, 4)
    assert encoder.pool(hidden).shape == (1, 1024)


def test_s3d_flow_input_width_and_init():
    with torch.device("meta"):
        flow = build_encoder("s3d", in_channels=2)
        small = build_encoder("s3d", width=0.25)
        full = build_encoder("s3d")
    assert flow.stages["stem"][0][0][0].weight.shape == (64, 2, 1, 7, 7)
    assert small.stage_names == full.stage_names and small.feature_dim == 256
    assert len(list(small.modules())) == len(list(full.modules()))  # same topology
    conv = build_encoder("s3d_small").stages["mixed_3b"].branch0[0].weight
    assert abs(conv.std().item() - 0.01) < 0.002  # CoCLR init N(0, 0.01^2)
    bn = build_encoder("s3d_small").stages["stem"][0][0][1]
    assert (bn.eps, bn.momentum) == (1e-3, 1e-3)


# --- ST-GCN ----------------------------------------------------------------------------------
METHOD_STGCN = [(3, 16, 1), (16, 16, 1), (16, 16, 1), (16, 16, 1), (16, 32, 2),
                (32, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 256, 1)]


def test_stgcn_blocks_equal_method_section_4():
    encoder = build_encoder("stgcn")
    blocks = [encoder.stages[f"block{i}"] for i in range(1, 11)]
    assert all(isinstance(b, STGCNBlock) for b in blocks)
    assert encoder.stage_names == ["data_bn"] + [f"block{i}" for i in range(1, 11)]
    assert "data_bn" not in encoder.mixable and len(encoder.mixable) == 10
    got = [(b.gcn.conv.in_channels, b.gcn.conv.out_channels // 3, b.tcn[2].stride[0]) for b in blocks]
    assert got == METHOD_STGCN
    assert all(b.tcn[2].kernel_size == (9, 1) for b in blocks)
    assert blocks[0].residual is None  # first block: no residual
    for block, (cin, cout, stride) in zip(blocks[1:], METHOD_STGCN[1:]):
        kind = nn.Identity if (cin == cout and stride == 1) else nn.Sequential
        assert isinstance(block.residual, kind)
    assert encoder.feature_dim == 256
    assert encoder.stages["data_bn"].bn.num_features == 3 * 25  # data BN over C·V
    for block in blocks:  # learnable edge importance, ones at init
        assert block.edge_importance.requires_grad and torch.equal(block.edge_importance,
                                                                   torch.ones(3, 25, 25))


def test_ntu_graph_spatial_partition():
    graph = torch.from_numpy(ntu_graph())
    assert graph.shape == (3, 25, 25)
    support = (graph.sum(0) > 0)
    assert torch.equal(support, support.T) and int(support.sum()) == 25 + 2 * 24  # self + bones
    torch.testing.assert_close(graph.sum(dim=(0, 1)), torch.ones(25))  # column-normalised
    assert torch.equal(torch.diagonal(graph[0]) > 0, torch.ones(25, dtype=torch.bool))  # self-links
    assert graph[0, 20, 20].item() == pytest.approx(1 / 5)  # centre joint 21: itself + 4 neighbours
    assert graph[1, 0, 1] > 0 and graph[2, 1, 0] > 0  # joint 2 is nearer the centre than joint 1
    true = torch.from_numpy(ntu_graph(center_distance="true"))
    assert torch.equal(true.sum(0), graph.sum(0)) and not torch.equal(true, graph)


def test_stgcn_layout_strides_and_body_pooling():
    encoder, _, _ = _tiny("stgcn_small")
    x = torch.randn(2, 3, 16, 25, 2)
    with torch.no_grad():
        assert encoder.forward_stages(x, 0, 1).shape == (2, 2, 3, 16, 25)  # (B, M, C, T, V)
        assert encoder.forward_stages(x, 0, 6).shape[3] == 8 and encoder.forward_stages(x, 0, 9).shape[3] == 4
        swapped = encoder(x.flip(-1))  # bodies in the other order: the same features
    torch.testing.assert_close(swapped, encoder(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="25 joints"):
        encoder(torch.randn(2, 3, 16, 20, 2))


# --- R3D-RS and torchvision backbones ----------------------------------------------------------
@pytest.mark.parametrize("depth", sorted(BLOCK_COUNTS))
def test_r3d_rs_depths_and_blocks(depth):
    with torch.device("meta"):
        encoder = build_encoder("r3d_rs", depth=depth)
    counts = tuple(len(encoder.stages[f"res{i}"]) for i in range(2, 6))
    assert counts == BLOCK_COUNTS[depth] == {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3),
                                             200: (3, 24, 36, 3)}[depth]
    assert encoder.stage_names == ["stem", "res2", "res3", "res4", "res5"] and encoder.feature_dim == 2048
    stem = encoder.stages["stem"].convs
    assert [s[0].kernel_size for s in stem] == [(5, 3, 3), (1, 3, 3), (1, 3, 3)]
    assert stem[0][0].stride == (2, 2, 2) and [s[0].out_channels for s in stem] == [32, 32, 64]
    blocks = [b for i in range(2, 6) for b in encoder.stages[f"res{i}"]]
    assert all(isinstance(b, Bottleneck3d) and isinstance(b.se, SqueezeExcite3d) for b in blocks)
    gated = [isinstance(b.gate, SelfGating) for i in range(2, 6) for b in encoder.stages[f"res{i}"]]
    assert gated == [k == n - 1 for n in BLOCK_COUNTS[depth] for k in range(n)]  # last block of each stage
    assert blocks[0].se.reduce.out_channels == 64  # ratio 0.25 of 256
    rates = [encoder.stages[f"res{i}"][0].drop_path.rate for i in range(2, 6)]
    assert rates == pytest.approx([0.2 * s / 5 for s in range(2, 6)])
    first_res3 = encoder.stages["res3"][0]
    assert first_res3.shortcut[0].stride == (1, 2, 2)  # strided 1×1 projection (TF), not ResNet-D


def test_r3d_rs_rejects_unknown_depth_and_drop_path_behaves():
    with pytest.raises(ValueError, match="50, 101, 152, 200"):
        build_encoder("r3d_rs", depth=34)
    drop = DropPath(0.5)
    x = torch.ones(4000, 1, 1, 1, 1)
    out = drop.train()(x)
    assert set(out.unique().tolist()) == {0.0, 2.0} and abs(out.mean().item() - 1.0) < 0.1
    assert torch.equal(drop.eval()(x), x)


@pytest.mark.parametrize("name", ["r3d_18", "r2plus1d_18"])
def test_torchvision_backbones_match_torchvision(name):
    with torch.device("meta"):
        ours = build_encoder(name)
        reference = getattr(torchvision.models.video, name)(weights=None)
    reference_state = {k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    ours_state = {k.removeprefix("stages."): v.shape for k, v in ours.state_dict().items()}
    assert ours_state == {k: v.shape for k, v in reference_state.items()}
    assert ours.feature_dim == 512


# --- registry and heads -----------------------------------------------------------------------
def test_registry_errors_name_the_valid_choices():
    with pytest.raises(UnknownEncoderError, match="s3d.*stgcn") as info:
        build_encoder("resnet9000")
    assert "resnet9000" in str(info.value)
    with pytest.raises(TypeError, match="depthh"):
        build_encoder("r3d_rs", depthh=50)


def test_heads():
    video, skeleton = video_projection_head(), skeleton_projection_head()
    assert [(m.in_features, m.out_features) for m in video.modules() if isinstance(m, nn.Linear)] == \
        [(1024, 1024), (1024, 128)]
    assert [(m.in_features, m.out_features) for m in skeleton.modules() if isinstance(m, nn.Linear)] == \
        [(256, 256), (256, 128)]
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in video.modules())
    assert video(torch.randn(4, 1024)).shape == (4, 128)
    probe = LinearClassifier(16, 5, dropout=0.5, normalize=True, batch_norm=True)
    assert probe(torch.randn(4, 16)).shape == (4, 5)
    assert isinstance(probe.dropout, nn.Dropout) and probe.dropout.p == 0.5
    probe.eval()
    features = torch.randn(3, 16)
    torch.testing.assert_close(probe(features), probe(features * 7.0))  # L2-normalised first


def test_list_encoders_command(capsys):
    from vimix_ssl.cli import main

    assert main(["list", "encoders", "--stages"]) == 0
    out = capsys.readouterr().out
    for name in list_encoders():
        assert name in out
    assert "mixed_5c:1024" in out and "block10:256" in out and "data_bn" in out
