import json
import re

import pytest
from click.testing import CliRunner

from installer import artifacts, images, releases
from installer.cli import cli
from installer.inventory.validate import validate
from tests.paths import FIXTURES, SAMPLES


def _cluster(sample):
    return validate(SAMPLES / sample).cluster


def test_every_binary_of_the_release_with_its_checksum_and_mirror_path():
    cluster = _cluster("ha-calico")
    found = {(a.component, a.arch): a for a in artifacts.for_cluster(cluster)}
    kubeadm = found["kubeadm", "amd64"]
    assert kubeadm.url == "https://dl.k8s.io/release/v1.35.8/bin/linux/amd64/kubeadm"
    assert kubeadm.sha256 == releases.component_checksum("kubeadm", "amd64", "1.35.8")
    assert kubeadm.mirror_path == "dl.k8s.io/release/v1.35.8/bin/linux/amd64/kubeadm"
    etcd = found["etcd", "arm64"]
    assert etcd.version == cluster.components["etcd"] and etcd.stage == "etcd"
    assert etcd.mirror_path.startswith("github.com/etcd-io/etcd/releases/download/")
    assert {c for c, _ in found} == {"kubeadm", "kubelet", "kubectl", "etcd", "containerd", "runc", "cni-plugins",
                                     "crictl", "calicoctl", "calico-crds"}


def test_a_file_without_a_known_checksum_is_shown_as_such():
    calicoctl = [a for a in artifacts.for_cluster(_cluster("ha-calico"), ["amd64"]) if a.component == "calicoctl"]
    assert calicoctl[0].version == "3.32.1" and calicoctl[0].sha256 is None
    assert "UNKNOWN (no published sha256 known: kinstall will not fetch it)" in artifacts.render(calicoctl)


def test_legacy_plugins_have_no_tools_to_fetch():
    assert "calicoctl" not in {a.component for a in artifacts.for_cluster(_cluster("romana-legacy"))}


def test_artifacts_command():
    result = CliRunner().invoke(cli, ["artifacts", str(SAMPLES / "all-in-one"), "--arch", "amd64", "--format", "json"])
    assert result.exit_code == 0
    body = json.loads(result.output)
    files = [a for a in body if a["kind"] == "file"]
    assert {a["arch"] for a in files} == {"amd64"} and len(files) == 10
    images = {a["name"]: a["reference"] for a in body if a["kind"] == "image"}
    assert images == {"calico-node": "quay.io/calico/node:v3.32.1", "calico-cni": "quay.io/calico/cni:v3.32.1",
                      "calico-kube-controllers": "quay.io/calico/kube-controllers:v3.32.1",
                      "coredns": "registry.k8s.io/coredns/coredns:v1.13.1",
                      "dns-autoscaler": "registry.k8s.io/cpa/cluster-proportional-autoscaler:v1.8.8",
                      "nodelocaldns": "registry.k8s.io/dns/k8s-dns-node-cache:1.25.0"}
    assert CliRunner().invoke(cli, ["artifacts", "/nonexistent"]).exit_code == 2


@pytest.mark.parametrize("sample", ["ha-calico", "romana-legacy", "opencontrail-legacy"])
def test_every_image_of_the_plugin_and_addons_is_pinned_and_a_mirror_rewrites_it(sample):
    cluster = _cluster(sample)
    plugin_images = [i for i in images.for_cluster(cluster) if i["stage"] == "network"]
    assert {i["name"] for i in plugin_images} >= {i.name for i in cluster.plugin.images if not i.enabled_by}
    assert all(re.fullmatch(r"[a-z0-9.]+/[a-z0-9./-]+:[A-Za-z0-9_][A-Za-z0-9_.-]*", i["reference"]) for i in plugin_images)
    cluster.settings.update(kube_image_repo="mirror.example.net:5000/k8s", quay_image_repo="mirror.example.net:5000",
                            docker_image_repo="mirror.example.net:5000/hub")
    rewritten = images.for_cluster(cluster)
    assert all(i["reference"].startswith("mirror.example.net:5000/") for i in rewritten)
    assert [i["reference"].split("/", 1)[1] for i in rewritten if i["registry_setting"] == "quay_image_repo"] == \
        [i["upstream"].split("/", 1)[1] for i in rewritten if i["registry_setting"] == "quay_image_repo"]
    assert images.references(cluster)["coredns"].startswith("mirror.example.net:5000/k8s/coredns")


def test_optional_images_follow_their_settings():
    cluster = _cluster("ha-calico")
    assert "calico-typha" not in images.references(cluster)
    cluster.settings.update(typha_enabled=True, metrics_server_enabled=True, dns_mode="none",
                            nfs_storage_classes={"nfs": {"server": "10.0.0.9", "path": "/export"}})
    found = images.references(cluster)
    assert {"calico-typha", "metrics-server", "nfs-provisioner"} <= set(found) and "coredns" not in found
    assert "cephcsi" not in found


def test_inventory_checksums_and_the_download_source(tmp_path):
    cluster = validate(FIXTURES / "valid-declared-checksums" / "hosts.yaml").cluster
    etcd = next(a for a in artifacts.for_cluster(cluster, ["amd64"]) if a.component == "etcd")
    assert etcd.version == "3.4.23"
    assert etcd.sha256 == "0f2d6fbd35bbb8ba4d0e1eb2e93e0daa3d4ee1bec23a80d1c1ab5a6f8cba4c77"
    assert etcd.source == str((FIXTURES / "valid-declared-checksums" / "bundle" / etcd.mirror_path).resolve())
    assert etcd.hosts == "etcd"
    cluster.settings.update(download_source=None, files_repo="http://files.example.net/k8s/")
    etcd = next(a for a in artifacts.for_cluster(cluster, ["amd64"]) if a.component == "etcd")
    assert etcd.source == "http://files.example.net/k8s/" + etcd.mirror_path  # files_repo alone means mirror
