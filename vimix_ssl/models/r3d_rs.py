"""3D ResNet-RS (seed 003, "Revisiting 3D ResNets for Video Recognition") as a staged encoder.

Architecture (seed 003 Table 1; TF Model Garden ``resnet_3d_rs`` where the OCR is unclear):

* optional input frame subsampling (Table 1 "Input: Downsample", 32 → 16 frames),
* ResNet-D stem: conv ``5×3²`` stride (2, 2, 2) → 32, conv ``1×3²`` → 32, conv ``1×3²`` → 64
  (each + BN + ReLU), then max-pool ``1×3²`` stride (1, 2, 2),
* bottleneck stages res2..res5 (64/128/256/512 bottleneck widths, ×4 output) with temporal
  kernels 1, 1, 3, 3 in the first 1×1 conv, spatial stride 2 in the ``3²`` conv of the
  first block of res3..res5,
* every block: squeeze-excitation (ratio 0.25 of the output width) → self-gating (S3D-G:
  ``x · σ(W · avgpool(x) + b)``) → stochastic depth on the residual branch, then the
  shortcut is added (paper §3.1 order; TF gates before SE, which changes no parameter count),
* self-gating placement ``self_gating``: ``"last"`` (default; TF Model Garden
  ``ResNet3D._block_group``: "only apply self-gating module in the last block" of each
  stage, which gives the paper's parameter counts), ``"all"`` (every block, the paper's
  wording "in each 3D bottleneck block"; +14.5 M for depth 50) or ``"none"``,
* shortcut when the shape changes, ``shortcut``: ``"projection"`` (default; TF
  ``BottleneckBlock3D``: strided 1×1 conv + BN) or ``"resnet_d"`` (average-pool ``1×2²``
  then a stride-1 1×1 conv + BN; needs maps of >= 2 px before each pool, so inputs of at
  least 17 px; smaller inputs are refused naming the minimum),
* stochastic depth rate grows linearly with the stage index (TF Model Garden:
  ``rate · stage / 5`` for stage 2..5), from ``drop_path_rate`` (paper: 0.2),
* block counts (ResNet-RS / ResNet-D): 50 → (3, 4, 6, 3), 101 → (3, 4, 23, 3),
  152 → (3, 8, 36, 3), 200 → (3, 24, 36, 3).

Stages ``stem``, ``res2`` … ``res5`` (all mixable); adaptive average pool → 2048·width.

Size: with a 400-class head and BatchNorm moving statistics counted (as TF counts variables;
seed 003 Table 3), depths 50 / 101 / 152 / 200 have 48.18 / 85.07 / 114.94 / 121.55 M
parameters (paper: 48.2 / 85.1 / 114.9 / 121.6 M); ``paper_parameter_count`` computes it.
Any input of at least one frame and one pixel works with projection shortcuts (every stride
pads, so a side of n becomes ceil(n / stride)).
"""

from __future__ import annotations

from functools import partial

from torch import Tensor, nn

from vimix_ssl.models.base import VideoEncoder, register_encoder
from vimix_ssl.models.s3d import scale_channels

SELF_GATING = ("last", "all", "none")  # which blocks of each stage self-gate (TF: "last")
SHORTCUTS = ("projection", "resnet_d")  # downsampling shortcut (TF: strided 1×1 projection)
RESNET_D_MIN_SIZE = 17  # resnet_d: res5's average pool needs a 2-px map, i.e. ceil(H / 16) >= 2
BLOCK_COUNTS: dict[int, tuple[int, int, int, int]] = {
    50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3), 200: (3, 24, 36, 3),
}
STAGE_WIDTHS = (64, 128, 256, 512)  # bottleneck widths of res2..res5 (output = 4×)
TEMPORAL_KERNELS = (1, 1, 3, 3)  # first conv of each block in res2..res5 (Table 1)


