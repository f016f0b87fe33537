"""The network plugins' own health checks of roles/verify's module, on what the lab cannot run
(calico-node, Tungsten Fabric): Calico's BGP sessions asked of a stand-in BIRD that speaks BIRD's
control protocol on a unix socket with recorded `show protocols` answers, and `contrail-status`
as a stand-in script printing recorded output. Each passes on a healthy answer and fails, naming
what is wrong, on a broken one."""

import importlib.util
import os
import socket
import threading

import pytest

from tests.paths import ROLES

spec = importlib.util.spec_from_file_location("kinstall_verify_host",
                                              ROLES / "verify" / "library" / "kinstall_verify_host.py")
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)

PROTOCOLS = """2002-name     proto    table    state  since       info
1002-static1  Static   master   up     2026-11-29
 kernel1  Kernel   master   up     2026-11-29
 device1  Device   master   up     2026-11-29
 direct1  Direct   master   up     2026-11-29
 Mesh_10_0_0_2 BGP      master   up     09:15:02    Established
 Mesh_10_0_0_3 BGP      master   {state}
"""
ESTABLISHED = "up     09:15:04    Established"
REFUSED = "start  09:15:02    Active        Socket: Connection refused"


class StandinBird:
    """STAND-IN for calico-node's BIRD on its control socket: the greeting, then the recorded
    answer to `show protocols` (anything else: BIRD's 'syntax error' reply)."""

    def __init__(self, path, answer):
        self.path, self.answer, self.asked = str(path), answer, []
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(self.path)
        self.server.listen(1)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        connection, _ = self.server.accept()
        with connection, connection.makefile("rw", newline="\n") as stream:
            stream.write("0001 BIRD v0.3.3+birdv1.6.8 ready.\n")
            stream.flush()
            command = stream.readline().strip()
            self.asked.append(command)
            stream.write(self.answer + "0000 \n" if command == "show protocols" else "9001 syntax error\n")
            stream.flush()


def test_every_bgp_session_established_passes(tmp_path):
    bird = StandinBird(tmp_path / "bird.ctl", PROTOCOLS.format(state=ESTABLISHED))
    result = module.calico_bgp(bird.path)
    assert result["status"] == "pass", result
    assert result["seen"] == "2 BGP session(s) Established: Mesh_10_0_0_2, Mesh_10_0_0_3"
    assert bird.asked == ["show protocols"]


def test_a_session_not_established_fails_naming_the_peer_and_birds_state(tmp_path):
    bird = StandinBird(tmp_path / "bird.ctl", PROTOCOLS.format(state=REFUSED))
    result = module.calico_bgp(bird.path)
    assert result["status"] == "fail"
    assert result["seen"] == "Mesh_10_0_0_3: Active Socket: Connection refused"
    assert "Mesh_10_0_0_2 BGP" in result["diagnostics"]


def test_no_bird_on_the_host_fails_saying_where_it_looked(tmp_path):
    result = module.calico_bgp(str(tmp_path / "bird.ctl"))
    assert result["status"] == "fail"
    assert result["expected"] == f"calico-node's BIRD answers on {tmp_path / 'bird.ctl'}"


HEALTHY = """Pod              Service         Original Name                          Original Version  State    Id            Status
                 redis           contrail-external-redis                R21.12            running  6e7a1a3c2f0b  Up 2 hours
config           api             contrail-controller-config-api         R21.12            running  0b1c2d3e4f50  Up 2 hours
control          control         contrail-controller-control-control    R21.12            running  1a2b3c4d5e6f  Up 2 hours
vrouter          agent           contrail-vrouter-agent                 R21.12            running  2b3c4d5e6f70  Up 2 hours

vrouter kernel module is PRESENT
== Contrail control ==
control: active
nodemgr: active

== Contrail config ==
svc-monitor: backup
nodemgr: active
device-manager: backup
api: active
schema: backup

== Contrail vrouter ==
nodemgr: active
agent: active
"""  # noqa: E501 (contrail-status's own output, column for column)


