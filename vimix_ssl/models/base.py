"""The staged-encoder contract every backbone follows.

An encoder is an ordered list of named stages plus a global pool. Running stages
``[0, k)`` then ``[k, n)`` equals running ``[0, n)``, so Cross-Modal Manifold CutMix can
stop an encoder after any *mixable* stage, mix the hidden map with another encoder's, and
continue. A cut point ``k`` means "the output of stage ``k - 1``"; cut 0 (the raw input)
is never mixable.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from vimix_ssl.utils.registry import registrar


class StagedEncoder(nn.Module):
    """Base class: subclasses fill ``self.stages`` (``nn.ModuleDict``, ordered) and ``pool``.

    Class attributes subclasses set:
      * ``feature_layout`` — axis names of a hidden map after the batch axis, e.g.
        ``"cthw"`` (video ``(B, C, T, H, W)``) or ``"mctv"`` (skeleton ``(B, M, C, T, V)``,
        ``m`` = bodies, never cut).
      * ``input_layout`` — the same for the input tensor.
    """

    feature_layout: str = "cthw"
    input_layout: str = "cthw"

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleDict()
        self.stage_channels: dict[str, int] = {}  # output channels of each stage
        self.mixable: list[str] = []  # names of stages whose output may be mixed
        self.feature_dim: int = 0  # size of the pooled feature vector
        self.in_channels: int = 0  # channels of the input (axis "c" of input_layout)

    def add_stage(self, name: str, module: nn.Module, channels: int, mixable: bool = True) -> None:
        """Append stage ``name`` whose output has ``channels`` channels (axis "c" of the layout)."""
        if name in self.stages:
            raise ValueError(f"stage {name!r} already exists in {type(self).__name__}")
        self.stages[name] = module
        self.stage_channels[name] = int(channels)
        if mixable:
            self.mixable.append(name)

    def example_input_shape(self, batch_size: int = 2) -> tuple[int, ...]:
        """A small valid input shape (used by tests and ``vimix list encoders``)."""
        raise NotImplementedError

    def check_input(self, x: Tensor) -> None:
        """Raise a clear error when ``x`` does not match ``input_layout`` / ``in_channels``."""
        layout = "b" + self.input_layout
        if x.dim() != len(layout):
            raise ValueError(f"{type(self).__name__} expects a {len(layout)}-D input "
                             f"({', '.join(layout.upper())}), got shape {tuple(x.shape)}")
        channels = x.shape[layout.index("c")]
        if self.in_channels and channels != self.in_channels:
            raise ValueError(f"{type(self).__name__} expects {self.in_channels} input channels on axis "
                             f"C of ({', '.join(layout.upper())}), got shape {tuple(x.shape)}")

    # -- contract -------------------------------------------------------------
    @property
    def stage_names(self) -> list[str]:
        return list(self.stages.keys())

    @property
    def num_stages(self) -> int:
        return len(self.stages)

    def mixable_cuts(self) -> list[int]:
        """Cut points (1-based stage counts) after which the hidden map may be mixed."""
        names = self.stage_names
        return [names.index(n) + 1 for n in self.mixable]

    def cut_channels(self, cut: int) -> int:
        """Channels of the hidden map at cut point ``cut`` (output of stage ``cut - 1``)."""
        if not 1 <= cut <= self.num_stages:
            raise ValueError(f"cut {cut} out of range 1..{self.num_stages}")
        return self.stage_channels[self.stage_names[cut - 1]]

    def forward_stages(self, x: Tensor, start: int = 0, end: int | None = None) -> Tensor:
        """Run stages ``[start, end)``. ``x`` is the input (start=0) or the map at cut ``start``."""
        end = self.num_stages if end is None else end
        if not 0 <= start <= end <= self.num_stages:
            raise ValueError(f"invalid stage range [{start}, {end}) for {self.num_stages} stages")
        if start == 0 and end > 0:
            self.check_input(x)
        for name in self.stage_names[start:end]:
            x = self.stages[name](x)
        return x

    def pool(self, x: Tensor) -> Tensor:
        """Hidden map after the last stage -> ``(B, feature_dim)``."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """Input -> pooled features ``(B, feature_dim)``."""
        return self.pool(self.forward_stages(x))

    def forward_from(self, h: Tensor, start: int) -> Tensor:
        """Map at cut ``start`` -> pooled features ``(B, feature_dim)``."""
        return self.pool(self.forward_stages(h, start))

    def describe(self) -> list[dict[str, object]]:
        """One row per stage (name, output channels, mixable) for ``vimix list encoders``."""
        return [{"stage": n, "channels": self.stage_channels.get(n), "mixable": n in self.mixable}
                for n in self.stage_names]


class VideoEncoder(StagedEncoder):
    """A ``StagedEncoder`` for clips ``(B, C, T, H, W)`` with adaptive global average pooling.

    Adaptive pooling takes any map size (a 128-px S3D clip gives a 4×4×4 map, which
    torchvision's fixed (2, 7, 7) pool cannot take).
    """

    feature_layout = "cthw"
    input_layout = "cthw"

    def __init__(self) -> None:
        super().__init__()
        self.global_pool = nn.AdaptiveAvgPool3d(1)

    def example_input_shape(self, batch_size: int = 2) -> tuple[int, ...]:
        return (batch_size, self.in_channels, 8, 32, 32)

    def pool(self, x: Tensor) -> Tensor:
        return self.global_pool(x).flatten(1)  # (B, C, T, H, W) -> (B, C)

    def init_conv_bn(self, conv_init: Callable[[Tensor], object]) -> None:
        """``conv_init`` on every Conv3d weight (biases zero); BatchNorm3d weight 1, bias 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv3d):
                conv_init(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm3d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)


EncoderFactory = Callable[..., StagedEncoder]

# name -> class or factory; filled by ``@register_encoder`` when an encoder module is imported
ENCODERS: dict[str, EncoderFactory] = {}

# Decorator registering a ``StagedEncoder`` class or factory function under a name.
register_encoder = registrar(ENCODERS, "encoder name")
