"""The function checks the lab's cluster cannot answer (DNS: no CoreDNS image; NetworkPolicy
between tenants: no policy engine), run through the real Kubernetes client against the stand-in
API server whose pods run (tests/standins/cluster_api.py), each with the scenario that passes it
and the ones that fail it; and every namespace the checks made is gone afterwards."""

import json
import re
import urllib.error
import urllib.request

import pytest
from kubernetes import client

from installer.verify import api, function
from tests.standins.cluster_api import ClusterApi
from tests.unit.roles.test_kubernetes_roles import render

NODES = ["node1", "node2", "node3"]
RESOLVES = {"kubernetes.default.svc.cluster.local": "10.96.0.1", "kubernetes.io": "147.75.40.148"}


def _network(tmp_path, **scenario):
    with ClusterApi(NODES, **scenario) as standin:
        core = client.CoreV1Api(api.connect(standin.kubeconfig(tmp_path / "kubeconfig")))
        with function.Namespace(core) as namespace:
            found = function.network(core, namespace.name, "busybox", NODES,
                                     "cluster.local" if scenario.get("dns") is not None else None, "kubernetes.io")
        return {r.name: r for r in found}, standin


def test_dns_pods_and_the_service_pass_on_a_cluster_whose_dns_resolves(tmp_path):
    found, standin = _network(tmp_path, dns=RESOLVES)
    assert {name: r.status for name, r in found.items()} == {
        "pod-to-pod across nodes": "pass", "pod-to-service": "pass", "DNS": "pass"}, found
    assert found["pod-to-pod across nodes"].seen == "6 of 6 node pairs answered"
    assert standin.remaining("namespaces") == ["default", "kube-system"]


def test_dns_fails_naming_each_name_when_the_cluster_dns_resolves_nothing(tmp_path):
    found, _ = _network(tmp_path, dns={"kubernetes.io": "147.75.40.148"})
    dns = found["DNS"]
    assert dns.status == "fail"
    assert dns.seen == "; ".join(f"{node}: kubernetes.default.svc.cluster.local not resolved" for node in NODES)
    assert found["pod-to-pod across nodes"].status == "pass"


def test_dns_is_skipped_on_a_cluster_without_a_dns_service(tmp_path):
    found, _ = _network(tmp_path)
    assert (found["DNS"].status, found["DNS"].reason) == ("skip", "the cluster has no DNS Service (kube-system/kube-dns)")


def _tenants(tmp_path, mechanism, engine):
    with ClusterApi(NODES, policy=engine) as standin:
        connection = api.connect(standin.kubeconfig(tmp_path / "kubeconfig"))
        core = client.CoreV1Api(connection)
        with function.Namespace(core) as namespace:
            result = function.tenants(core, client.NetworkingV1Api(connection), namespace.name, "busybox",
                                      mechanism, "node2")
        return result, standin


@pytest.mark.parametrize("mechanism", ["networkpolicy-v1", "romana-annotation"])
def test_tenants_pass_when_the_plugin_enforces_kinstalls_isolation(tmp_path, mechanism):
    result, standin = _tenants(tmp_path, mechanism, engine=mechanism)
    assert result.status == "pass", result
    assert result.seen == f"2 tenants: each reached its own server, neither the other's ({mechanism})"
    assert standin.remaining("namespaces") == ["default", "kube-system"]
    posted = [path for method, path in standin.requests if method == "POST"]
    assert sum(path.endswith("/networkpolicies") for path in posted) == 4


def test_tenants_fail_naming_who_reached_whom_when_nothing_enforces_the_policies(tmp_path):
    result, standin = _tenants(tmp_path, "networkpolicy-v1", engine=None)
    assert result.status == "fail"
    assert result.expected == "each tenant reaches its own pods and not the other's (networkpolicy-v1)"
    a, b = sorted({p.split("/")[4] for m, p in standin.requests if m == "POST" and p.startswith("/api/v1/namespaces/")
                   and "-tenant-" in p})
    address = {n: re.search(rf"within {n} (\S+) server", result.diagnostics).group(1) for n in (a, b)}
    assert result.seen == (f"{a} reached {b}'s server ({address[b]} answered 'server'); "
                           f"{b} reached {a}'s server ({address[a]} answered 'server')")
    assert f"client in {a}: across {b} {address[b]} server" in result.diagnostics
    assert standin.remaining("namespaces") == ["default", "kube-system"]


def test_romana_ignores_plain_default_deny_policies_so_a_namespace_without_its_annotation_is_open(tmp_path):
    result, _ = _tenants(tmp_path, "networkpolicy-v1", engine="romana-annotation")
    assert result.status == "fail" and result.seen.count(" reached ") == 2


def test_a_tenant_whose_own_pods_cannot_reach_each_other_fails_saying_the_policies_deny_too_much():
    logs = {"t-a": ["within t-a 10.0.0.1 ", "across t-b 10.0.0.2 "],
            "t-b": ["within t-b 10.0.0.2 server", "across t-a 10.0.0.1 "]}
    result = function._isolation(logs, 1.0, "networkpolicy-v1")
    assert result.status == "fail"
    assert result.seen == "t-a's own server did not answer its client (the policies deny too much)"


