"""`kinstall verify --kubeconfig` on any cluster (here the recorded stand-in API server): the
verdicts in text, JSON and JUnit XML, exit 0 when every check passed and 9 when one failed."""

import copy
import json
from xml.etree import ElementTree

from click.testing import CliRunner

from installer.cli import cli
from tests.standins.recorded_api import RecordedApi
from tests.unit.verify.test_api import HEALTHY, _node


def test_a_healthy_cluster_verifies_with_exit_0_and_a_junit_report(tmp_path):
    with RecordedApi(HEALTHY) as server:
        result = CliRunner().invoke(cli, ["verify", "--kubeconfig", str(server.kubeconfig(tmp_path / "kc")),
                                          "--junit", str(tmp_path / "verify.xml"), "--skip-function"])
    assert result.exit_code == 0, result.output
    assert "SKIP     infrastructure  host checks" in result.output
    assert "skipped: --skip-function" in result.output
    assert "4 passed, 0 failed, 2 skipped" in result.output
    suites = ElementTree.parse(tmp_path / "verify.xml").getroot()
    assert (suites.get("tests"), suites.get("failures")) == ("6", "0")
    assert {method for method, _ in server.requests} == {"GET"}


def test_function_checks_that_cannot_create_their_namespace_fail_saying_why(tmp_path):
    answers = dict(HEALTHY, **{
        "/api/v1/namespaces": {"kind": "NamespaceList", "apiVersion": "v1", "metadata": {}, "items": []},
        "/api/v1/namespaces/kube-system/services": {"kind": "ServiceList", "apiVersion": "v1", "metadata": {},
                                                    "items": []}})
    with RecordedApi(answers) as server:  # the stand-in answers GET only: creating the namespace is refused
        result = CliRunner().invoke(cli, ["verify", "--kubeconfig", str(server.kubeconfig(tmp_path / "kc"))])
    assert result.exit_code == 9, result.output
    assert "FAIL     function        function checks" in result.output
    assert "expected the API server answers the checks' requests; seen 405 Method Not Allowed" in result.output
    assert server.requests[-1][0] == "POST" and server.requests[-1][1] == "/api/v1/namespaces"


def test_a_cordoned_node_fails_verify_with_exit_9_in_json(tmp_path):
    broken = copy.deepcopy(HEALTHY)
    broken["/api/v1/nodes"]["items"][1] = _node("node2", unschedulable=True)
    with RecordedApi(broken) as server:
        result = CliRunner().invoke(cli, ["verify", "--kubeconfig", str(server.kubeconfig(tmp_path / "kc")),
                                          "--format", "json", "--skip-function"])
    assert result.exit_code == 9, result.output
    report = json.loads(result.output)
    assert report["passed"] is False
    nodes = next(c for c in report["checks"] if c["name"] == "nodes Ready")
    assert (nodes["status"], nodes["seen"]) == ("fail", "node2 cordoned (SchedulingDisabled)")


def test_verify_needs_an_inventory_or_a_kubeconfig_but_not_both(tmp_path):
    neither = CliRunner().invoke(cli, ["verify"])
    assert neither.exit_code == 2 and "give INVENTORY" in neither.output
    (tmp_path / "kc").write_text("{}")
    both = CliRunner().invoke(cli, ["verify", str(tmp_path / "hosts.yaml"), "--kubeconfig", str(tmp_path / "kc")])
    assert both.exit_code == 2
