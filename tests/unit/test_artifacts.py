import json

from click.testing import CliRunner

from installer import artifacts, releases
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
                                     "crictl", "calicoctl"}


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
    assert {a["arch"] for a in body} == {"amd64"} and len(body) == 9
    assert CliRunner().invoke(cli, ["artifacts", "/nonexistent"]).exit_code == 2


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
