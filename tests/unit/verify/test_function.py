"""The verdicts of the network function checks from what the client pods printed: the lab's
cluster has no DNS and answers every pair, so the other verdicts come from recorded client logs
(what busybox's wget and nslookup print on a cluster with DNS, and on a broken one)."""

from installer.verify import function

NAMES = {"node1": "server-0", "node2": "server-1", "node3": "server-2"}


def _logs(broken=(), service=None, dns=None):
    logs = {}
    for node in NAMES:
        lines = []
        for target, name in NAMES.items():
            ip = f"10.233.{list(NAMES).index(target) + 64}.5"
            answer = "nc: timed out" if (node, target) in broken else name
            lines.append(f"pod {name} {ip} {answer}")
        lines.append(f"service 10.233.0.80 {service if service is not None else 'server-1'}")
        for host, address in (dns or {}).items():
            lines.append(f"dns {host} {address}")
        logs[node] = lines
    return logs


def test_every_pair_of_nodes_answering_passes():
    result = function._pairs(list(NAMES), NAMES, _logs(), 3.0)
    assert (result.status, result.seen) == ("pass", "6 of 6 node pairs answered")


def test_a_broken_route_fails_naming_the_pairs_it_breaks():
    result = function._pairs(list(NAMES), NAMES, _logs(broken={("node1", "node3"), ("node2", "node3")}), 3.0)
    assert result.status == "fail"
    assert result.seen == ("4 of 6 answered; node1 -> node3 (10.233.66.5): nc: timed out; "
                           "node2 -> node3 (10.233.66.5): nc: timed out")
    assert "client on node1: pod server-2 10.233.66.5 nc: timed out" in result.diagnostics


def test_the_service_must_answer_with_a_server_from_every_node():
    assert function._service(_logs(), set(NAMES.values()), "10.233.0.80", 1.0).status == "pass"
    failed = function._service(_logs(service=""), set(NAMES.values()), "10.233.0.80", 1.0)
    assert failed.status == "fail" and failed.seen == "node1: no answer; node2: no answer; node3: no answer"


def test_dns_is_skipped_without_a_dns_service_and_judged_from_nslookup_with_one():
    skipped = function._dns(_logs(), None, "kubernetes.io", 0.0)
    assert (skipped.status, skipped.reason) == ("skip", "the cluster has no DNS Service (kube-system/kube-dns)")
    resolved = {"kubernetes.default.svc.cluster.local": "10.233.0.1", "kubernetes.io": "147.75.40.148"}
    assert function._dns(_logs(dns=resolved), "cluster.local", "kubernetes.io", 1.0).status == "pass"
    # nslookup that gets no answer prints only the server's own address (ADDR:53), or nothing at all
    unresolved = {"kubernetes.default.svc.cluster.local": "10.233.0.3:53", "kubernetes.io": ""}
    failed = function._dns(_logs(dns=unresolved), "cluster.local", "kubernetes.io", 1.0)
    assert failed.status == "fail"
    assert "node1: kubernetes.default.svc.cluster.local not resolved; node1: kubernetes.io not resolved" in failed.seen


RESOLVED = """Server:\t\t10.233.0.3
Address:\t10.233.0.3:53

Name:\t{name}
Address: {address}
"""
NXDOMAIN = """Server:\t\t10.233.0.3
Address:\t10.233.0.3:53

** server can't find {name}: NXDOMAIN
"""


def _run_client(tmp_path, answers: dict, lookups: dict, external_name: str = "kubernetes.io"):
    """The client pod's script under sh, with an nc and an nslookup that print what busybox's
    print for the recorded answers (a missing answer: nc's timeout, exit 1)."""
    import json
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "answers.json").write_text(json.dumps(answers))
    (tmp_path / "lookups.json").write_text(json.dumps(lookups))
    (bin_dir / "nc").write_text(f"""#!/usr/bin/python3
import json, sys
answers = json.load(open({str(tmp_path / 'answers.json')!r}))
assert sys.argv[1] == "-w" and sys.argv[2].isdigit(), sys.argv  # nc -w SECONDS ADDRESS PORT
request = sys.stdin.read()
assert request == "GET / HTTP/1.0\\r\\n\\r\\n", repr(request)
url = f"http://{{sys.argv[3]}}:{{sys.argv[4]}}/"
if url in answers:
    print("HTTP/1.0 200 OK\\r\\nContent-type: text/html\\r\\n\\r\\n" + answers[url])
else:
    print("nc: timed out", file=sys.stderr)
    sys.exit(1)
""")
    (bin_dir / "nslookup").write_text(f"""#!/usr/bin/python3
import json, sys
lookups = json.load(open({str(tmp_path / 'lookups.json')!r}))
name = sys.argv[1]
print(({RESOLVED!r} if name in lookups else {NXDOMAIN!r}).format(name=name, address=lookups.get(name, "")))
""")
    (bin_dir / "sleep").write_text("#!/bin/sh\n")  # the Service retries need not wait here
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    script = function.client_script([("server-0", "10.0.0.1"), ("server-1", "10.0.0.2")], "10.233.0.80",
                                    "cluster.local", external_name)
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                          env={"PATH": f"{bin_dir}:/usr/bin:/bin"})
    return done.stdout.splitlines()


