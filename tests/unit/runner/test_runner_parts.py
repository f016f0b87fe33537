"""The run engine's parts that need no hosts: lock, records, events, stage selection, reports."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from installer import plan, stages
from installer.errors import ExitCode, UsageError
from installer.inventory.validate import validate
from installer.runner import engine, events, progress, records, report
from installer.runner.kinds import Kind
from installer.runner.lock import ClusterLock, Locked
from installer.runner.records import RunRecord, StageRecord
from tests.paths import SAMPLES


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path))
    return tmp_path


def test_lock_refuses_a_second_holder_with_its_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from installer.runner.lock import ClusterLock\n"
        f"with ClusterLock(Path({str(tmp_path)!r}), 'kinstall up x'):\n"
        "    print('held', flush=True); time.sleep(30)")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(Locked) as caught:
            with ClusterLock(tmp_path, "kinstall up y"):
                pass
        assert f"pid {holder.pid}" in caught.value.message and "`kinstall up x`" in caught.value.message
        assert caught.value.exit_code == ExitCode.LOCKED
    finally:
        holder.kill()
        holder.wait()
    with ClusterLock(tmp_path, "kinstall up y") as lock:  # the dead holder's lock is taken over
        assert lock.took_over["pid"] == holder.pid


def test_lock_file_is_emptied_on_release(tmp_path):
    with ClusterLock(tmp_path, "kinstall up z"):
        assert json.loads((tmp_path / "lock").read_text())["pid"] == os.getpid()
    with ClusterLock(tmp_path, "again") as lock:
        assert lock.took_over is None


def test_records_round_trip_and_find_by_prefix(home, tmp_path):
    record = records.create(tmp_path / "c1", "cluster.local", "kinstall up", {"mode": "up"})
    record.stages.append(StageRecord("os", records.SUCCESSFUL, 1.0, 3.5, {"n1": {"ok": 2}}))
    record.tasks.append(records.TaskRecord("os", "n1", "t", "r", 0.5, True, "changed"))
    record.status = records.SUCCESSFUL
    record.save()
    loaded = records.for_cluster(tmp_path / "c1")[0]
    assert loaded == record and loaded.stages[0].duration == 2.5
    assert (tmp_path / "c1" / "runs" / record.id / "record.json").stat().st_mode & 0o777 == 0o600
    home_cluster = home / "clusters" / "c2"
    second = records.create(home_cluster, "x", "kinstall up", {"mode": "up"})
    assert records.find(second.id[:22]).id == second.id
    with pytest.raises(UsageError, match="no run 'nope'"):
        records.find("nope")


@pytest.mark.parametrize("content", [b"{not json", b"[]", b'{"id": 1}', b"\xff\xfe binary", b'{"stages": "x"}'])
def test_an_unreadable_run_record_is_skipped_with_a_warning(home, tmp_path, caplog, content):
    good = records.create(tmp_path / "c1", "cluster.local", "kinstall up", {"mode": "up"})
    bad = tmp_path / "c1" / "runs" / "20200101T000000Z-dead"
    bad.mkdir(parents=True)
    (bad / "record.json").write_bytes(content)
    assert [r.id for r in records.for_cluster(tmp_path / "c1")] == [good.id]
    assert f"skipped the unreadable run record {bad / 'record.json'}" in caplog.text


def _event(kind, **data):
    return {"event": kind, "event_data": data}


def test_collector_turns_events_into_tasks_failures_and_recap():
    stage = StageRecord("os", started=0.0)
    seen = []
    collector = events.StageCollector(stage, 1, 2, seen.append, started=0.0)
    assert collector(_event("playbook_on_task_start", task="Write", role="os")) is True
    collector(_event("runner_on_ok", host="n1", task="Write", role="os", duration=0.25, res={"changed": True}))
    collector(_event("runner_on_failed", host="n2", task="Write", role="os", duration=0.1,
                     res={"msg": "boom", "stderr": "disk full", "rc": 1}))
    collector(_event("runner_on_failed", host="n3", task="Write", role="os", ignore_errors=True, res={"msg": "x"}))
    collector(_event("runner_on_unreachable", host="n4", task="Write", res={"msg": "ssh: no route"}))
    collector.finish()
    assert [(t.host, t.status, t.changed) for t in collector.tasks] == [
        ("n1", "changed", True), ("n2", "failed", False), ("n3", "ok", False), ("n4", "unreachable", False)]
    assert [(f.host, f.message, f.unreachable) for f in collector.failures] == [
        ("n2", "boom; stderr: disk full; rc: 1", False), ("n4", "ssh: no route", True)]
    assert stage.recap["n4"]["unreachable"] == 1 and stage.recap["n1"] == {
        "ok": 1, "changed": 1, "failed": 0, "unreachable": 0, "skipped": 0}
    assert seen[-1].counts == {"ok": 2, "changed": 1, "failed": 1, "unreachable": 1}


def test_run_collector_gives_each_stage_its_events_and_keeps_the_marker_plays_out():
    opened, collectors = [], {}

    def open_stage(name):
        opened.append(name)
        if name == "etcd":
            return None  # the run is ending: the marker play only stops the hosts left
        collectors[name] = events.StageCollector(StageRecord(name), 1, 2, lambda p: None, started=0.0)
        return collectors[name]

    run = events.RunCollector(open_stage)
    run(_event("playbook_on_start"))
    for stage, host in (("os", "n1"), ("runtime", "n2"), ("etcd", "n3")):
        run(_event("playbook_on_play_start", play=events.MARKER + stage))
        run(_event("runner_on_failed", host="all", task="End the run", res={"msg": "marker"}))
        run(_event("playbook_on_play_start", play="the stage's own play"))
        run(_event("runner_on_ok", host=host, task="Write", res={"changed": True}))
    assert opened == ["os", "runtime", "etcd"]
    assert [t.host for t in collectors["os"].tasks] == ["n1"]
    assert [t.host for t in collectors["runtime"].tasks] == ["n2", "n3"]  # after a refused stage: its last one
    assert not collectors["os"].failures and not collectors["runtime"].failures


def _sample():
    result = validate(SAMPLES / "ha-calico")
    return result.cluster, plan.make(result.cluster)


def test_the_run_playbook_imports_each_stage_after_its_marker_with_the_plans_hosts(tmp_path):
    _, made = _sample()
    planned = [s for s in made.stages if s.name in ("os", "etcd")]
    playbook = engine.run_playbook(tmp_path, Path("/p"), planned)
    plays = yaml.safe_load(playbook.read_text())
    assert [p.get("name") or p["ansible.builtin.import_playbook"] for p in plays] == [
        events.MARKER + "os", "/p/os.yml", events.MARKER + "etcd", "/p/etcd.yml"]
    assert plays[3]["vars"] == {"kinstall_stage": "etcd"}
    assert all(p["gather_facts"] is False and p["hosts"] == "all" for p in plays[::2])
    # the marker holds Ansible to the plan: the stage's pattern and the hosts the plan gave it
    assert plays[2]["vars"] == {"kinstall_plan_pattern": "etcd", "kinstall_plan_hosts": ["cp1", "cp2", "cp3"]}


def test_the_marker_play_lets_the_plans_hosts_run_and_stops_other_hosts(tmp_path):
    """The run playbook, run by ansible-playbook on local hosts: a stage whose pattern Ansible
    resolves to the plan's hosts runs, as does an operation whose command names its host (no
    pattern); a stage whose planned hosts differ from Ansible's stops the run, saying so."""
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump({"all": {
        "hosts": {name: {"ansible_connection": "local"} for name in ("a", "b", "c")},
        "children": {"g1": {"hosts": {"a": None, "b": None}}, "g2": {"hosts": {"c": None}}}}}))
    for name in ("one", "two"):
        (tmp_path / f"{name}.yml").write_text(yaml.safe_dump([{"name": name, "hosts": "all", "gather_facts": False,
                                                               "tasks": [{"ansible.builtin.debug": {"msg": name}}]}]))

    def run(*planned):
        playbook = engine.run_playbook(tmp_path, tmp_path, list(planned))
        return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i",
                               str(tmp_path / "inventory.yml"), str(playbook)], capture_output=True, text=True)

    agreed = run(plan.StagePlan("one", "", "g1:g2[0]", ["a", "b", "c"], []),
                 plan.StagePlan("two", "", stages.NAMED_BY_COMMAND, [], []))
    assert agreed.returncode == 0, agreed.stdout
    assert '"msg": "two"' in agreed.stdout
    differs = run(plan.StagePlan("one", "", "g1", ["a"], []))
    assert differs.returncode != 0
    assert "kinstall's plan and Ansible disagree on the hosts of stage one: g1 is a, b for Ansible" in differs.stdout
    assert '"msg": "one"' not in differs.stdout


def test_no_log_results_never_become_messages():
    assert "hidden (no_log)" in events.failure_message({"censored": "the output has been hidden", "msg": "s3cret"})


def _history(*stage_statuses, status=records.FAILED):
    run = RunRecord(id="r1", cluster="c", command="kinstall up", inputs={"mode": "up", "stages": None},
                    started=0.0, status=status)
    run.stages = [StageRecord(name, st, 0.0, 1.0) for name, st in stage_statuses]
    return [run]


def test_resume_starts_at_the_failed_stage():
    history = _history(("preflight", "successful"), ("os", "failed"))
    cluster, made = _sample()
    selected, resumed = engine._select(engine.RunRequest(resume=True), history, made, cluster)
    names = [s.name for s in selected]
    assert resumed == "r1" and names[0] == "os" and "preflight" not in names


def test_resume_refuses_when_there_is_nothing_to_resume():
    cluster, made = _sample()
    with pytest.raises(UsageError, match="there is no earlier run"):
        engine._select(engine.RunRequest(resume=True), [], made, cluster)
    with pytest.raises(UsageError, match="nothing to resume"):
        engine._select(engine.RunRequest(resume=True), _history(("os", "successful"), status=records.SUCCESSFUL),
                       made, cluster)


def test_stage_selection_keeps_the_plans_order():
    cluster, made = _sample()
    selected, _ = engine._select(engine.RunRequest(stages=["verify", "os"], skip_stages=[]), [], made, cluster)
    assert [s.name for s in selected] == ["os", "verify"]
    assert selected == [s for s in made.stages if s.name in ("os", "verify")]  # the plan's, not derived again
    operation, _ = engine._select(engine.RunRequest(Kind.OPERATION, operation="etcd-snapshot"), [], made, cluster)
    assert [(s.name, s.hosts) for s in operation] == [("etcd-snapshot", ["cp1", "cp2", "cp3"])]
    # remove-node runs on the node its command names: planned to run, not skipped for want of a pattern
    operation, _ = engine._select(engine.RunRequest(Kind.OPERATION, operation="remove-node"), [], made, cluster)
    assert [(s.name, s.skipped) for s in operation] == [("remove-node", "")]
    with pytest.raises(UsageError, match="unknown stage bogus; the stages are: preflight, os"):
        engine.parse_stages("os,bogus")