def conv_bn_relu(in_channels: int, out_channels: int, kernel: tuple[int, int, int],
                 stride: tuple[int, int, int], relu: bool = True) -> nn.Sequential:
    padding = tuple(k // 2 for k in kernel)
    layers: list[nn.Module] = [nn.Conv3d(in_channels, out_channels, kernel, stride, padding, bias=False),
                               nn.BatchNorm3d(out_channels)]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class SqueezeExcite3d(nn.Module):
    """Global 3D average pool → 1×1 conv → ReLU → 1×1 conv → sigmoid gate per channel."""

    def __init__(self, channels: int, ratio: float) -> None:
        super().__init__()
        reduced = max(1, int(channels * ratio))
        self.reduce = nn.Conv3d(channels, reduced, 1)
        self.expand = nn.Conv3d(reduced, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        scale = x.mean(dim=(2, 3, 4), keepdim=True)  # (B, C, 1, 1, 1)
        return x * self.expand(self.reduce(scale).relu()).sigmoid()


class SelfGating(nn.Module):
    """S3D-G self-gating: ``x · σ(W · avgpool(x) + b)`` with a full ``C×C`` transform."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.transform = nn.Conv3d(channels, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return x * self.transform(x.mean(dim=(2, 3, 4), keepdim=True)).sigmoid()


class DropPath(nn.Module):
    """Stochastic depth: zero a sample's residual branch with probability ``rate`` (training)."""

    def __init__(self, rate: float) -> None:
        super().__init__()
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"drop-path rate must be in [0, 1), got {rate}")
        self.rate = rate

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.rate == 0.0:
            return x
        keep = 1.0 - self.rate
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"rate={self.rate}"


class Bottleneck3d(nn.Module):
    """1×1 (temporal k) → 1×3² (spatial stride) → 1×1 ×4, then SE → SG → drop path, + shortcut."""

    def __init__(self, in_channels: int, width: int, temporal_kernel: int, spatial_stride: int,
                 se_ratio: float, self_gating: bool, drop_path_rate: float,
                 shortcut: str = "projection") -> None:
        super().__init__()
        out_channels = 4 * width
        self.conv1 = conv_bn_relu(in_channels, width, (temporal_kernel, 1, 1), (1, 1, 1))
        self.conv2 = conv_bn_relu(width, width, (1, 3, 3), (1, spatial_stride, spatial_stride))
        self.conv3 = conv_bn_relu(width, out_channels, (1, 1, 1), (1, 1, 1), relu=False)
        self.se = SqueezeExcite3d(out_channels, se_ratio) if se_ratio > 0 else nn.Identity()
        self.gate = SelfGating(out_channels) if self_gating else nn.Identity()
        self.drop_path = DropPath(drop_path_rate)
        self.shortcut: nn.Module = nn.Identity()
        if spatial_stride != 1 or in_channels != out_channels:
            stride = (1, spatial_stride, spatial_stride)
            if shortcut == "projection":  # TF BottleneckBlock3D: strided 1×1 conv + BN
                self.shortcut = conv_bn_relu(in_channels, out_channels, (1, 1, 1), stride, relu=False)
            else:  # ResNet-D: average-pool, then a stride-1 projection
                pool: nn.Module = nn.Identity()
                if spatial_stride != 1:
                    pool = nn.AvgPool3d(stride, stride, ceil_mode=True, count_include_pad=False)
                self.shortcut = nn.Sequential(pool, conv_bn_relu(in_channels, out_channels, (1, 1, 1),
                                                                 (1, 1, 1), relu=False))
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        out = self.drop_path(self.gate(self.se(out)))
        return self.relu(out + self.shortcut(x))


class ResNetDStem(nn.Module):
    """Optional frame subsampling, three convs (5×3² s2, 1×3², 1×3²) and a 1×3² max-pool."""

    def __init__(self, in_channels: int, widths: tuple[int, int, int], temporal_kernel: int,
                 temporal_stride: int, input_temporal_stride: int) -> None:
        super().__init__()
        self.input_temporal_stride = input_temporal_stride
        self.convs = nn.Sequential(
            conv_bn_relu(in_channels, widths[0], (temporal_kernel, 3, 3), (temporal_stride, 2, 2)),
            conv_bn_relu(widths[0], widths[1], (1, 3, 3), (1, 1, 1)),
            conv_bn_relu(widths[1], widths[2], (1, 3, 3), (1, 1, 1)),
        )
        self.pool = nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.input_temporal_stride]  # (B, C, T/s, H, W)
        return self.pool(self.convs(x))  # (B, 64, T/2s, H/4, W/4)