def test_the_client_script_reports_each_answer_and_resolved_name(tmp_path):
    lines = _run_client(tmp_path, {"http://10.0.0.1:8080/": "server-0", "http://10.0.0.2:8080/": "server-1",
                                   "http://10.233.0.80:80/": "server-1"},
                        {"kubernetes.default.svc.cluster.local": "10.233.0.1", "kubernetes.io": "147.75.40.148"})
    assert lines == ["pod server-0 10.0.0.1 server-0", "pod server-1 10.0.0.2 server-1",
                     "service 10.233.0.80 server-1", "dns kubernetes.default.svc.cluster.local 10.233.0.1",
                     "dns kubernetes.io 147.75.40.148"]
    logs = {"node1": lines, "node2": lines}
    names = {"node1": "server-0", "node2": "server-1"}
    assert function._pairs(["node1", "node2"], names, logs, 1.0).status == "pass"
    assert function._dns(logs, "cluster.local", "kubernetes.io", 1.0).status == "pass"


def test_a_hostile_external_name_stays_one_argument_of_nslookup_in_the_pods_script(tmp_path):
    """validate refuses such a name; the script quotes it anyway (a sink is never trusted)."""
    hostile = "kubernetes.io; touch PWNED $(touch PWNED2) `touch PWNED3`"
    lines = _run_client(tmp_path, {}, {hostile: "192.0.2.1"}, external_name=hostile)
    assert lines[-1] == f"dns {hostile} 192.0.2.1"
    assert not list(tmp_path.glob("PWNED*"))


def test_the_client_script_reports_what_did_not_answer_or_resolve(tmp_path):
    lines = _run_client(tmp_path, {"http://10.0.0.1:8080/": "server-0"}, {})
    assert lines == ["pod server-0 10.0.0.1 server-0", "pod server-1 10.0.0.2 nc: timed out",
                     "service 10.233.0.80 ", "dns kubernetes.default.svc.cluster.local ", "dns kubernetes.io "]
    logs = {"node1": lines, "node2": lines}
    assert function._pairs(["node1", "node2"], {"node1": "server-0", "node2": "server-1"}, logs, 1.0).status == "fail"
    assert function._service(logs, {"server-0", "server-1"}, "10.233.0.80", 1.0).status == "fail"
    assert function._dns(logs, "cluster.local", "kubernetes.io", 1.0).status == "fail"


class _Namespaces:
    """A recording double of the two namespace calls the checks' namespace makes (create, then
    delete and read until the API server says 404)."""

    def __init__(self):
        self.calls, self.present = [], set()

    def create_namespace(self, body, _request_timeout=None):
        self.calls.append(("create", body["metadata"]["name"], body["metadata"]["labels"]))
        self.present.add(body["metadata"]["name"])

    def delete_namespace(self, name, grace_period_seconds=None, _request_timeout=None):
        self.calls.append(("delete", name))
        self.present.discard(name)

    def read_namespace(self, name, _request_timeout=None):
        from kubernetes.client.exceptions import ApiException

        self.calls.append(("read", name))
        if name not in self.present:
            raise ApiException(status=404, reason="Not Found")


def test_the_checks_namespace_is_removed_on_ctrl_c_and_on_sigterm():
    import os
    import signal

    import pytest

    core = _Namespaces()
    with pytest.raises(KeyboardInterrupt):
        with function.Namespace(core) as namespace:
            raise KeyboardInterrupt
    assert core.calls[0] == ("create", namespace.name, {"kinstall.io/verify": "true"})
    assert core.calls[1:] == [("delete", namespace.name), ("read", namespace.name)]
    assert namespace.name.startswith("kinstall-verify-") and not core.present

    core = _Namespaces()
    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with function._terminate_as_interrupt(), function.Namespace(core):
            os.kill(os.getpid(), signal.SIGTERM)
            raise AssertionError("SIGTERM did not interrupt")
    assert not core.present and signal.getsignal(signal.SIGTERM) is previous
