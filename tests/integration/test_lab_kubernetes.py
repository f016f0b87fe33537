"""The lab's real Kubernetes: v1.20.2 built from Debian's source package (the lab fixture builds it
on a fresh machine), shipped in the lab's offline bundle: the lab's inventory installs it, the
bundle verifies, bad build inputs end in a clear message and nothing half-written. (Its
kube-apiserver booting on the lab's etcd is in test_node_stages.py, after the node stages ran.)"""

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from installer import bundle as bundles
from installer.cli import cli
from installer.lab import kubernetes
from installer.lab.podman import LabError


def _bundle_dir(run_lab) -> Path:
    return Path(yaml.safe_load(Path(run_lab.inventory).read_text())["all"]["vars"]["download_bundle_dir"])


def test_the_lab_inventory_installs_1_20_2_with_bridge_from_the_bundle(run_lab):
    settings = yaml.safe_load(Path(run_lab.inventory).read_text())["all"]["vars"]
    assert settings["kube_version"] == "1.20.2" and settings["kube_network_plugin"] == "bridge"
    assert settings["download_source"] == "bundle"
    result = CliRunner().invoke(cli, ["validate", run_lab.inventory])
    assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["artifacts", run_lab.inventory, "--arch", "amd64"])
    assert listed.exit_code == 0 and "dl.k8s.io/release/v1.20.2/bin/linux/amd64/kubeadm" in listed.output
    assert "image        k8s.gcr.io/kube-apiserver:v1.20.2  (kube_control_plane)" in listed.output


def test_every_file_of_the_bundle_verifies_and_a_corrupted_one_is_refused_by_name(run_lab, tmp_path):
    bundle = _bundle_dir(run_lab)
    manifest = bundles.read_manifest(bundle)
    names = {image["name"] for image in manifest["images"]}
    assert names == {"k8s.gcr.io/kube-apiserver:v1.20.2", "k8s.gcr.io/kube-controller-manager:v1.20.2",
                     "k8s.gcr.io/kube-scheduler:v1.20.2", "k8s.gcr.io/kube-proxy:v1.20.2", "k8s.gcr.io/pause:3.2",
                     # the lab's own busybox, which kinstall verify's pods run (the lab's verify_image)
                     "localhost/kinstall-busybox:lab"}
    assert "k8s.gcr.io/coredns:1.7.0" in manifest["not_included"]  # said, not silently missing
    for command in kubernetes.COMMANDS:
        assert f"dl.k8s.io/release/v1.20.2/bin/linux/amd64/{command}" in manifest["files"]
    intact = CliRunner().invoke(cli, ["bundle", "--check", str(bundle)])
    assert intact.exit_code == 0 and f"all {len(manifest['files'])} files match" in intact.output
    # A copy (hard links, so nothing big is written) with one file replaced by a corrupted copy.
    copy = tmp_path / "bundle"
    for name in [*manifest["files"], bundles.MANIFEST]:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        os.link(bundle / name, copy / name)
    victim = "dl.k8s.io/release/v1.20.2/bin/linux/amd64/kubelet"
    data = bytearray((copy / victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (copy / victim).unlink()
    (copy / victim).write_bytes(bytes(data))
    refused = CliRunner().invoke(cli, ["bundle", "--check", str(copy)])
    assert refused.exit_code == 1 and f"{victim}: sha256" in refused.output and "1 file(s)" in refused.output


@pytest.fixture()
def build_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _nothing_half_written(cache: Path):
    left = sorted(p.name for p in cache.glob("lab-kubernetes-*") if not p.name.endswith(".build.log"))
    assert left == [], left


def test_an_unreachable_debian_archive_ends_the_build_with_a_message_and_nothing_half_written(build_cache, monkeypatch):
    monkeypatch.setattr(kubernetes, "MIRROR", "http://127.0.0.1:9/debian")
    with pytest.raises(LabError, match=r"apt-get update against http://127.0.0.1:9/debian failed"):
        kubernetes.manifest()
    _nothing_half_written(build_cache)


def test_a_source_package_or_go_that_debian_no_longer_serves_is_named(build_cache, monkeypatch):
    monkeypatch.setattr(kubernetes, "SOURCE_VERSION", "0.0.0-0")
    with pytest.raises(LabError, match=r"downloading the source package kubernetes=0.0.0-0 from bookworm"):
        kubernetes.manifest()
    monkeypatch.undo()
    monkeypatch.setenv("KINSTALL_CACHE", str(build_cache))
    monkeypatch.setattr(kubernetes, "GO_PACKAGES", ("golang-0.0-go",))
    with pytest.raises(LabError, match=r"downloading Go \(golang-0.0-go\) from bullseye"):
        kubernetes.manifest()
    _nothing_half_written(build_cache)