def test_controller_settings(tmp_path):
    env = engine.controller_env(tmp_path, 120)
    assert env["ANSIBLE_PIPELINING"] == "True" and "ControlPersist" in env["ANSIBLE_SSH_ARGS"]
    assert env["ANSIBLE_FORKS"] == "50" and engine.forks(3) == 5
    assert env["ANSIBLE_CACHE_PLUGIN"] == "jsonfile" and env["ANSIBLE_HOST_KEY_CHECKING"] == "True"


def test_eta_comes_from_earlier_successful_runs():
    history = _history(("preflight", "successful"), ("os", "successful"), status=records.SUCCESSFUL)
    eta = engine._eta_from(history, ["preflight", "os"])
    assert eta("preflight", 0.0) == 2.0 and eta("os", 1.5) == 1.0
    assert engine._eta_from([], ["os"])("os", 0.0) is None


def test_renderers_write_through_the_given_function():
    lines = []
    renderer = progress.PlainLines(lines.append)
    renderer(events.Progress("stage-start", "os", 2, 3, elapsed=65.0, eta=30.0))
    renderer(events.Progress("task", "os", 2, 3, task="Write", role="os"))
    renderer(events.Progress("result", "os", 2, 3, task="Write", host="n2", status="failed"))
    assert lines == ["[2/3] os: started (elapsed 01:05, eta 00:30)", "[2/3] os: os : Write",
                     "[2/3] os: FAILED n2: Write"]
    out = []
    progress.JsonLines(out.append)(events.Progress("task", "os", 1, 1, task="T"))
    assert json.loads(out[0])["type"] == "progress" and json.loads(out[0])["task"] == "T"


def test_report_names_host_stage_task_message_and_the_commands():
    run = _history(("preflight", "successful"), ("os", "failed"))[0]
    run.inputs["inventory"] = "/inv/hosts.yaml"
    run.failures = [records.Failure("n2", "os", "os_role", "Write", "boom")]
    run.exit_code = 4
    text = report.render(run)
    assert "  FAILED n2: os / os_role / Write\n    boom" in text
    assert "continue from the failed stage: kinstall up /inv/hosts.yaml --resume" in text
    assert "run that stage alone:           kinstall up /inv/hosts.yaml --stages os" in text


def test_a_failed_loop_reports_what_each_failed_item_said():
    result = {"msg": "One or more items failed", "results": [
        {"failed": False, "msg": "ok"}, {"failed": True, "msg": "runc 1.1.5 (amd64): sha256 mismatch"}]}
    assert events.failure_message(result) == "runc 1.1.5 (amd64): sha256 mismatch"


