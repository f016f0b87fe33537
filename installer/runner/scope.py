"""A run that only adds hosts touches only what must change.

Every `up` records the cluster's fingerprint (its settings with kinstall's own playbooks and
roles, each host's variables, the groups) in its run record, which the cluster keeps on its hosts
(custody.py), so any controller reads it. When the newest successful `up` of these stages
has the fingerprint this inventory has but for hosts it did not know, and nothing changed the
hosts since, the hosts it left are as it left them: the run gives each stage to the new hosts
alone, or to every host of the stage when a new host joins a group what they have depends on
(stages.Stage.every_host_when_added_to). Anything else is a full pass; `--all-hosts` asks for one.

Pure: a function of the cluster and its run history."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field

from installer import stages, state
from installer.inventory.cluster import Cluster
from installer.runner import records
from installer.runner.kinds import Kind

FINGERPRINT = "fingerprint"


@functools.cache
def _kinstall_digest() -> str:
    """sha256 over kinstall's playbooks and roles: another kinstall may do other things on a host."""
    from installer.runner.engine import PLAYBOOKS, ROLES, files_digest

    return files_digest(PLAYBOOKS.parent, sorted(p for root in (PLAYBOOKS, ROLES) for p in root.rglob("*")
                                                 if p.is_file() and "__pycache__" not in p.parts))


def fingerprint(cluster: Cluster) -> dict:
    """What a host's state follows from, for the run record: digests only (secret settings are in
    the settings' digest, never in the record as themselves)."""
    settings = json.dumps({"settings": cluster.settings, "components": cluster.components,
                           "release": cluster.release.version, "plugin": cluster.plugin.name,
                           "kinstall": _kinstall_digest()}, sort_keys=True, default=str)
    return {"settings": hashlib.sha256(settings.encode()).hexdigest(),
            "hosts": {name: node.vars_sha256 for name, node in cluster.hosts.items()},
            "groups": {name: list(hosts) for name, hosts in cluster.groups.items() if hosts}}


@dataclass
class OnlyAdds:
    """A run that only adds hosts: what the plan narrows each stage with."""
    baseline: str  # the run whose hosts are as it left them
    added: list[str]
    existing: list[str]
    gained: set[str] = field(default_factory=set)  # the groups new hosts join

    def hosts(self, stage: stages.Stage, hosts: list[str]) -> list[str]:
        """The stage's hosts in this run, from those its pattern matches."""
        wanted = stage.every_host_when_added_to
        if stages.ANY_GROUP in wanted or self.gained & set(wanted):
            return hosts
        return [h for h in hosts if h in self.added]


def _groups_of(groups: dict[str, list[str]], host: str) -> list[str]:
    return sorted(name for name, members in groups.items() if host in members)


def only_adds(cluster: Cluster, history: list[records.RunRecord], running: list[str]) -> tuple[OnlyAdds | None, str]:
    """(OnlyAdds, "") when this run only adds hosts to what the newest successful `up` of the
    `running` stages left; else (None, why every host runs: "" for a plain re-run)."""
    now = fingerprint(cluster)
    for index in range(len(history) - 1, -1, -1):
        run = history[index]
        kind = Kind.of(run)
        if not kind.changes_hosts:
            continue  # verify, status, plan --against-hosts: read only
        baseline = run.inputs.get(FINGERPRINT)
        if (kind is not Kind.UP or run.status != records.SUCCESSFUL or run.inputs.get("limit")
                or run.inputs.get("exclude")):
            return None, f"run {run.id}, the cluster's newest change, was not a successful `up` of every host"
        missing = [name for name in running if name not in (run.inputs.get("stages") or [])]
        if missing:
            return None, f"run {run.id}, the cluster's newest change, did not run {', '.join(missing)}"
        if not baseline:
            return None, f"run {run.id}, the cluster's newest change, did not record the cluster's fingerprint"
        break
    else:
        return None, ""
    if baseline["settings"] != now["settings"]:
        return None, f"the settings or kinstall's playbooks differ from run {run.id}'s"
    known = baseline["hosts"]
    gone = sorted(set(known) - set(now["hosts"]))
    if gone:
        return None, f"{', '.join(gone)} left the inventory since run {run.id}"
    changed = [h for h in known if known[h] != now["hosts"][h]
               or _groups_of(baseline["groups"], h) != _groups_of(now["groups"], h)]
    if changed:
        return None, f"the variables or groups of {', '.join(changed)} differ from run {run.id}'s"
    first = [g for g, members in baseline["groups"].items() if now["groups"].get(g, [None])[0] != members[0]]
    if first:
        return None, f"the first host of {', '.join(first)} differs from run {run.id}'s"
    added = [h for h in now["hosts"] if h not in known]
    if not added:
        return None, ""
    gained = {name for name, members in cluster.groups.items() if set(members) & set(added)}
    if set(added) & {h for g in cluster.plugin.groups for h in cluster.groups.get(g, [])}:
        gained.add(stages.PLUGIN_HOSTS)
    return OnlyAdds(run.id, added, [h for h in now["hosts"] if h in known], gained), ""


def for_run(cluster: Cluster, running: list[str] | None) -> tuple[OnlyAdds | None, str]:
    """only_adds() on the cluster's history as this controller holds it (the cluster's own, once
    the run holds the cluster); running None: a run that is never narrowed (--all-hosts, --limit,
    --exclude, --resume, upgrade)."""
    if running is None:
        return None, ""
    directory = state.of(cluster, create=False)
    return only_adds(cluster, records.for_cluster(directory) if directory.is_dir() else [], running)
