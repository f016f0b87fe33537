"""The lab's files repository: Debian versions read as upstream ones, packing that gives the same
bytes every time (the sums in lab inventories stay valid), an OCI archive ctr can import."""

import json
import tarfile

import pytest

from installer.lab import files_repo


@pytest.mark.parametrize("debian, upstream", [
    ("1.6.20~ds1-1+deb12u3", "1.6.20"), ("3.4.23-4+b4", "3.4.23"), ("1.1.5+ds1-1+deb12u1", "1.1.5"),
    ("1:2.1.9~ds1-1", "2.1.9")])
def test_upstream_version_of_a_debian_version(debian, upstream):
    assert files_repo.upstream_version(debian) == upstream


def test_packing_is_reproducible():
    members = {"bin/ctr": b"x" * 100, "bin/containerd": b"y"}
    assert files_repo._pack_tar(members) == files_repo._pack_tar(dict(reversed(members.items())))


def test_the_test_image_is_an_oci_archive_naming_its_image(tmp_path):
    files_repo._busybox_image(b"\x7fELF busybox", tmp_path / "busybox.tar")
    archive = tarfile.open(tmp_path / "busybox.tar")
    index = json.loads(archive.extractfile("index.json").read())
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == files_repo.TEST_IMAGE


def test_inventory_vars_declare_each_version_with_its_sum():
    found = {"dir": "/r", "components": {"runc": {"version": "1.1.5", "sha256": "a" * 64}}}
    values = files_repo.inventory_vars(found)
    assert values["runc_version"] == "1.1.5" and values["runc_checksums"] == {"amd64": {"1.1.5": "a" * 64}}
    assert values["download_source"] == "bundle" and values["crictl_enabled"] is False


def test_inventory_vars_declare_the_newer_release_beside_the_installed_one():
    found = {"dir": "/r", "components": {"etcd": {"version": "3.4.23", "sha256": "a" * 64}},
             "newer": {"etcd": {"version": "3.5.30", "sha256": "b" * 64}}}
    values = files_repo.inventory_vars(found)
    assert values["etcd_version"] == "3.4.23"
    assert values["etcd_binary_checksums"] == {"amd64": {"3.4.23": "a" * 64, "3.5.30": "b" * 64}}
