import pytest

from installer import plan, stages
from installer.inventory.validate import validate
from tests.paths import SAMPLES


def _plan(path):
    result = validate(path)
    assert result.report.ok, result.report.as_text()
    return plan.make(result.cluster)


def test_stages_come_in_the_projects_order():
    made = _plan(SAMPLES / "ha-calico")
    assert [s.name for s in made.stages] == list(stages.NAMES) == [
        "preflight", "os", "download", "runtime", "etcd", "loadbalancer", "upgrade", "control-plane", "nodes",
        "network", "addons", "verify"]


def test_ha_cluster_hosts_and_batches():
    made = _plan(SAMPLES / "ha-calico")
    by_name = {s.name: s for s in made.stages}
    assert by_name["etcd"].hosts == ["cp1", "cp2", "cp3"]
    assert by_name["control-plane"].batches == [["cp1"], ["cp2"], ["cp3"]]
    assert by_name["loadbalancer"].hosts == ["worker1", "worker2"]
    assert by_name["nodes"].hosts == ["worker1", "worker2"]
    # the manifests go through cp1's kubectl; local volumes' directories are made on every node
    assert by_name["addons"].hosts == ["cp1", "cp2", "cp3", "worker1", "worker2"]
    assert made.upgrade_batches["workers"] == [["worker1"], ["worker2"]]  # upgrade_batch: 1
    # The version-skew order: first control plane, the others one at a time, then worker batches.
    assert by_name["upgrade"].batches == [["cp1"], ["cp2"], ["cp3"], ["worker1"], ["worker2"]]
    assert made.kube_version == "1.35.8" and made.network_plugin["name"] == "calico"
    assert made.components["etcd"] == "3.6.14"


def test_all_in_one_skips_the_stages_with_nothing_to_do():
    made = _plan(SAMPLES / "all-in-one")
    by_name = {s.name: s for s in made.stages}
    assert by_name["loadbalancer"].skipped == "every node is a control plane"
    assert by_name["nodes"].skipped.startswith("there are no workers")
    assert by_name["control-plane"].hosts == ["aio1"]


@pytest.mark.parametrize("spec, total, size", [("20%", 10, 2), ("20%", 3, 1), ("100%", 7, 7), (1, 5, 1),
                                               (4, 3, 3), ("50%", 0, 1)])
def test_batch_size(spec, total, size):
    assert plan.batch_size(spec, total) == size


def test_external_load_balancer_skips_the_local_proxy(write):
    text = (SAMPLES / "ha-calico" / "hosts.yaml").read_text()
    root = write({"hosts.yaml": text, "group_vars/k8s_cluster.yml":
                  "kube_version: 1.35.8\nloadbalancer_apiserver: {address: 192.0.2.100, port: 6443}\n"})
    made = _plan(root / "hosts.yaml")
    lb = next(s for s in made.stages if s.name == "loadbalancer")
    assert lb.hosts == [] and "external load balancer" in lb.skipped


def test_render_names_versions_and_every_stage():
    text = plan.render(_plan(SAMPLES / "romana-legacy"))
    assert "Kubernetes 1.15.11 (end of life upstream), kubeadm API kubeadm.k8s.io/v1beta2" in text
    assert "network plugin romana 2.0.2 (unmaintained)" in text
    for name in stages.NAMES:
        assert f" {name} " in text
