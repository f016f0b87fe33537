"""The stages of `kinstall up`, in order, each defined once: its name (the playbook
playbooks/<name>.yml, --stages, the run records), what it does, the hosts it runs on as an Ansible
host pattern (the union of its playbook's plays: a test holds the playbooks to it), how the plan
shows it batched, and when it has nothing to do. `plan.make` evaluates these for a cluster; the
runner runs that plan."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from installer.inventory.cluster import Cluster

# The hosts of the network plugin's own groups (calico_rr, contrail_controller: the registry's
# Plugin.groups), a group kinstall declares for Ansible beside the inventory's (Cluster.ansible_overlay).
PLUGIN_HOSTS = "kinstall_plugin_hosts"
EVERY_HOST = f"k8s_cluster:etcd:{PLUGIN_HOSTS}"
# The hosts the cluster had before a run that only adds hosts (runner/scope.py), a group kinstall
# declares for Ansible too (empty in any other run): the os role gives them /etc/hosts alone.
EXISTING_HOSTS = "kinstall_existing_hosts"
ANY_GROUP = "*"
# An operation whose hosts its command names (remove-node NODE): planned to run, never evaluated.
NAMED_BY_COMMAND = ""

# How the plan shows a stage's hosts batched (the playbooks' plays do the batching):
TOGETHER = "together"  # every host at once
FIRST_THEN_ONE_AT_A_TIME = "first-then-one-at-a-time"  # the first host, then the others one by one
VERSION_SKEW = "version-skew"  # the etcd snapshot, first control plane, other control planes, worker batches


def _loadbalancer_off(cluster: Cluster) -> str:
    """`loadbalancer_apiserver` names an external load balancer, or `loadbalancer_apiserver_localhost` is false"""
    if cluster.settings.get("loadbalancer_apiserver"):
        return "an external load balancer (loadbalancer_apiserver) serves the API"
    if not cluster.settings["loadbalancer_apiserver_localhost"]:
        return "loadbalancer_apiserver_localhost is false"
    return ""


@dataclass(frozen=True)
class Stage:
    name: str
    summary: str
    hosts: str = EVERY_HOST
    batching: str = TOGETHER
    # Why the stage has nothing to do although its pattern matches hosts ("" when it runs) ...
    off: Callable[[Cluster], str] | None = None
    # ... and why, when its pattern matches no host.
    no_hosts: str = "no host of the inventory is in its groups"
    # A run that only adds hosts (installer/runner/scope.py) runs the stage on the new hosts alone, unless
    # one of them joins a group named here: then on every host of the stage, as what they have
    # depends on that group's members (ANY_GROUP: any new host).
    every_host_when_added_to: tuple[str, ...] = ()

    @property
    def playbook(self) -> str:
        return f"{self.name}.yml"


STAGES = (
    Stage("preflight", "check every host before changing any"),
    # Every host's /etc/hosts names every host; the roles give hosts that were there before only
    # that task (the group kinstall_existing_hosts).
    Stage("os", "packages, kernel settings, swap, /etc/hosts, time sync", every_host_when_added_to=(ANY_GROUP,)),
    Stage("download", "fetch binaries and images once, verify checksums, distribute"),
    Stage("runtime", "containerd, runc, CNI plugins, crictl", hosts=f"k8s_cluster:{PLUGIN_HOSTS}"),
    # etcd members start together: a new cluster needs its initial members up at once.
    Stage("etcd", "the etcd cluster over TLS", hosts="etcd", every_host_when_added_to=("etcd",)),
    Stage("loadbalancer", "the local proxy to the API servers on non-control-plane nodes",
          hosts="k8s_cluster:!kube_control_plane", off=_loadbalancer_off, no_hosts="every node is a control plane",
          every_host_when_added_to=("kube_control_plane",)),
    # Before control-plane and nodes: a host whose kubelet is older than kube_version is moved to it
    # here, in the version-skew policy's order, before any stage could put a newer kubelet beside
    # an older API server. Hosts that run kube_version already, or no Kubernetes yet, are only read;
    # the first etcd member takes a snapshot when any host moves.
    Stage("upgrade", "move hosts that run an older Kubernetes to kube_version, in a safe order",
          hosts="k8s_cluster:etcd[0]", batching=VERSION_SKEW),
    # kubeadm init on the first, then control plane joins one at a time (etcd and certificates).
    # A new etcd member is a new --etcd-servers entry on every API server.
    Stage("control-plane", "kubeadm init on the first control plane, join the others", hosts="kube_control_plane",
          batching=FIRST_THEN_ONE_AT_A_TIME, every_host_when_added_to=("kube_control_plane", "etcd")),
    # Every Kubernetes host that is not a control plane joins as a node: kube_node's, and Kubespray's
    # calico_rr hosts (route reflectors are nodes that calico-node runs on).
    Stage("nodes", "kubelet on the workers, kubeadm join", hosts="k8s_cluster:!kube_control_plane",
          no_hosts="there are no workers: the control plane runs the pods"),
    # Every node routes to a new node's pods (bridge), or learns of it from the plugin.
    Stage("network", "the network plugin", hosts=f"k8s_cluster:{PLUGIN_HOSTS}",
          every_host_when_added_to=("k8s_cluster", PLUGIN_HOSTS)),
    # The manifests go through the first control plane's kubectl; local volumes' directories are
    # made on every node.
    # The local volumes' manifest lists every node; DNS replicas follow the node count.
    Stage("addons", "DNS, storage classes, metrics-server, tenants", hosts="k8s_cluster",
          every_host_when_added_to=(ANY_GROUP,)),
    Stage("verify", "prove the cluster works", every_host_when_added_to=(ANY_GROUP,)),
)
NAMES = tuple(stage.name for stage in STAGES)

# Lifecycle operations: playbooks run on their own by their commands (`kinstall etcd snapshot`, ...),
# with the same records, lock and progress as the stages.
OPERATIONS = (
    Stage("etcd-snapshot", "save a snapshot of etcd's data and fetch it to the controller", hosts="etcd"),
    Stage("etcd-snapshots", "list the snapshots the etcd members and the backup target keep", hosts="etcd"),
    Stage("etcd-restore", "restore every etcd member from a snapshot", hosts="etcd"),
    Stage("reset", "wipe Kubernetes, etcd and the container runtime from the hosts"),
    # From the controller (drain, delete, etcd member removal through the others), then the node's reset:
    # the node its command names, so no pattern of the inventory's groups.
    Stage("remove-node", "drain a node, delete it from Kubernetes and etcd, reset its host", hosts=NAMED_BY_COMMAND),
    Stage("certs-check", "every certificate on the hosts with its expiry", hosts="k8s_cluster:etcd"),
    Stage("certs-renew", "renew etcd's certificates near expiry and every kubeadm certificate",
          hosts="etcd:kube_control_plane"),
)


def by_name(name: str) -> Stage:
    return STAGES[NAMES.index(name)]


def operation(name: str) -> Stage:
    return next(op for op in OPERATIONS if op.name == name)


_TERM = re.compile(r"(?P<op>[!&]?)(?P<group>[A-Za-z0-9_.-]+)(?:\[(?P<start>-?[0-9]*)(?::(?P<end>-?[0-9]*))?\])?\Z")


def select(pattern: str, groups: dict[str, list[str]], hosts: list[str]) -> list[str]:
    """The hosts an Ansible host pattern matches, in the order its terms and groups list them, as
    Ansible evaluates it (`hosts`: the hosts that exist, for a term that names one): the
    terms separated by ':' (or ','), plain ones added, then '&' ones intersected, then '!' ones
    taken away; a term is a group or host name, with an optional [i] or [i:j] (both ends included,
    as Ansible's). Only what the stage definitions use: no wildcards or regular expressions."""
    terms = [t for t in re.split(r"[,:](?![0-9-]*\])", pattern) if t]
    chosen: list[str] = []
    kept: set[str] | None = None
    removed: set[str] = set()
    for term in terms:
        match = _TERM.match(term)
        if match is None:
            raise ValueError(f"host pattern term {term!r} is not one kinstall evaluates")
        name = match["group"]
        members = list(groups.get(name, [name] if name in hosts else []))
        if match["start"] is not None:
            start = int(match["start"] or 0)
            if match["end"] is None:
                members = [members[start]] if -len(members) <= start < len(members) else []
            else:
                end = int(match["end"]) + 1 if match["end"] else len(members)
                members = members[start:end]
        if match["op"] == "&":
            kept = set(members) if kept is None else kept & set(members)
        elif match["op"] == "!":
            removed |= set(members)
        else:
            chosen += members
    return list(dict.fromkeys(h for h in chosen if (kept is None or h in kept) and h not in removed))


_BATCHING = {TOGETHER: "all at once", FIRST_THEN_ONE_AT_A_TIME: "the first, then one at a time",
             VERSION_SKEW: "etcd snapshot, first control plane, the others one at a time, workers in batches of "
                           "`upgrade_batch`"}
TABLE_START, TABLE_END = "<!-- stages: generated from installer/stages.py -->", "<!-- end of generated stages -->"


def _when_added(stage: Stage) -> str:
    groups = stage.every_host_when_added_to
    if ANY_GROUP in groups:
        return "every host"
    if groups:
        return f"every host when a new host is in {' or '.join(f'`{g}`' for g in groups)}; else the new hosts"
    return "the new hosts"


def markdown() -> str:
    """The stages and operations as docs/stages.md shows them (scripts/stages-reference writes it)."""
    rows = ["| # | stage | what it does | hosts (Ansible pattern) | batches | nothing to do when | "
            "a run that only adds hosts runs it on |",
            "|---|---|---|---|---|---|---|"]
    for number, stage in enumerate(STAGES, start=1):
        idle = [(stage.off.__doc__ or "").strip()] if stage.off else []
        if stage.no_hosts != Stage.no_hosts:
            idle.append(stage.no_hosts.split(":")[0])
        rows.append(f"| {number} | {stage.name} | {stage.summary} | `{stage.hosts}` | {_BATCHING[stage.batching]} | "
                    f"{'; or '.join(idle) or 'its pattern matches no host'} | {_when_added(stage)} |")
    rows += ["", "| operation | what it does | hosts (Ansible pattern) |", "|---|---|---|"]
    rows += [f"| {op.name} | {op.summary} | {f'`{op.hosts}`' if op.hosts else 'the node its command names'} |"
             for op in OPERATIONS]
    return "\n".join([TABLE_START, *rows, TABLE_END])
