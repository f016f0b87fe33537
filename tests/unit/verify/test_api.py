"""The API checks of `kinstall verify` through the real Kubernetes client, against the recorded
stand-in API server (tests/standins/recorded_api.py): each check passes on a healthy cluster's
answers and fails, with what was expected, what was seen and the diagnostics, on a broken one's."""

import copy

import pytest

from installer.verify import api
from tests.standins.recorded_api import RecordedApi

VERSION = {"major": "1", "minor": "20", "gitVersion": "v1.20.2", "gitCommit": "faecb196", "gitTreeState": "clean",
           "buildDate": "2021-01-13T13:20:00Z", "goVersion": "go1.15.5", "compiler": "gc", "platform": "linux/amd64"}


def _node(name, ready="True", unschedulable=False):
    return {"metadata": {"name": name}, "spec": {"unschedulable": unschedulable} if unschedulable else {},
            "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
                 "message": "kubelet has sufficient memory available"},
                {"type": "Ready", "status": ready,
                 "reason": "KubeletReady" if ready == "True" else "NodeStatusUnknown",
                 "message": "kubelet is posting ready status" if ready == "True"
                 else "Kubelet stopped posting node status."}]}}


def _pod(name, node, ready=True, waiting=None):
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {"startedAt": "2026-11-29T01:00:00Z"}}
    return {"metadata": {"name": name, "namespace": "kube-system"}, "spec": {"nodeName": node, "containers": [
        {"name": name.split("-")[0], "image": "k8s.gcr.io/x"}]},
            "status": {"phase": "Running" if ready else "Pending",
                       "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": name.split("-")[0], "ready": ready, "restartCount": 0 if ready
                                              else 4, "image": "k8s.gcr.io/x", "imageID": "sha256:1", "state": state}]}}


READYZ = "[+]ping ok\n[+]log ok\n[+]etcd ok\n[+]informer-sync ok\nreadyz check passed\n"
HEALTHY = {
    "/version": VERSION,
    "/api/v1/nodes": {"kind": "NodeList", "apiVersion": "v1", "metadata": {},
                      "items": [_node("node1"), _node("node2"), _node("node3")]},
    "/api/v1/namespaces/kube-system/pods": {"kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [
        _pod("kube-apiserver-node1", "node1"), _pod("kube-proxy-abcde", "node2")]},
    "/readyz?verbose=true": READYZ,
}


def _run(tmp_path, responses, version="1.20.2", nodes=("node1", "node2", "node3")):
    with RecordedApi(responses) as server:
        found = api.run(server.kubeconfig(tmp_path / "kubeconfig"), version, list(nodes))
    return {r.name: r for r in found}, server.requests


def test_a_healthy_cluster_passes_every_api_check_and_the_checks_only_read(tmp_path):
    found, requests = _run(tmp_path, HEALTHY)
    assert {name: r.status for name, r in found.items()} == {
        "API server release": "pass", "nodes Ready": "pass", "system pods Ready": "pass",
        "API server readiness checks": "pass"}
    assert found["API server release"].seen == "v1.20.2"
    assert found["nodes Ready"].seen == "3 Ready and schedulable: node1, node2, node3"
    assert found["API server readiness checks"].seen == "4 checks ok"
    assert {method for method, _ in requests} == {"GET"}


def test_another_release_fails_naming_both(tmp_path):
    found, _ = _run(tmp_path, HEALTHY, version="1.21.14")
    release = found["API server release"]
    assert (release.status, release.expected, release.seen) == ("fail", "v1.21.14", "v1.20.2")


