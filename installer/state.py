"""Per-cluster state: $KINSTALL_HOME/clusters/<id>/ holds the lock, the fact cache and the run
records. A cluster is identified by its name and the absolute path of its inventory, so two
inventories that both keep Kubespray's default cluster_name do not share state."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from installer import paths
from installer.inventory.model import find_inventory_file


def cluster_id(cluster_name: str, inventory_file: str | Path) -> str:
    digest = hashlib.sha256(str(Path(inventory_file).resolve()).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^a-z0-9.-]', '-', cluster_name.lower())}-{digest}"


def of(cluster, create: bool = True) -> Path:
    """A validated cluster's state directory: the one place every command finds it."""
    return cluster_dir(cluster.name, find_inventory_file(Path(cluster.inventory_file)), create)


def cluster_dir(cluster_name: str, inventory_file: str | Path, create: bool = True) -> Path:
    directory = paths.clusters() / cluster_id(cluster_name, inventory_file)
    if create:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory
