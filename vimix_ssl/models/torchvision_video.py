"""torchvision's ``r3d_18`` and ``r2plus1d_18`` as staged encoders (random init, nothing downloads).

Built from torchvision's own blocks (``BasicBlock``, ``Conv3DSimple``, ``Conv2Plus1D``) with
torchvision's layer names and initialisation, so at ``width=1`` with 3 input channels the
stage weights are torchvision's ``r3d_18(weights=None)`` / ``r2plus1d_18(weights=None)``
minus ``fc`` (``stem.*``, ``layer1.*`` … under ``stages.``). ``width`` scales every channel
count and ``layers`` the blocks per stage, for small variants.

Stages ``stem``, ``layer1`` … ``layer4`` (all mixable); adaptive average pool → 512·width.
"""

from __future__ import annotations

from functools import partial

from torch import nn
from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, Conv3DSimple

from vimix_ssl.models.base import VideoEncoder, register_encoder
from vimix_ssl.models.s3d import scale_channels

ARCHITECTURES = {"r3d": Conv3DSimple, "r2plus1d": Conv2Plus1D}


def _stem(architecture: str, in_channels: int, out_channels: int, width: float) -> nn.Sequential:
    if architecture == "r3d":  # torchvision BasicStem
        return nn.Sequential(
            nn.Conv3d(in_channels, out_channels, (3, 7, 7), (1, 2, 2), (1, 3, 3), bias=False),
            nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True))
    middle = scale_channels(45, width)  # torchvision R2Plus1dStem
    return nn.Sequential(
        nn.Conv3d(in_channels, middle, (1, 7, 7), (1, 2, 2), (0, 3, 3), bias=False),
        nn.BatchNorm3d(middle), nn.ReLU(inplace=True),
        nn.Conv3d(middle, out_channels, (3, 1, 1), (1, 1, 1), (1, 0, 0), bias=False),
        nn.BatchNorm3d(out_channels), nn.ReLU(inplace=True))


class VideoResNetEncoder(VideoEncoder):
    """torchvision VideoResNet with BasicBlocks: ``(B, C, T, H, W)`` -> ``(B, 512·width)``."""

    def __init__(self, architecture: str, in_channels: int = 3, width: float = 1.0,
                 layers: tuple[int, ...] | list[int] = (2, 2, 2, 2)) -> None:
        super().__init__()
        if architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {sorted(ARCHITECTURES)}, got {architecture!r}")
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f"layers must be 4 block counts >= 1, got {list(layers)}")
        conv_builder = ARCHITECTURES[architecture]
        self.in_channels = in_channels
        channels = scale_channels(64, width)
        self.add_stage("stem", _stem(architecture, in_channels, channels, width), channels)
        for index, (count, planes) in enumerate(zip(layers, (64, 128, 256, 512))):
            planes = scale_channels(planes, width)
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or channels != planes:
                downsample = nn.Sequential(
                    nn.Conv3d(channels, planes, 1, conv_builder.get_downsample_stride(stride), bias=False),
                    nn.BatchNorm3d(planes))
            blocks = [BasicBlock(channels, planes, conv_builder, stride, downsample)]
            blocks += [BasicBlock(planes, planes, conv_builder) for _ in range(count - 1)]
            self.add_stage(f"layer{index + 1}", nn.Sequential(*blocks), planes)
            channels = planes
        self.feature_dim = channels
        # torchvision VideoResNet's initialisation
        self.init_conv_bn(partial(nn.init.kaiming_normal_, mode="fan_out", nonlinearity="relu"))


@register_encoder("r3d_18")
def r3d_18(in_channels: int = 3, width: float = 1.0, layers: list[int] | None = None) -> VideoResNetEncoder:
    """torchvision R3D-18 (3×3×3 convs), 512-d features at width 1."""
    return VideoResNetEncoder("r3d", in_channels, width, layers or [2, 2, 2, 2])


@register_encoder("r2plus1d_18")
def r2plus1d_18(in_channels: int = 3, width: float = 1.0,
                layers: list[int] | None = None) -> VideoResNetEncoder:
    """torchvision R(2+1)D-18 ((1×3×3 then 3×1×1) convs), 512-d features at width 1."""
    return VideoResNetEncoder("r2plus1d", in_channels, width, layers or [2, 2, 2, 2])
