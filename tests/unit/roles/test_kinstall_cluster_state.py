"""kinstall_cluster_state (kinstall_lib), run as Ansible runs it, on a directory standing for a
host's /var/lib/kinstall: the lock two controllers contend for, its lease, the history's rotation
and the id written once."""

import json
import os
import subprocess
import sys
import time

from tests.paths import ROLES

MODULE = ROLES / "kinstall_lib" / "library" / "kinstall_cluster_state.py"
HOLDER = {"host": "laptop", "user": "ann", "pid": 4242, "command": "kinstall up hosts.yml"}


def _run(tmp_path, **args):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"root": str(tmp_path / "state"), **args}}))
    done = subprocess.run([sys.executable, str(MODULE), str(path)], capture_output=True, text=True, timeout=60)
    return json.loads(done.stdout)


def test_the_lock_is_taken_once_refused_to_another_run_and_released_by_its_holder(tmp_path):
    first = _run(tmp_path, action="open", run_id="r1", holder=HOLDER, lease=300)
    assert first["locked"] and first["holder"] is None and first["id"] == ""
    lock = tmp_path / "state" / "lock"
    assert oct(lock.stat().st_mode & 0o777) == "0o600" and oct(lock.parent.stat().st_mode & 0o777) == "0o700"
    second = _run(tmp_path, action="open", run_id="r2", holder={**HOLDER, "host": "ci"}, lease=300)
    assert not second["locked"]
    assert {k: second["holder"][k] for k in ("run", "host", "pid", "lease")} == \
        {"run": "r1", "host": "laptop", "pid": 4242, "lease": 300}
    assert _run(tmp_path, action="refresh", run_id="r2").get("failed")  # not its lock
    assert not _run(tmp_path, action="refresh", run_id="r1").get("failed")
    _run(tmp_path, action="close", run_id="r2", adopt=False)  # another run's close leaves it
    assert lock.exists()
    _run(tmp_path, action="close", run_id="r1", adopt=False)
    assert not lock.exists()
    assert _run(tmp_path, action="open", run_id="r2", holder=HOLDER)["locked"]


def test_a_lock_whose_heartbeat_is_older_than_its_lease_is_taken_over_naming_its_holder(tmp_path):
    _run(tmp_path, action="open", run_id="dead", holder=HOLDER, lease=5)
    lock = tmp_path / "state" / "lock"
    held = json.loads(lock.read_text())
    assert not _run(tmp_path, action="open", run_id="next", holder=HOLDER, lease=300)["locked"]  # 5 s not over
    lock.write_text(json.dumps({**held, "heartbeat": time.time() - 6}))
    taken = _run(tmp_path, action="open", run_id="next", holder=HOLDER, lease=300)
    assert taken["locked"] and taken["holder"]["run"] == "dead"
    assert json.loads(lock.read_text())["run"] == "next"


def test_close_writes_the_id_once_keeps_the_newest_records_and_reads_back_what_the_controller_lacks(tmp_path):
    for number in range(5):
        _run(tmp_path, action="close", run_id=f"2026-{number}", cluster_id="a" * 32, cluster_name="c.local",
             record={"id": f"2026-{number}", "status": "successful"}, keep=3)
    _run(tmp_path, action="close", run_id="2026-9", cluster_id="b" * 32, cluster_name="other", record={}, keep=3)
    identity = json.loads((tmp_path / "state" / "cluster.json").read_text())
    assert (identity["id"], identity["name"]) == ("a" * 32, "c.local")  # never rewritten
    runs = sorted(os.listdir(tmp_path / "state" / "runs"))
    assert runs == ["2026-3.json", "2026-4.json", "2026-9.json"]
    assert all(oct((tmp_path / "state" / "runs" / name).stat().st_mode & 0o777) == "0o600" for name in runs)
    seen = _run(tmp_path, action="open", run_id="r", known=["2026-3"], read_runs=True)
    assert (seen["id"], seen["name"], seen["runs"]) == ("a" * 32, "c.local", ["2026-3", "2026-4", "2026-9"])
    assert sorted(seen["records"]) == ["2026-4", "2026-9"]
    assert not (tmp_path / "state" / "lock").exists()  # no holder: a look takes no lock


def test_a_host_without_the_clusters_state_gets_none_from_a_close_that_does_not_adopt(tmp_path):
    """A reset host: the reset's close releases the lock and writes nothing else there."""
    (tmp_path / "state").mkdir()
    done = _run(tmp_path, action="close", run_id="r", cluster_id="a" * 32, cluster_name="c", adopt=False,
                record={"id": "r"})
    assert not done["changed"] and os.listdir(tmp_path / "state") == []


def test_a_run_id_that_is_not_one_is_refused(tmp_path):
    assert _run(tmp_path, action="close", run_id="../../etc/x", record={})["failed"]
    assert not (tmp_path / "state").exists()
