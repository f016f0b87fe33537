"""The node image's build: one at a time, and what a build cut short leaves (debootstrap's
mounts in its root file system) undone by the next, never deleting across a mount point."""

import os
import subprocess
import sys
import time

import pytest

from installer.lab import image
from installer.lab.podman import LabError

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mounting needs root")


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    return tmp_path / "cache"


def _mount(kind: str, target):
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", kind, kind, str(target)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount {kind} here: {done.stderr.strip()}")


@needs_root
def test_a_build_killed_with_proc_mounted_is_cleaned_up_by_the_next(cache):
    stale = cache / "build-abc123" / "rootfs"
    _mount("proc", stale / "proc")  # what debootstrap leaves when it is killed mid-way
    try:
        assert image._mounts_below(cache)
        image.clean_stale_builds()
        assert not image._mounts_below(cache) and not (cache / "build-abc123").exists()
    finally:
        subprocess.run(["umount", "--lazy", str(stale / "proc")], capture_output=True)


@needs_root
def test_removing_a_build_directory_never_crosses_a_mount_point(cache):
    build = cache / "build-def456"
    _mount("tmpfs", build / "rootfs" / "dev")
    (build / "rootfs" / "dev" / "precious").write_text("not the build's")
    try:
        with pytest.raises(LabError, match="another file system mounted inside a build directory"):
            image.remove_tree(build)
        assert (build / "rootfs" / "dev" / "precious").read_text() == "not the build's"
    finally:
        subprocess.run(["umount", "--lazy", str(build / "rootfs" / "dev")], capture_output=True)


def _hold_lock(cache, seconds: float) -> subprocess.Popen:
    """Another process holding the build lock (as a running build does) for a while."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, time\n"
        f"h = open({str(cache / 'node-image.lock')!r}, 'a+')\n"
        f"fcntl.flock(h, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep({seconds})\n")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_build_waits_for_the_first_and_says_so(cache):
    holder = _hold_lock(cache, 1.5)
    said, started = [], time.monotonic()
    with image.build_lock(said.append):
        waited = time.monotonic() - started
    holder.wait(timeout=10)
    assert said == ["another kinstall is building the node image; waiting for it to finish"]
    assert waited >= 1.0


def test_a_build_killed_with_sigkill_does_not_block_the_next(cache):
    holder = _hold_lock(cache, 60)
    holder.kill()
    holder.wait(timeout=10)
    said = []
    with image.build_lock(said.append):
        pass
    assert said == []
