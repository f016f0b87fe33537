"""`kinstall up` with two control planes and a worker, for real: the second control plane joins
with `kubeadm join --control-plane` (certificates from the kubeadm-certs Secret), the worker
reaches both API servers through the loadbalancer stage's local proxy, and keeps working when
the first control plane stops."""

import pytest
from click.testing import CliRunner

from installer.cli import cli
from installer.lab import podman
from tests.integration.helpers import ssh
from tests.integration.test_up_cluster import KUBECTL, _lab, _teardown, _wait

pytestmark = pytest.mark.lab
READYZ = ("python3 -c \"import ssl, urllib.request; print(urllib.request.urlopen('https://127.0.0.1:6443/readyz', "
          "context=ssl.create_default_context(cafile='/etc/kubernetes/pki/ca.crt'), timeout=5).read().decode())\"")


@pytest.fixture(scope="module")
def ha_cluster(tmp_path_factory, request):
    lab, captured, previous = _lab("kinstall-ha", tmp_path_factory, control_planes=2)
    captured.containers = {n.name: n.container for n in lab.nodes}
    captured.first_up = CliRunner().invoke(cli, ["up", captured.inventory, "--yes", "--check-idempotent"])
    yield captured
    _teardown("kinstall-ha", request, previous)


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
