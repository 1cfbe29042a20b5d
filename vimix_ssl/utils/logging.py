"""Progress bars and console logging shared by every long-running command."""

from __future__ import annotations

import logging
import sys

from tqdm.auto import tqdm


def progress(total: int | None = None, desc: str = "", unit: str = "it", **kwargs) -> tqdm:
    """A tqdm bar on stderr with rate and ETA; quiet when VIMIX_NO_PROGRESS=1."""
    import os

    disable = os.environ.get("VIMIX_NO_PROGRESS") == "1"
    return tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr,
                disable=disable, mininterval=0.5, **kwargs)


def get_logger(name: str = "vimix") -> logging.Logger:
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s %(name)s] %(message)s", "%H:%M:%S"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    return logger
