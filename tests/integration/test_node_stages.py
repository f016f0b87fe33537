"""kinstall's node stages (preflight, os, download, runtime, etcd, loadbalancer), for real on the lab."""

import hashlib
import http.server
import itertools
import json
import re
import socket
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from installer import bundle as bundles
from installer import components
from installer.cli import cli
from tests import wheel
from tests.integration.helpers import last_record, ssh

pytestmark = pytest.mark.lab


# What a host the cluster had gets of a run that only adds hosts: its facts, the role's argument
# check, and the /etc/hosts entries of the new hosts (roles/os/tasks/existing.yml).
EXISTING_HOST_TASKS = {"Gathering Facts", "A host the cluster had before this run only adds hosts gets their names alone",
                       "Write every cluster host's address and name into /etc/hosts"}

def test_taken_ports_on_two_hosts_stop_preflight_in_one_report_and_nothing_is_installed(run_lab):
    # node1 is the control plane (6443); node2 only a worker and etcd member (the kubelet's 10250):
    # the worker's check proves Ansible sees kinstall's computed k8s_cluster group.
    assert ssh(run_lab, "node1", "systemd-run --unit kinstall-squatter nc -lk 6443", check=False).returncode == 0
    assert ssh(run_lab, "node2", "systemd-run --unit kinstall-squatter nc -lk 10250", check=False).returncode == 0
    try:
        result = CliRunner().invoke(cli, ["up", run_lab.inventory, "--yes", "--stages", "preflight,os"])
    finally:
        for node in ("node1", "node2"):
            ssh(run_lab, node, "systemctl stop kinstall-squatter", check=False)
    assert result.exit_code == 4, result.output
    assert "FAILED node1: preflight / preflight / Every check passed on this host" in result.output
    assert "tcp 6443 (API server) is in use by nc" in result.output
    assert "FAILED node2: preflight" in result.output and "tcp 10250 (kubelet) is in use by nc" in result.output
    assert "FAILED node3" not in result.output  # only the hosts with a problem
    assert [s["name"] for s in last_record(run_lab)["stages"]] == ["preflight"]
    for node in run_lab.nodes:
        assert ssh(run_lab, node, "test -e /etc/sysctl.d/99-kinstall.conf", check=False).returncode == 1, node


