"""The controller's cache of a cluster's state: $KINSTALL_HOME/clusters/<cluster id>/ holds the
run records (the cluster's history as last read, and the artifacts of this controller's runs),
the admin kubeconfig, fetched snapshots and the fact cache. The cluster itself keeps its id,
secrets, lock and history (runner/custody.py); a controller learns the id from the hosts the
first time it runs the cluster, and notes which inventory file led to it (bindings.json) so that
commands that contact no host (plan, runs) find the cache.

A cluster this controller has not run yet has no cache: its directory is the one earlier kinstall
releases kept by the inventory's name and path (legacy_dir), which the cluster's first run adopts."""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

from installer import paths
from installer.inventory.model import find_inventory_file

ID = re.compile(r"^[0-9a-f]{32}$")


def legacy_id(cluster_name: str, inventory_file: str | Path) -> str:
    digest = hashlib.sha256(str(Path(inventory_file).resolve()).encode()).hexdigest()[:8]
    return f"{re.sub(r'[^a-z0-9.-]', '-', cluster_name.lower())}-{digest}"


def _inventory(cluster) -> str:
    return str(find_inventory_file(Path(cluster.inventory_file)).resolve())


def _bindings() -> dict:
    try:
        found = json.loads((paths.clusters() / "bindings.json").read_text())
        return found if isinstance(found, dict) else {}
    except (OSError, ValueError):
        return {}


def legacy_dir(cluster) -> Path:
    return paths.clusters() / legacy_id(cluster.name, _inventory(cluster))


def bound_id(cluster) -> str | None:
    """The id of the cluster this inventory file led to last, on this controller."""
    bound = _bindings().get(_inventory(cluster))
    return bound if isinstance(bound, str) and ID.match(bound) else None


def cached(cluster) -> Path:
    """The cache this controller has of the cluster (it may not exist)."""
    bound = bound_id(cluster)
    return paths.clusters() / bound if bound else legacy_dir(cluster)


def of(cluster, create: bool = True) -> Path:
    """A validated cluster's cache directory: the one place every command finds it."""
    directory = cached(cluster)
    if create:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def bind(cluster, cluster_id: str) -> Path:
    """The cluster's hosts say it is `cluster_id`: its cache is clusters/<cluster_id>, and this
    inventory file leads there from now on."""
    directory = paths.clusters() / cluster_id
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    found = _bindings()
    if found.get(_inventory(cluster)) != cluster_id:
        found[_inventory(cluster)] = cluster_id
        partial = paths.clusters() / "bindings.json.part"
        partial.write_text(json.dumps(found, indent=2) + "\n")
        os.replace(partial, paths.clusters() / "bindings.json")
    return directory


def lock_dir(cluster) -> Path:
    """Where this controller's own lock of the inventory's cluster lives (runner/lock.py)."""
    directory = paths.clusters() / "locks" / legacy_id(cluster.name, _inventory(cluster))
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory
