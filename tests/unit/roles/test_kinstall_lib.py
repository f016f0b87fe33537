"""The shared modules of roles/kinstall_lib, run as Ansible runs them (a module process reading its
arguments), on files in a temporary directory: what a re-run relies on (nothing changed the second
time), what a failure says, and that file content never comes back in the result."""

import json
import os
import subprocess
import sys

from tests.paths import ROLES

LIBRARY = ROLES / "kinstall_lib" / "library"


def _run(module, tmp_path, check_mode=False, **args):
    path = tmp_path / "args.json"
    path.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode}}))
    done = subprocess.run([sys.executable, str(LIBRARY / f"{module}.py"), str(path)], capture_output=True,
                          text=True, timeout=60)
    return json.loads(done.stdout)


def test_files_are_made_once_and_a_second_call_changes_nothing(tmp_path):
    root = tmp_path / "root"
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "bridge").write_bytes(b"\x7fELF")
    (tmp_path / "src" / "bridge").chmod(0o755)
    files = [{"path": str(root), "state": "directory", "mode": "0755"},
             {"path": str(root / "pki"), "state": "directory", "mode": "0700"},
             {"path": str(root / "pki" / "member.key"), "state": "file", "content": "SECRET-KEY-BODY\n", "mode": "0600"},
             {"path": str(root / "etcd"), "state": "link", "src": "/usr/lib/etcd-3.4/etcd"},
             {"path": str(root / "cni"), "state": "copy", "src": str(tmp_path / "src")}]
    first = _run("kinstall_files", tmp_path, files=files)
    assert first["changed"] and len(first["changed_paths"]) == 6, first
    assert "SECRET-KEY-BODY" not in json.dumps(first)
    assert (root / "pki" / "member.key").read_text() == "SECRET-KEY-BODY\n"
    assert oct((root / "pki" / "member.key").stat().st_mode & 0o777) == "0o600"
    assert os.readlink(root / "etcd") == "/usr/lib/etcd-3.4/etcd"
    assert (root / "cni" / "bridge").read_bytes() == b"\x7fELF" and os.access(root / "cni" / "bridge", os.X_OK)
    again = _run("kinstall_files", tmp_path, files=files)
    assert again["changed"] is False and again["changed_paths"] == []


def test_a_drifted_file_is_put_back_and_check_mode_only_reports_it(tmp_path):
    target = tmp_path / "etcd.env"
    files = [{"path": str(target), "state": "file", "content": "ETCD_NAME=node1\n", "mode": "0644"}]
    _run("kinstall_files", tmp_path, files=files)
    target.write_text("ETCD_NAME=edited\n")
    target.chmod(0o666)
    checked = _run("kinstall_files", tmp_path, check_mode=True, files=files)
    assert checked["changed_paths"] == [str(target)] and target.read_text() == "ETCD_NAME=edited\n"
    repaired = _run("kinstall_files", tmp_path, files=files)
    assert repaired["changed"] and target.read_text() == "ETCD_NAME=node1\n"
    assert oct(target.stat().st_mode & 0o777) == "0o644"


def test_content_that_fails_validation_never_replaces_the_file(tmp_path):
    target = tmp_path / "nginx.conf"
    target.write_text("good\n")
    result = _run("kinstall_files", tmp_path, files=[
        {"path": str(target), "state": "file", "content": "bad\n", "validate": "grep -q good %s"}])
    assert result["failed"] and "fails `grep -q good %s`, so the old file stays" in result["msg"]
    assert target.read_text() == "good\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".kinstall-")]  # no temporary file left


def test_a_missing_owner_or_source_is_named(tmp_path):
    result = _run("kinstall_files", tmp_path, files=[
        {"path": str(tmp_path / "d"), "state": "directory", "owner": "no-such-user-here"}])
    assert result["failed"] and "user no-such-user-here does not exist on this host" in result["msg"]
    result = _run("kinstall_files", tmp_path, files=[
        {"path": str(tmp_path / "runc"), "state": "copy", "src": str(tmp_path / "nowhere")}])
    assert result["failed"] and f"the source {tmp_path / 'nowhere'} does not exist" in result["msg"]


def test_verify_reports_or_fails_on_every_file_that_differs(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    files = [{"component": "etcd", "version": "3.4.23", "mirror_path": "a",
              "sha256": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"},
             {"component": "runc", "version": "1.1.5", "mirror_path": "b", "sha256": "0" * 64}]
    reported = _run("kinstall_verify", tmp_path, directory=str(tmp_path), files=files, fail=False)
    assert reported["differ"] == ["b"] and reported["verified"] == 1 and not reported.get("failed")
    failed = _run("kinstall_verify", tmp_path, directory=str(tmp_path), files=files)
    assert failed["failed"] and f"runc 1.1.5: {tmp_path / 'b'} is missing" in failed["msg"]


def test_verify_records_what_kinstall_sent_once_over_every_run(tmp_path):
    """The release directory's list (.kinstall-files) is what reset removes and nothing else: it
    grows with each new file over runs (an upgrade's too), and a run sending nothing new changes it not."""
    import hashlib

    directory = tmp_path / "releases"
    (directory / "a").mkdir(parents=True)
    (directory / "a" / "one.tar.gz").write_bytes(b"one")
    files = [{"component": "one", "version": "1", "mirror_path": "a/one.tar.gz",
              "sha256": hashlib.sha256(b"one").hexdigest()}]
    checked = _run("kinstall_verify", tmp_path, check_mode=True, directory=str(directory), files=files, record=True)
    assert checked["changed"] and not (directory / ".kinstall-files").exists()
    first = _run("kinstall_verify", tmp_path, directory=str(directory), files=files, record=True)
    assert first["changed"] and (directory / ".kinstall-files").read_text() == "a/one.tar.gz\n"
    assert not _run("kinstall_verify", tmp_path, directory=str(directory), files=files, record=True)["changed"]
    newer = [{**files[0], "version": "2", "mirror_path": "b/two.tar.gz"}]
    assert _run("kinstall_verify", tmp_path, directory=str(directory), files=newer, record=True, fail=False)["changed"]
    assert (directory / ".kinstall-files").read_text() == "a/one.tar.gz\nb/two.tar.gz\n"
    assert not _run("kinstall_verify", tmp_path, directory=str(directory), files=files)["changed"]
