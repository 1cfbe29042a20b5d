"""vimix_ssl: self-supervised contrastive video representation learning with Vi-Mix.

Reuse a pre-trained encoder in your own code::

    from vimix_ssl import load_encoder
    encoder = load_encoder("rgb_encoder.pt")   # nn.Module in eval mode
    features = encoder(clips)                   # (B, C, T, H, W) -> (B, 1024)
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_encoder"]


def __getattr__(name: str):
    # Lazy so that `import vimix_ssl` (and `vimix --help`) does not import torch.
    if name == "load_encoder":
        from vimix_ssl.models.export import load_encoder

        return load_encoder
    raise AttributeError(f"module 'vimix_ssl' has no attribute {name!r}")
