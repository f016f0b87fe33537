"""`kinstall etcd restore SNAPSHOT`: a file on the controller, or HOST:/path on a host of the
inventory (a cluster host or the backup target); anything else is refused before any host is asked."""

from types import SimpleNamespace

import pytest

from installer.errors import InvalidInput
from installer.lifecycle.preconditions import snapshot_source


def _cluster(target=""):
    return SimpleNamespace(inventory_file="hosts.yml", hosts={"node1": None, "node2": None},
                           settings={"etcd_backup_target": target})


def test_a_snapshot_on_a_cluster_host_or_the_backup_target_is_fetched_from_there():
    assert snapshot_source(_cluster(), "node1:/var/backups/etcd/etcd-node1-x.db") == {
        "etcd_restore_remote": "node1:/var/backups/etcd/etcd-node1-x.db"}
    assert snapshot_source(_cluster("backup1:/srv/etcd"), "backup1:/srv/etcd/etcd-node1-x.db") == {
        "etcd_restore_remote": "backup1:/srv/etcd/etcd-node1-x.db"}


def test_a_file_on_the_controller_is_restored_from_its_full_path(tmp_path, monkeypatch):
    (tmp_path / "etcd-node1-x.db").write_bytes(b"snapshot")
    monkeypatch.chdir(tmp_path)
    assert snapshot_source(_cluster(), "etcd-node1-x.db") == {
        "etcd_restore_snapshot": str(tmp_path / "etcd-node1-x.db")}


@pytest.mark.parametrize("snapshot, says", [
    ("node9:/var/backups/etcd/etcd-node1-x.db", "node9 is not a host of this inventory"),
    ("node1:/var/backups/../../etc/shadow", "no such file on the controller"),
    ("node1:relative/etcd-node1-x.db", "no such file on the controller"),
    ("node1:/var/backups/etcd/x.db; rm -rf /", "no such file on the controller"),
    ("/nowhere/etcd-node1-x.db", "no such file on the controller"),
])
def test_anything_else_is_refused_naming_what_to_give(snapshot, says):
    with pytest.raises(InvalidInput) as refused:
        snapshot_source(_cluster(), snapshot)
    assert says in str(refused.value) and "kinstall etcd snapshot --list" in str(refused.value)
