"""The parts of runner/custody.py that need no host: which hosts keep the cluster's state, the
cluster's id as its hosts tell it, the secrets' archive, the lease and the adoption of what an
earlier kinstall kept on the controller."""

import io
import json
import tarfile
from types import SimpleNamespace

import pytest

from installer import paths, state
from installer.errors import ExitCode, InvalidInput, KinstallError
from installer.runner import custody


def _cluster(tmp_path, control=("cp1", "cp2"), etcd=("e1", "cp1"), name="c.local"):
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all: {}\n")
    return SimpleNamespace(name=name, inventory_file=str(inventory),
                           groups={"kube_control_plane": list(control), "etcd": list(etcd)})


def test_the_anchors_are_the_control_planes_and_etcd_members_and_the_lock_is_on_the_first_of_each(tmp_path):
    cluster = _cluster(tmp_path)
    assert custody.anchors(cluster, []) == ["cp1", "cp2", "e1"]
    assert custody.lock_hosts(cluster, []) == ["cp1", "e1"]
    assert custody.anchors(cluster, ["cp2"]) == ["cp1", "e1"]
    assert custody.lock_hosts(_cluster(tmp_path, etcd=("cp1",)), []) == ["cp1"]


def test_hosts_of_two_clusters_or_of_a_cluster_of_another_name_are_refused_by_name(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path / "home"))
    cluster = _cluster(tmp_path)
    with pytest.raises(InvalidInput) as mixed:
        custody._identity(cluster, {"e1": {"id": "a" * 32, "name": "c.local"}, "cp2": {"id": "b" * 32, "name": "x"},
                                    "cp1": {"id": "a" * 32, "name": "c.local"}})
    assert f"cp1, e1: cluster id {'a' * 32}; cp2: cluster id {'b' * 32}" in mixed.value.message
    with pytest.raises(InvalidInput) as named:
        custody._identity(cluster, {"e1": {"id": "a" * 32, "name": "prod"}, "cp1": {"id": "a" * 32, "name": "prod"},
                                    "cp2": {}})
    assert "cp1, e1 belong to the cluster 'prod'" in named.value.message  # the inventory's order, not the answers'
    assert "not to 'c.local'" in named.value.message
    assert custody._identity(cluster, {"cp1": {"id": "a" * 32, "name": "c.local"}, "e1": {"id": ""}}) == "a" * 32
    fresh = custody._identity(cluster, {"cp1": {}, "e1": {}})
    assert len(fresh) == 32 and fresh != custody._identity(cluster, {"cp1": {}})
    state.bind(cluster, "d" * 32)  # a cluster this controller ran, whose hosts were reset since
    assert custody._identity(cluster, {"cp1": {}, "e1": {}}) == "d" * 32


def test_the_secrets_archive_depends_on_the_files_alone_and_unpacks_only_plain_files(tmp_path):
    pki = tmp_path / "pki"
    (pki / "etcd").mkdir(parents=True)
    (pki / "etcd" / "ca.key").write_text("key")
    (pki / "etcd" / "ca.crt.part").write_text("half-written")
    first = custody._pki_tar(pki)
    (pki / "etcd" / "ca.key").touch()  # a new mtime, the same content
    assert custody._pki_tar(pki) == first
    again = tmp_path / "again"
    custody._unpack(first, again)
    assert (again / "etcd" / "ca.key").read_text() == "key" and not (again / "etcd" / "ca.crt.part").exists()
    assert oct((again / "etcd" / "ca.key").stat().st_mode & 0o777) == "0o600"
    hostile = io.BytesIO()
    with tarfile.open(fileobj=hostile, mode="w") as tar:
        info = tarfile.TarInfo("../../etc/cron.d/x")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(KinstallError) as refused:
        custody._unpack(hostile.getvalue(), tmp_path / "third")
    assert "../../etc/cron.d/x" in refused.value.message and not (tmp_path / "etc").exists()


