"""`kinstall bundle` fills a directory from a files repository, checking every file's sha256."""

import hashlib
import json

import pytest
from click.testing import CliRunner

from installer import bundle as bundles
from installer.cli import cli
from tests.paths import FIXTURES

ETCD_PATH = "github.com/etcd-io/etcd/releases/download/v3.4.23/etcd-v3.4.23-linux-amd64.tar.gz"


def _setup(tmp_path, content=b"an etcd release tarball"):
    mirror = tmp_path / "mirror"
    (mirror / ETCD_PATH).parent.mkdir(parents=True)
    (mirror / ETCD_PATH).write_bytes(content)
    text = (FIXTURES / "valid-declared-checksums" / "hosts.yaml").read_text()
    declared = hashlib.sha256(b"an etcd release tarball").hexdigest()
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(text.replace("0f2d6fbd35bbb8ba4d0e1eb2e93e0daa3d4ee1bec23a80d1c1ab5a6f8cba4c77", declared))
    (tmp_path / "bundle").mkdir()
    return inventory, mirror


def _bundle(inventory, mirror, output):
    return CliRunner().invoke(cli, ["bundle", str(inventory), "--output", str(output), "--from",
                                    f"file://{mirror}", "--stages", "etcd", "--arch", "amd64"])


def test_bundle_holds_the_verified_files_in_the_mirror_layout(tmp_path):
    inventory, mirror = _setup(tmp_path)
    result = _bundle(inventory, mirror, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / ETCD_PATH).read_bytes() == b"an etcd release tarball"
    assert "1 files (1 fetched, 0 already there)" in result.output
    again = _bundle(inventory, mirror, tmp_path / "out")
    assert "1 files (0 fetched, 1 already there)" in again.output


def test_a_corrupt_mirror_file_never_reaches_the_bundle(tmp_path):
    inventory, mirror = _setup(tmp_path, content=b"something else")
    result = _bundle(inventory, mirror, tmp_path / "out")
    assert result.exit_code == 4
    assert "etcd 3.4.23 (amd64): sha256 mismatch for file://" in result.output
    assert not (tmp_path / "out" / ETCD_PATH).exists()
    assert not list((tmp_path / "out").rglob(".part-*"))


def test_bundle_needs_a_source(tmp_path):
    inventory, _ = _setup(tmp_path)
    result = CliRunner().invoke(cli, ["bundle", str(inventory), "--output", str(tmp_path / "out")])
    assert result.exit_code == 2 and "--from URL, or files_repo" in result.output


def _small_bundle(tmp_path):
    directory = tmp_path / "small"
    (directory / "images").mkdir(parents=True)
    (directory / "kubeadm").write_bytes(b"kubeadm")
    (directory / "images" / "pause.oci.tar").write_bytes(b"pause")
    bundles.write_manifest(directory, {"kubeadm": hashlib.sha256(b"kubeadm").hexdigest()},
                           [{"name": "k8s.gcr.io/pause:3.2", "path": "images/pause.oci.tar",
                             "sha256": hashlib.sha256(b"pause").hexdigest()}], {"coredns": "none here"})
    return directory


def test_a_bundle_checks_against_its_manifest_and_names_what_differs(tmp_path):
    directory = _small_bundle(tmp_path)
    assert bundles.check(directory) == []
    ok = CliRunner().invoke(cli, ["bundle", "--check", str(directory)])
    assert ok.exit_code == 0 and "all 2 files match the manifest (1 images)" in ok.output
    (directory / "images" / "pause.oci.tar").write_bytes(b"pausE")
    (directory / "kubeadm").unlink()
    bad = CliRunner().invoke(cli, ["bundle", "--check", str(directory)])
    assert bad.exit_code == 1
    assert "2 file(s) do not match" in bad.output and "kubeadm: missing" in bad.output
    assert "images/pause.oci.tar: sha256 " in bad.output and "(corrupt or replaced)" in bad.output


def test_a_directory_without_a_manifest_is_not_a_bundle(tmp_path):
    result = CliRunner().invoke(cli, ["bundle", "--check", str(tmp_path)])
    assert result.exit_code == 1 and "is not a kinstall bundle: it has no kinstall-bundle.json" in result.output
    (tmp_path / "kinstall-bundle.json").write_text("[]")
    result = CliRunner().invoke(cli, ["bundle", "--check", str(tmp_path)])
    assert result.exit_code == 1 and "is not a kinstall-bundle/1 manifest" in result.output


def _hostile(tmp_path, files=None, images=None, raw=None):
    import json

    directory = tmp_path / "hostile"
    (directory / "images").mkdir(parents=True, exist_ok=True)
    body = raw if raw is not None else {"format": bundles.FORMAT, "files": files or {}, "images": images or []}
    (directory / bundles.MANIFEST).write_text(json.dumps(body))
    return directory


SUM = "a" * 64


