"""An installed cluster's network plugin is not changed by editing the inventory: validate, plan
and up refuse, naming the plugin that runs and the run that installed it."""

import shutil
import time

import pytest
from click.testing import CliRunner

from installer import paths, state
from installer.cli import cli
from installer.runner import records
from installer.runner.records import StageRecord
from tests.paths import ROOT

MINIMAL = ROOT / "tests" / "fixtures" / "inventories" / "valid-minimal"


@pytest.fixture
def inventory(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path / "home"))
    shutil.copytree(MINIMAL, tmp_path / "inventory")
    return tmp_path / "inventory" / "hosts.yaml"


def _known_here(inventory):
    """What this controller knows of the inventory's cluster, before any run read the cluster's own."""
    return paths.clusters() / state.legacy_id("cluster.local", inventory.resolve())


def _installed(inventory, plugin, network_status=records.SUCCESSFUL):
    directory = _known_here(inventory)
    record = records.create(directory, "cluster.local", "kinstall up", {"mode": "up", "network_plugin": plugin})
    record.stages = [StageRecord("network", network_status, 0.0, 1.0)]
    record.status = network_status
    record.save()
    return record


@pytest.mark.parametrize("command", ["validate", "plan", "up"])
def test_a_plugin_change_on_an_installed_cluster_is_refused(inventory, command):
    run = _installed(inventory, "romana")
    result = CliRunner().invoke(cli, [command, str(inventory), *(["--yes"] if command == "up" else [])])
    assert result.exit_code == 1, result.output
    assert f"the cluster runs romana (installed by run {run.id})" in result.output
    assert "Set kube_network_plugin: romana again, or build a new cluster with calico" in result.output


def test_the_same_plugin_or_a_network_stage_that_never_succeeded_is_no_change(inventory):
    _installed(inventory, "romana", network_status=records.FAILED)
    assert CliRunner().invoke(cli, ["validate", str(inventory)]).exit_code == 0
    _installed(inventory, "calico")
    assert CliRunner().invoke(cli, ["validate", str(inventory)]).exit_code == 0


def test_a_run_needing_a_file_with_no_known_checksum_stops_before_any_host(inventory):
    # valid-minimal: calico 3.32.1, whose calicoctl and CRD archive have no sha256 in kinstall's list
    result = CliRunner().invoke(cli, ["up", str(inventory), "--yes"])
    assert result.exit_code == 1, result.output
    assert "no sha256 is known for calicoctl 3.32.1, calico-crds 3.32.1" in result.output
    assert "calicoctl_binary_checksums, calico_crds_archive_checksums" in result.output
    assert not list((inventory.parents[1] / "home").rglob("record.json"))  # no run began



def _at_release(inventory, version, release):
    text = inventory.read_text()
    assert "kube_version: 1.35.8" in text
    inventory.write_text(text.replace("kube_version: 1.35.8", f"kube_version: {version}"))
    directory = _known_here(inventory)
    record = records.create(directory, "cluster.local", "kinstall up",
                            {"mode": "up", "network_plugin": "calico", "kube_version": release})
    record.stages = [StageRecord("control-plane", records.SUCCESSFUL, 0.0, 1.0)]
    record.status = records.SUCCESSFUL
    record.save()
    return record


@pytest.mark.parametrize(("installed", "wanted", "message"), [
    ("1.35.8", "1.34.11", "1.34.11 would be a downgrade, which kubeadm cannot do"),
    ("1.34.11", "1.36.4", "skips 1 minor release(s), which the version-skew policy forbids: upgrade one minor at a "
                          "time: 1.34.11 -> 1.35.8 -> 1.36.4"),
    ("1.21.4", "1.34.11", "1.22.x, 1.23.x"),
])
def test_a_downgrade_or_a_skipped_minor_is_refused_with_the_path(inventory, installed, wanted, message):
    from installer import releases

    if releases.get(installed) is None or releases.get(wanted) is None:
        pytest.skip("release not in kinstall's list")
    run = _at_release(inventory, wanted, installed)
    result = CliRunner().invoke(cli, ["validate", str(inventory)])
    assert result.exit_code == 1, result.output
    assert f"the cluster runs Kubernetes {installed} (run {run.id})" in result.output
    assert message in result.output


@pytest.mark.parametrize("installed", ["1.34.11", "1.35.7"])
def test_a_patch_or_the_next_minor_is_an_upgrade_the_plan_orders(inventory, installed):
    run = _at_release(inventory, "1.35.8", installed)
    assert CliRunner().invoke(cli, ["validate", str(inventory)]).exit_code == 0
    result = CliRunner().invoke(cli, ["plan", str(inventory)])
    assert result.exit_code == 0, result.output
    assert f"upgrade Kubernetes {installed} -> 1.35.8 (installed by run {run.id})" in result.output
    assert "etcd snapshot first, then the first control plane (kubeadm upgrade apply)" in result.output


def test_the_installed_release_is_no_change(inventory):
    _at_release(inventory, "1.35.8", "1.35.8")
    assert CliRunner().invoke(cli, ["validate", str(inventory)]).exit_code == 0


