"""The stage definitions are the one source of each stage's hosts: the plan evaluates their host
patterns as Ansible does, and the playbooks' own plays select exactly those hosts (asked of
ansible-playbook itself, with --list-hosts), for layouts with calico_rr-only, etcd-only and
contrail_controller-only hosts and groups written in another order than the hosts."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ansible.inventory.manager import InventoryManager
from ansible.parsing.dataloader import DataLoader

from installer import plan, stages
from installer.inventory.validate import validate
from tests.paths import PLAYBOOKS, ROLES, ROOT, SAMPLES

SEPARATE_HOSTS = """\
all:
  hosts:
    cp1: {ansible_host: 192.0.2.11, ip: 192.0.2.11}
    cp2: {ansible_host: 192.0.2.12, ip: 192.0.2.12}
    w1: {ansible_host: 192.0.2.21, ip: 192.0.2.21}
    rr1: {ansible_host: 192.0.2.31, ip: 192.0.2.31}
    etcd1: {ansible_host: 192.0.2.41, ip: 192.0.2.41}
  vars: {kube_version: 1.35.8, kube_network_plugin: calico, upgrade_batch: 1}
  children:
    kube_control_plane: {hosts: {cp2: , cp1: }}
    etcd: {hosts: {etcd1: , cp1: , cp2: }}
    kube_node: {hosts: {w1: }}
    calico_rr: {hosts: {rr1: }}
"""
DECLARED = SEPARATE_HOSTS + """\
    k8s_cluster:
      children: {kube_control_plane: , kube_node: , calico_rr: }
"""
LAYOUTS = {
    "calico_rr and etcd-only hosts, k8s_cluster computed": {"hosts.yaml": SEPARATE_HOSTS},
    "calico_rr and etcd-only hosts, k8s_cluster declared": {"hosts.yaml": DECLARED},
    "all in one": SAMPLES / "all-in-one",
    "contrail controllers": SAMPLES / "opencontrail-legacy",
    "ha calico": SAMPLES / "ha-calico",
}


def _cluster(layout, write):
    source = LAYOUTS[layout]
    root = write(source) if isinstance(source, dict) else source
    result = validate(root / "hosts.yaml" if isinstance(source, dict) else root)
    assert result.report.ok, result.report.as_text()
    return result.cluster


def _ansible_sources(cluster, tmp_path) -> list[str]:
    overlay = tmp_path / "groups.yml"
    overlay.write_text(json.dumps(cluster.ansible_overlay))
    return [str(Path(cluster.inventory_file)), str(overlay)]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_plan_reads_host_patterns_as_ansible_does(layout, write, tmp_path):
    cluster = _cluster(layout, write)
    inventory = InventoryManager(loader=DataLoader(), sources=_ansible_sources(cluster, tmp_path))
    groups = plan.stage_groups(cluster)
    patterns = {s.hosts for s in stages.STAGES + stages.OPERATIONS if s.hosts != stages.NAMED_BY_COMMAND} | {
        "etcd[0]", "kube_control_plane[0]", "kube_control_plane[1:]", "etcd[0:1]", "etcd[-1]", "kube_node:&etcd",
        "all:!etcd", "k8s_cluster:!kube_node:!kube_control_plane"}
    for pattern in sorted(patterns):
        ansible = [h.name for h in inventory.get_hosts(pattern)]
        ours = stages.select(pattern, {**groups, "all": list(cluster.hosts)}, list(cluster.hosts))
        assert sorted(ours) == sorted(ansible), pattern
    # the first member of a group is Ansible's (the roles act through groups[...] | first)
    for group in ("kube_control_plane", "etcd"):
        assert cluster.groups[group][:1] == [h.name for h in inventory.get_hosts(f"{group}[0]")]


def _listed_hosts(output: str) -> dict[str, set[str]]:
    """ansible-playbook --list-hosts: each playbook's hosts, over all its plays."""
    found: dict[str, set[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("playbook: "):
            current = found.setdefault(Path(line.split(": ", 1)[1]).stem, set())
        elif re.match(r" {6}\S+$", line) and current is not None:
            current.add(line.strip())
    return found


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_playbooks_run_each_stage_on_the_plans_hosts(layout, write, tmp_path):
    """What Ansible would run, from the playbooks' own `hosts:`, equals the plan, stage by stage.
    A stage the plan skips for a setting (the local proxy beside an external load balancer) is not
    run at all; the others' playbooks select exactly the planned hosts."""
    cluster = _cluster(layout, write)
    made = plan.make(cluster)
    operations = [op for op in stages.OPERATIONS if op.hosts != stages.NAMED_BY_COMMAND]  # not remove-node
    books = [str(PLAYBOOKS / s.playbook) for s in stages.STAGES + tuple(operations)]
    listed = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "--list-hosts",
         *(arg for source in _ansible_sources(cluster, tmp_path) for arg in ("-i", source)),
         "-e", json.dumps({"kinstall_upgrade_worker_batch": made.upgrade_batches["worker_batch_size"]}), *books],
        capture_output=True, text=True, env={**os.environ, "ANSIBLE_ROLES_PATH": str(ROLES)})
    assert listed.returncode == 0, listed.stderr
    by_playbook = _listed_hosts(listed.stdout)
    assert set(by_playbook) == set(stages.NAMES) | {op.name for op in operations}
    for operation in operations:
        assert by_playbook[operation.name] == set(plan.stage_plan(operation, cluster).hosts), operation.name
    for stage in made.stages:
        if stage.skipped and stage.hosts == [] and stages.by_name(stage.name).off:
            if stages.by_name(stage.name).off(cluster):
                continue
        assert by_playbook[stage.name] == set(stage.hosts), stage.name


def test_stage_hosts_with_separate_etcd_and_route_reflector_hosts(write):
    cluster = _cluster("calico_rr and etcd-only hosts, k8s_cluster computed", write)
    by_name = {s.name: s for s in plan.make(cluster).stages}
    every = ["cp2", "cp1", "w1", "rr1", "etcd1"]  # Ansible's order: k8s_cluster's groups', then etcd's
    assert by_name["preflight"].hosts == by_name["os"].hosts == by_name["download"].hosts == every
    assert by_name["verify"].hosts == every
    assert by_name["etcd"].hosts == ["etcd1", "cp1", "cp2"]
    assert by_name["runtime"].hosts == by_name["network"].hosts == ["cp2", "cp1", "w1", "rr1"]
    # a route reflector is a node calico-node runs on: it joins like a worker, behind the local proxy
    assert by_name["nodes"].hosts == by_name["loadbalancer"].hosts == ["w1", "rr1"]
    # Ansible's first control plane is the first the group lists, not the first host written
    assert by_name["control-plane"].batches == [["cp2"], ["cp1"]]
    # the snapshot on etcd's first member, then the version-skew order
    assert by_name["upgrade"].batches == [["etcd1"], ["cp2"], ["cp1"], ["w1"], ["rr1"]]


@pytest.mark.parametrize("pattern", ["web*", "~node[0-9]", "a:b[x]", "a[1:2:3]"])
def test_a_pattern_kinstall_does_not_evaluate_is_refused(pattern):
    with pytest.raises(ValueError, match="is not one kinstall evaluates"):
        stages.select(pattern, {}, [])


def test_the_stages_page_shows_the_definitions():
    page = (ROOT / "docs" / "stages.md").read_text()
    assert stages.markdown() in page, "docs/stages.md is stale: run scripts/stages-reference"
