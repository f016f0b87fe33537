"""The lab's Kubernetes build, the parts that need no network: its recipe names its cache, a
machine with too little disk is refused before anything is fetched, a cache from another recipe
is refused naming it. (The build itself, and its failures that need Debian's archive, are tested
in tests/integration/test_lab_kubernetes.py.)"""

import shutil

import pytest

from installer.lab import kubernetes
from installer.lab.podman import LabError


@pytest.fixture()
def build_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _nothing_half_written(cache):
    left = sorted(p.name for p in cache.glob("lab-kubernetes-*") if not p.name.endswith(".build.log"))
    assert left == [], left


def test_the_recipe_names_the_cache_and_the_version_goes_into_the_binaries(build_cache, monkeypatch):
    first = kubernetes.directory()
    assert first.parent == build_cache and first.name.startswith("lab-kubernetes-")
    assert "-X k8s.io/component-base/version.gitVersion=v1.20.2" in kubernetes._ldflags()
    monkeypatch.setattr(kubernetes, "PAUSE_VERSION", "3.3")
    assert kubernetes.directory() != first


def test_too_little_disk_is_refused_before_anything_is_fetched(build_cache, monkeypatch):
    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100 << 30, 99 << 30, 1 << 30))
    with pytest.raises(LabError, match=r"too little disk to build the lab's Kubernetes: 1.0 GB free .* needs 4 GB"):
        kubernetes.manifest()
    _nothing_half_written(build_cache)


def test_a_cache_from_another_recipe_is_refused_naming_the_directory(build_cache):
    stale = kubernetes.directory()
    stale.mkdir(parents=True)
    (stale / kubernetes.MANIFEST).write_text('{"recipe": {"version": 0}}')
    with pytest.raises(LabError, match=rf"{stale} holds a build from another recipe .*\(rm -rf {stale}\)"):
        kubernetes.manifest()


def test_two_kinstalls_at_once_build_it_once(build_cache, monkeypatch):
    """A build clears its .partial directory first: a second `lab up` started meanwhile (two CI
    jobs on a fresh machine) must wait for the first and use its build, not destroy it."""
    import json
    import threading
    import time

    builds = []
    started = threading.Event()

    def build(root, report):
        builds.append(root)
        started.set()
        time.sleep(0.5)
        root.mkdir(parents=True)
        (root / kubernetes.MANIFEST).write_text(json.dumps({"recipe": kubernetes.recipe()}))

    monkeypatch.setattr(kubernetes, "build", build)
    said = []
    found = []
    first = threading.Thread(target=lambda: found.append(kubernetes.manifest()))
    first.start()
    started.wait(5)
    found.append(kubernetes.manifest(report=said.append))
    first.join()
    assert len(builds) == 1
    assert found == [{"recipe": kubernetes.recipe()}] * 2
    assert said == ["another kinstall is building the lab's Kubernetes; waiting for it to finish"]
