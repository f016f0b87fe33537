"""The stand-in API service (tests/standins/kube_api.py) refuses what the real tools refuse for
the calls kinstall's upgrade makes: a stand-in that accepted anything would prove nothing."""

import json

import pytest

from tests.standins.kube_api import Cluster

FILES = {"/etc/kubernetes/admin.conf": True, "/etc/kubernetes/kubelet.conf": True}


@pytest.fixture
def cluster(tmp_path):
    return Cluster("1.35.8", ["cp1:control-plane", "cp2:control-plane", "w1"], str(tmp_path / "calls.jsonl"))


def call(cluster, tool, argv, node="cp1", version="1.36.4", files=FILES, **extra):
    return cluster.handle({"tool": tool, "argv": argv, "node": node, "version": version, "files": files, **extra})


def test_apply_then_node_then_kubelet_is_the_order_it_accepts(cluster):
    assert call(cluster, "kubeadm", ["upgrade", "node"], node="cp2")["rc"] == 1  # before apply
    answer = call(cluster, "kubeadm", ["upgrade", "apply", "v1.36.4", "--yes"])
    assert answer["rc"] == 0 and "v1.36.4" in answer["stdout"]
    assert call(cluster, "kubeadm", ["upgrade", "node"], node="cp2")["rc"] == 0
    assert call(cluster, "kubelet", ["start"], node="w1", ready=True)["rc"] == 0
    node = json.loads(call(cluster, "kubectl", ["--kubeconfig", "/etc/kubernetes/admin.conf", "get", "node", "w1",
                                                "-o", "json"])["stdout"])
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.36.4"


@pytest.mark.parametrize(("argv", "version", "error"), [
    (["upgrade", "apply", "v1.36.4"], "1.36.4", "pass --yes"),
    (["upgrade", "apply", "v1.36.4", "--yes"], "1.35.8", "is higher than the kubeadm version"),
    (["upgrade", "apply", "v1.37.0", "--yes"], "1.37.0", "only 1 minor version at a time"),
    (["upgrade", "apply", "v1.35.1", "--yes"], "1.36.4", "lower than the cluster version"),
    (["upgrade", "apply", "--yes"], "1.36.4", "required arguments"),
    (["upgrade", "apply", "v1.36.4", "--yes", "--bogus"], "1.36.4", "unknown flag: --bogus"),
    (["upgrade", "plan"], "1.36.4", "does not implement"),
])
def test_kubeadm_refuses_like_the_real_one(cluster, argv, version, error):
    answer = call(cluster, "kubeadm", argv, version=version)
    assert answer["rc"] == 1 and error in answer["stderr"]


def test_apply_needs_a_control_plane_and_node_a_joined_host(cluster):
    assert "not a control plane" in call(cluster, "kubeadm", ["upgrade", "apply", "v1.36.4", "-y"], node="w1")["stderr"]
    no_kubelet_conf = {**FILES, "/etc/kubernetes/kubelet.conf": False}
    call(cluster, "kubeadm", ["upgrade", "apply", "v1.36.4", "-y"])
    assert "has not joined" in call(cluster, "kubeadm", ["upgrade", "node"], node="w1", files=no_kubelet_conf)["stderr"]


def test_a_kubelet_newer_than_the_api_server_is_refused_and_not_ready(cluster):
    answer = call(cluster, "kubelet", ["start"], node="w1", version="1.36.4", ready=True)
    assert answer["rc"] == 1 and "outside the supported skew" in answer["stderr"]


@pytest.mark.parametrize(("argv", "error"), [
    (["get", "nodes", "-o", "json"], "--kubeconfig /etc/kubernetes/admin.conf"),
    (["--kubeconfig", "/etc/kubernetes/admin.conf", "drain", "w1"], "--ignore-daemonsets"),
    (["--kubeconfig", "/etc/kubernetes/admin.conf", "drain", "w9", "--ignore-daemonsets"], 'nodes "w9" not found'),
    (["--kubeconfig", "/etc/kubernetes/admin.conf", "drain", "w1", "--ignore-daemonsets", "--timeout=soon"],
     'invalid argument "soon"'),
    (["--kubeconfig", "/etc/kubernetes/admin.conf", "uncordon", "w1", "--force"], "unknown flag: --force"),
    (["--kubeconfig", "/etc/kubernetes/admin.conf", "delete", "node", "w1"], "does not implement"),
])
def test_kubectl_refuses_like_the_real_one(cluster, argv, error):
    answer = call(cluster, "kubectl", argv)
    assert answer["rc"] == 1 and error in answer["stderr"]


def test_every_call_is_recorded_in_order(cluster, tmp_path):
    call(cluster, "kubectl", ["--kubeconfig", "/etc/kubernetes/admin.conf", "cordon", "w1"])
    call(cluster, "kubeadm", ["upgrade", "node"], node="w1")
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert [(c["seq"], c["tool"], c["rc"]) for c in calls] == [(1, "kubectl", 0), (2, "kubeadm", 1)]
