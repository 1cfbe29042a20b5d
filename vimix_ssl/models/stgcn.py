"""ST-GCN at 1/4 width (peer: CrosSCLR ``net/st_gcn.py``) as a staged encoder.

Input ``(B, 3, T, 25, M=2)``. Stage ``data_bn`` applies the data BatchNorm over C·V
features per frame (``BatchNorm1d(C·V)``, shared by the M bodies, as CrosSCLR/ST-GCN)
and reshapes to the stage layout ``(B, M, C, T, V)`` (``feature_layout = "mctv"``); it is
not mixable (it is still the input). Stages ``block1`` … ``block10`` are ST-GCN blocks
(graph conv → BN → ReLU → temporal conv (kernel 9) → BN → dropout, + residual, ReLU), each
with its own learnable edge importance (initialised to ones); their outputs are mixable.
Residuals as in the original: none in the first block, identity when channels and
stride are unchanged, 1×1 conv + BN otherwise. Pool: mean over T and V, then over M.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from vimix_ssl.models.base import StagedEncoder, register_encoder
from vimix_ssl.models.graph import NUM_JOINTS, ntu_graph
from vimix_ssl.models.s3d import scale_channels

# (in, out, temporal stride) at 1/4 width, METHOD §4; "in" of block 1 is the input channels
STGCN_BLOCKS: tuple[tuple[int, int, int], ...] = (
    (3, 16, 1), (16, 16, 1), (16, 16, 1), (16, 16, 1), (16, 32, 2),
    (32, 32, 1), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 256, 1),
)


class GraphConv(nn.Module):
    """Spatial graph convolution: 1×1 conv to ``K·out`` channels, then sum over the K subsets."""

    def __init__(self, in_channels: int, out_channels: int, num_subsets: int) -> None:
        super().__init__()
        self.num_subsets = num_subsets
        self.conv = nn.Conv2d(in_channels, out_channels * num_subsets, kernel_size=1)

    def forward(self, x: Tensor, adjacency: Tensor) -> Tensor:
        x = self.conv(x)  # (N, K·C, T, V)
        n, kc, t, v = x.shape
        x = x.view(n, self.num_subsets, kc // self.num_subsets, t, v)
        return torch.einsum("nkctv,kvw->nctw", x, adjacency).contiguous()  # (N, C, T, V)


class STGCNBlock(nn.Module):
    """One ST-GCN block on ``(B, M, C, T, V)`` maps (bodies folded into the batch inside)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, adjacency: Tensor,
                 temporal_kernel: int, dropout: float, residual: bool, edge_importance: bool) -> None:
        super().__init__()
        if temporal_kernel % 2 != 1:
            raise ValueError(f"temporal_kernel must be odd, got {temporal_kernel}")
        # the graph is data rebuilt from the kwargs, so it is not saved in state_dicts
        self.register_buffer("adjacency", adjacency.clone(), persistent=False)  # (K, V, V)
        self.edge_importance = nn.Parameter(torch.ones_like(adjacency), requires_grad=edge_importance)
        self.gcn = GraphConv(in_channels, out_channels, adjacency.shape[0])
        self.tcn = nn.Sequential(
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, (temporal_kernel, 1), (stride, 1),
                      ((temporal_kernel - 1) // 2, 0)),
            nn.BatchNorm2d(out_channels),
            nn.Dropout(dropout, inplace=True),
        )
        self.residual: nn.Module | None
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, (stride, 1)),
                                          nn.BatchNorm2d(out_channels))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        b, m, c, t, v = x.shape
        x = x.reshape(b * m, c, t, v)  # (B·M, C, T, V)
        out = self.tcn(self.gcn(x, self.adjacency * self.edge_importance))
        if self.residual is not None:
            out = out + self.residual(x)
        out = self.relu(out)
        return out.view(b, m, *out.shape[1:])  # (B, M, C', T', V)


class DataNorm(nn.Module):
    """``(B, C, T, V, M)`` input -> BatchNorm over C·V per body and frame -> ``(B, M, C, T, V)``."""

    def __init__(self, in_channels: int, num_joints: int) -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(in_channels * num_joints)

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, v, m = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(b * m, v * c, t)  # (B·M, V·C, T), as ST-GCN
        x = self.bn(x)
        return x.view(b, m, v, c, t).permute(0, 1, 3, 4, 2).contiguous()  # (B, M, C, T, V)


@register_encoder("stgcn")
class STGCN(StagedEncoder):
    """ST-GCN encoder: ``(B, C, T, 25, M)`` -> ``(B, 256·width/0.25)`` features."""

    feature_layout = "mctv"
    input_layout = "ctvm"

    def __init__(self, in_channels: int = 3, width: float = 1.0, temporal_kernel: int = 9,
                 dropout: float = 0.5, edge_importance: bool = True, graph_max_hop: int = 1,
                 graph_center_distance: str = "peer") -> None:
        """``width`` scales the 1/4-width ST-GCN of METHOD §4 (``width=1`` is that model)."""
        super().__init__()
        self.in_channels = in_channels
        adjacency = torch.from_numpy(ntu_graph(graph_max_hop, graph_center_distance))  # (3, 25, 25)
        self.add_stage("data_bn", DataNorm(in_channels, NUM_JOINTS), in_channels, mixable=False)
        channels = in_channels
        for index, (_, out, stride) in enumerate(STGCN_BLOCKS):
            out = scale_channels(out, width)
            block = STGCNBlock(channels, out, stride, adjacency, temporal_kernel,
                               # CrosSCLR: the first block has no dropout and no residual
                               dropout=0.0 if index == 0 else dropout, residual=index > 0,
                               edge_importance=edge_importance)
            self.add_stage(f"block{index + 1}", block, out)
            channels = out
        self.feature_dim = channels

    def example_input_shape(self, batch_size: int = 2) -> tuple[int, ...]:
        return (batch_size, self.in_channels, 16, NUM_JOINTS, 2)

    def check_input(self, x: Tensor) -> None:
        super().check_input(x)
        if x.shape[3] != NUM_JOINTS:
            raise ValueError(f"STGCN expects {NUM_JOINTS} joints on axis V of (B, C, T, V, M), "
                             f"got shape {tuple(x.shape)}")

    def pool(self, x: Tensor) -> Tensor:
        return x.mean(dim=(3, 4)).mean(dim=1)  # (B, M, C, T, V) -> (B, C)


@register_encoder("stgcn_small")
def stgcn_small(in_channels: int = 3, width: float = 0.25, temporal_kernel: int = 9,
                dropout: float = 0.5, edge_importance: bool = True, graph_max_hop: int = 1,
                graph_center_distance: str = "peer") -> STGCN:
    """ST-GCN at 1/16 of the original width (64-d features) for CPU tests and the demo."""
    return STGCN(in_channels, width, temporal_kernel, dropout, edge_importance, graph_max_hop,
                 graph_center_distance)
