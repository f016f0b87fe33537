"""A run that only adds hosts: which stages the hosts that were there run, from the cluster's
recorded fingerprint; anything else is a full pass, and says why."""

import shutil
import time

import yaml

from installer import plan, stages
from installer.inventory.validate import validate
from installer.runner import engine, records, scope
from installer.runner.kinds import Kind
from tests.paths import SAMPLES


def _cluster(tmp_path, name, edit=lambda doc: None):
    directory = tmp_path / name
    shutil.copytree(SAMPLES / "ha-calico", directory)
    inventory = directory / "hosts.yaml"
    document = yaml.safe_load(inventory.read_text())
    edit(document)
    inventory.write_text(yaml.safe_dump(document))
    result = validate(inventory)
    assert result.report.ok, result.report.as_text()
    return result.cluster


def _without_worker2(document):
    del document["all"]["hosts"]["worker2"]
    del document["all"]["children"]["kube_node"]["hosts"]["worker2"]


def _with_cp4_and_cp5(document):
    for name, address in (("cp4", "192.0.2.14"), ("cp5", "192.0.2.15")):
        document["all"]["hosts"][name] = {"ansible_host": address, "ip": address}
        for group in ("kube_control_plane", "etcd"):
            document["all"]["children"][group]["hosts"][name] = None


def _run(cluster, kind=Kind.UP, status=records.SUCCESSFUL, **inputs):
    return records.RunRecord(id=f"run-{time.monotonic_ns()}", cluster=cluster.name, command="kinstall up",
                             inputs={"mode": str(kind), "stages": list(stages.NAMES), "limit": None, "exclude": [],
                                     scope.FINGERPRINT: scope.fingerprint(cluster), **inputs},
                             started=time.time(), status=status)


def test_a_new_worker_gets_every_stage_and_the_others_only_what_depends_on_it(tmp_path):
    before, now = _cluster(tmp_path, "before", _without_worker2), _cluster(tmp_path, "now")
    baseline = _run(before)
    adds, why = scope.only_adds(now, [baseline], list(stages.NAMES))
    assert why == "" and adds.added == ["worker2"] and adds.baseline == baseline.id
    assert adds.existing == ["cp1", "cp2", "cp3", "worker1"]
    made = plan.make(now, None, adds)
    hosts = {s.name: s.hosts for s in made.stages}
    for name in ("preflight", "download", "runtime", "loadbalancer", "upgrade", "nodes"):
        assert hosts[name] == ["worker2"], name
    every = ["cp1", "cp2", "cp3", "worker1", "worker2"]
    assert hosts["os"] == hosts["network"] == hosts["addons"] == hosts["verify"] == every
    by_name = {s.name: s for s in made.stages}
    assert by_name["etcd"].skipped.startswith("this run only adds worker2, none of them in its hosts")
    assert by_name["control-plane"].hosts == [] and by_name["control-plane"].skipped
    assert by_name["preflight"].pattern == f"{stages.EVERY_HOST}:&kinstall_scope_preflight"
    assert by_name["os"].pattern == stages.EVERY_HOST and not by_name["os"].scope_group
    assert made.groups_for_ansible() == {
        "kinstall_scope_preflight": ["worker2"], "kinstall_scope_download": ["worker2"],
        "kinstall_scope_runtime": ["worker2"], "kinstall_scope_loadbalancer": ["worker2"],
        "kinstall_scope_upgrade": ["worker2"], "kinstall_scope_nodes": ["worker2"],
        stages.EXISTING_HOSTS: ["cp1", "cp2", "cp3", "worker1"]}
    assert "this run only adds worker2" in plan.render(
        plan.make(now, {"run": baseline.id, "kube_version": "1.35.8", "network_plugin": "calico",
                        "hosts": adds.existing}, adds))


def test_a_new_control_plane_and_etcd_member_runs_those_stages_on_every_member(tmp_path):
    before, now = _cluster(tmp_path, "before"), _cluster(tmp_path, "now", _with_cp4_and_cp5)
    adds, _ = scope.only_adds(now, [_run(before)], list(stages.NAMES))
    hosts = {s.name: s.hosts for s in plan.make(now, None, adds).stages}
    assert hosts["etcd"] == hosts["control-plane"] == ["cp1", "cp2", "cp3", "cp4", "cp5"]
    assert hosts["loadbalancer"] == ["worker1", "worker2"]  # their backends list the new API servers
    assert hosts["preflight"] == hosts["runtime"] == hosts["upgrade"] == ["cp4", "cp5"]


