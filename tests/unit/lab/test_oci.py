"""OCI archives made in Python: what ctr reads (layout, index naming the image, every blob there
with the digest it is named by), the same bytes every time, the sha256 reported is the file's."""

import hashlib
import io
import json
import tarfile

from installer.lab import oci


def _image(tmp_path, name="k8s.gcr.io/pause:3.2"):
    files = oci.layer([oci.Entry("pause", b"\x7fELF pause", 0o755), oci.Entry("etc"), oci.Entry("bin/sh", link="busybox")])
    target = tmp_path / "image.tar"
    return target, oci.archive(name, [files], {"Entrypoint": ["/pause"]}, target)


def test_an_archive_names_its_image_and_holds_every_blob_it_lists(tmp_path):
    target, sha256 = _image(tmp_path)
    assert hashlib.sha256(target.read_bytes()).hexdigest() == sha256
    archive = tarfile.open(target)
    names = set(archive.getnames())
    assert json.loads(archive.extractfile("oci-layout").read()) == {"imageLayoutVersion": "1.0.0"}
    (entry,) = json.loads(archive.extractfile("index.json").read())["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "k8s.gcr.io/pause:3.2"
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "3.2"
    for member in names - {"oci-layout", "index.json"}:
        assert hashlib.sha256(archive.extractfile(member).read()).hexdigest() == member.rsplit("/", 1)[1]
    manifest = json.loads(archive.extractfile("blobs/sha256/" + entry["digest"].split(":")[1]).read())
    config = json.loads(archive.extractfile("blobs/sha256/" + manifest["config"]["digest"].split(":")[1]).read())
    assert config["config"] == {"Entrypoint": ["/pause"]} and config["architecture"] == "amd64"
    layer = tarfile.open(fileobj=io.BytesIO(archive.extractfile(
        "blobs/sha256/" + manifest["layers"][0]["digest"].split(":")[1]).read()))
    assert layer.extractfile("pause").read() == b"\x7fELF pause"
    assert layer.getmember("pause").mode == 0o755 and layer.getmember("bin/sh").issym()


def test_the_same_contents_give_the_same_bytes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = _image(tmp_path / "a")[1]
    assert _image(tmp_path / "b")[1] == first


def test_a_directory_tree_becomes_one_layer_with_its_links(tmp_path):
    root = tmp_path / "root"
    (root / "usr" / "sbin").mkdir(parents=True)
    (root / "usr" / "sbin" / "iptables").write_bytes(b"x")
    (root / "sbin").symlink_to("usr/sbin")
    layer = tarfile.open(fileobj=io.BytesIO(oci.layer_from_directory(root)))
    assert layer.getmember("sbin").issym() and layer.getmember("sbin").linkname == "usr/sbin"
    assert layer.extractfile("usr/sbin/iptables").read() == b"x"
