"""kinstall's own preflight and os stages, for real on the lab."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from installer.cli import cli
from tests.integration.helpers import last_record, ssh

pytestmark = pytest.mark.lab


def test_taken_ports_on_two_hosts_stop_preflight_in_one_report_and_nothing_is_installed(run_lab):
    # node1 is the control plane (6443); node2 only a worker and etcd member (the kubelet's 10250):
    # the worker's check proves Ansible sees kinstall's computed k8s_cluster group.
    assert ssh(run_lab, "node1", "systemd-run --unit kinstall-squatter nc -lk 6443", check=False).returncode == 0
    assert ssh(run_lab, "node2", "systemd-run --unit kinstall-squatter nc -lk 10250", check=False).returncode == 0
    try:
        result = CliRunner().invoke(cli, ["up", run_lab.inventory, "--yes", "--stages", "preflight,os"])
    finally:
        for node in ("node1", "node2"):
            ssh(run_lab, node, "systemctl stop kinstall-squatter", check=False)
    assert result.exit_code == 4, result.output
    assert "FAILED node1: preflight / preflight / Every check passed on this host" in result.output
    assert "tcp 6443 (API server) is in use by nc" in result.output
    assert "FAILED node2: preflight" in result.output and "tcp 10250 (kubelet) is in use by nc" in result.output
    assert "FAILED node3" not in result.output  # only the hosts with a problem
    assert [s["name"] for s in last_record(run_lab)["stages"]] == ["preflight"]
    for node in run_lab.nodes:
        assert ssh(run_lab, node, "test -e /etc/sysctl.d/99-kinstall.conf", check=False).returncode == 1, node


def test_old_group_names_reach_ansible_as_the_current_ones(run_lab, tmp_path):
    text = Path(run_lab.inventory).read_text().replace("kube_control_plane:", "kube-master:")
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(text)
    assert ssh(run_lab, "node1", "systemd-run --unit kinstall-squatter nc -lk 6443", check=False).returncode == 0
    try:
        result = CliRunner().invoke(cli, ["up", str(inventory), "--yes", "--stages", "preflight"])
    finally:
        ssh(run_lab, "node1", "systemctl stop kinstall-squatter", check=False)
    assert "group 'kube-master' is Kubespray's old name for 'kube_control_plane'" in result.output
    assert result.exit_code == 4 and "tcp 6443 (API server) is in use by nc" in result.output


def test_preflight_and_os_run_and_a_second_run_changes_nothing(run_lab):
    result = CliRunner().invoke(cli, ["up", run_lab.inventory, "--yes", "--stages", "preflight,os",
                                      "--check-idempotent"])
    assert result.exit_code == 0, result.output
    assert "idempotent: the second run changed nothing" in result.output
    for node in run_lab.nodes:
        state = ssh(run_lab, node, "sysctl -n net.ipv4.ip_forward; command -v conntrack; "
                                   "grep -c ' node[0-9]$' /etc/hosts").stdout.split()
        assert state == ["1", "/usr/sbin/conntrack", str(len(run_lab.nodes))], (node, state)


def test_a_node_with_too_little_memory_fails_preflight(run_lab):
    """A 1-node lab capped at 1024 MB, control plane + worker + etcd: preflight must refuse it."""
    from installer.lab import nodes as labs

    small = labs.up("kinstall-small", nodes=1, node_memory_mb=1024).lab
    try:
        result = CliRunner().invoke(cli, ["up", str(small.inventory), "--yes", "--stages", "preflight,os"])
        assert result.exit_code == 4, result.output
        assert ("node1: 1 problem(s): has 1024 MB of memory; a control plane + node + etcd member needs 1700 MB"
                in result.output)
        assert [s["name"] for s in last_record(run_lab)["stages"]] == ["preflight"]  # os never ran
    finally:
        labs.down("kinstall-small")
    assert not labs.cluster_states_of(small.directory)  # its run records went with the lab