@pytest.mark.parametrize("mechanism", ["networkpolicy-v1", "romana-annotation"])
def test_the_probe_isolates_tenants_with_the_very_policies_kinstall_installs(mechanism):
    objects = render("addons/templates/tenants.yaml.j2", tenants={"shop": {}}, ansible_managed="test",
                     kinstall_network_plugin={"name": "x", "tenant_isolation": mechanism})
    installed = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NetworkPolicy"}
    probed = {p["metadata"]["name"]: p["spec"] for p in function.isolation_policies(mechanism)}
    assert probed == installed
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    expected = function.ROMANA_DEFAULT_DENY if mechanism == "romana-annotation" else None
    assert namespace["metadata"].get("annotations") == expected


def test_the_stand_in_refuses_an_invalid_object_as_the_api_server_does(tmp_path):
    def post(standin, path, body):
        request = urllib.request.Request(standin.url + path, json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        return refused.value.code, json.loads(refused.value.read())["message"]

    with ClusterApi(NODES) as standin:
        code, message = post(standin, "/api/v1/namespaces/default/pods", {"metadata": {"name": "x"}, "spec": {
            "containers": [{"name": "c", "image": "busybox", "commandd": ["true"]}]}})
        assert code == 422 and "commandd" in message
        assert post(standin, "/api/v1/namespaces", {"metadata": {"name": "Not_A_Label"}})[0] == 422
        assert post(standin, "/api/v1/namespaces/nowhere/pods", function._pod("x", "busybox", "true"))[0] == 404
        assert post(standin, "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
                    {"metadata": {"name": "p"}, "spec": {"podSelector": [], "policyTypes": ["Ingress"]}})[0] == 422


def _workloads(tmp_path, monkeypatch, **scenario):
    monkeypatch.setattr(function, "WAIT", 8)  # the stand-in answers at once: no image to pull
    with ClusterApi(NODES, **scenario) as standin:
        connection = api.connect(standin.kubeconfig(tmp_path / "kubeconfig"))
        core = client.CoreV1Api(connection)
        with function.Namespace(core) as namespace:
            found = function.workloads(core, client.AppsV1Api(connection), namespace.name, "busybox")
            found += function.volumes(core, client.StorageV1Api(connection), namespace.name, "busybox")
        return {r.name: r for r in found}, standin


def test_a_deployment_that_heals_and_rolls_with_a_surge_and_a_volume_that_keeps_its_data_pass(tmp_path, monkeypatch):
    found, standin = _workloads(tmp_path, monkeypatch, volumes="keep")
    assert {name: r.status for name, r in found.items()} == {
        "self-healing": "pass", "rolling update": "pass", "volume": "pass"}, found
    assert found["rolling update"].seen == "completed; 2 of 2 replicas available throughout"
    assert found["volume"].target == "local-storage"
    # the Retain volume the check bound is Available again, and nothing is left behind
    assert [v["status"]["phase"] for (r, _, _), v in standin.objects.items() if r == "persistentvolumes"] == \
        ["Available"]
    assert standin.remaining("namespaces") == ["default", "kube-system"]


def test_a_deployment_that_does_not_replace_a_deleted_pod_fails_self_healing(tmp_path, monkeypatch):
    found, _ = _workloads(tmp_path, monkeypatch, heals=False)
    healing = found["self-healing"]
    assert healing.status == "fail" and re.match(r"after deleting heal-\w+: 1 pod\(s\), not all available$", healing.seen)
    assert (found["volume"].status, found["volume"].reason) == ("skip", "the cluster has no StorageClass")


def test_a_rollout_that_takes_a_replica_away_fails_the_rolling_update(tmp_path, monkeypatch):
    found, _ = _workloads(tmp_path, monkeypatch, rollout_dip=True)
    assert found["self-healing"].status == "pass"
    rollout = found["rolling update"]
    assert (rollout.status, rollout.seen) == ("fail", "only 1 of 2 replicas available during the rollout")
    assert rollout.expected == "2 of 2 available throughout (maxUnavailable 0)"


@pytest.mark.parametrize("volumes, seen", [
    ("lose", "claim-0-read Failed (claim Bound)"),
    ("pending", "claim-0-write not finished (claim Pending)"),
])
def test_a_volume_that_loses_its_data_or_never_binds_fails_naming_the_step(tmp_path, monkeypatch, volumes, seen):
    found, standin = _workloads(tmp_path, monkeypatch, volumes=volumes)
    volume = found["volume"]
    assert (volume.status, volume.seen) == ("fail", seen)
    assert f"claim claim-0: {seen.split('claim ')[-1].rstrip(')')}" in volume.diagnostics
    assert standin.remaining("namespaces") == ["default", "kube-system"]
