"""`kinstall up` with two control planes, a worker and a host that is an etcd member only, for
real: the second control plane joins with `kubeadm join --control-plane` (certificates from the
kubeadm-certs Secret), the worker reaches both API servers through the loadbalancer stage's local
proxy, and keeps working when the first control plane stops. The worker is listed in calico_rr,
not kube_node, as Kubespray's route reflectors are: every stage runs on exactly the hosts `kinstall
plan` gives it."""

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from installer.cli import cli
from installer.lab import podman
from tests.integration.helpers import last_record, ssh
from tests.integration.test_up_cluster import KUBECTL, _lab, _teardown, _wait

pytestmark = pytest.mark.lab
READYZ = ("python3 -c \"import ssl, urllib.request; print(urllib.request.urlopen('https://127.0.0.1:6443/readyz', "
          "context=ssl.create_default_context(cafile='/etc/kubernetes/pki/ca.crt'), timeout=5).read().decode())\"")


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory, request):
    lab, captured, previous = _lab("kinstall-ha", tmp_path_factory, nodes=4, control_planes=2, etcd=3)
    captured.containers = {n.name: n.container for n in lab.nodes}
    # node3 a worker through calico_rr (k8s_cluster holds it), node4 an etcd member and nothing else
    document = yaml.safe_load(Path(captured.inventory).read_text())
    document["all"]["children"].update({"etcd": {"hosts": {"node1": None, "node2": None, "node4": None}},
                                        "kube_node": {"hosts": {}}, "calico_rr": {"hosts": {"node3": None}}})
    Path(captured.inventory).write_text(yaml.safe_dump(document, sort_keys=False))
    captured.plan = CliRunner().invoke(cli, ["plan", captured.inventory, "--format", "json"])
    captured.first_up = CliRunner().invoke(cli, ["up", captured.inventory, "--yes", "--check-idempotent"])
    yield captured
    _teardown("kinstall-ha", request, previous)


def test_every_stage_ran_on_the_hosts_of_the_plan(ha_cluster):
    assert ha_cluster.first_up.exit_code == 0, ha_cluster.first_up.output
    assert ha_cluster.plan.exit_code == 0, ha_cluster.plan.output
    planned = {s["name"]: s for s in json.loads(ha_cluster.plan.stdout)["stages"]}
    assert planned["etcd"]["hosts"] == ["node1", "node2", "node4"]
    assert planned["nodes"]["hosts"] == ["node3"] and "node4" in planned["verify"]["hosts"]
    record = last_record(ha_cluster, "up")
    ran = [s for s in record["stages"] if not s["second_run"]]
    again = [s for s in record["stages"] if s["second_run"]]
    assert [s["name"] for s in ran] == [s["name"] for s in again] == list(planned)
    for stage in ran + again:
        plan = planned[stage["name"]]
        assert stage["status"] == "successful", stage
        assert sorted(stage["recap"]) == sorted(plan["hosts"]), (stage["name"], plan["pattern"])


def test_two_control_planes_and_a_worker_through_the_local_proxy(ha_cluster):
    result = ha_cluster.first_up
    assert result.exit_code == 0, result.output
    assert "idempotent: the second run changed nothing" in result.output
    nodes = ssh(ha_cluster, "node2", f"{KUBECTL} get nodes -o jsonpath='{{range .items[*]}}{{.metadata.name}} "
                                     "{.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}'").stdout
    assert sorted(line for line in nodes.split("\n") if line) == ["node1 True", "node2 True", "node3 True"]
    pods = ssh(ha_cluster, "node1", f"{KUBECTL} -n kube-system get pods -o jsonpath='{{range .items[*]}}"
                                    "{.metadata.name}{\"\\n\"}{end}'").stdout.split()
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        assert {f"{component}-node1", f"{component}-node2"} <= set(pods), pods
    # the worker's kubelet talks to 127.0.0.1:6443, the local proxy in front of both API servers
    assert "server: https://127.0.0.1:6443" in ssh(ha_cluster, "node3", "cat /etc/kubernetes/kubelet.conf").stdout
    assert ssh(ha_cluster, "node3", READYZ).stdout.strip() == "ok"
    podman.run("stop", "-t", "1", ha_cluster.containers["node1"])
    try:
        def answers():  # the cluster's CA checks the API server's certificate (127.0.0.1 in its names)
            out = ssh(ha_cluster, "node3", READYZ, check=False).stdout
            return out if out.strip() == "ok" else None

        assert _wait(ha_cluster, "the API through the local proxy with node1 stopped", answers, timeout=90)
    finally:
        podman.run("start", ha_cluster.containers["node1"])
