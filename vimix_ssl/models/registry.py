"""Encoder registry: encoders are built by name from plain-data keyword arguments.

A registered encoder can be rebuilt from a file holding only ``(name, kwargs)``, which is
how exported encoders are loaded (``vimix_ssl.models.export``)::

    @register_encoder("s3d")
    class S3D(StagedEncoder): ...

    encoder = build_encoder("s3d", in_channels=2, width=0.5)
"""

from __future__ import annotations

import inspect
from typing import Any

# the encoder modules register themselves on import (``models.base.register_encoder``)
from vimix_ssl.models import r3d_rs, s3d, stgcn, torchvision_video  # noqa: F401
from vimix_ssl.models.base import ENCODERS as _REGISTRY
from vimix_ssl.models.base import EncoderFactory, StagedEncoder, register_encoder  # noqa: F401


class UnknownEncoderError(KeyError):
    """``build_encoder`` was given a name that no module registered."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


def list_encoders() -> list[str]:
    """Registered encoder names, sorted."""
    return sorted(_REGISTRY)


def get_encoder_factory(name: str) -> EncoderFactory:
    """The class/function registered under ``name``; a clear error lists the valid names."""
    if name not in _REGISTRY:
        raise UnknownEncoderError(
            f"unknown encoder {name!r}; registered encoders: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def encoder_parameters(name: str) -> dict[str, Any]:
    """Keyword arguments accepted by encoder ``name`` with their defaults."""
    signature = inspect.signature(get_encoder_factory(name))
    return {p.name: p.default for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def build_encoder(name: str, **kwargs: Any) -> StagedEncoder:
    """Build encoder ``name`` with plain-data ``kwargs`` (unknown kwargs are a clear error)."""
    factory = get_encoder_factory(name)
    accepted = encoder_parameters(name)
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise TypeError(f"encoder {name!r} got unknown argument(s) {unknown}; "
                        f"accepted: {sorted(accepted)}")
    encoder = factory(**kwargs)
    if not isinstance(encoder, StagedEncoder):
        raise TypeError(f"encoder {name!r} built a {type(encoder).__name__}, not a StagedEncoder")
    return encoder