def test_a_notready_and_a_cordoned_node_fail_with_conditions_and_events(tmp_path):
    broken = copy.deepcopy(HEALTHY)
    broken["/api/v1/nodes"]["items"] = [_node("node1"), _node("node2", ready="Unknown"),
                                        _node("node3", unschedulable=True)]
    broken["/api/v1/events?fieldSelector=involvedObject.kind%3DNode%2CinvolvedObject.name%3Dnode2"] = {
        "kind": "EventList", "apiVersion": "v1", "metadata": {}, "items": [
            {"metadata": {"name": "node2.1", "namespace": "default"}, "involvedObject": {"kind": "Node", "name": "node2"},
             "reason": "NodeNotReady", "message": "Node node2 status is now: NodeNotReady", "type": "Normal",
             "lastTimestamp": "2026-11-29T01:02:03Z"}]}
    found, requests = _run(tmp_path, broken)
    nodes = found["nodes Ready"]
    assert nodes.status == "fail"
    assert nodes.seen == "node2 NotReady (NodeStatusUnknown); node3 cordoned (SchedulingDisabled)"
    assert "condition Ready=Unknown NodeStatusUnknown: Kubelet stopped posting node status." in nodes.diagnostics
    assert "NodeNotReady: Node node2 status is now: NodeNotReady" in nodes.diagnostics
    assert ("GET", "/api/v1/events?fieldSelector=involvedObject.kind%3DNode%2CinvolvedObject.name%3Dnode2") in requests


def test_a_node_of_the_inventory_that_never_registered_fails(tmp_path):
    found, _ = _run(tmp_path, HEALTHY, nodes=("node1", "node2", "node3", "node4"))
    assert found["nodes Ready"].status == "fail" and found["nodes Ready"].seen == "not registered: node4"


def test_a_failing_system_pod_fails_with_its_state_events_and_log(tmp_path):
    broken = copy.deepcopy(HEALTHY)
    broken["/api/v1/namespaces/kube-system/pods"]["items"].append(
        _pod("coredns-74ff55c5b-x2x7q", "node2", ready=False, waiting="CrashLoopBackOff"))
    broken["/api/v1/namespaces/kube-system/pods/coredns-74ff55c5b-x2x7q/log?container=coredns&tailLines=20"] = \
        "plugin/forward: no nameservers found\n"
    found, _ = _run(tmp_path, broken)
    pods = found["system pods Ready"]
    assert pods.status == "fail"
    assert pods.seen == "coredns-74ff55c5b-x2x7q Pending (coredns waiting: CrashLoopBackOff, 4 restart(s))"
    assert "pod kube-system/coredns-74ff55c5b-x2x7q on node2: Pending" in pods.diagnostics
    assert "log coredns: plugin/forward: no nameservers found" in pods.diagnostics


def test_a_failing_readiness_check_fails_naming_it(tmp_path):
    broken = dict(HEALTHY, **{"/readyz?verbose=true": READYZ.replace("[+]etcd ok", "[-]etcd failed: reason withheld")})
    found, _ = _run(tmp_path, broken)
    readiness = found["API server readiness checks"]
    assert (readiness.status, readiness.seen) == ("fail", "failing: etcd")
    assert "[-]etcd failed" in readiness.diagnostics


def test_an_api_server_that_does_not_answer_fails_the_first_check_and_skips_the_rest(tmp_path):
    with RecordedApi(HEALTHY) as server:
        kubeconfig = server.kubeconfig(tmp_path / "kubeconfig")
    found = {r.name: r for r in api.run(kubeconfig, "1.20.2", ["node1"])}  # the server is gone now
    assert found["API server release"].status == "fail"
    assert found["API server release"].expected == "the API server answers"
    assert {found[n].status for n in ("nodes Ready", "system pods Ready", "API server readiness checks")} == {"skip"}


def test_no_kubeconfig_yet_skips_the_api_checks_with_the_reason(tmp_path):
    found = api.run(tmp_path / "missing.conf", "1.20.2", ["node1"])
    assert {r.status for r in found} == {"skip"}
    assert found[0].reason == "no admin kubeconfig (the control-plane stage has not run on this cluster)"


@pytest.mark.parametrize("selector", ["spec.nodeName=node1", "involvedObject.kind=Node,status.phase=x"])
def test_the_stand_in_refuses_an_event_field_selector_the_api_server_refuses(selector):
    code, body = RecordedApi({}).answer(f"/api/v1/events?fieldSelector={selector}")
    assert code == 400 and "is not a known field selector" in body["message"]