@pytest.mark.parametrize("files, images, named", [
    ({"../../../../etc/shadow": SUM}, [], "file '../../../../etc/shadow' is not a plain relative path"),
    ({"/etc/shadow": SUM}, [], "file '/etc/shadow' is not a plain relative path"),
    ({"images/../../x": SUM}, [], "file 'images/../../x' is not a plain relative path"),
    ({"images/a.tar": "not-a-sum"}, [], "file 'images/a.tar' has no sha256"),
    ({"images/a.tar": SUM}, [{"name": "x:1", "path": "../../../../etc/shadow", "sha256": SUM}],
     "image 'x:1' is not a plain relative path"),
    ({"images/a.tar": SUM}, [{"name": "x:1", "path": "images/b.tar", "sha256": SUM}],
     "image 'x:1' needs a name and a path listed among the files"),
])
def test_a_hostile_manifest_is_refused_naming_the_entry(tmp_path, files, images, named):
    directory = _hostile(tmp_path, files, images)
    result = CliRunner().invoke(cli, ["bundle", "--check", str(directory)])
    assert result.exit_code == 1 and named in result.output, result.output
    assert "nothing was read from this bundle" in result.output


def test_a_symlink_out_of_the_bundle_is_refused(tmp_path):
    directory = _hostile(tmp_path, {"images/pause.oci.tar": SUM})
    (directory / "images" / "pause.oci.tar").symlink_to("/etc/passwd")
    result = CliRunner().invoke(cli, ["bundle", "--check", str(directory)])
    assert result.exit_code == 1 and "leads outside the bundle (through a symlink)" in result.output


@pytest.mark.parametrize("raw", [{"format": bundles.FORMAT}, {"format": bundles.FORMAT, "files": {}, "images": {}},
                                 {"format": bundles.FORMAT, "files": [], "images": []}])
def test_a_manifest_without_files_or_images_is_refused_not_a_crash(tmp_path, raw):
    result = CliRunner().invoke(cli, ["bundle", "--check", str(_hostile(tmp_path, raw=raw))])
    assert result.exit_code == 1 and "nothing was read from this bundle" in result.output


def test_which_hosts_get_an_image_is_kinstalls_decision_not_the_manifests():
    from installer import artifacts

    assert artifacts._image_hosts("k8s.gcr.io/kube-apiserver:v1.20.2") == "kube_control_plane"
    assert artifacts._image_hosts("registry.example/anything:1") == "k8s_cluster"


def _inventory_using(tmp_path, directory, pin=None):
    """The fixture's inventory installing from directory, the manifest pinned by pin."""
    text = (FIXTURES / "valid-declared-checksums" / "hosts.yaml").read_text()
    text = text.replace("download_bundle_dir: bundle", f"download_bundle_dir: {directory}"
                        + (f"\n    download_bundle_sha256: {pin}" if pin else ""))
    inventory = tmp_path / "hosts.yaml"
    inventory.write_text(text)
    return inventory


def test_a_bundles_images_are_installed_only_from_the_manifest_the_inventory_pins(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path / "home"))
    # the archive's sum matches its own manifest: that alone vouches for nothing
    directory = _small_bundle(tmp_path)
    unpinned = CliRunner().invoke(cli, ["validate", str(_inventory_using(tmp_path, directory))])
    assert unpinned.exit_code == 1, unpinned.output
    assert "hosts.yaml:6:" in unpinned.output and "$.all.vars.download_bundle_dir" in unpinned.output
    assert "brings 1 container image(s) whose sha256 only its own manifest gives" in unpinned.output
    other = CliRunner().invoke(cli, ["validate", str(_inventory_using(tmp_path, directory, "b" * 64))])
    assert other.exit_code == 1 and "$.all.vars.download_bundle_sha256" in other.output, other.output
    assert "this is not the bundle the inventory trusts" in other.output
    pinned = _inventory_using(tmp_path, directory, bundles.manifest_sha256(directory))
    listed = CliRunner().invoke(cli, ["artifacts", str(pinned), "--format", "json"])
    assert listed.exit_code == 0, listed.output
    assert [i["name"] for i in json.loads(listed.output) if i["kind"] == "bundle-image"] == ["k8s.gcr.io/pause:3.2"]
    # the manifest swapped after the inventory pinned it: refused before any host, not read
    manifest = json.loads((directory / bundles.MANIFEST).read_text())
    manifest["images"][0]["sha256"] = manifest["files"]["images/pause.oci.tar"] = "c" * 64
    (directory / bundles.MANIFEST).write_text(json.dumps(manifest))
    swapped = CliRunner().invoke(cli, ["up", str(pinned), "--yes"])
    assert swapped.exit_code == 1 and "this is not the bundle the inventory trusts" in swapped.output, swapped.output
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("record.json"))


def test_a_pin_with_no_manifest_beside_it_is_refused_at_the_pin(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path / "home"))
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["validate", str(_inventory_using(tmp_path, tmp_path / "empty", "b" * 64))])
    assert result.exit_code == 1 and "$.all.vars.download_bundle_sha256" in result.output, result.output
    assert "has no kinstall-bundle.json" in result.output