def test_kinstall_installed_from_its_wheel_runs_preflight_on_the_lab_from_an_empty_directory(run_lab, tmp_path):
    """What a user of `pipx install` gets: the playbooks and roles inside the package, not this tree's."""
    kinstall = wheel.install(tmp_path / "install")
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    result = subprocess.run([str(kinstall), "up", run_lab.inventory, "--yes", "--stages", "preflight"], cwd=empty,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    record = last_record(run_lab)
    assert [s["name"] for s in record["stages"]] == ["preflight"]
    assert {t["host"] for t in record["tasks"]} == set(run_lab.nodes)


def test_old_group_names_reach_ansible_as_the_current_ones(run_lab, tmp_path):
    text = Path(run_lab.inventory).read_text().replace("kube_control_plane:", "kube-master:")
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(text)
    assert ssh(run_lab, "node1", "systemd-run --unit kinstall-squatter nc -lk 6443", check=False).returncode == 0
    try:
        result = CliRunner().invoke(cli, ["up", str(inventory), "--yes", "--stages", "preflight"])
    finally:
        ssh(run_lab, "node1", "systemctl stop kinstall-squatter", check=False)
    assert "group 'kube-master' is Kubespray's old name for 'kube_control_plane'" in result.output
    assert result.exit_code == 4 and "tcp 6443 (API server) is in use by nc" in result.output


def _variant(run_lab, tmp_path, **changes) -> str:
    """The lab's inventory with some cluster variables changed."""
    document = yaml.safe_load(Path(run_lab.inventory).read_text())
    document["all"]["vars"].update(changes)
    path = tmp_path / "hosts.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return str(path)


def _nothing_installed(run_lab):
    for node in run_lab.nodes:
        found = ssh(run_lab, node, "ls /var/cache/kinstall/releases /usr/local/bin/containerd 2>/dev/null",
                    check=False).stdout
        assert found == "", (node, found)


def test_an_unreachable_mirror_stops_the_download_naming_the_file_and_nothing_is_installed(run_lab, tmp_path):
    inventory = _variant(run_lab, tmp_path, download_source="mirror", files_repo="http://127.0.0.1:9/files")
    result = CliRunner().invoke(cli, ["up", inventory, "--yes", "--stages", "download,runtime"])
    assert result.exit_code == 4, result.output
    assert "cannot fetch http://127.0.0.1:9/files/github.com/containerd/containerd/releases/download/v" in result.output
    assert "check that the source (files_repo or the network) is reachable" in result.output
    _nothing_installed(run_lab)


def test_a_wrong_checksum_stops_the_download_naming_the_file_and_nothing_is_installed(run_lab, tmp_path):
    document = yaml.safe_load(Path(run_lab.inventory).read_text())
    version = document["all"]["vars"]["runc_version"]
    inventory = _variant(run_lab, tmp_path, runc_checksums={"amd64": {version: "0" * 64}})
    result = CliRunner().invoke(cli, ["up", inventory, "--yes", "--stages", "download,runtime"])
    assert result.exit_code == 4, result.output
    assert f"runc {version} (amd64): sha256 mismatch" in result.output and "expected " + "0" * 64 in result.output
    _nothing_installed(run_lab)


def test_a_mirror_over_http_sends_each_file_once_and_hosts_verify_it(run_lab, tmp_path, monkeypatch):
    """The lab's files repository served over HTTP on loopback, a cache of the test's own: every
    file is requested once, however many hosts get it."""
    repo = Path(yaml.safe_load(Path(run_lab.inventory).read_text())["all"]["vars"]["download_bundle_dir"])
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(repo), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("KINSTALL_CACHE", str(tmp_path / "cache"))
    try:
        inventory = _variant(run_lab, tmp_path, download_source="mirror",
                             files_repo=f"http://127.0.0.1:{server.server_address[1]}")
        result = CliRunner().invoke(cli, ["up", inventory, "--yes", "--stages", "download"])
    finally:
        server.shutdown()
    assert result.exit_code == 0, result.output
    fetched = sorted(r.split("/")[-1] for r in requests)
    # the download stage alone fetches every stage's files, each once: containerd, runc, the CNI
    # plugins, etcd, and kubeadm, kubelet and kubectl for the control-plane stage
    assert len(fetched) == len(set(fetched)) == 7, requests
    assert any(name.startswith("etcd-v") for name in fetched)
    assert {"kubeadm", "kubelet", "kubectl"} <= set(fetched)
    for node in run_lab.nodes:  # etcd only to the etcd group; the runtime's files to every node
        listing = ssh(run_lab, node, "cd /var/cache/kinstall/releases && find . -type f | sort").stdout
        assert "containerd-" in listing and "runc.amd64" in listing, (node, listing)


def test_the_node_stages_run_and_a_second_run_changes_nothing(run_lab):
    result = CliRunner().invoke(cli, ["up", run_lab.inventory, "--yes", "--stages",
                                      "preflight,os,download,runtime,etcd,loadbalancer", "--check-idempotent"])
    assert result.exit_code == 0, result.output
    assert "idempotent: the second run changed nothing" in result.output
    # what the roles warn of reaches the user, with the host, and once per warning in the summary
    assert re.search(r"os: WARNING node1: this host is a \S+ container: it shares the host's clock", result.output)
    assert "node1, node2, node3: os / os / Say why no time service runs in a container" in result.output
    for node in run_lab.nodes:
        state = ssh(run_lab, node, "sysctl -n net.ipv4.ip_forward; command -v conntrack; "
                                   "grep -c ' node[0-9]$' /etc/hosts; systemctl is-active containerd; "
                                   "systemctl is-enabled containerd").stdout.split()
        assert state == ["1", "/usr/sbin/conntrack", str(len(run_lab.nodes)), "active", "enabled"], (node, state)
    # etcd: every member healthy over TLS; without a client certificate the cluster refuses
    health = ssh(run_lab, "node1", "etcdctl.sh endpoint health --cluster 2>&1")
    assert health.stdout.count("is healthy") == 3, health.stdout
    refused = ssh(run_lab, "node1", "ETCDCTL_API=3 etcdctl --endpoints https://127.0.0.1:2379 "
                                    "--cacert /etc/etcd/pki/ca.crt --dial-timeout 3s get / 2>&1", check=False)
    assert refused.returncode != 0, refused.stdout
    listeners = ssh(run_lab, "node1", "ss -ltn '( sport = :2379 or sport = :2380 )' | tail -n +2").stdout
    assert listeners.count("LISTEN") == 3  # 2379 on the node's address and loopback, 2380: all TLS
    plaintext = "python3 -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:2379/health')\""
    answer = ssh(run_lab, "node1", plaintext, check=False)
    assert answer.returncode != 0 and "Traceback" in answer.stderr, answer.stderr  # TLS only: no plaintext answer
    modes = ssh(run_lab, "node1", "stat -c '%a %U %n' /etc/etcd/pki/*.key").stdout.split("\n")
    assert all(line.startswith("600 etcd ") for line in modes if line), modes
    snapshot = ssh(run_lab, "node1", "etcd-snapshot /var/tmp/etcd-backup 2>/dev/null").stdout.strip()
    assert snapshot.startswith("/var/tmp/etcd-backup/etcd-node1-") and snapshot.endswith(".db")
    # the runtime runs a container from a locally imported image (Debian has no crictl: ctr)
    bundle = Path(yaml.safe_load(Path(run_lab.inventory).read_text())["all"]["vars"]["download_bundle_dir"])
    image = bundles.read_manifest(bundle)["test_image"]
    subprocess.run(["scp", "-F", run_lab.ssh_config, "-q", str(bundle / image["path"]), "node2:/var/tmp/image.tar"],
                   check=True, timeout=120)
    ran = ssh(run_lab, "node2", f"ctr -n kinstall-test images import /var/tmp/image.tar >/dev/null && "
                                f"ctr -n kinstall-test run --rm {image['name']} check /bin/sh -c 'echo ran in a container'")
    assert ran.stdout.strip() == "ran in a container"
    # the bundle's images, imported into containerd where their group runs them
    held = {node: ssh(run_lab, node, "ctr -n k8s.io images ls -q").stdout.split() for node in run_lab.nodes}
    assert {"k8s.gcr.io/kube-apiserver:v1.20.2", "k8s.gcr.io/pause:3.2"} <= set(held["node1"]), held
    assert "k8s.gcr.io/kube-proxy:v1.20.2" in held["node2"] and "k8s.gcr.io/kube-apiserver:v1.20.2" not in held["node2"]
    assert 'sandbox_image = "k8s.gcr.io/pause:3.2"' in ssh(run_lab, "node2", "cat /etc/containerd/config.toml").stdout
    # the local API proxy on the nodes that are not control planes, pointing at the control plane
    for node in run_lab.nodes[1:]:
        proxy = ssh(run_lab, node, "systemctl is-active nginx; ss -ltn 'sport = :6443' | tail -n +2").stdout
        assert proxy.startswith("active") and "127.0.0.1:6443" in proxy, (node, proxy)
    assert ssh(run_lab, "node1", "systemctl is-active nginx", check=False).stdout.strip() != "active"


def test_the_os_stage_puts_back_what_was_changed_by_hand(run_lab):
    ssh(run_lab, "node2", "rm /etc/modules-load.d/kinstall.conf; sed 's/ node3$/ elsewhere/' /etc/hosts > /tmp/h "
                          "&& cat /tmp/h > /etc/hosts")
    result = CliRunner().invoke(cli, ["up", run_lab.inventory, "--yes", "--stages", "os"])
    assert result.exit_code == 0, result.output
    changed = {(t["host"], t["task"]) for t in last_record(run_lab)["tasks"] if t["changed"]}
    assert changed == {("node2", "Load kernel modules at boot"),
                       ("node2", "Write every cluster host's address and name into /etc/hosts")}
    state = ssh(run_lab, "node2", "grep -c ' node[0-9]$' /etc/hosts; grep -c elsewhere /etc/hosts; "
                                  "tail -n +2 /etc/modules-load.d/kinstall.conf", check=False).stdout.split()
    assert state == ["3", "0", "overlay", "br_netfilter"], state


def test_an_image_archive_changed_after_the_pin_is_stopped_on_the_controller_and_sent_nowhere(run_lab, tmp_path):
    """A bundle of the lab's release files (linked) and one image; the inventory pins its manifest,
    then the archive is replaced: the runtime stage verifies it on the controller and stops
    before any host gets a byte of it."""
    lab_bundle = Path(yaml.safe_load(Path(run_lab.inventory).read_text())["all"]["vars"]["download_bundle_dir"])
    copy = tmp_path / "bundle"
    for file in lab_bundle.rglob("*"):
        if file.is_file() and file.name != bundles.MANIFEST:
            (copy / file.relative_to(lab_bundle)).parent.mkdir(parents=True, exist_ok=True)
            (copy / file.relative_to(lab_bundle)).symlink_to(file)
    archive = "images/kinstall-test-changed.tar"
    (copy / archive).unlink(missing_ok=True)
    (copy / archive).write_bytes(b"the archive the manifest was made from")
    good = hashlib.sha256((copy / archive).read_bytes()).hexdigest()
    bundles.write_manifest(copy, {}, [{"name": "kinstall.test/changed:1", "path": archive, "sha256": good}])
    inventory = _variant(run_lab, tmp_path, download_bundle_dir=str(copy),
                         download_bundle_sha256=bundles.manifest_sha256(copy))
    (copy / archive).write_bytes(b"another archive put in its place")
    result = CliRunner().invoke(cli, ["up", inventory, "--yes", "--stages", "runtime"])
    assert result.exit_code == 4, result.output
    said = " ".join(result.output.split())
    assert f"kinstall.test/changed:1 image: {copy / archive} has sha256" in said and f"expected {good}" in said, said
    for node in run_lab.nodes:
        assert ssh(run_lab, node, f"test ! -e /var/cache/kinstall/releases/{archive}", check=False).returncode == 0


def test_kube_apiserver_from_the_bundle_answers_kubectl_with_v1_20_2_on_the_labs_etcd(run_lab, tmp_path):
    up = CliRunner().invoke(cli, ["up", run_lab.inventory, "--yes", "--stages", "preflight,os,download,runtime,etcd"])
    assert up.exit_code == 0, up.output
    bundle = Path(yaml.safe_load(Path(run_lab.inventory).read_text())["all"]["vars"]["download_bundle_dir"])
    assert bundles.check(bundle) == []
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "sa.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    (tmp_path / "sa.key").chmod(0o600)
    (tmp_path / "sa.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    binaries = [bundle / components.artifact(name, "1.20.2", "amd64").mirror_path for name in ("kubectl",)]
    binaries.append(binaries[0].with_name("kube-apiserver"))
    ssh(run_lab, "node1", "mkdir -p /var/tmp/kinstall-apiserver && chmod 700 /var/tmp/kinstall-apiserver")
    subprocess.run(["scp", "-F", run_lab.ssh_config, "-q", *map(str, binaries), str(tmp_path / "sa.key"),
                    str(tmp_path / "sa.pub"), "node1:/var/tmp/kinstall-apiserver/"], check=True, timeout=300)
    address = ssh(run_lab, "node1", "grep -o 'https://[0-9.]*:2379' /etc/etcd/etcd.env | head -1").stdout.strip()
    node_ip = address.split("//")[1].split(":")[0]
    d = "/var/tmp/kinstall-apiserver"
    flags = (f"--etcd-servers={address} --etcd-cafile=/etc/etcd/pki/ca.crt --etcd-certfile=/etc/etcd/pki/client.crt "
             f"--etcd-keyfile=/etc/etcd/pki/client.key --etcd-prefix=/kinstall-test-registry "
             f"--advertise-address={node_ip} --bind-address={node_ip} --secure-port=16443 --cert-dir={d}/certs "
             f"--service-cluster-ip-range=10.96.0.0/16 --service-account-issuer=https://kubernetes.default.svc "
             f"--service-account-key-file={d}/sa.pub --service-account-signing-key-file={d}/sa.key "
             f"--client-ca-file=/etc/etcd/pki/ca.crt --authorization-mode=AlwaysAllow --anonymous-auth=false")
    ssh(run_lab, "node1", f"chmod 755 {d}/kube-apiserver {d}/kubectl && "
                          f"systemd-run --unit kinstall-test-apiserver --collect {d}/kube-apiserver {flags}")
    try:
        answer, deadline = None, time.monotonic() + 120
        while time.monotonic() < deadline:
            # kubectl authenticates with a certificate of the etcd CA (the one the API server trusts here)
            answer = ssh(run_lab, "node1", f"{d}/kubectl --server https://{node_ip}:16443 --insecure-skip-tls-verify "
                                           "--client-certificate /etc/etcd/pki/client.crt "
                                           "--client-key /etc/etcd/pki/client.key version --short 2>&1", check=False)
            if answer.returncode == 0:
                break
            time.sleep(2)
        assert answer.returncode == 0, answer.stdout + ssh(
            run_lab, "node1", "journalctl -u kinstall-test-apiserver --no-pager | tail -20", check=False).stdout
        assert "Client Version: v1.20.2" in answer.stdout and "Server Version: v1.20.2" in answer.stdout
        # It keeps its objects in the lab's etcd (under the test's own prefix).
        keys = ssh(run_lab, "node1", "etcdctl.sh get --prefix --keys-only /kinstall-test-registry/namespaces/")
        assert "/kinstall-test-registry/namespaces/kube-system" in keys.stdout
    finally:
        ssh(run_lab, "node1", "systemctl stop kinstall-test-apiserver; "
                              "etcdctl.sh del --prefix /kinstall-test-registry >/dev/null; "
                              f"rm -rf {d}", check=False)


def test_a_node_with_too_little_memory_fails_preflight(run_lab):
    """A 1-node lab capped at 1024 MB, control plane + worker + etcd: preflight must refuse it."""
    from installer.lab import nodes as labs

    small = labs.up("kinstall-small", nodes=1, node_memory_mb=1024).lab
    try:
        result = CliRunner().invoke(cli, ["up", str(small.inventory), "--yes", "--stages", "preflight,os"])
        assert result.exit_code == 4, result.output
        assert ("node1: 1 problem(s): has 1024 MB of memory; a control plane + node + etcd member needs 1700 MB"
                in result.output)
        assert [s["name"] for s in last_record(run_lab)["stages"]] == ["preflight"]  # os never ran
    finally:
        labs.down("kinstall-small")
    assert not labs.cluster_states_of(small.directory)  # its run records went with the lab


def _etcd_members(lab, node="node1") -> list[str]:
    return sorted(line.split(", ")[2] for line in ssh(lab, node, "etcdctl.sh member list").stdout.splitlines())


def _etcd_healthy(lab, node="node1") -> int:
    return ssh(lab, node, "etcdctl.sh endpoint health --cluster 2>&1", check=False).stdout.count("is healthy")


class _Writer(threading.Thread):
    """Writes a new key every half second through every member's endpoint, as an API server
    would. A write that fails is tried once more half a second later, as a client retries: a
    request that reaches a member in the instant it restarts can fail (seen once in CI: "malformed
    header: missing HTTP content-type" from a member starting up). Kept: the writes lost (failed
    twice), the errors that a retry got past, and the longest time between two writes that
    succeeded. An upgrade one member at a time loses none and never stops writes for long."""

    def __init__(self, lab, endpoints):
        super().__init__(daemon=True)
        self.lab, self.stop, self.done, self.failed, self.retried = lab, threading.Event(), 0, [], []
        self.longest_gap, self._last = 0.0, time.monotonic()
        self.command = (f"ETCDCTL_API=3 ETCDCTL_ENDPOINTS={endpoints} ETCDCTL_CACERT=/etc/etcd/pki/ca.crt "
                        "ETCDCTL_CERT=/etc/etcd/pki/client.crt ETCDCTL_KEY=/etc/etcd/pki/client.key "
                        "/usr/local/bin/etcdctl --command-timeout=5s put /kinstall-test/during/{n} v >/dev/null")

    def _write(self, n: int) -> str | None:
        result = ssh(self.lab, "node1", self.command.format(n=n), check=False)
        return None if result.returncode == 0 else result.stderr.strip()[-200:]

    def run(self):
        while not self.stop.is_set():
            n = self.done + len(self.failed)
            lost = error = self._write(n)  # lost: None once the write went through
            if error is not None:
                time.sleep(0.5)
                lost = self._write(n)
                (self.failed if lost is not None else self.retried).append(lost or error)
            if lost is None:
                self.done += 1
                now = time.monotonic()
                self.longest_gap, self._last = max(self.longest_gap, now - self._last), now
            time.sleep(0.5)


def _json_lines(output: str) -> dict[str, dict]:
    """`kinstall up --output json`: its objects by type (plan, record, ...), the last of each."""
    return {line["type"]: line for line in (json.loads(text) for text in output.splitlines() if text.startswith("{"))}


def test_etcd_grows_to_five_and_upgrades_one_member_at_a_time(tmp_path):
    """For real, on a lab of five: node5, added as a worker to four, gets every stage and the four
    only what it needs of them, their /etc/hosts (the tasks the plan gives them, nothing else);
    then etcd of three members grows to five with its data kept, run
    from a controller that lost its KINSTALL_HOME (the new members' certificates signed by the
    cluster's CA, which the cluster keeps); an upgrade from Debian bookworm's etcd 3.4.23 to sid's
    3.5.30 restarts one member at a time while writes go on without a failure, and a second run
    changes nothing."""
    from installer.lab import files_repo
    from installer.lab import nodes as labs

    newer = files_repo.manifest()["newer"]["etcd"]["version"]
    lab = labs.up("kinstall-etcd", nodes=5, etcd=3).lab
    stages = ["--stages", "preflight,os,download,etcd"]
    access = SimpleNamespace(ssh_config=str(lab.ssh_config))
    try:
        four = yaml.safe_load(Path(lab.inventory).read_text())
        del four["all"]["hosts"]["node5"]
        del four["all"]["children"]["kube_node"]["hosts"]["node5"]
        (tmp_path / "four").mkdir()
        (tmp_path / "four" / "hosts.yaml").write_text(yaml.safe_dump(four, sort_keys=False))
        first = CliRunner().invoke(cli, ["up", str(tmp_path / "four" / "hosts.yaml"), "--yes", *stages])
        assert first.exit_code == 0, first.output
        ssh(access, "node1", "etcdctl.sh put /kinstall-test/kept yes >/dev/null")

        added = CliRunner().invoke(cli, ["up", str(lab.inventory), "--yes", *stages, "--output", "json"])
        assert added.exit_code == 0, added.output
        run = _json_lines(added.output)
        planned = {s["name"]: s["hosts"] for s in run["plan"]["stages"] if s["name"] in stages[1].split(",")}
        assert planned == {**{name: ["node5"] for name in ("preflight", "download")},
                           "os": ["node1", "node2", "node3", "node4", "node5"], "etcd": []}, planned
        assert run["plan"]["only_adds"]["added"] == ["node5"]
        tasks = run["record"]["tasks"]
        assert all(t["host"] in planned[t["stage"]] for t in tasks if t["host"] != "localhost")
        for node in ("node1", "node2", "node3", "node4"):
            ran = {(t["stage"], t["task"]) for t in tasks if t["host"] == node and t["status"] != "skipped"}
            assert {stage for stage, _ in ran} == {"os"}, ran
            assert all(task in EXISTING_HOST_TASKS or task.startswith("Validating arguments") for _, task in ran), ran
            assert {t["task"] for t in tasks if t["host"] == node and t["changed"]} == {
                "Write every cluster host's address and name into /etc/hosts"}, node
            assert "node5" in ssh(access, node, "getent hosts node5").stdout
        # node5, a worker, needs no file of these stages (no runtime among them): download only reads it
        assert {t["stage"] for t in tasks if t["host"] == "node5" and t["status"] != "skipped"} == {
            "preflight", "os", "download"}
        assert {t["stage"] for t in tasks if t["host"] == "node5" and t["changed"]} == {"os"}

        labs.up("kinstall-etcd", nodes=5, etcd=5)  # rewrites the inventory: etcd is node1-node5
        lost = {"KINSTALL_HOME": str(tmp_path / "a-new-home")}  # the controller's state lost
        grown = CliRunner().invoke(cli, ["up", str(lab.inventory), "--yes", *stages, "--check-idempotent"], env=lost)
        assert grown.exit_code == 0, grown.output
        assert "idempotent: the second run changed nothing" in grown.output
        assert _etcd_members(access, "node5") == ["node1", "node2", "node3", "node4", "node5"]
        assert _etcd_healthy(access) == 5
        ca = {ssh(access, node.name, "sha256sum < /etc/etcd/pki/ca.crt").stdout for node in lab.nodes}
        assert len(ca) == 1, ca
        assert ssh(access, "node5", "openssl verify -CAfile /etc/etcd/pki/ca.crt /etc/etcd/pki/member.crt "
                                    "/etc/etcd/pki/client.crt").returncode == 0
        assert ssh(access, "node5", "etcdctl.sh get --print-value-only /kinstall-test/kept").stdout.strip() == "yes"

        # Edited in place: kinstall keeps a cluster's state (its CA among it) by inventory path.
        document = yaml.safe_load(Path(lab.inventory).read_text())
        assert newer in document["all"]["vars"]["etcd_binary_checksums"]["amd64"]  # the lab declares both
        document["all"]["vars"]["etcd_version"] = newer
        Path(lab.inventory).write_text(yaml.safe_dump(document, sort_keys=False))
        upgraded_inventory = str(lab.inventory)
        endpoints = ",".join(f"https://{node.ip}:2379" for node in lab.nodes)
        writer = _Writer(access, endpoints)
        writer.start()
        upgraded = CliRunner().invoke(cli, ["up", upgraded_inventory, "--yes", "--stages", "download,etcd",
                                            "--check-idempotent"])
        writer.stop.set()
        writer.join()
        assert upgraded.exit_code == 0, upgraded.output
        assert "idempotent: the second run changed nothing" in upgraded.output
        assert writer.done > 10 and writer.failed == [], writer.failed
        assert writer.longest_gap < 10, (writer.longest_gap, writer.retried)
        status = ssh(access, "node1", "etcdctl.sh endpoint status --cluster -w json").stdout
        assert sorted(m["Status"]["version"] for m in json.loads(status)) == [newer] * 5
        # One member at a time: each started (on the machine's one monotonic clock) after the
        # one before it was back and the cluster healthy.
        starts = sorted(int(ssh(access, node.name, "systemctl show etcd -p ExecMainStartTimestampMonotonic "
                                                   "--value").stdout) for node in lab.nodes)
        assert all(later - earlier > 300_000 for earlier, later in itertools.pairwise(starts)), starts
        assert ssh(access, "node3", "etcdctl.sh get --print-value-only /kinstall-test/kept").stdout.strip() == "yes"

        # Shrinking back to three: each removal keeps a quorum of the members left, so both go through
        # (the inventory still lists them until the user takes them out, as `remove-node` says).
        for node in ("node5", "node4"):
            removed = CliRunner().invoke(cli, ["remove-node", upgraded_inventory, node, "--yes"])
            assert removed.exit_code == 0, removed.output
            assert ssh(access, node, "test ! -e /var/lib/etcd/member && ! systemctl is-active etcd",
                       check=False).returncode == 0, f"{node} was not reset"
        assert _etcd_members(access) == ["node1", "node2", "node3"]
        assert _etcd_healthy(access) == 3
        assert ssh(access, "node2", "etcdctl.sh get --print-value-only /kinstall-test/kept").stdout.strip() == "yes"

        # With node3 down, removing node2 would leave node1 alone of two: refused, nothing changed.
        ssh(access, "node3", "systemctl stop etcd")
        refused = CliRunner().invoke(cli, ["remove-node", upgraded_inventory, "node2", "--yes"])
        assert refused.exit_code != 0
        assert "removing node2 would leave etcd without a quorum" in refused.output, refused.output
        assert "node1" in refused.output.split("without a quorum", 1)[1]
        ssh(access, "node3", "systemctl start etcd")
        assert _etcd_members(access) == ["node1", "node2", "node3"]
        assert ssh(access, "node2", "systemctl is-active etcd").stdout.strip() == "active"

    finally:
        labs.down("kinstall-etcd")


BACKUP_TASKS = {
    "A directory for the backups' key", "The backups' own SSH key, made here once (0600, never leaves the member)",
    "A user on the target host for the backups alone",
    "Its directories, its only command and the member's key, bound to that command",
    "Install the backup command, its timer and the target's host key", "Start the backup timer now and at boot",
    "Take the first backup to this target now (a target it cannot reach stops the run here)"}


def test_snapshots_by_hand_and_on_a_schedule_reach_their_places_and_any_of_them_restores(run_lab, tmp_path):
    """`kinstall etcd snapshot` fetches a checked snapshot to the controller (0600). Scheduled backups
    to node3 (etcd_backup_schedule, etcd_backup_target), turned on by re-running the etcd stage,
    change only their own tasks (and the next run, after the restore, nothing); the run takes the first backup, and the
    timer's service, started twice as the timer would, leaves the newest two on node3 (owned by the
    backups' own user, 0600) and on node1, whose key may run nothing else on node3. `--list` names
    every snapshot and its place; `kinstall etcd restore` refuses to run unconfirmed and then restores
    one from node3: writes after it are undone on every member, whose old data is kept aside, and
    the etcd stage finds nothing to change. verify passes the backup check, and fails it once a
    backup cannot reach node3. Turned off, the timer goes."""
    get = "etcdctl.sh get --print-value-only /kinstall-test/restore"
    ssh(run_lab, "node1", "etcdctl.sh put /kinstall-test/restore by-hand >/dev/null")
    saved = CliRunner().invoke(cli, ["etcd", "snapshot", run_lab.inventory])
    assert saved.exit_code == 0, saved.output
    snapshot = Path(re.search(r"^snapshot: (.+)$", saved.output, re.M).group(1))
    assert snapshot.stat().st_mode & 0o777 == 0o600 and snapshot.parent.stat().st_mode & 0o777 == 0o700
    assert snapshot.stat().st_size > 0
    # The cluster's history names the controller that holds the snapshot, and where.
    taken = last_record(run_lab)
    kept = json.loads(ssh(run_lab, "node1", f"cat /var/lib/kinstall/runs/{taken['id']}.json").stdout)
    assert kept["inputs"]["snapshot"] == {"controller": socket.gethostname(), "path": str(snapshot)}

    backed = _variant(run_lab, tmp_path, etcd_backup_schedule="daily", etcd_backup_retention_count=2,
                      etcd_backup_target="node3:/var/backups/kinstall-etcd", etcd_backup_target_retention_count=2)
    on = CliRunner().invoke(cli, ["up", backed, "--yes", "--stages", "etcd"])
    assert on.exit_code == 0, on.output
    changed = {(t["host"], t["task"]) for t in last_record(run_lab)["tasks"] if t["changed"]}
    assert {host for host, _ in changed} == {"node1"} and {task for _, task in changed} == BACKUP_TASKS, changed

    target = "/var/backups/kinstall-etcd"
    ssh(run_lab, "node1", "etcdctl.sh put /kinstall-test/restore scheduled >/dev/null && "
                          "systemctl start kinstall-etcd-backup.service")
    first = ssh(run_lab, "node3", f"ls -1t {target}").stdout.split()[0]
    ssh(run_lab, "node1", "etcdctl.sh put /kinstall-test/later yes >/dev/null && "
                          "systemctl start kinstall-etcd-backup.service")
    on_target = ssh(run_lab, "node3", f"stat -c '%n %U %a' {target}/*").stdout.split("\n")
    assert len([line for line in on_target if line]) == 2 and all(
        line.endswith(" kinstall-backup 600") for line in on_target if line), on_target
    assert first in " ".join(on_target)
    on_member = ssh(run_lab, "node1", "ls -1 /var/backups/etcd").stdout.split()
    assert on_member == sorted(Path(line.split()[0]).name for line in on_target if line), on_member
    key = ("ssh -i /etc/kinstall/etcd-backup/id_ed25519 -o IdentitiesOnly=yes -o BatchMode=yes "
           "-o UserKnownHostsFile=/etc/kinstall/etcd-backup/known_hosts kinstall-backup@172.30.0.0")
    key = key.replace("172.30.0.0", ssh(run_lab, "node3", "hostname -I").stdout.split()[0])
    for attempt in ("cat /etc/shadow", "put ../../root/x.db " + "0" * 64, "sh -c id"):
        refused = ssh(run_lab, "node1", f"{key} {attempt!r} </dev/null", check=False)
        assert refused.returncode == 2 and "refused" in refused.stderr, (attempt, refused)

    listed = CliRunner().invoke(cli, ["etcd", "snapshot", backed, "--list"])
    assert listed.exit_code == 0, listed.output
    for where, name in [("controller", str(snapshot))] + [("node3", f"node3:{target}/{first}")] + \
                       [("node1", f"node1:/var/backups/etcd/{n}") for n in on_member]:
        assert re.search(rf"^{where} +\S+ \S+ +\S+ \S+  {re.escape(name)}$", listed.output, re.M), (name, listed.output)
    assert "5 snapshots in 3 places" in listed.output, listed.output

    unconfirmed = CliRunner().invoke(cli, ["etcd", "restore", backed, f"node3:{target}/{first}"])
    assert unconfirmed.exit_code == 2 and "pass --yes" in unconfirmed.output, unconfirmed.output
    assert ssh(run_lab, "node1", get).stdout.strip() == "scheduled"  # nothing was touched
    restored = CliRunner().invoke(cli, ["etcd", "restore", backed, f"node3:{target}/{first}", "--yes"])
    assert restored.exit_code == 0, restored.output
    run_id = last_record(run_lab)["id"]
    members = [line.split(", ")[2] for line in ssh(run_lab, "node1", "etcdctl.sh member list").stdout.splitlines()]
    health = ssh(run_lab, "node1", "etcdctl.sh endpoint health --cluster 2>&1").stdout
    assert health.count("is healthy") == len(members), health
    for member in members:
        assert ssh(run_lab, member, get).stdout.strip() == "scheduled", member
        assert ssh(run_lab, member, "etcdctl.sh get --print-value-only /kinstall-test/later").stdout.strip() == ""
        assert ssh(run_lab, member, f"test -d /var/lib/etcd.before-{run_id}/member && "
                                    "test ! -e /var/lib/etcd-restore", check=False).returncode == 0, member
    again = CliRunner().invoke(cli, ["up", backed, "--yes", "--stages", "etcd"])
    assert again.exit_code == 0, again.output
    assert not [t for t in last_record(run_lab)["tasks"] if t["changed"]]

    verified = CliRunner().invoke(cli, ["verify", backed])
    assert verified.exit_code == 0 and re.search(
        rf"^PASS +infrastructure +scheduled etcd backups \(node1\) .*to node3:{target}; one every 24.0 h$",
        verified.output, re.M), verified.output
    ssh(run_lab, "node3", "mv /var/lib/kinstall-backup/.ssh/authorized_keys /root/authorized_keys.kept")
    try:
        assert ssh(run_lab, "node1", "systemctl start kinstall-etcd-backup.service", check=False).returncode != 0
        broken = CliRunner().invoke(cli, ["verify", backed])
    finally:
        ssh(run_lab, "node3", "mv /root/authorized_keys.kept /var/lib/kinstall-backup/.ssh/authorized_keys")
    assert broken.exit_code == 9 and re.search(
        r"^FAIL +infrastructure +scheduled etcd backups \(node1\) .*expected the last backup succeeded; seen "
        r"kinstall-etcd-backup.service: exit-code: kinstall-backup@\S+: Permission denied \(publickey\)\.$",
        broken.output, re.M), broken.output

    off = CliRunner().invoke(cli, ["up", run_lab.inventory, "--yes", "--stages", "etcd"])
    assert off.exit_code == 0, off.output
    changed = {(t["host"], t["task"]) for t in last_record(run_lab)["tasks"] if t["changed"]}
    assert changed == {("node1", "No backup timer on this member")}, changed
    assert ssh(run_lab, "node1", "ls /etc/systemd/system/kinstall-etcd-backup.* /etc/kinstall/etcd-backup "
                                 "2>/dev/null; true").stdout == ""
    assert len(ssh(run_lab, "node3", f"ls {target}").stdout.split()) == 2  # backups stay where they were kept


def test_the_inventory_copied_elsewhere_runs_the_same_cluster_and_a_lost_ca_is_never_replaced(run_lab, tmp_path):
    """The cluster keeps its etcd CA itself: the inventory copied to another path, run from another
    KINSTALL_HOME, finds nothing to change. With the CA gone from every host (pki.tar lost), a run
    would have to make a new one: it stops before any host changes, naming the members that hold
    data, and etcd keeps running on its old certificates."""
    certificates = "sha256sum /etc/etcd/pki/*; systemctl show etcd -p ExecMainStartTimestampMonotonic"
    before = {node: ssh(run_lab, node, certificates).stdout for node in run_lab.nodes}
    copy = _variant(run_lab, tmp_path)
    elsewhere = {"KINSTALL_HOME": str(tmp_path / "another-home")}
    same = CliRunner().invoke(cli, ["up", copy, "--yes", "--stages", "etcd"], env=elsewhere)
    assert same.exit_code == 0, same.output
    assert not [t for t in _newest_record(tmp_path / "another-home")["tasks"] if t["changed"]]

    anchors = [node for node in run_lab.nodes
               if ssh(run_lab, node, "test -e /var/lib/kinstall/pki.tar", check=False).returncode == 0]
    assert anchors, "no host keeps the cluster's secrets"
    for node in anchors:
        ssh(run_lab, node, "mv /var/lib/kinstall/pki.tar /root/pki.tar.kept")
    try:
        result = CliRunner().invoke(cli, ["up", copy, "--yes", "--stages", "etcd"], env=elsewhere)
    finally:
        for node in anchors:
            ssh(run_lab, node, "mv /root/pki.tar.kept /var/lib/kinstall/pki.tar")
    assert result.exit_code == 4, result.output
    said = " ".join(result.output.split())
    assert "node1, node2, node3 hold etcd data and trust another CA than the cluster's own (none: " \
           "/var/lib/kinstall/pki.tar is on none of its control planes and etcd members)" in said, said
    assert not [t for t in _newest_record(tmp_path / "another-home")["tasks"] if t["changed"]]
    assert {node: ssh(run_lab, node, certificates).stdout for node in run_lab.nodes} == before
    health = ssh(run_lab, "node1", "etcdctl.sh endpoint health --cluster 2>&1").stdout
    assert health.count("is healthy") == 3, health


def _newest_record(home) -> dict:
    found = sorted(Path(home).glob("clusters/*/runs/*/record.json"), key=lambda p: p.parent.name)
    return json.loads(found[-1].read_text())


def test_verify_after_the_node_stages_passes_and_names_a_stopped_etcd_member(run_lab, tmp_path):
    """After the node stages alone: every infrastructure check those stages installed passes (etcd
    over TLS on each member and its quorum, containerd answering, certificates), those of later
    stages are skipped with the reason; with node2's etcd stopped, its member check fails naming
    it while the quorum is reported intact; node3's stopped containerd and certificates nearer
    than --cert-days fail too, and verify exits 9."""
    result = CliRunner().invoke(cli, ["verify", run_lab.inventory, "--format", "json",
                                      "--junit", str(tmp_path / "verify.xml")])
    assert result.exit_code == 0, result.output
    checks = json.loads(result.output)["checks"]
    verdicts = {(c["name"], c["target"]): c["status"] for c in checks}
    for node in run_lab.nodes:
        assert verdicts[("etcd member", node)] == verdicts[("containerd", node)] == "pass", checks
        assert verdicts[("certificate expiry", node)] == "pass"
        assert verdicts[("kubelet", node)] == "skip"
    skipped = next(c for c in checks if c["name"] == "kubelet" and c["target"] == "node2")
    assert skipped["reason"] == "the nodes stage has not run on this cluster"
    assert verdicts[("etcd quorum", "cluster")] == "pass"
    assert verdicts[("nodes Ready", "cluster")] == "skip"  # no Kubernetes on this lab yet
    assert (tmp_path / "verify.xml").read_bytes().startswith(b"<?xml")

    ssh(run_lab, "node2", "systemctl stop etcd")
    ssh(run_lab, "node3", "systemctl stop containerd")
    try:  # and every certificate counted as expiring: kubeadm's CA lasts 10 years, the others one
        broken = CliRunner().invoke(cli, ["verify", run_lab.inventory, "--cert-days", "4000"])
    finally:
        ssh(run_lab, "node2", "systemctl start etcd")
        ssh(run_lab, "node3", "systemctl start containerd")
    assert broken.exit_code == 9, broken.output
    assert re.search(r"^FAIL +infrastructure +containerd \(node3\) .*expected containerd active; seen containerd "
                     r"inactive$", broken.output, re.M), broken.output
    assert re.search(r"^PASS +infrastructure +containerd \(node2\)", broken.output, re.M)
    assert re.search(r"^FAIL +infrastructure +certificate expiry \(node1\) .*expected every certificate valid for "
                     r"more than 4000 days; seen /etc/\S+\.crt \(\d+ days left\)", broken.output, re.M), broken.output
    assert "renew them with `kinstall certs renew`" in broken.output
    assert re.search(r"^FAIL +infrastructure +etcd member \(node2\) .*expected this member answers over TLS; "
                     r"seen etcd inactive", broken.output, re.M), broken.output
    assert re.search(r"^PASS +infrastructure +etcd member \(node1\)", broken.output, re.M)
    assert re.search(r"^PASS +infrastructure +etcd quorum .*intact: 2 of 3 members healthy \(node2 not\), 2 needed",
                     broken.output, re.M), broken.output
    assert "diagnostics of etcd member (node2):" in broken.output and "$ journalctl -u etcd" in broken.output
    deadline = time.monotonic() + 60
    while _etcd_healthy(run_lab) != 3:  # etcd back on node2: verify itself changed nothing
        assert time.monotonic() < deadline, "etcd on node2 did not come back"
        time.sleep(2)
