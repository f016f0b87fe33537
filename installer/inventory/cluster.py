"""The validated cluster: what every later step (plan, run, verify) reads instead of raw variables."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import posixpath
from dataclasses import dataclass, field

from installer import plugins, releases
from installer.inventory.model import CLUSTER, CONTROL_PLANE, ETCD, NODES, Inventory
from installer.plugins.base import NetworkPlugin
from installer.stages import PLUGIN_HOSTS

COMPONENT_SETTINGS = {"etcd": "etcd_version", "containerd": "containerd_version", "runc": "runc_version",
                      "cni-plugins": "cni_version", "crictl": "crictl_version"}
ROLE_GROUPS = ((CONTROL_PLANE, "control-plane"), (NODES, "node"), (ETCD, "etcd"))


@dataclass(frozen=True)
class Node:
    name: str
    address: str  # what Ansible connects to
    ip: str | None
    roles: tuple[str, ...]
    # sha256 of every variable the host resolves to: a run that only adds hosts leaves a host
    # alone only while this is what it was (installer/runner/scope.py).
    vars_sha256: str = ""


@dataclass
class Cluster:
    inventory_file: str
    name: str
    release: releases.Release
    plugin: NetworkPlugin
    settings: dict
    groups: dict[str, list[str]]
    hosts: dict[str, Node] = field(default_factory=dict)
    ansible_overlay: dict = field(default_factory=dict)  # see Inventory.ansible_overlay
    # Where the cluster differs from the one Kubespray would build from this inventory.
    kubespray_differences: list = field(default_factory=list)

    @property
    def components(self) -> dict[str, str]:
        """Component versions: the release's pins, overridden by the inventory."""
        out = dict(self.release.components)
        for component, key in COMPONENT_SETTINGS.items():
            if isinstance(self.settings.get(key), str):
                out[component] = self.settings[key].lstrip("v")
        return out

    @property
    def first_control_plane(self) -> str:
        return self.groups[CONTROL_PLANE][0]


def _ordered(inventory: Inventory, group: str) -> list[str]:
    """Group members in Ansible's order: the first control plane is the first one Ansible's
    `groups['kube_control_plane']` lists, the one the roles act through."""
    return [h for h in inventory.ordered_members(group) if h in inventory.hosts]


def _computed(values: dict, kubernetes_hosts: list[str]) -> dict:
    """Settings whose default Kubespray works out from others: dns_domain from cluster_name,
    kube_apiserver_ip as the first address of the service network, the DNS autoscaler's least
    replicas from the number of Kubernetes hosts, the audit log's directory in the API server's pod."""
    from installer.inventory import kubespray, schema

    # Kubespray's own default expression, copied into an inventory, asks for the default.
    values = {name: schema.default(name) if kubespray.default_expression(name, value) else value
              for name, value in values.items()}
    out = dict(values)
    out["dns_domain"] = values.get("dns_domain") or values["cluster_name"]
    if values.get("dns_min_replicas") is None:
        out["dns_min_replicas"] = min(2, len(kubernetes_hosts))
    if values.get("dns_prevent_single_point_failure") is None:
        out["dns_prevent_single_point_failure"] = out["dns_min_replicas"] > 1
    if not values.get("audit_log_mountpath") and values.get("audit_log_path"):
        out["audit_log_mountpath"] = posixpath.dirname(values["audit_log_path"])
    if not values.get("kube_apiserver_ip"):
        network = ipaddress.IPv4Network(values["kube_service_addresses"], strict=False)
        out["kube_apiserver_ip"] = str(network.network_address + 1)
    return out


def _with_plugin_hosts(overlay: dict, plugin: NetworkPlugin | None) -> dict:
    """The overlay with stages.PLUGIN_HOSTS: the selected network plugin's groups as one group, which
    the stages' host patterns name (a plugin with no groups of its own leaves it empty)."""
    children = overlay.setdefault("all", {}).setdefault("children", {})
    children[PLUGIN_HOSTS] = {"children": dict.fromkeys(plugin.groups)} if plugin and plugin.groups \
        else {"hosts": {}}
    return overlay


def build(inventory: Inventory, settings: dict, file: str, kubespray_differences: list) -> Cluster:
    """kubespray_differences: where the cluster differs from Kubespray's, as validate's rules found them."""
    groups = {name: _ordered(inventory, name) for name in
              (CONTROL_PLANE, NODES, ETCD, CLUSTER, *sorted(plugins.all_groups()))}
    values = _computed({name: setting.value for name, setting in settings.items()}, groups[CLUSTER])
    hosts = {}
    for name in inventory.hosts:
        roles = tuple(role for group, role in ROLE_GROUPS if name in groups[group])
        roles += tuple(group for group in sorted(plugins.all_groups()) if name in groups[group])
        if not roles:
            continue
        address = inventory.value(name, "ansible_host") or inventory.value(name, "ansible_ssh_host", name)
        resolved = {key: value for key, (value, _) in inventory.resolve(name).items()}
        hosts[name] = Node(name=name, address=str(address), ip=inventory.value(name, "ip"), roles=roles,
                           vars_sha256=hashlib.sha256(json.dumps(resolved, sort_keys=True, default=str)
                                                      .encode()).hexdigest())
    plugin = plugins.get(values["kube_network_plugin"])
    return Cluster(inventory_file=file, name=values["cluster_name"], release=releases.get(values["kube_version"]),
                   plugin=plugin, settings=values, groups=groups, hosts=hosts,
                   ansible_overlay=_with_plugin_hosts(inventory.ansible_overlay(), plugin),
                   kubespray_differences=kubespray_differences)
