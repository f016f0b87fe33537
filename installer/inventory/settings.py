"""Cluster-wide settings: variables whose x-kinstall-scope is 'cluster' must resolve to one value
on every host of the cluster. Each setting remembers where it was set, for messages."""

from __future__ import annotations

import json
from dataclasses import dataclass

from installer import plugins
from installer.inventory import schema
from installer.inventory.findings import WARNING, Finding
from installer.inventory.model import CLUSTER, CONTROL_PLANE, ETCD, Inventory, VarSource


@dataclass(frozen=True)
class Setting:
    name: str
    value: object
    source: VarSource | None  # None: the schema's default
    valid: bool = True  # False when the schema rejects the value (already reported)

    @property
    def label(self) -> str:
        return self.source.label(self.name) if self.source else "kinstall's default"


# Settings that etcd hosts read too: etcd's own, the cluster's name and where downloads come from.
_ETCD_HOST_SETTINGS = {"cluster_name", "files_repo", "download_source", "download_bundle_dir", "local_release_dir"}


def _etcd_hosts_use(name: str) -> bool:
    return name.startswith("etcd_") or name.endswith("_checksums") or name in _ETCD_HOST_SETTINGS


def _key(value) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def resolve(inventory: Inventory) -> tuple[dict[str, Setting], list[Finding]]:
    findings: list[Finding] = []
    hosts = sorted(inventory.members(CLUSTER) | inventory.members(ETCD)) or sorted(inventory.hosts)
    cluster_vars = {name for name in schema.variables() if schema.scope(name) == "cluster"}
    defaults = {name: (schema.default(name), None) for name in cluster_vars}
    # Hosts that share a resolved view of the cluster variables are counted together: usually
    # every host shares its groups' view, so this stays cheap for thousands of hosts.
    views: dict[int, tuple[dict, list[str]]] = {}
    for host in hosts:
        node = inventory.hosts[host]
        own = any(name in cluster_vars for source in node.inline + node.files for name in source.data)
        resolved = inventory.resolve(host) if own else inventory.group_level(host)
        views.setdefault(id(resolved), (resolved, []))[1].append(host)
    # A setting is judged over the hosts that use it: etcd-only hosts run etcd and the downloads,
    # and never read Kubernetes' settings (Kubespray lays those out in group_vars/k8s_cluster).
    kubernetes_hosts = inventory.members(CLUSTER)
    control_planes = inventory.members(CONTROL_PLANE)
    # name -> value key -> (value, source, hosts)
    seen: dict[str, dict[str, tuple]] = {name: {} for name in cluster_vars}
    for resolved, members in views.values():
        kube_members = [h for h in members if h in kubernetes_hosts] if kubernetes_hosts else members
        for name in cluster_vars:
            if schema.variables()[name].get("x-kinstall-hosts") == CONTROL_PLANE:
                users = [h for h in members if h in control_planes]  # e.g. [kube_control_plane:vars]
            else:
                users = members if _etcd_hosts_use(name) else kube_members
            if not users:
                continue
            value, source = resolved.get(name) or defaults[name]
            entry = seen[name].setdefault(_key(value), (value, source, []))
            entry[2].extend(users)
    settings: dict[str, Setting] = {}
    for name, variants in seen.items():
        if not variants:
            settings[name] = Setting(name, schema.default(name), None)
            continue
        ordered = sorted(variants.values(), key=lambda v: -len(v[2]))
        value, source, _ = ordered[0]
        settings[name] = Setting(name, value, source, schema.value_is_valid(name, value))
        for other_value, other_source, other_hosts in ordered[1:]:
            where = other_source or source
            hosts_text = ", ".join(other_hosts[:5]) + (" ..." if len(other_hosts) > 5 else "")
            first = source.label(name) if source else "kinstall's default"
            theirs, ours = ("another value", "theirs") if schema.secret(name) else (_key(other_value), _key(value))
            findings.append(where.finding(
                name, f"'{name}' is a cluster setting, but {hosts_text} would get {theirs} "
                f"while the others get {ours} ({first}); set it once for the whole cluster, in "
                "group_vars/all or group_vars/k8s_cluster", rule="cluster-setting", key=True))
    selected = settings.get("kube_network_plugin")
    plugin_name = selected.value if selected else plugins.DEFAULT
    for name, setting in settings.items():
        owner = schema.variables()[name].get("x-kinstall-plugin")
        if owner and owner != plugin_name and setting.source is not None:
            findings.append(setting.source.finding(
                name, f"'{name}' is a {owner} setting and has no effect: kube_network_plugin is {plugin_name}",
                severity=WARNING, rule="plugin-setting", key=True))
    return settings, findings
