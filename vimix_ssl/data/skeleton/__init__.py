"""NTU RGB+D skeleton data: parsing, preparation, frame50 preprocessing, streams, augmentation.

See docs/DATA_SKELETON.md for the exact preprocessing and the on-disk layout.
"""

from vimix_ssl.data.skeleton.parser import SkeletonParseError, SkeletonSequence, read_skeleton

__all__ = ["SkeletonParseError", "SkeletonSequence", "read_skeleton"]
