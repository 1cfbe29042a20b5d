"""S3D (separable 3D Inception) for RGB and optical flow, as a staged encoder.

Built from torchvision's S3D layers (``TemporalSeparableConv``, ``SepInceptionBlock3D``,
``Conv3dNormActivation``) in the exact order of ``torchvision.models.video.s3d().features``;
at ``width=1`` and 3 input channels the parameters match torchvision's one to one.
Differences from torchvision, per METHOD §4 (peer: CoCLR):

* no classifier; an *adaptive* global average pool gives 1024-d features, so 128-px clips
  work (a 32×128² clip leaves a ``(1024, 4, 4, 4)`` map, which torchvision's fixed
  ``(2, 7, 7)`` pool cannot take);
* configurable input channels (3 for RGB, 2 for flow) and a width multiplier for small
  variants (every channel count is scaled; the topology is unchanged);
* initialisation as CoCLR's ``s3dg.py``: conv weights ~ N(0, 0.01²), BatchNorm weight 1 and
  bias 0; BatchNorm ``eps=1e-3, momentum=1e-3`` (torchvision's and CoCLR's setting, a
  port of TensorFlow's decay 0.999). ``conv_init_std=None`` keeps PyTorch's default init.

Stages (a cut after any of them is mixable): ``stem`` (conv1, pool, conv2, conv3, pool;
torchvision ``features[0:5]``), ``mixed_3b``, ``mixed_3c``, ``mixed_4b`` … ``mixed_4f``,
``mixed_5b``, ``mixed_5c``. The max-pools between Inception groups open the following
stage, so every stage ends at a block output.
"""

from __future__ import annotations

from functools import partial

from torch import nn
from torchvision.models.video.s3d import SepInceptionBlock3D, TemporalSeparableConv
from torchvision.ops.misc import Conv3dNormActivation

from vimix_ssl.models.base import VideoEncoder, register_encoder

# torchvision's Inception branch widths: (b0_out, b1_mid, b1_out, b2_mid, b2_out, b3_out)
INCEPTION_WIDTHS: dict[str, tuple[int, int, int, int, int, int]] = {
    "mixed_3b": (64, 96, 128, 16, 32, 32),
    "mixed_3c": (128, 128, 192, 32, 96, 64),
    "mixed_4b": (192, 96, 208, 16, 48, 64),
    "mixed_4c": (160, 112, 224, 24, 64, 64),
    "mixed_4d": (128, 128, 256, 24, 64, 64),
    "mixed_4e": (112, 144, 288, 32, 64, 64),
    "mixed_4f": (256, 160, 320, 32, 128, 128),
    "mixed_5b": (256, 160, 320, 32, 128, 128),
    "mixed_5c": (384, 192, 384, 48, 128, 128),
}
# max-pool (kernel, stride, padding) opening a stage, as in torchvision's features
STAGE_POOLS: dict[str, tuple[tuple[int, int, int], tuple[int, int, int], tuple[int, int, int]]] = {
    "mixed_4b": ((3, 3, 3), (2, 2, 2), (1, 1, 1)),
    "mixed_5b": ((2, 2, 2), (2, 2, 2), (0, 0, 0)),
}


def scale_channels(channels: int, width: float) -> int:
    """``channels × width`` rounded, at least 1."""
    return max(1, int(round(channels * width)))


@register_encoder("s3d")
class S3D(VideoEncoder):
    """S3D backbone: ``(B, C, T, H, W)`` -> ``(B, 1024·width)`` features."""


    def __init__(self, in_channels: int = 3, width: float = 1.0, bn_eps: float = 1e-3,
                 bn_momentum: float = 1e-3, conv_init_std: float | None = 0.01) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"S3D in_channels must be >= 1 (3 for RGB, 2 for flow), got {in_channels}")
        if width <= 0:
            raise ValueError(f"S3D width must be > 0, got {width}")
        self.in_channels = in_channels
        norm = partial(nn.BatchNorm3d, eps=bn_eps, momentum=bn_momentum)
        c64, c192 = scale_channels(64, width), scale_channels(192, width)
        stem = nn.Sequential(
            TemporalSeparableConv(in_channels, c64, 7, 2, 3, norm),  # (B, 64, T/2, H/2, W/2)
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
            Conv3dNormActivation(c64, c64, kernel_size=1, stride=1, norm_layer=norm),
            TemporalSeparableConv(c64, c192, 3, 1, 1, norm),
            nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        )  # (B, 192, T/2, H/8, W/8)
        self.add_stage("stem", stem, c192)
        channels = c192
        for name, widths in INCEPTION_WIDTHS.items():
            b0, b1m, b1, b2m, b2, b3 = (scale_channels(c, width) for c in widths)
            block: nn.Module = SepInceptionBlock3D(channels, b0, b1m, b1, b2m, b2, b3, norm)
            if name in STAGE_POOLS:
                kernel, stride, padding = STAGE_POOLS[name]
                block = nn.Sequential(nn.MaxPool3d(kernel, stride, padding), block)
            channels = b0 + b1 + b2 + b3
            self.add_stage(name, block, channels)
        self.feature_dim = channels  # 1024 at width 1
        if conv_init_std is not None:  # peer: CoCLR's s3dg.py
            self.init_conv_bn(partial(nn.init.normal_, mean=0.0, std=conv_init_std))


@register_encoder("s3d_small")
def s3d_small(in_channels: int = 3, width: float = 0.125, bn_eps: float = 1e-3,
              bn_momentum: float = 1e-3, conv_init_std: float | None = 0.01) -> S3D:
    """S3D at 1/8 width (128-d features) for CPU tests and the demo."""
    return S3D(in_channels=in_channels, width=width, bn_eps=bn_eps, bn_momentum=bn_momentum,
               conv_init_std=conv_init_std)
