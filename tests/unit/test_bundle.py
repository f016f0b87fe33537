"""`kinstall bundle` fills a directory from a files repository, checking every file's sha256."""

import hashlib

from click.testing import CliRunner

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