def _contrail(tmp_path, monkeypatch, output, code=0):
    script = tmp_path / "contrail-status"
    (tmp_path / "output").write_text(output)
    script.write_text(f"#!/bin/sh\ncat {tmp_path / 'output'}\nexit {code}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    return module.contrail()


def test_contrail_status_all_active_or_standing_by_passes(tmp_path, monkeypatch):
    result = _contrail(tmp_path, monkeypatch, HEALTHY)
    assert (result["status"], result["seen"]) == ("pass", "9 service(s) active (or backup)")


@pytest.mark.parametrize("change, named", [
    (("agent: active", "agent: initializing (No Configuration for self)"),
     "Contrail vrouter: agent initializing (No Configuration for self)"),
    (("api: active", "api: backup"), "Contrail config: api backup"),
    (("module is PRESENT", "module is NOT PRESENT"), "vrouter kernel module is NOT PRESENT"),
    (("R21.12            running  1a2b", "R21.12            exited   1a2b"),
     "container control control contrail-controller-control-control exited"),
])
def test_contrail_status_fails_naming_each_service_not_active(tmp_path, monkeypatch, change, named):
    result = _contrail(tmp_path, monkeypatch, HEALTHY.replace(*change))
    assert result["status"] == "fail"
    assert result["seen"] == named


def test_no_contrail_status_on_the_host_fails_saying_what_installs_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    result = module.contrail()
    assert result["status"] == "fail" and "node-init" in result["diagnostics"]


TASKS = __import__("yaml").safe_load((ROLES / "verify/tasks/main.yml").read_text())


def _selected(groups, plugin, stages, **settings):
    """The checks the verify role asks of a host and those it skips, rendered as on a host."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    from installer import plugins
    from installer.runner.engine import plugin_facts

    task = TASKS[0]
    facts = plugin_facts(plugins.get(plugin), settings)  # as kinstall passes them, from the registry
    variables = {"group_names": groups, "kinstall_network_plugin": facts, "kinstall_stages_done": stages,
                 "verify_checks_only": [], "kubernetes_audit": False, "auto_renew_certificates": False,
                 "kube_encrypt_secret_data": False, "etcd_backup_schedule": "",
                 "inventory_hostname": "n1", "groups": {"etcd": ["n1", "n2"]},
                 **settings}
    for name in ("verify_kubernetes_stage", "verify_plugin_check", "verify_checks", "verify_skip"):
        variables[name] = Templar(loader=DataLoader(), variables=variables).template(
            trust_as_template(task["vars"][name]))
    return variables["verify_checks"], variables["verify_skip"]


ALL_STAGES = ["etcd", "runtime", "control-plane", "nodes", "network"]


def test_a_calico_node_with_bgp_has_its_sessions_checked():
    checks, skip = _selected(["kube_node", "k8s_cluster"], "calico", ALL_STAGES, calico_network_backend="bird")
    assert checks == ["containerd", "kubelet", "api", "anonymous", "certificates", "calico-bgp"] and skip == {}


def test_calico_without_bgp_says_why_its_sessions_are_not_checked():
    checks, skip = _selected(["kube_node", "k8s_cluster"], "calico", ALL_STAGES, calico_network_backend="vxlan")
    assert "calico-bgp" in checks
    assert skip == {"calico-bgp": "Calico's vxlan backend runs no BGP (calico_network_backend)"}


def test_tungsten_fabric_nodes_run_contrail_status_once_the_network_stage_ran():
    checks, skip = _selected(["kube_node", "k8s_cluster"], "opencontrail", ALL_STAGES[:-1])
    assert checks[-1] == "contrail" and skip == {"contrail": "the network stage has not run on this cluster"}


@pytest.mark.parametrize("plugin", ["bridge", "romana"])
def test_plugins_without_a_host_check_add_none_and_an_etcd_only_host_none(plugin):
    assert _selected(["kube_node", "k8s_cluster"], plugin, ALL_STAGES)[0] == \
        ["containerd", "kubelet", "api", "anonymous", "certificates"]
    assert _selected(["etcd"], "calico", ALL_STAGES, calico_network_backend="bird")[0] == ["etcd", "certificates"]


def test_the_audit_log_is_checked_on_control_planes_when_kubernetes_audit_asks():
    control_plane = ["kube_control_plane", "k8s_cluster"]
    assert "audit" not in _selected(control_plane, "bridge", ALL_STAGES)[0]
    assert "audit" not in _selected(["kube_node", "k8s_cluster"], "bridge", ALL_STAGES, kubernetes_audit=True)[0]
    checks, skip = _selected(control_plane, "bridge", ["etcd", "runtime"], kubernetes_audit=True)
    assert "audit" in checks and skip["audit"] == "the control-plane stage has not run on this cluster"


def test_requests_without_credentials_pass_only_when_refused(monkeypatch):
    answers = {"https://127.0.0.1:10250/pods": (401, ""),
               "https://127.0.0.1:6443/api/v1/namespaces/kube-public/configmaps/cluster-info": (200, "")}
    monkeypatch.setattr(module, "_status_of", answers.get)
    assert module.anonymous(6443, api_closed=False)["status"] == "pass"  # cluster-info open: kubeadm's default
    result = module.anonymous(6443, api_closed=True)
    assert result["status"] == "fail" and result["seen"].endswith("cluster-info answered 200"), result
    answers["https://127.0.0.1:6443/api/v1/namespaces/kube-public/configmaps/cluster-info"] = (403, "")
    assert module.anonymous(6443, api_closed=True)["seen"] == "refused without credentials: kubelet 401, API server 403"
    answers["https://127.0.0.1:10250/pods"] = (None, "connection refused")
    assert module.anonymous(6443, api_closed=True)["status"] == "skip"  # the kubelet check says why


def test_the_audit_check_passes_only_when_the_request_it_made_is_in_the_log(monkeypatch, tmp_path):
    log = tmp_path / "audit.log"
    made = []

    def kubectl(*command, timeout=20):
        made.append(command[-1])
        return 1, "", f'Error from server (NotFound): configmaps "{command[-1]}" not found'

    monkeypatch.setattr(module, "_run", kubectl)
    monkeypatch.setattr(module.time, "sleep", lambda seconds: None)
    clock = iter(range(0, 1000, 5))
    monkeypatch.setattr(module.time, "monotonic", lambda: next(clock))
    log.write_text('{"requestURI":"/api/v1/namespaces/default/configmaps/other"}\n')
    result = module.audit(6443, str(log))
    assert result["status"] == "fail" and "has no line for the request" in result["seen"], result
    def audited(*command, timeout=20):  # the API server writes its audit line before it answers
        log.write_text(f'{{"requestURI":"/api/v1/namespaces/default/configmaps/{command[-1]}"}}\n')
        return kubectl(*command)

    monkeypatch.setattr(module, "_run", audited)
    assert module.audit(6443, str(log))["status"] == "pass"
    assert module.audit(6443, str(tmp_path / "absent.log"))["status"] == "fail"


def test_a_service_check_is_tried_again_while_it_settles_and_says_after_how_long(monkeypatch):
    answers = iter([module.Check("kubelet").failed("kubelet active", "kubelet activating")] * 2 +
                   [module.Check("kubelet").passed("active, /healthz ok")])
    calls = []
    monkeypatch.setattr(module.time, "sleep", lambda seconds: calls.append(seconds))
    result = module._settled(lambda: next(answers), settle=60)
    assert result["status"] == "pass" and result["seen"].startswith("active, /healthz ok (after ")
    assert calls == [2, 2]
    once = module._settled(lambda: module.Check("kubelet").failed("kubelet active", "kubelet inactive"), settle=0)
    assert (once["status"], once["seen"]) == ("fail", "kubelet inactive")


def test_every_stored_secret_must_carry_the_providers_prefix_and_plaintext_ones_are_named(monkeypatch):
    import base64
    import json

    stored = {"/registry/secrets/default/a": b"k8s:enc:secretbox:v1:key1:\x00\x01",
              "/registry/secrets/kube-system/b": b"k8s:enc:secretbox:v1:key1:\x02"}
    asked = []

    def etcdctl(*command, timeout=20):
        asked.append(command)
        kvs = [{"key": base64.b64encode(k.encode()).decode(), "value": base64.b64encode(v).decode()}
               for k, v in stored.items()]
        return 0, json.dumps({"kvs": kvs}), ""

    monkeypatch.setattr(module, "_run", etcdctl)
    result = module.encryption("secretbox", ["secrets"])
    assert result["status"] == "pass" and result["seen"] == "2 stored object(s) of secrets, each encrypted with secretbox"
    assert asked[0][:5] == ("/usr/local/bin/etcdctl.sh", "--command-timeout=10s", "get", "/registry/secrets/", "--prefix")
    assert module.encryption("aescbc", ["secrets"])["status"] == "fail"  # another provider's prefix
    stored["/registry/secrets/default/plain"] = b"k8s\x00\n\x0c\n\x02v1\x12\x06Secret secret-data"
    result = module.encryption("secretbox", ["secrets"])
    assert result["status"] == "fail" and result["seen"] == "1 of 3 not: /registry/secrets/default/plain", result
    assert "secret-data" not in json.dumps(result)  # names, never values
    monkeypatch.setattr(module, "_run", lambda *c, timeout=20: (1, "", "context deadline exceeded"))
    assert module.encryption("secretbox", ["secrets"])["seen"] == "context deadline exceeded"


def test_the_encryption_check_runs_on_the_first_etcd_member_when_asked():
    assert "encryption" not in _selected(["etcd"], "bridge", ALL_STAGES)[0]
    assert "encryption" in _selected(["etcd"], "bridge", ALL_STAGES, kube_encrypt_secret_data=True)[0]
    assert "encryption" not in _selected(["etcd"], "bridge", ALL_STAGES, kube_encrypt_secret_data=True,
                                         inventory_hostname="n2")[0]


def test_the_renewal_timer_must_be_enabled_waiting_and_its_last_run_successful(monkeypatch):
    answers = {("is-enabled", "kinstall-certs-renew.timer"): "enabled\n",
               ("is-active", "kinstall-certs-renew.timer"): "active\n",
               ("show", "kinstall-certs-renew.service", "--property=Result", "--value"): "success\n",
               ("show", "kinstall-certs-renew.timer", "--property=NextElapseUSecRealtime", "--value"):
                   "Mon 2027-01-04 03:00:00 UTC\n"}

    def systemctl(*command, timeout=20):
        if command[0] == "systemctl":
            return 0, answers.get(command[1:], ""), ""
        return 1, "", ""  # journalctl, openssl: nothing to add

    monkeypatch.setattr(module, "_run", systemctl)
    monkeypatch.setattr(module.glob, "glob", lambda pattern: [])
    result = module.renewal()
    assert result["status"] == "pass" and result["seen"] == "timer active, next renewal Mon 2027-01-04 03:00:00 UTC"
    answers[("show", "kinstall-certs-renew.service", "--property=Result", "--value")] = "exit-code\n"
    assert module.renewal()["seen"] == "kinstall-certs-renew.service: exit-code"
    answers[("is-enabled", "kinstall-certs-renew.timer")] = "disabled\n"
    answers[("is-active", "kinstall-certs-renew.timer")] = "inactive\n"
    result = module.renewal()
    assert result["status"] == "fail" and result["seen"] == "kinstall-certs-renew.timer disabled, inactive", result


def test_the_backup_check_runs_on_the_first_etcd_member_when_backups_are_scheduled():
    assert "backup" not in _selected(["etcd"], "bridge", ALL_STAGES)[0]
    assert "backup" in _selected(["etcd"], "bridge", ALL_STAGES, etcd_backup_schedule="daily")[0]
    assert "backup" not in _selected(["etcd"], "bridge", ALL_STAGES, etcd_backup_schedule="daily",
                                     inventory_hostname="n2")[0]


def test_the_backup_check_fails_a_failed_last_run_and_a_last_good_backup_older_than_two_periods(monkeypatch, tmp_path):
    """The period is the host's systemd's (two firings of the calendar); the last good backup is the
    file the backup command writes; a run that could not reach its target fails the check at once."""
    status = tmp_path / "etcd-backup.json"
    status.write_text('{"time": 1000000, "snapshot": "etcd-node1-x.db", "target": "node3:/var/backups/k"}\n')
    answers = {("systemctl", "is-enabled", "kinstall-etcd-backup.timer"): "enabled\n",
               ("systemctl", "is-active", "kinstall-etcd-backup.timer"): "active\n",
               ("systemctl", "show", "kinstall-etcd-backup.service", "--property=Result", "--value"): "success\n",
               ("systemd-analyze", "calendar", "--iterations=2", "daily"):
                   "  Original form: daily\nNormalized form: *-*-* 00:00:00\n    Next elapse: Tue 2026-12-08 00:00:00 CET\n"
                   "       (in UTC): Mon 2026-12-07 23:00:00 UTC\n       From now: 5h left\n"
                   "       Iter. #2: Wed 2026-12-09 00:00:00 CET\n       (in UTC): Tue 2026-12-08 23:00:00 UTC\n",
               ("journalctl", "-u", "kinstall-etcd-backup.service", "-t", "kinstall-etcd-backup", "-n", "1", "-o", "cat",
                "--no-pager"): "kinstall-backup@10.0.0.3: Permission denied (publickey).\n"}

    def run(*command, timeout=20):
        return (0, answers[command], "") if command in answers else (1, "", "")

    monkeypatch.setattr(module, "_run", run)
    day = 86400
    result = module.backup("daily", str(status), now=1000000 + 1.5 * day)
    assert result["status"] == "pass", result
    assert result["seen"] == ("last good backup etcd-node1-x.db 36.0 h ago, to node3:/var/backups/k; "
                              "one every 24.0 h")
    result = module.backup("daily", str(status), now=1000000 + 2.1 * day)
    assert result["status"] == "fail" and result["expected"] == "a good backup within two periods (48.0 h)", result

    answers[("systemctl", "show", "kinstall-etcd-backup.service", "--property=Result", "--value")] = "exit-code\n"
    result = module.backup("daily", str(status), now=1000000 + 60)
    said = "kinstall-etcd-backup.service: exit-code: kinstall-backup@10.0.0.3: Permission denied (publickey)."
    assert result["status"] == "fail" and result["seen"] == said, result

    answers[("systemctl", "show", "kinstall-etcd-backup.service", "--property=Result", "--value")] = "success\n"
    status.unlink()
    result = module.backup("daily", str(status), now=1000000 + 60)
    assert result["status"] == "fail" and result["seen"].startswith("none ("), result
    answers[("systemctl", "is-enabled", "kinstall-etcd-backup.timer")] = "disabled\n"
    result = module.backup("daily", str(status), now=1000000 + 60)
    assert result["status"] == "fail" and result["seen"] == "kinstall-etcd-backup.timer disabled, active", result
