"""What must hold before a run changes the hosts. Each check raises InvalidInput or UsageError,
naming the inventory and what to do, before any host is contacted."""

from __future__ import annotations

import re
from pathlib import Path

from installer import existing
from installer import plan as planning
from installer.errors import InvalidInput, UsageError
from installer.inventory.model import CONTROL_PLANE
from installer.inventory.validate import Result, require_valid
from installer.runner import scope


def prepare(inventory: str, excluded: list[str], overrides: dict | None = None,
            running: list[str] | None = None) -> tuple[Result, planning.Plan]:
    """An up's or upgrade's start: the inventory valid, --exclude possible, no change an installed
    cluster cannot take; then the plan the run executes (running: its stages, when a run that
    only adds hosts may be narrowed to them: scope.for_run)."""
    result = require_valid(inventory, overrides)
    cluster = result.cluster
    assert cluster is not None  # require_valid raised otherwise
    refuse_exclusions(cluster, excluded)
    existing.refuse_changes(cluster)
    return result, planning.make(cluster, existing.installed(cluster), *scope.for_run(cluster, running))


def against_the_cluster(cluster, made: planning.Plan, running: list[str] | None = None) -> planning.Plan:
    """The checks and the plan again, once the run holds the cluster and has read its history
    from its hosts: where that history and this controller's disagree, the cluster's wins."""
    existing.refuse_changes(cluster)
    again = planning.make(cluster, existing.installed(cluster), *scope.for_run(cluster, running))
    if again.installed != made.installed:
        was = made.installed["run"] if made.installed else "none"
        now = again.installed["run"] if again.installed else "none"
        again.history_note = (f"the cluster's own history differs from this controller's (its last install: run "
                              f"{now}; this controller knew: {was}): this plan follows the cluster's")
    return again


def refuse_exclusions(cluster, excluded: list[str]) -> None:
    """--exclude names hosts of the inventory, and not the first control plane, which acts for
    the cluster (joins, manifests, drains): a run cannot go on without it."""
    unknown = [host for host in excluded if host not in cluster.hosts]
    if unknown:
        raise InvalidInput(f"{cluster.inventory_file}: --exclude {', '.join(unknown)}: not a host of this inventory "
                           f"(its hosts: {', '.join(cluster.hosts)})")
    first = (cluster.groups.get(CONTROL_PLANE) or [None])[0]
    if first in excluded:
        raise InvalidInput(f"{cluster.inventory_file}: --exclude {first}: the first host of kube_control_plane acts "
                           "for the cluster (joins, manifests, drains) and cannot be left out; list a reachable "
                           "control plane first in that group")
    if set(cluster.hosts) <= set(excluded):
        raise InvalidInput(f"{cluster.inventory_file}: --exclude leaves no host to run on")


def upgrade_target(version: str) -> str:
    """`kinstall upgrade --to X.Y.Z` (a leading v allowed): the release as kube_version."""
    version = version.removeprefix("v")
    if not re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", version):
        raise UsageError(f"--to {version}: give a Kubernetes release as X.Y.Z, such as 1.36.4")
    return version


def removable(cluster, node: str) -> None:
    """remove-node: NODE is a host of the cluster, and not its only control plane."""
    if node not in cluster.hosts:
        raise InvalidInput(f"{cluster.inventory_file}: {node} is not a host of this inventory's cluster (its hosts: "
                           f"{', '.join(cluster.hosts)})")
    if cluster.groups[CONTROL_PLANE] == [node]:
        raise InvalidInput(f"{cluster.inventory_file}: {node} is the cluster's only control plane; removing it would "
                           "leave no API server: add another control plane first, or use `kinstall reset` to remove "
                           "the cluster")


# A snapshot on a host of the inventory, as `kinstall etcd snapshot --list` names it.
_ON_HOST = re.compile(r"^([a-z0-9](?:[-a-z0-9.]*[a-z0-9])?):((?:/[A-Za-z0-9_][A-Za-z0-9._-]*)+\.db)\Z")


def snapshot_source(cluster, snapshot: str) -> dict:
    """etcd restore's SNAPSHOT: HOST:/path/NAME.db on a host of the inventory (a cluster host or the
    backup target), or a file on the controller. Returns the operation's variables."""
    found = _ON_HOST.match(snapshot)
    target = str(cluster.settings.get("etcd_backup_target") or "")
    hosts = set(cluster.hosts) | ({target.rpartition(":")[0]} if ":" in target else set())
    if found and found[1] in hosts:
        return {"etcd_restore_remote": snapshot}
    path = Path(snapshot)
    if path.is_file():
        return {"etcd_restore_snapshot": str(path.resolve())}
    if found:
        raise InvalidInput(f"{cluster.inventory_file}: {found[1]} is not a host of this inventory (its hosts: "
                           f"{', '.join(sorted(hosts))}), and no file {snapshot} is on the controller: give HOST:/path "
                           "as `kinstall etcd snapshot --list` shows it")
    raise InvalidInput(f"{snapshot}: no such file on the controller; give a file `kinstall etcd snapshot` fetched, "
                       "or HOST:/path/NAME.db of one on a host, as `kinstall etcd snapshot --list` shows it")
