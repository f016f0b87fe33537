"""What kinstall knows of a cluster it has installed already (from its run records), and the
inventory changes such a cluster cannot take: another network plugin, a Kubernetes downgrade or a
skipped minor. validate, plan and up refuse them before any host is contacted; the upgrade stage
checks the same on what the hosts report."""

from __future__ import annotations

from installer import releases, state
from installer.errors import InvalidInput
from installer.inventory.cluster import Cluster
from installer.runner import records
from installer.runner.kinds import Kind


def _last_success(cluster: Cluster, stage: str, field: str) -> tuple[str, str] | None:
    """(the run's input `field`, run id) of the newest real run whose `stage` succeeded, if any."""
    directory = state.of(cluster, create=False)
    if not directory.is_dir():
        return None
    for run in reversed(records.for_cluster(directory)):
        if _full_reset(run):
            return None  # what was installed before it is gone
        if not Kind.of(run).installs:
            continue
        if any(s.name == stage and s.status == records.SUCCESSFUL for s in run.stages):
            value = run.inputs.get(field)
            return (value, run.id) if value else None
    return None


def _full_reset(run) -> bool:
    return (Kind.of(run) is Kind.OPERATION and run.inputs.get("stages") == ["reset"]
            and not run.inputs.get("limit") and run.status == records.SUCCESSFUL)


def installed(cluster: Cluster) -> dict | None:
    """What the newest successful `up` (after the last full reset) installed, from its record:
    {run, kube_version, network_plugin, hosts}. None for a cluster kinstall has not installed."""
    directory = state.of(cluster, create=False)
    if not directory.is_dir():
        return None
    hosts: set[str] = set()
    found = None
    for run in reversed(records.for_cluster(directory)):
        if _full_reset(run):
            break
        if not Kind.of(run).installs or run.status != records.SUCCESSFUL:
            continue
        hosts |= {task.host for task in run.tasks if task.host and task.host != "localhost"}
        found = found or {"run": run.id, "kube_version": run.inputs.get("kube_version"),
                          "network_plugin": run.inputs.get("network_plugin")}
    return {**found, "hosts": sorted(hosts)} if found else None


def installed_plugin(cluster: Cluster) -> tuple[str, str] | None:
    """(network plugin, run id) of the newest run whose network stage succeeded, if any."""
    return _last_success(cluster, "network", "network_plugin")


def installed_release(cluster: Cluster) -> tuple[str, str] | None:
    """(Kubernetes version, run id) of the newest run whose control-plane stage succeeded."""
    return _last_success(cluster, "control-plane", "kube_version")


def _plugin_change(cluster: Cluster) -> list[str]:
    found = installed_plugin(cluster)
    if found is None or found[0] == cluster.plugin.name:
        return []
    plugin, run = found
    return [f"{cluster.inventory_file}: kube_network_plugin: the cluster runs {plugin} (installed by run {run}); "
            f"kinstall does not change the network plugin of a running cluster: every pod's network would be "
            f"torn down, and {plugin}'s and {cluster.plugin.name}'s routes and rules would clash while both run. "
            f"Set kube_network_plugin: {plugin} again, or build a new cluster with {cluster.plugin.name} and "
            "move the workloads to it"]


def upgrade_path(installed: str, wanted: str) -> list[str]:
    """The newest supported patch of each minor after `installed`'s up to `wanted` (whose own
    patch ends the path); a minor kinstall does not support is named with an x."""
    start, end = releases.parse_version(installed), releases.parse_version(wanted)
    newest: dict[tuple[int, int], str] = {}
    for version, release in releases.supported().items():
        newest[release.tuple[:2]] = version
    path = []
    for minor in range(start[1] + 1, end[1]):
        path.append(newest.get((end[0], minor), f"{end[0]}.{minor}.x"))
    return path + [wanted]


def _release_change(cluster: Cluster) -> list[str]:
    """Kubernetes' version-skew policy: control planes move one minor at a time, never back."""
    found = installed_release(cluster)
    if found is None:
        return []
    version, run = found
    have, want = releases.parse_version(version), releases.parse_version(cluster.release.version)
    if have is None or want is None or have == want:
        return []
    where = f"{cluster.inventory_file}: kube_version: the cluster runs Kubernetes {version} (run {run})"
    if want < have:
        return [f"{where}; {cluster.release.version} would be a downgrade, which kubeadm cannot do: the API "
                f"server's stored objects and etcd's data may already use the newer form. Set kube_version: "
                f"{version} (or a later patch), or restore an etcd snapshot taken before the upgrade"]
    if want[:2] > (have[0], have[1] + 1):
        path = upgrade_path(version, cluster.release.version)
        unsupported = [step for step in path if step.endswith(".x")]
        return [f"{where}; {cluster.release.version} skips {want[1] - have[1] - 1} minor release(s), which the "
                f"version-skew policy forbids: upgrade one minor at a time: {' -> '.join([version, *path])}"
                + (f" ({', '.join(unsupported)} not offered by kinstall: no such path exists for this cluster)"
                   if unsupported else "")]
    return []  # a patch or the next minor: the upgrade stage moves the hosts (roles/upgrade)


def refusals(cluster: Cluster) -> list[str]:
    return _plugin_change(cluster) + _release_change(cluster)


def refuse_changes(cluster: Cluster) -> None:
    messages = refusals(cluster)
    if messages:
        raise InvalidInput("\n".join(messages))