def test_after_a_reset_of_every_host_the_cluster_is_new_again(inventory):
    _installed(inventory, "romana")
    assert CliRunner().invoke(cli, ["validate", str(inventory)]).exit_code == 1
    directory = _known_here(inventory)
    time.sleep(1.1)  # run ids order by their start second
    partial = records.create(directory, "cluster.local", "kinstall reset",
                             {"mode": "operation", "stages": ["reset"], "limit": "node2"})
    partial.status = records.SUCCESSFUL
    partial.save()
    assert CliRunner().invoke(cli, ["validate", str(inventory)]).exit_code == 1  # one host only: still installed
    time.sleep(1.1)
    full = records.create(directory, "cluster.local", "kinstall reset", {"mode": "operation", "stages": ["reset"]})
    full.status = records.SUCCESSFUL
    full.save()
    assert CliRunner().invoke(cli, ["validate", str(inventory)]).exit_code == 0


def test_reset_asks_first_and_refuses_unconfirmed_outside_a_terminal(inventory):
    result = CliRunner().invoke(cli, ["reset", str(inventory)])
    assert result.exit_code == 2, result.output
    assert "from every host of the cluster: pass --yes to confirm when not running interactively" in result.output
    assert not list((inventory.parents[1] / "home").rglob("record.json"))


def test_the_plan_says_what_is_installed_and_which_hosts_the_inventory_adds_or_left_out(inventory):
    from installer.runner.records import TaskRecord

    directory = _known_here(inventory)
    record = records.create(directory, "cluster.local", "kinstall up",
                            {"mode": "up", "network_plugin": "calico", "kube_version": "1.35.8"})
    record.stages = [StageRecord("control-plane", records.SUCCESSFUL, 0.0, 1.0)]
    record.tasks = [TaskRecord("os", host, "t", "os", 0.1, False, "ok") for host in ("node1", "node2", "gone1")]
    record.status = records.SUCCESSFUL
    record.save()
    result = CliRunner().invoke(cli, ["plan", str(inventory)])
    assert result.exit_code == 0, result.output
    assert f"installed (run {record.id}): Kubernetes 1.35.8, calico, 3 host(s)" in result.output
    assert "no longer in the inventory: gone1 (still in the cluster" in result.output
    # valid-minimal: node1-node3; a record without the cluster's fingerprint is no baseline to narrow from
    assert (f"this run adds: node3; every stage runs on every host (run {record.id}, the cluster's newest change, "
            "did not run preflight") in result.output


def test_when_the_clusters_history_differs_from_this_controllers_the_plan_follows_the_cluster(inventory):
    """What a run reads from the cluster's hosts lands in this controller's cache (custody); the
    plan made before (from what this controller knew: nothing) is made again, and says so."""
    from installer import plan as planning
    from installer.inventory.validate import require_valid
    from installer.lifecycle import preconditions

    cluster = require_valid(str(inventory)).cluster
    before = planning.make(cluster, None)
    _at_release(inventory, "1.35.8", "1.35.8")  # as a sync from the cluster writes it
    after = preconditions.against_the_cluster(cluster, before)
    assert after.installed and after.installed["kube_version"] == "1.35.8"
    assert after.history_note.startswith("the cluster's own history differs from this controller's")
    assert "the cluster's own history differs" in planning.render(after)
    assert preconditions.against_the_cluster(cluster, after).history_note == ""


def test_a_secret_setting_is_not_passed_as_an_extra_variable():
    from installer.inventory.validate import validate
    from installer.runner import engine

    cluster = validate(ROOT / "tests" / "fixtures" / "inventories" / "valid-storage-classes" / "hosts.yaml").cluster
    values = engine.extravars(cluster, "run")
    assert "ceph_csi_user_key" not in values and values["ceph_monitors"] == ["192.0.2.61", "192.0.2.62:6789"]
    assert cluster.settings["ceph_csi_user_key"] not in repr(values)


def test_upgrade_passes_its_version_through_the_same_guard_without_editing_the_inventory(inventory):
    run = _at_release(inventory, "1.35.8", "1.35.8")
    before = inventory.read_text()
    result = CliRunner().invoke(cli, ["upgrade", str(inventory), "--to", "1.34.11", "--yes"])
    assert result.exit_code == 1, result.output
    assert f"the cluster runs Kubernetes 1.35.8 (run {run.id}); 1.34.11 would be a downgrade" in result.output
    result = CliRunner().invoke(cli, ["upgrade", str(inventory), "--to", "1.37", "--yes"])
    assert result.exit_code == 2 and "give a Kubernetes release as X.Y.Z" in result.output
    assert inventory.read_text() == before
    assert len(list((inventory.parents[1] / "home").rglob("record.json"))) == 1  # no run began


def test_exclude_names_hosts_of_the_inventory_but_never_the_first_control_plane(inventory):
    before = inventory.read_text()
    unknown = CliRunner().invoke(cli, ["up", str(inventory), "--exclude", "node2,node9", "--yes"])
    assert unknown.exit_code == 1 and "--exclude node9: not a host of this inventory" in unknown.output
    acting = CliRunner().invoke(cli, ["up", str(inventory), "--exclude", "node1", "--yes"])
    assert acting.exit_code == 1, acting.output
    assert "--exclude node1: the first host of kube_control_plane acts for the cluster" in acting.output
    assert inventory.read_text() == before
    assert not list((inventory.parents[1] / "home").rglob("record.json"))  # no run began
