"""What `kinstall up` would do: the stages in order, the hosts each touches and how they are batched.

Pure: a function of the validated Cluster, so it is cheap to test and never contacts a host."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from installer.inventory.cluster import Cluster
from installer.inventory.model import CLUSTER, CONTROL_PLANE, ETCD, NODES
from installer.stages import STAGES


@dataclass
class StagePlan:
    name: str
    summary: str
    hosts: list[str]
    batches: list[list[str]]  # hosts run together; batches run one after another
    skipped: str = ""  # why the stage has nothing to do


@dataclass
class Plan:
    cluster: str
    inventory: str
    kube_version: str
    kubeadm_api: str
    release_status: str
    network_plugin: dict
    components: dict
    groups: dict
    stages: list[StagePlan] = field(default_factory=list)
    upgrade_batches: dict = field(default_factory=dict)
    # What kinstall installed before (existing.installed), and how this inventory differs.
    installed: dict | None = None
    # Where the cluster differs from the one Kubespray would build from this inventory.
    kubespray_differences: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def batch_size(spec, total: int) -> int:
    """upgrade_batch: a count, or a share of the hosts such as "20%" (at least one host)."""
    if total == 0:
        return 1
    if isinstance(spec, str) and spec.endswith("%"):
        return max(1, math.floor(total * int(spec[:-1]) / 100))
    return max(1, min(int(spec), total))


def batches(hosts: list[str], size: int) -> list[list[str]]:
    return [hosts[i:i + size] for i in range(0, len(hosts), size)]


def _stage_hosts(cluster: Cluster) -> dict[str, tuple[list[str], list[list[str]], str]]:
    g = cluster.groups
    control = g[CONTROL_PLANE]
    workers = [h for h in g[NODES] if h not in control]
    plugin_hosts = [h for group in cluster.plugin.groups for h in g.get(group, [])]
    everyone = [h for h in cluster.hosts]
    k8s = [h for h in everyone if h in set(g[CLUSTER]) | set(plugin_hosts)]
    local_proxy = cluster.settings["loadbalancer_apiserver_localhost"] and not cluster.settings.get(
        "loadbalancer_apiserver")
    if cluster.settings.get("loadbalancer_apiserver"):
        lb_skip = "an external load balancer (loadbalancer_apiserver) serves the API"
    elif not local_proxy:
        lb_skip = "loadbalancer_apiserver_localhost is false"
    else:
        lb_skip = "every node is a control plane"
    lb_hosts = workers if local_proxy else []
    first, rest = control[:1], control[1:]
    size = batch_size(cluster.settings["upgrade_batch"], len(workers))
    return {
        "preflight": (everyone, [everyone], ""),
        "os": (everyone, [everyone], ""),
        "download": (everyone, [everyone], ""),
        "runtime": (k8s, [k8s], ""),
        # etcd members start together: a new cluster needs its initial members up at once.
        "etcd": (g[ETCD], [g[ETCD]], ""),
        "loadbalancer": (lb_hosts, [lb_hosts], lb_skip),
        # Every Kubernetes host is read; those on an older release move in the version-skew order.
        "upgrade": (control + workers, [first] + [[h] for h in rest] + batches(workers, size), ""),
        # kubeadm init on the first, then control plane joins one at a time (etcd and certificates).
        "control-plane": (control, [first] + [[h] for h in rest], ""),
        "nodes": (workers, [workers], "there are no workers: the control plane runs the pods"),
        "network": (k8s, [k8s], ""),
        "addons": (first, [first], ""),
        "verify": (everyone, [everyone], ""),
    }


def make(cluster: Cluster, installed: dict | None = None) -> Plan:
    g = cluster.groups
    plugin = cluster.plugin
    plan = Plan(
        cluster=cluster.name,
        inventory=cluster.inventory_file,
        kube_version=cluster.release.version,
        kubeadm_api=cluster.release.kubeadm_api,
        release_status=cluster.release.status,
        network_plugin={"name": plugin.name, "version": plugin.version, "maintained": plugin.maintained,
                        "data_path": plugin.data_path, "network_policy": plugin.network_policy},
        components={"kubernetes": cluster.release.version, **cluster.components},
        groups={name: hosts for name, hosts in g.items() if hosts},
        kubespray_differences=[d.text() for d in cluster.kubespray_differences],
    )
    table = _stage_hosts(cluster)
    for stage in STAGES:
        hosts, stage_batches, reason = table[stage.name]
        plan.stages.append(StagePlan(stage.name, stage.summary, list(hosts),
                                     [b for b in stage_batches if b] if hosts else [],
                                     "" if hosts else reason))
    control = g[CONTROL_PLANE]
    workers = [h for h in g[NODES] if h not in control]
    size = batch_size(cluster.settings["upgrade_batch"], len(workers))
    plan.upgrade_batches = {
        "etcd": [[h] for h in g[ETCD]],
        "control-plane": [[h] for h in control],
        "workers": batches(workers, size),
        "worker_batch_size": size,
    }
    if installed:
        known = set(installed["hosts"])
        plan.installed = {**installed, "adds": [h for h in cluster.hosts if h not in known],
                          "gone": sorted(known - set(cluster.hosts))}
    return plan


def _hosts(hosts: list[str]) -> str:
    return ", ".join(hosts) if len(hosts) <= 6 else f"{', '.join(hosts[:3])}, ... {hosts[-1]} ({len(hosts)})"


def render(plan: Plan) -> str:
    plugin = plan.network_plugin
    status = "" if plan.release_status == "current" else " (end of life upstream)"
    lines = [
        f"Plan for cluster {plan.cluster} ({plan.inventory})",
        f"  Kubernetes {plan.kube_version}{status}, kubeadm API {plan.kubeadm_api}",
        f"  network plugin {plugin['name']} {plugin['version']}"
        f"{'' if plugin['maintained'] else ' (unmaintained)'}: {plugin['data_path']}",
        "  components: " + ", ".join(f"{k} {v}" for k, v in plan.components.items() if k != "kubernetes"),
        "  groups: " + "; ".join(f"{name} {len(hosts)}" for name, hosts in plan.groups.items()),
        "",
        "  #  stage          hosts",
    ]
    for number, stage in enumerate(plan.stages, start=1):
        if stage.skipped:
            detail = f"skipped: {stage.skipped}"
        elif len(stage.batches) > 1:
            detail = " then ".join(f"[{_hosts(b)}]" for b in stage.batches)
        else:
            detail = _hosts(stage.hosts)
        lines.append(f"  {number:>2} {stage.name:<14} {detail}")
    if plan.installed:
        was = plan.installed
        lines += ["", f"  installed (run {was['run']}): Kubernetes {was['kube_version']}, {was['network_plugin']}, "
                      f"{len(was['hosts'])} host(s)"]
        if was["adds"]:
            lines.append(f"  this run adds: {_hosts(was['adds'])} (prepared and joined; the others only change what "
                         "a new member needs of them)")
        if was["gone"]:
            lines.append(f"  no longer in the inventory: {_hosts(was['gone'])} (still in the cluster: take them "
                         "out with `kinstall remove-node` while they are listed)")
    up = plan.upgrade_batches
    if plan.installed and plan.installed["kube_version"] not in (None, plan.kube_version):
        heading = (f"  upgrade Kubernetes {plan.installed['kube_version']} -> {plan.kube_version} (installed by run "
                   f"{plan.installed['run']}); the upgrade stage moves each host that runs an older release")
    else:
        heading = "  upgrades (re-run with a newer kube_version, or `kinstall upgrade INVENTORY --to X`)"
    control = sum(up["control-plane"], [])
    lines += ["", f"{heading}: etcd snapshot first, then the first control plane (kubeadm upgrade apply) "
              f"{control[0] if control else ''}, the other control planes one at a time"
              f"{' (' + _hosts(control[1:]) + ')' if control[1:] else ' (none)'}, then the workers "
              f"{up['worker_batch_size']} at a time in {len(up['workers'])} batch(es), each drained and "
              "uncordoned; the first failed host stops the run (`--resume` continues)"]
    lines += ["", "  differs from what Kubespray builds from this inventory:"
              + ("" if plan.kubespray_differences else " nothing")]
    lines += [f"    {text}" for text in plan.kubespray_differences]
    return "\n".join(lines)
