"""What follows a run on the controller, from its record."""

from __future__ import annotations

import shutil
from pathlib import Path

from installer import state


def reset_done(cluster, exit_code: int, limit: str | None) -> None:
    """After a reset of every host, the admin kubeconfig goes too: the cluster it opened is gone,
    and the checks against an installed cluster start afresh."""
    if exit_code == 0 and not limit:
        shutil.rmtree(state.of(cluster) / "kubeconfig", ignore_errors=True)


def newest_snapshot(record) -> Path | None:
    """The snapshot an `etcd snapshot` run fetched, as its record says (runner/engine.py)."""
    path = record.inputs.get("snapshot", {}).get("path")
    return Path(path) if path else None
