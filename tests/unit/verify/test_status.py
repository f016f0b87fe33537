"""`kinstall status`'s screen: nodes from the API (through the recorded stand-in, with and without
a metrics API), etcd members from the verify stage's etcd check, and the last run."""

import copy

from installer import status
from installer.runner.records import Failure, RunRecord
from installer.verify import api
from tests.paths import ROOT
from tests.standins.recorded_api import RecordedApi
from tests.unit.verify.test_api import HEALTHY, _node

METRICS = {"kind": "NodeMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "metadata": {}, "items": [
    {"metadata": {"name": "node1"}, "timestamp": "2026-11-29T01:00:00Z", "window": "30s",
     "usage": {"cpu": "500m", "memory": "1Gi"}}]}


def _answers():
    answers = copy.deepcopy(HEALTHY)
    first = _node("node1")
    first["metadata"]["labels"] = {"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/master": ""}
    for node in [first] + answers["/api/v1/nodes"]["items"][1:]:
        node["status"].update(nodeInfo={"kubeletVersion": "v1.20.2", "machineID": "", "systemUUID": "", "bootID": "",
                                        "kernelVersion": "", "osImage": "", "containerRuntimeVersion": "",
                                        "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
                              allocatable={"cpu": "2", "memory": "4Gi"})
    answers["/api/v1/nodes"]["items"] = [first] + answers["/api/v1/nodes"]["items"][1:]
    answers["/api/v1/nodes"]["items"][2]["spec"] = {"unschedulable": True}
    return answers


def test_nodes_with_metrics_show_their_share_of_cpu_and_memory(tmp_path):
    answers = dict(_answers(), **{"/apis/metrics.k8s.io/v1beta1/nodes": METRICS})
    with RecordedApi(answers) as server:
        rows, note = status.nodes(api.connect(server.kubeconfig(tmp_path / "kc")))
    assert note == ""
    assert rows[0] == {"name": "node1", "roles": "control-plane,master", "version": "v1.20.2", "ready": "Ready",
                       "cpu": 25.0, "memory": 25.0}
    assert rows[2]["ready"] == "Ready,SchedulingDisabled" and rows[2]["cpu"] is None and rows[2]["roles"] == "worker"


def test_without_a_metrics_api_the_screen_says_so(tmp_path):
    with RecordedApi(_answers()) as server:
        rows, note = status.nodes(api.connect(server.kubeconfig(tmp_path / "kc")))
    assert note.startswith("CPU and memory: no metrics API (404 Not Found)")
    text = status.render("cluster.local", rows, note, [], None)
    assert "node2            worker                v1.20.2    Ready                          -     -" in text
    assert text.endswith("last run: none")


def test_etcd_members_show_health_leader_and_the_quorum():
    def check(status_, name, leader=False):
        return [{"check": "etcd", "status": status_, "seen": "etcd inactive" if status_ == "fail" else "healthy",
                 "data": {"name": name, "version": "3.4.23", "leader": leader, "db_size": 2 * 2**20}
                 if status_ == "pass" else {}}]

    rows = status.etcd_members({"node1": check("pass", "node1", True), "node2": check("fail", "node2"),
                                "node3": check("pass", "node3")}, ["node1", "node2", "node3", "node4"])
    assert [(r["host"], r["health"], r["leader"]) for r in rows] == [
        ("node1", "healthy", True), ("node2", "unhealthy", False), ("node3", "healthy", False),
        ("node4", "unreachable", False)]
    run = RunRecord(id="20261129T010000Z-abcd", cluster="cluster.local", command="kinstall up hosts.yaml",
                    inputs={"mode": "up"}, started=1000.0, ended=1061.2, status="failed",
                    failures=[Failure("node2", "nodes", "kubeadm_join", "kubeadm join", "timed out")])
    text = status.render("cluster.local", [], "", rows, run)
    assert "node1            node1            healthy      yes     3.4.23      2.0 MB" in text
    assert "node2            node2            unhealthy                             -  etcd inactive" in text
    assert "2 of 4 healthy; quorum LOST (3 needed)" in text
    assert text.endswith("last run: 20261129T010000Z-abcd `kinstall up hosts.yaml`: failed in 61 s; failed at "
                         "node2: nodes / kubeadm join")


def test_each_refresh_keeps_only_the_latest_status_record(tmp_path, monkeypatch):
    """`status --watch` runs the etcd check once a refresh: one record is kept, not one per refresh,
    and the records of `up` are left alone."""
    from click.testing import CliRunner

    from installer.cli import cli
    from installer.runner import engine, records
    from installer.runner.kinds import Kind

    cluster_directory = tmp_path / "cluster"
    up = records.create(cluster_directory, "cluster.local", "kinstall up", {"mode": "up"})

    def status_run(cluster, options, *_, **__):
        assert options.kind is Kind.STATUS and options.stages == ["verify"]
        return records.create(cluster_directory, cluster.name, options.command, {"mode": str(options.kind)})

    monkeypatch.setattr(engine, "up", status_run)
    inventory = str(ROOT / "inventories" / "all-in-one" / "hosts.yaml")
    for _ in range(3):
        result = CliRunner().invoke(cli, ["status", inventory, "--format", "json"])
        assert result.exit_code == 0, result.output
    kept = records.for_cluster(cluster_directory)
    assert [r.inputs["mode"] for r in kept] == ["up", "status"] and kept[0].id == up.id