def test_warnings_reach_the_user_and_the_record_but_ansibles_own_notes_do_not():
    seen = []
    collector = events.StageCollector(StageRecord("os"), 1, 1, seen.append, started=0.0)
    collector(_event("runner_on_ok", host="n1", task="Say why", role="os",
                     res={"warnings": ["n1 is a podman container", "Module remote_tmp /root/.ansible/tmp did not"]}))
    assert [(w.host, w.stage, w.task, w.message) for w in collector.warnings] == [
        ("n1", "os", "Say why", "n1 is a podman container")]
    lines = []
    for item in seen:
        progress.PlainLines(lines.append)(item)
    assert lines == ["[1/1] os: WARNING n1: n1 is a podman container"]


def test_report_lists_each_warning_once_with_its_hosts():
    run = _history(("os", "successful"), status=records.SUCCESSFUL)[0]
    run.warnings = [records.HostWarning(host, "os", "os", "Say why", "no time service in a container", again)
                    for again in (False, True) for host in ("n10", "n2", "n1")]
    text = report.render(run)
    # hosts finish in any order; the summary names them in one order, run after run
    assert "warnings (1):\n  n1, n2, n10: os / os / Say why\n    no time service in a container" in text


def test_an_older_records_second_run_reads_as_todays(tmp_path):
    """Records written before the second_run field named the idempotency gate's stages "check-os"."""
    old = {"id": "r0", "cluster": "c", "command": "kinstall up", "inputs": {"mode": "up"}, "started": 1.0,
           "stages": [{"name": "os", "status": "successful"}, {"name": "check-os", "status": "successful"}],
           "tasks": [{"stage": "check-os", "host": "n1", "task": "t", "role": "os", "duration": 0.1,
                      "changed": True, "status": "changed"}],
           "failures": [], "warnings": [], "check": {"status": "changed", "changed": [
               {"stage": "check-os", "host": "n1", "task": "t", "role": "os", "duration": 0.1, "changed": True,
                "status": "changed"}]}}
    (tmp_path / "record.json").write_text(json.dumps(old))
    run = records.load(tmp_path)
    assert [(s.name, s.second_run, s.label) for s in run.stages] == [("os", False, "os"), ("os", True, "os (again)")]
    assert run.tasks[0].stage == "os" and run.tasks[0].second_run
    assert "n1: os / os / t" in report.render(run)
    assert Kind.of(run) is Kind.UP and Kind.of(RunRecord("r", "c", "x", {}, 0.0)) is Kind.UP


def test_run_kinds_say_what_later_commands_make_of_a_record():
    assert [k for k in Kind if k.installs] == [Kind.UP, Kind.UPGRADE]
    assert not Kind.PREVIEW.checks_files and not Kind.STATUS.changes_hosts and Kind.OPERATION.changes_hosts
    assert Kind.of(RunRecord("r", "c", "x", {"mode": "check"}, 0.0)) is Kind.PREVIEW
    with pytest.raises(ValueError, match="an operation run names its operation"):
        engine.RunRequest(Kind.OPERATION)
    with pytest.raises(ValueError, match="an operation run names its operation"):
        engine.RunRequest(Kind.UP, operation="reset")


def test_excluded_hosts_are_taken_out_of_the_runs_host_pattern():
    assert engine.hosts_pattern(engine.RunRequest()) is None
    assert engine.hosts_pattern(engine.RunRequest(limit="kube_node")) == "kube_node"
    assert engine.hosts_pattern(engine.RunRequest(exclude=["n2", "n3"])) == "all:!n2:!n3"
    assert engine.hosts_pattern(engine.RunRequest(limit="kube_node", exclude=["n2"])) == "kube_node:!n2"


def test_an_unreachable_host_is_reported_with_the_command_that_leaves_it_out():
    run = _history(("preflight", "failed"))[0]
    run.inputs.update(inventory="/inv/hosts.yaml", exclude=["n4"])
    run.failures = [records.Failure("n2", "preflight", "", "Gathering Facts", "ssh: connect timed out",
                                    unreachable=True)]
    run.exit_code = 3
    text = report.render(run)
    assert "  UNREACHABLE n2: preflight / Gathering Facts" in text
    assert "continue from the failed stage: kinstall up /inv/hosts.yaml --resume --exclude n4" in text
    assert ("or leave n2 out (not contacted, finished by a later run): kinstall up /inv/hosts.yaml "
            "--exclude n4,n2") in text
