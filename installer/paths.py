"""Where kinstall keeps what it keeps on the controller, the one home of these paths:
KINSTALL_HOME (default ~/.local/share/kinstall) for labs and clusters, KINSTALL_CACHE (default
~/.cache/kinstall) for downloads and build caches."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    return Path(os.environ.get("KINSTALL_HOME") or Path.home() / ".local" / "share" / "kinstall")


def cache() -> Path:
    return Path(os.environ.get("KINSTALL_CACHE") or Path.home() / ".cache" / "kinstall")


def labs() -> Path:
    return home() / "labs"


def clusters() -> Path:
    """Each cluster's state directory lives here (state.cluster_dir)."""
    return home() / "clusters"
