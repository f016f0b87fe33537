"""What `kinstall up` would do: the stages in order, the hosts each touches and how they are batched.

Pure: a function of the validated Cluster, so it is cheap to test and never contacts a host."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from installer import stages
from installer.inventory.cluster import Cluster
from installer.inventory.model import CLUSTER, CONTROL_PLANE, ETCD

if TYPE_CHECKING:
    from installer.runner.scope import OnlyAdds


@dataclass
class StagePlan:
    name: str
    summary: str
    pattern: str  # the stage's Ansible host pattern (stages.Stage.hosts)
    hosts: list[str]
    batches: list[list[str]]  # hosts run together; batches run one after another
    skipped: str = ""  # why the stage has nothing to do
    # In a run that only adds hosts (runner/scope.py), the group of the hosts the stage runs on
    # when they are fewer than its pattern matches: Ansible runs it on pattern:&group.
    scope_group: str = ""


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
    # Said when the cluster's history (read from its hosts) told another story than this controller's.
    history_note: str = ""
    # A run that only adds hosts: {baseline, added, existing}; else why every host runs ("" when
    # nothing asks).
    only_adds: dict | None = None
    every_host_because: str = ""

    def groups_for_ansible(self) -> dict[str, list[str]]:
        """The groups this plan adds to the inventory for Ansible: each narrowed stage's hosts, and
        the hosts the cluster had before (stages.EXISTING_HOSTS, empty unless the run only adds)."""
        out = {s.scope_group: s.hosts for s in self.stages if s.scope_group}
        out[stages.EXISTING_HOSTS] = self.only_adds["existing"] if self.only_adds else []
        return out

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


def stage_groups(cluster: Cluster) -> dict[str, list[str]]:
    """The groups the stages' host patterns name, as Ansible sees them in a kinstall run: the
    inventory's (normalised) and the network plugin's hosts (stages.PLUGIN_HOSTS)."""
    plugin_hosts = {h for group in cluster.plugin.groups for h in cluster.groups.get(group, [])}
    return {**cluster.groups, stages.PLUGIN_HOSTS: [h for h in cluster.hosts if h in plugin_hosts]}


def _batches(stage: stages.Stage, hosts: list[str], cluster: Cluster) -> list[list[str]]:
    if stage.batching == stages.FIRST_THEN_ONE_AT_A_TIME:
        return [[h] for h in hosts]
    if stage.batching == stages.VERSION_SKEW:
        control = [h for h in cluster.groups[CONTROL_PLANE] if h in hosts]
        workers = [h for h in hosts if h not in control and h in cluster.groups[CLUSTER]]
        snapshot = [h for h in hosts if h not in control and h not in workers]  # etcd[0], not a node
        size = batch_size(cluster.settings["upgrade_batch"], len(workers))
        return [b for b in [snapshot, *([h] for h in control), *batches(workers, size)] if b]
    return [hosts]


def stage_plan(stage: stages.Stage, cluster: Cluster, adds: OnlyAdds | None = None) -> StagePlan:
    """One stage for this cluster: its definition's host pattern evaluated on the inventory's groups
    (an operation whose command names its host runs with no hosts planned: nothing to evaluate),
    narrowed in a run that only adds hosts."""
    if stage.hosts == stages.NAMED_BY_COMMAND:
        return StagePlan(stage.name, stage.summary, stage.hosts, [], [])
    hosts = stages.select(stage.hosts, stage_groups(cluster), list(cluster.hosts))
    off = stage.off(cluster) if stage.off else ""
    if off or not hosts:
        return StagePlan(stage.name, stage.summary, stage.hosts, [], [], off or stage.no_hosts)
    if adds is not None:
        narrowed = adds.hosts(stage, hosts)
        if not narrowed:
            return StagePlan(stage.name, stage.summary, stage.hosts, [], [],
                             f"this run only adds {', '.join(adds.added)}, none of them in its hosts, and the "
                             f"others are as run {adds.baseline} left them")
        if narrowed != hosts:
            group = "kinstall_scope_" + stage.name.replace("-", "_")
            return StagePlan(stage.name, stage.summary, f"{stage.hosts}:&{group}", narrowed,
                             _batches(stage, narrowed, cluster), scope_group=group)
    return StagePlan(stage.name, stage.summary, stage.hosts, hosts, _batches(stage, hosts, cluster))


def make(cluster: Cluster, installed: dict | None = None, adds: OnlyAdds | None = None,
         every_host_because: str = "") -> Plan:
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
    plan.stages = [stage_plan(stage, cluster, adds) for stage in stages.STAGES]
    if adds is not None:
        plan.only_adds = {"baseline": adds.baseline, "added": adds.added, "existing": adds.existing}
    plan.every_host_because = every_host_because
    control = g[CONTROL_PLANE]
    workers = [h for h in g[CLUSTER] if h not in control]
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
        if plan.only_adds:
            lines.append(f"  this run only adds {_hosts(plan.only_adds['added'])}: each stage runs on them alone, or on "
                         f"every host of the stage where what the others have depends on them (the others are as "
                         f"run {plan.only_adds['baseline']} left them; --all-hosts runs every stage on every host)")
        elif was["adds"]:
            lines.append(f"  this run adds: {_hosts(was['adds'])}; every stage runs on every host"
                         + (f" ({plan.every_host_because})" if plan.every_host_because else ""))
        if was["gone"]:
            lines.append(f"  no longer in the inventory: {_hosts(was['gone'])} (still in the cluster: take them "
                         "out with `kinstall remove-node` while they are listed)")
    if plan.history_note:
        lines += ["", f"  {plan.history_note}"]
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