@pytest.mark.parametrize("value", ["0", "4", "soon", "100000"])
def test_a_lease_that_is_not_seconds_from_5_to_a_day_is_a_usage_error(monkeypatch, value):
    monkeypatch.setenv(custody.LEASE_ENV, value)
    with pytest.raises(KinstallError) as refused:
        custody.lease()
    assert refused.value.exit_code == ExitCode.USAGE and custody.LEASE_ENV in refused.value.message


def test_what_an_earlier_kinstall_kept_for_the_inventory_moves_to_the_clusters_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path / "home"))
    cluster = _cluster(tmp_path)
    legacy = state.legacy_dir(cluster)
    (legacy / "pki" / "etcd").mkdir(parents=True)
    (legacy / "pki" / "etcd" / "ca.key").write_text("key")
    (legacy / "runs" / "r1").mkdir(parents=True)
    (legacy / "runs" / "r1" / "record.json").write_text(json.dumps({"id": "r1", "directory": str(legacy)}))
    directory = state.bind(cluster, "c" * 32)
    assert state.of(cluster) == directory == paths.clusters() / ("c" * 32)
    pki = tmp_path / "run-pki"
    held = custody.Held("c" * 32, directory, pki, "r2")
    custody._adopt_legacy(cluster, directory, pki, False, held)
    assert held.adopted == ["pki", "history"] and not legacy.exists()
    assert (pki / "etcd" / "ca.key").read_text() == "key" and not (directory / "pki").exists()
    moved = json.loads((directory / "runs" / "r1" / "record.json").read_text())
    assert moved["directory"] == str(directory / "runs" / "r1")


def test_an_id_or_run_name_from_a_host_that_would_name_a_path_here_is_refused(tmp_path, monkeypatch):
    """Ids and run ids name directories on the controller: what no kinstall wrote is refused or skipped."""
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path / "home"))
    cluster = _cluster(tmp_path)
    with pytest.raises(InvalidInput) as refused:
        custody._identity(cluster, {"cp1": {"id": "../../../etc", "name": "c.local"}})
    assert "cp1 carries '../../../etc' as its cluster id" in refused.value.message
    directory = tmp_path / "cache"
    custody._sync_history(directory, {"cp1": {"records": {"../../x": {"id": "x"}, "2026-1": {"id": "2026-1"}}}})
    assert [p.name for p in (directory / "runs").iterdir()] == ["2026-1"] and not (tmp_path / "x").exists()


def test_a_result_larger_than_ansible_runners_event_limit_reaches_kinstall_whole(tmp_path):
    """A controller that lacks the cluster's history reads it as one result (up to 30 records of
    some 100 KB each); ansible-runner would replace any result past 700,000 characters by {}."""
    import sys

    inventory = tmp_path / "hosts.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    cluster = SimpleNamespace(name="c.local", inventory_file=str(inventory), hosts=["localhost"], groups={})
    private = tmp_path / "private"
    private.mkdir()
    found = custody._ansible(cluster, private, "big", custody._playbook(
        [{"name": "Answer at length", "ansible.builtin.set_fact": {"answer": "{{ 'x' * 2000000 }}"}}], "localhost"),
        {}, "localhost")
    event, result = found["Answer at length"]["localhost"]
    assert event == "runner_on_ok" and len(result["ansible_facts"]["answer"]) == 2000000


def test_an_empty_answer_from_a_state_host_is_a_clear_error_and_releases_what_the_run_may_hold(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path / "home"))
    cluster = _cluster(tmp_path, control=("cp1",), etcd=("cp1",))
    calls = []

    def ansible(cluster, private, name, plays, extravars, limit):
        calls.append((name, limit))
        if name == "open":  # the lock may be taken, but its answer did not arrive
            return {plays[0]["tasks"][0]["name"]: {"cp1": ("runner_on_ok", {})}}
        return {}

    monkeypatch.setattr(custody, "_ansible", ansible)
    with pytest.raises(KinstallError) as raised:
        with custody.held(cluster, "run-1", "kinstall up", []):
            pass
    assert raised.value.exit_code == ExitCode.TASK_FAILED
    assert "cp1 answered with an empty result" in raised.value.message and "nothing was changed" in raised.value.message
    assert calls == [("open", "cp1"), ("release", "cp1")]  # close releases only a lock of this run
