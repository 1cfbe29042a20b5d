"""Encoders (staged, registered by name), heads and the encoder file format.

Importing this package imports every encoder module, so each registers itself.
"""

from vimix_ssl.models import r3d_rs, s3d, stgcn, torchvision_video  # noqa: F401  (registration)
from vimix_ssl.models.base import StagedEncoder
from vimix_ssl.models.registry import build_encoder, list_encoders, register_encoder

__all__ = ["StagedEncoder", "build_encoder", "list_encoders", "register_encoder"]
