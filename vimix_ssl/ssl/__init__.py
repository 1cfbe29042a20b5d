"""Contrastive building blocks: key queue, momentum (EMA) update, losses, distributed helpers."""

from vimix_ssl.ssl.losses import dominant_targets, imix_loss, info_nce, pretext_accuracy
from vimix_ssl.ssl.momentum import copy_and_freeze, momentum_update
from vimix_ssl.ssl.queue import MomentumQueue

__all__ = ["MomentumQueue", "copy_and_freeze", "dominant_targets", "imix_loss", "info_nce",
           "momentum_update", "pretext_accuracy"]
