"""Encoders (staged, registered by name), heads and the encoder file format.

Importing this package imports every encoder module, so each registers itself.
"""

from vimix_ssl.models.base import StagedEncoder, register_encoder
from vimix_ssl.models.registry import build_encoder, list_encoders  # imports (registers) every encoder

__all__ = ["StagedEncoder", "build_encoder", "list_encoders", "register_encoder"]