@register_encoder("r3d_rs")
class R3DRS(VideoEncoder):
    """3D ResNet-RS: ``(B, C, T, H, W)`` -> ``(B, 2048·width)`` features."""

    def __init__(self, depth: int = 50, in_channels: int = 3, width: float = 1.0,
                 se_ratio: float = 0.25, self_gating: str = "last", drop_path_rate: float = 0.2,
                 stem_temporal_kernel: int = 5, stem_temporal_stride: int = 2,
                 input_temporal_stride: int = 2, shortcut: str = "projection") -> None:
        super().__init__()
        if depth not in BLOCK_COUNTS:
            raise ValueError(f"R3D-RS depth must be one of {sorted(BLOCK_COUNTS)}, got {depth}")
        if self_gating not in SELF_GATING:
            raise ValueError(f"R3D-RS self_gating must be one of {', '.join(SELF_GATING)}, "
                             f"got {self_gating!r}")
        if shortcut not in SHORTCUTS:
            raise ValueError(f"R3D-RS shortcut must be one of {', '.join(SHORTCUTS)}, got {shortcut!r}")
        self.in_channels = in_channels
        self.min_size = RESNET_D_MIN_SIZE if shortcut == "resnet_d" else 1
        stem_widths = tuple(scale_channels(c, width) for c in (32, 32, 64))
        self.add_stage("stem", ResNetDStem(in_channels, stem_widths, stem_temporal_kernel,
                                           stem_temporal_stride, input_temporal_stride), stem_widths[2])
        channels = stem_widths[2]
        for index, (count, base) in enumerate(zip(BLOCK_COUNTS[depth], STAGE_WIDTHS)):
            stage_rate = drop_path_rate * (index + 2) / 5  # linear in the stage index 2..5
            blocks = []
            for block_index in range(count):
                stride = 2 if index > 0 and block_index == 0 else 1
                gate = self_gating == "all" or (self_gating == "last" and block_index == count - 1)
                blocks.append(Bottleneck3d(channels, scale_channels(base, width), TEMPORAL_KERNELS[index],
                                           stride, se_ratio, gate, stage_rate, shortcut))
                channels = 4 * scale_channels(base, width)
            self.add_stage(f"res{index + 2}", nn.Sequential(*blocks), channels)
        self.feature_dim = channels
        self.init_conv_bn(partial(nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu"))

    def check_input(self, x: Tensor) -> None:
        """Also refuse clips smaller than the shortcuts allow, naming the minimum."""
        super().check_input(x)
        if x.shape[2] < 1 or min(x.shape[3:]) < self.min_size:
            raise ValueError(f"R3D-RS needs clips of at least 1 frame and {self.min_size}×{self.min_size} px "
                             f"(shortcut style sets the minimum), got (T, H, W) = {tuple(x.shape[2:])}")


def paper_parameter_count(model: nn.Module) -> int:
    """Parameters as TF (and seed 003) count them: trainable weights plus BN moving mean/variance."""
    moving = sum(m.running_mean.numel() + m.running_var.numel() for m in model.modules()
                 if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None)
    return sum(p.numel() for p in model.parameters()) + moving


@register_encoder("r3d_rs_small")
def r3d_rs_small(depth: int = 50, in_channels: int = 3, width: float = 0.125, se_ratio: float = 0.25,
                 self_gating: str = "last", drop_path_rate: float = 0.2, stem_temporal_kernel: int = 5,
                 stem_temporal_stride: int = 2, input_temporal_stride: int = 2,
                 shortcut: str = "projection") -> R3DRS:
    """R3D-RS-50 at 1/8 width (256-d features) for CPU tests and the demo."""
    return R3DRS(depth, in_channels, width, se_ratio, self_gating, drop_path_rate, stem_temporal_kernel,
                 stem_temporal_stride, input_temporal_stride, shortcut)
