"""Where condet keeps what it decodes once: image tensors, object crops, embeddings and the
decode check's findings."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$CONDET_CACHE_DIR``, else ``$XDG_CACHE_HOME/condet``, else ``~/.cache/condet``."""
    if os.environ.get("CONDET_CACHE_DIR"):
        return Path(os.environ["CONDET_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "condet"
