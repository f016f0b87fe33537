"""What `kinstall etcd snapshot --list` reports: every etcd snapshot that exists and where, newest
first, each named the way `kinstall etcd restore` takes it: a file on the controller (what
`kinstall etcd snapshot` fetched), or HOST:/path on a member or the scheduled backups' target
(what the etcd-snapshots operation found)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True)
class Snapshot:
    where: str  # "controller" or a host of the inventory
    name: str  # the argument `kinstall etcd restore` takes
    size: int
    taken: datetime


def on_hosts(path: Path) -> list[Snapshot]:
    """The operation's file: host -> lines of PATH<TAB>size<TAB>mtime (seconds since the epoch)."""
    found = json.loads(path.read_text()) if path.is_file() else {}
    snapshots = []
    for host, lines in found.items():
        for line in lines:
            file, size, mtime = line.split("\t")
            snapshots.append(Snapshot(host, f"{host}:{file}", int(size), datetime.fromtimestamp(int(mtime), UTC)))
    return snapshots


def on_controller(directory: Path) -> list[Snapshot]:
    return [Snapshot("controller", str(p), p.stat().st_size, datetime.fromtimestamp(p.stat().st_mtime, UTC))
            for p in directory.glob("*.db") if p.is_file()] if directory.is_dir() else []


def render(found: list[Snapshot]) -> str:
    if not found:
        return "no etcd snapshots: take one with `kinstall etcd snapshot`, or schedule them (etcd_backup_schedule)"
    found = sorted(found, key=lambda s: (s.taken, s.where, s.name), reverse=True)
    lines = [f"{'where':<12} {'taken (UTC)':<19} {'size':>9}  snapshot (what `kinstall etcd restore` takes)"]
    lines += [f"{s.where:<12} {s.taken:%Y-%m-%d %H:%M:%S} {_size(s.size):>9}  {s.name}" for s in found]
    places = len({s.where for s in found})
    lines.append(f"{len(found)} snapshot{'s' if len(found) != 1 else ''} in {places} place{'s' if places != 1 else ''}")
    return "\n".join(lines)


def _size(count: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"
