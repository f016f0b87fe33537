"""`kinstall up` for real on the lab, with the stage playbooks of tests/fixtures/playbooks/."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from installer.cli import cli
from installer.lab import podman
from tests.integration.helpers import last_record, ssh
from tests.paths import ROOT

pytestmark = pytest.mark.lab
PLAYBOOKS = ROOT / "tests" / "fixtures" / "playbooks"


def _ssh_all(lab, command):
    for node in lab.nodes:
        ssh(lab, node, command, check=False)


def up(lab, *args, playbooks="demo"):
    return CliRunner().invoke(cli, ["up", lab.inventory, "--yes", "--playbook-dir", str(PLAYBOOKS / playbooks),
                                    *args])


def _background(lab, *args, playbooks="gated"):
    return subprocess.Popen([sys.executable, "-m", "installer", "up", lab.inventory, "--yes", "--playbook-dir",
                             str(PLAYBOOKS / playbooks), *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env={**os.environ, "KINSTALL_HOME": str(lab.home)})


def _wait_started(lab, nodes, process):
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if all(ssh(lab, n, "test -f /tmp/kinstall-started", check=False).returncode == 0 for n in nodes):
            return
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.5)
    raise AssertionError("the gated run did not start")


def test_up_runs_the_stages_with_progress_and_a_record(run_lab):
    result = up(run_lab)
    assert result.exit_code == 0, result.output
    assert "[1/3] preflight: started" in result.output
    assert "[2/3] os: Write the demo marker" in result.output
    assert "[3/3] verify: successful" in result.output
    assert "not run: download (no playbook download.yml yet); runtime (no playbook runtime.yml yet)" in result.output
    record = last_record(run_lab)
    assert record["status"] == "successful" and record["exit_code"] == 0
    assert record["inputs"]["kube_version"] and len(record["inputs"]["inventory_sha256"]) == 64
    os_stage = next(s for s in record["stages"] if s["name"] == "os")
    assert sorted(os_stage["recap"]) == run_lab.nodes and Path(os_stage["artifacts"]).is_dir()
    assert all(t["duration"] >= 0 for t in record["tasks"]) and any(t["duration"] > 0 for t in record["tasks"])
    listed = CliRunner().invoke(cli, ["runs", "list", run_lab.inventory])
    assert record["id"] in listed.output
    shown = json.loads(CliRunner().invoke(cli, ["runs", "show", record["id"], "--format", "json"]).output)
    assert shown["id"] == record["id"]
    assert oct(Path(record["directory"], "record.json").stat().st_mode & 0o777) == "0o600"


def test_a_failed_task_is_reported_and_resume_completes(run_lab):
    ssh(run_lab, "node2", "touch /tmp/kinstall-fail")
    try:
        failed = up(run_lab)
    finally:
        ssh(run_lab, "node2", "rm -f /tmp/kinstall-fail")
    assert failed.exit_code == 4, failed.output
    assert "failed at stage os:" in failed.output
    assert "FAILED node2: os / Fail where the test asked for it" in failed.output
    assert "stderr: forced failure on node2" in failed.output
    assert f"continue from the failed stage: kinstall up {run_lab.inventory} --resume" in failed.output
    resumed = up(run_lab, "--resume")
    assert resumed.exit_code == 0, resumed.output
    ran = [s["name"] for s in last_record(run_lab)["stages"] if s["status"] == "successful"]
    assert ran == ["os", "verify"]  # preflight had passed: not run again
    again = up(run_lab, "--resume")
    assert again.exit_code == 2 and "there is nothing to resume" in again.output


def test_the_idempotency_gate(run_lab):
    good = up(run_lab, "--check-idempotent")
    assert good.exit_code == 0, good.output
    assert "idempotent: the second run changed nothing" in good.output
    bad = up(run_lab, "--check-idempotent", playbooks="non_idempotent")
    assert bad.exit_code == 8, bad.output
    assert "not idempotent: the second run changed 3 task(s):" in bad.output
    for node in run_lab.nodes:
        assert f"  {node}: os / Write the time of the run" in bad.output


def test_the_lock_refuses_a_concurrent_run(run_lab):
    _ssh_all(run_lab, "rm -f /tmp/kinstall-go /tmp/kinstall-started")
    first = _background(run_lab, "--stages", "os")
    try:
        _wait_started(run_lab, run_lab.nodes, first)
        second = up(run_lab, "--stages", "preflight")
        assert second.exit_code == 6, second.output
        assert f"another kinstall run holds this cluster's lock: pid {first.pid}" in second.output
    finally:
        _ssh_all(run_lab, "touch /tmp/kinstall-go")
        assert first.wait(timeout=120) == 0, first.stdout.read()
    assert up(run_lab, "--stages", "preflight").exit_code == 0  # released


def test_a_node_stopped_mid_run_is_reported_unreachable_by_name(run_lab):
    _ssh_all(run_lab, "rm -f /tmp/kinstall-go /tmp/kinstall-started")
    run = _background(run_lab, "--stages", "os")
    victim = run_lab.nodes[-1]
    try:
        _wait_started(run_lab, run_lab.nodes, run)
        podman.run("stop", "-t", "1", run_lab.containers[victim])
        for node in run_lab.nodes[:-1]:
            ssh(run_lab, node, "touch /tmp/kinstall-go")
        output = run.communicate(timeout=180)[0]
    finally:
        podman.run("start", run_lab.containers[victim])
    assert run.returncode == 3, output
    assert f"UNREACHABLE {victim}: os" in output
    deadline = time.monotonic() + 60
    while ssh(run_lab, victim, "systemctl is-system-running --wait", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the node did not come back"
        time.sleep(1)
    ssh(run_lab, victim, "touch /tmp/kinstall-go")
    again = up(run_lab, "--stages", "os", playbooks="gated")
    assert again.exit_code == 0, again.output


def test_ctrl_c_stops_ansible_records_the_run_and_releases_the_lock(run_lab):
    _ssh_all(run_lab, "rm -f /tmp/kinstall-go /tmp/kinstall-started")
    run = _background(run_lab, "--stages", "os")
    try:
        _wait_started(run_lab, run_lab.nodes, run)
        run.send_signal(signal.SIGINT)
        output = run.communicate(timeout=60)[0]
    finally:
        _ssh_all(run_lab, "touch /tmp/kinstall-go")
    assert run.returncode == 5, output
    assert "interrupted; continue with:" in output
    assert last_record(run_lab)["status"] == "interrupted"
    assert up(run_lab, "--stages", "preflight").exit_code == 0  # the lock was released


def test_secrets_never_reach_records_events_or_logs(run_lab):
    assert up(run_lab).exit_code == 0
    token = ssh(run_lab, "node1", "cat /root/kinstall-demo-token").stdout.strip()
    key_body = "".join(line for line in run_lab.key.splitlines() if "PRIVATE KEY" not in line)
    assert len(token) == 40 and len(key_body) > 100
    needles = [token, key_body[:60], key_body[-60:]]
    files = [p for p in Path(run_lab.home).rglob("*") if p.is_file()]
    assert any("job_events" in str(p) for p in files)  # the events are there, and were searched
    for path in files:
        text = path.read_bytes().decode("utf-8", "replace")
        for needle in needles:
            assert needle not in text, f"a secret is in {path}"


def test_an_invalid_inventory_contacts_nothing(run_lab, tmp_path):
    text = Path(run_lab.inventory).read_text().replace("kube_control_plane:\n", "kube_control_plan:\n")
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(text)
    before = sorted(Path(run_lab.home).rglob("record.json"))
    result = CliRunner().invoke(cli, ["up", str(inventory), "--yes"])
    assert result.exit_code == 1
    assert "unknown group 'kube_control_plan'; did you mean 'kube_control_plane'?" in result.output
    assert sorted(Path(run_lab.home).rglob("record.json")) == before


def test_drift_preview_lists_what_would_change(run_lab):
    assert up(run_lab, "--stages", "os").exit_code == 0
    clean = CliRunner().invoke(cli, ["plan", run_lab.inventory, "--against-hosts", "--stages", "os",
                                     "--playbook-dir", str(PLAYBOOKS / "demo")])
    assert clean.exit_code == 0, clean.output
    assert "would change" not in clean.output
    assert "cannot run in check mode (Command would have run if not in check mode): os / Read the kernel" \
        in clean.output
    assert "os / Fail where the test asked for it" not in clean.output  # skipped by its own `when:`
    ssh(run_lab, "node1", "echo edited > /etc/kinstall-demo")
    drift = CliRunner().invoke(cli, ["plan", run_lab.inventory, "--against-hosts", "--stages", "os",
                                     "--playbook-dir", str(PLAYBOOKS / "demo")])
    assert "  node1\n    would change: os / Write the demo marker" in drift.output
    assert drift.output.count("would change") == 1
    assert ssh(run_lab, "node1", "cat /etc/kinstall-demo").stdout == "edited\n"  # check mode changed nothing
    assert up(run_lab, "--stages", "os").exit_code == 0