def test_anything_but_new_hosts_is_a_full_pass_that_says_why(tmp_path):
    before = _cluster(tmp_path, "before", _without_worker2)
    now = _cluster(tmp_path, "now")
    # another setting
    other = _cluster(tmp_path, "other", lambda d: (_without_worker2(d), d["all"]["vars"].update(kube_proxy_mode="iptables")))
    adds, why = scope.only_adds(now, [_run(other)], list(stages.NAMES))
    assert adds is None and "the settings or kinstall's playbooks differ from run" in why
    # a variable of a host that was there
    moved = _cluster(tmp_path, "moved", lambda d: (_without_worker2(d),
                                                    d["all"]["hosts"]["worker1"].update(node_labels={"a": "b"})))
    adds, why = scope.only_adds(now, [_run(moved)], list(stages.NAMES))
    assert adds is None and why.startswith("the variables or groups of worker1 differ")
    # a change to the hosts since: an operation, a limited or failed up, an up of fewer stages
    baseline = _run(before)
    for later in (_run(before, kind=Kind.OPERATION), _run(before, limit="worker1"),
                  _run(before, status=records.FAILED)):
        adds, why = scope.only_adds(now, [baseline, later], list(stages.NAMES))
        assert adds is None and why == (f"run {later.id}, the cluster's newest change, was not a successful `up` "
                                        "of every host"), why
    fewer = _run(before, stages=["preflight", "os"])
    adds, why = scope.only_adds(now, [fewer], ["os", "download"])
    assert adds is None and why == f"run {fewer.id}, the cluster's newest change, did not run download"
    assert scope.only_adds(now, [fewer], ["os"])[0].added == ["worker2"]
    # a host gone
    adds, why = scope.only_adds(before, [_run(now)], list(stages.NAMES))
    assert adds is None and why.startswith("worker2 left the inventory")
    # read-only runs after the baseline do not count; a plain re-run is a full pass with nothing to say
    adds, _ = scope.only_adds(now, [baseline, _run(before, kind=Kind.VERIFY)], list(stages.NAMES))
    assert adds is not None
    assert scope.only_adds(now, [_run(now)], list(stages.NAMES)) == (None, "")
    assert scope.only_adds(now, [], list(stages.NAMES)) == (None, "")


def test_only_a_plain_up_is_narrowed(tmp_path):
    assert engine.RunRequest(Kind.UP, stages=["preflight", "os"]).narrowable() == ["preflight", "os"]
    assert engine.RunRequest(Kind.UP, skip_stages=["verify"]).narrowable() == list(stages.NAMES[:-1])
    for request in (engine.RunRequest(Kind.UP, all_hosts=True), engine.RunRequest(Kind.UP, limit="node1"),
                    engine.RunRequest(Kind.UP, exclude=["node2"]), engine.RunRequest(Kind.UP, resume=True),
                    engine.RunRequest(Kind.UPGRADE), engine.RunRequest(Kind.UP, playbook_dir=tmp_path)):
        assert request.narrowable() is None


def test_a_narrowed_stage_runs_its_plays_on_its_group_alone(tmp_path):
    before, now = _cluster(tmp_path, "before", _without_worker2), _cluster(tmp_path, "now")
    adds, _ = scope.only_adds(now, [_run(before)], list(stages.NAMES))
    made = plan.make(now, None, adds)
    path = engine.run_playbook(tmp_path, engine.PLAYBOOKS, [s for s in made.stages if not s.skipped])
    plays = yaml.safe_load(path.read_text())
    upgrade = [p for p in plays if p.get("vars", {}).get("kinstall_stage") == "upgrade" and "hosts" in p]
    assert upgrade and all(p["hosts"].endswith(":&kinstall_scope_upgrade") for p in upgrade)
    os_stage = [p for p in plays if p.get("vars", {}).get("kinstall_stage") == "os"]
    assert os_stage == [{"ansible.builtin.import_playbook": str((engine.PLAYBOOKS / "os.yml").resolve()),
                         "vars": {"kinstall_stage": "os"}}]
    overlay = engine.with_plan_groups(now.ansible_overlay, made)["all"]["children"]
    assert overlay["kinstall_scope_nodes"] == {"hosts": {"worker2": None}}
    assert list(overlay[stages.EXISTING_HOSTS]["hosts"]) == ["cp1", "cp2", "cp3", "worker1"]
