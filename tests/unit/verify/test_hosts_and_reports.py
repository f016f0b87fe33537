"""The infrastructure results the verify stage leaves (etcd's quorum worked out from every
member's answer, an unanswering host failed) and the three reports: text, JSON, JUnit XML."""

import json
from xml.etree import ElementTree

from installer.verify import hosts, results
from installer.verify.results import Result


def _etcd(status, members=("node1", "node2", "node3"), reason=""):
    item = {"check": "etcd", "status": status, "seconds": 0.2, "seen": "healthy over TLS, etcd 3.4.23",
            "expected": "", "diagnostics": "", "reason": reason, "data": {}}
    if status == "fail":
        item.update(expected="this member answers over TLS", seen="etcd inactive; etcdctl: context deadline exceeded",
                    diagnostics="$ systemctl status etcd\n... inactive (dead)")
    elif members:
        item["data"] = {"members": list(members)}
    return item


def _write(tmp_path, found):
    path = tmp_path / "verify-hosts.json"
    path.write_text(json.dumps(found))
    return path


def test_a_stopped_member_fails_by_name_while_the_quorum_is_intact(tmp_path):
    path = _write(tmp_path, {"node1": [_etcd("pass")], "node2": [_etcd("fail")], "node3": [_etcd("pass")]})
    found = hosts.read(path, ["node1", "node2", "node3"], ["node1", "node2", "node3"])
    member = {r.target: r for r in found if r.name == "etcd member"}
    assert member["node2"].status == "fail" and member["node1"].status == member["node3"].status == "pass"
    assert member["node2"].diagnostics.startswith("$ systemctl status etcd")
    quorum = next(r for r in found if r.name == "etcd quorum")
    assert (quorum.status, quorum.seen) == ("pass", "intact: 2 of 3 members healthy (node2 not), 2 needed")


def test_two_of_three_members_down_lose_the_quorum(tmp_path):
    path = _write(tmp_path, {"node1": [_etcd("pass")], "node2": [_etcd("fail")], "node3": [_etcd("fail")]})
    quorum = hosts.quorum(json.loads(path.read_text()), ["node1", "node2", "node3"])
    assert (quorum.status, quorum.expected) == ("fail", "at least 2 healthy members")
    assert quorum.seen == "lost: 1 of 3 members healthy (node2, node3 not)"


def test_a_member_etcd_lists_but_the_inventory_does_not_counts_against_the_quorum(tmp_path):
    listed = ("node1", "node2", "node3", "old4", "old5")
    path = _write(tmp_path, {h: [_etcd("pass", listed)] for h in ("node1", "node2", "node3")})
    quorum = hosts.quorum(json.loads(path.read_text()), ["node1", "node2", "node3"])
    assert quorum.status == "pass" and quorum.seen == "intact: 3 of 5 members healthy (old4, old5 not), 3 needed"


def test_a_host_without_results_failed_to_answer_and_skips_keep_their_reason(tmp_path):
    reason = "the etcd stage has not run on this cluster"
    path = _write(tmp_path, {"node1": [_etcd("skip", members=(), reason=reason)]})
    found = hosts.read(path, ["node1", "node2"], ["node1"])
    assert [(r.name, r.target, r.status) for r in found] == [
        ("etcd member", "node1", "skip"), ("host answers", "node2", "fail"), ("etcd quorum", "cluster", "skip")]
    assert found[0].reason == found[2].reason == reason


RESULTS = [Result("infrastructure", "etcd member", "node1", "pass", 0.2, "healthy over TLS"),
           Result("infrastructure", "etcd member", "node2", "fail", 5.1, "etcd inactive", "this member answers",
                  "$ systemctl status etcd\ninactive (dead)"),
           Result("api", "nodes Ready", "cluster", "skip", reason="no admin kubeconfig")]


def test_the_text_report_gives_each_verdict_and_the_diagnostics_of_failures():
    text = results.render(RESULTS)
    assert "PASS     infrastructure  etcd member (node1)" in text
    assert "FAIL     infrastructure  etcd member (node2)" in text
    assert "expected this member answers; seen etcd inactive" in text
    assert "SKIP     api             nodes Ready" in text and "skipped: no admin kubeconfig" in text
    assert "diagnostics of etcd member (node2):\n  $ systemctl status etcd\n  inactive (dead)" in text
    assert text.endswith("1 passed, 1 failed, 1 skipped")


def test_the_json_report_says_whether_everything_passed_and_keeps_every_field():
    report = json.loads(results.as_json(RESULTS))
    assert report["passed"] is False and len(report["checks"]) == 3
    assert report["checks"][1]["diagnostics"].startswith("$ systemctl status etcd")
    assert json.loads(results.as_json(RESULTS[:1]))["passed"] is True


def test_the_junit_report_has_a_suite_per_group_with_failures_and_skips():
    root = ElementTree.fromstring(results.as_junit(RESULTS))
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "3", "1")
    infra, api = root.findall("testsuite")
    assert (infra.get("name"), infra.get("tests"), infra.get("failures")) == ("infrastructure", "2", "1")
    failure = infra.findall("testcase")[1].find("failure")
    assert failure.get("message") == "expected this member answers; seen etcd inactive"
    assert "inactive (dead)" in failure.text
    assert api.find("testcase").find("skipped").get("message") == "no admin kubeconfig"


def test_a_host_the_run_left_out_is_skipped_saying_so(tmp_path):
    path = _write(tmp_path, {"node1": [_etcd("pass")]})
    found = hosts.read(path, ["node1", "node2"], ["node1"], left_out=["node2"])
    assert [(r.name, r.target, r.status) for r in found][1] == ("host checks", "node2", "skip")
    assert found[1].reason == "left out of this run (--exclude or --limit): not contacted"
