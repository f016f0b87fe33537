"""What kinstall knows of a cluster it has installed already (from its run records), and the
inventory changes such a cluster cannot take. validate, plan and up refuse them before any host
is contacted."""

from __future__ import annotations

from pathlib import Path

from installer import state
from installer.errors import InvalidInput
from installer.inventory.cluster import Cluster
from installer.inventory.model import find_inventory_file
from installer.runner import records


def installed_plugin(cluster: Cluster) -> tuple[str, str] | None:
    """(network plugin, run id) of the newest run whose network stage succeeded, if any."""
    inventory_file = find_inventory_file(Path(cluster.inventory_file)).resolve()
    directory = state.cluster_dir(cluster.name, inventory_file, create=False)
    if not directory.is_dir():
        return None
    for run in reversed(records.for_cluster(directory)):
        if run.inputs.get("mode") != "up":
            continue
        if any(s.name.removeprefix("check-") == "network" and s.status == records.SUCCESSFUL for s in run.stages):
            plugin = run.inputs.get("network_plugin")
            return (plugin, run.id) if plugin else None
    return None


def refusals(cluster: Cluster) -> list[str]:
    found = installed_plugin(cluster)
    if found is None or found[0] == cluster.plugin.name:
        return []
    plugin, run = found
    return [f"{cluster.inventory_file}: kube_network_plugin: the cluster runs {plugin} (installed by run {run}); "
            f"kinstall does not change the network plugin of a running cluster: every pod's network would be "
            f"torn down, and {plugin}'s and {cluster.plugin.name}'s routes and rules would clash while both run. "
            f"Set kube_network_plugin: {plugin} again, or build a new cluster with {cluster.plugin.name} and "
            "move the workloads to it"]


def refuse_changes(cluster: Cluster) -> None:
    messages = refusals(cluster)
    if messages:
        raise InvalidInput("\n".join(messages))
