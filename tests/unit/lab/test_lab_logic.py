"""Lab logic that needs no podman: names, layouts, room on the host, the files a lab writes."""

import stat

import pytest
from click.testing import CliRunner

from installer import bundle as bundles
from installer import components
from installer.cli import cli
from installer.errors import EnvironmentProblem, UsageError
from installer.inventory.validate import validate
from installer.lab import bundle, image, nodes, prereqs


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("KINSTALL_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture
def built_bundle(tmp_path, monkeypatch):
    """What the lab's bundle reports once built (building it takes minutes and the network),
    with an empty directory standing in for its files."""
    directory = tmp_path / "bundle"
    directory.mkdir()
    repository = {c: {"version": v, "sha256": f"{i:x}" * 64} for i, (c, v) in enumerate(
                  {"containerd": "1.6.20", "runc": "1.1.5", "cni-plugins": "1.1.1", "etcd": "3.4.23"}.items())}
    kube = {components.artifact(c, "1.20.2", "amd64").mirror_path: d * 64 for c, d in
            (("kubeadm", "a"), ("kubelet", "b"), ("kubectl", "c"))}
    # its manifest, as the real one, lists images: the inventory has to pin it
    bundles.write_manifest(directory, kube, [{"name": "k8s.gcr.io/pause:3.2", "path": "images/pause.tar",
                                              "sha256": "d" * 64}])
    monkeypatch.setattr(bundle.files_repo, "manifest", lambda: {"dir": "/nowhere", "components": repository})
    monkeypatch.setattr(nodes.bundle, "ensure", lambda report=None: {"dir": str(directory), "files": kube})
    return directory


def _lab(count, control=1, etcd=None):
    lab = nodes.Lab(name="t", subnet="172.30.50.0/24", network="kinstall-t", image="img")
    lab.nodes = [nodes.Node(f"node{i}", f"172.30.50.{10 + i}", f"t-node{i}") for i in range(1, count + 1)]
    lab.control_planes, lab.etcd = nodes._layout(count, control, etcd)
    return lab


@pytest.mark.parametrize("name", ["Lab", "1lab", "lab_x", "a" * 21, ""])
def test_bad_lab_names_are_refused(name):
    with pytest.raises(UsageError, match="is not valid"):
        nodes._check_name(name)


@pytest.mark.parametrize("count, control, etcd, expected", [(3, None, None, (1, 3)), (1, None, None, (1, 1)),
                                                            (2, None, None, (1, 1)), (5, 2, 5, (2, 5))])
def test_layouts(count, control, etcd, expected):
    assert nodes._layout(count, control, etcd) == expected


@pytest.mark.parametrize("count, control, etcd, message", [
    (3, 4, None, "--control-planes must be 1 to 3"), (3, None, 2, "--etcd must be an odd number from 1 to 3")])
def test_impossible_layouts_are_refused(count, control, etcd, message):
    with pytest.raises(UsageError, match=message):
        nodes._layout(count, control, etcd)


def test_a_lab_too_big_for_the_memory_is_refused(monkeypatch):
    monkeypatch.setattr(nodes, "_available_memory_mb", lambda: 4000)
    with pytest.raises(UsageError) as caught:
        nodes._check_room(6)
    assert caught.value.message == ("a lab of 6 nodes needs about 4608 MB of memory and this machine has 4000 MB "
                                    "available; use at most 4 nodes")
    nodes._check_room(4)


@pytest.mark.parametrize("count, groups", [
    (3, {"kube_control_plane": ["node1"], "etcd": ["node1", "node2", "node3"], "kube_node": ["node2", "node3"]}),
    (1, {"kube_control_plane": ["node1"], "etcd": ["node1"], "kube_node": ["node1"]}),
])
def test_written_inventory_has_the_layout_and_validates(home, built_bundle, count, groups):
    lab = _lab(count)
    lab.directory.mkdir(parents=True)
    path = nodes.write_inventory(lab, home / "copy.yml")
    result = validate(path)
    assert result.report.ok, result.report.as_text()
    for group, hosts in groups.items():
        assert result.cluster.groups[group] == hosts
    assert (home / "copy.yml").read_text() == path.read_text()
    assert "StrictHostKeyChecking=yes" in path.read_text()
    settings = result.cluster.settings
    assert (settings["kube_version"], settings["kube_network_plugin"]) == ("1.20.2", "bridge")
    assert settings["download_bundle_dir"] == str(built_bundle)
    assert settings["download_bundle_sha256"] == bundles.manifest_sha256(built_bundle)
    assert settings["kubeadm_checksums"] == {"amd64": {"1.20.2": "a" * 64}}


def test_ssh_command_uses_the_labs_config(home):
    lab = _lab(3)
    assert nodes.ssh_command(lab, "node2", "uptime") == ["ssh", "-F", str(lab.ssh_config), "node2", "uptime"]
    with pytest.raises(UsageError, match="lab t has no node 'node9'; its nodes: node1, node2, node3"):
        nodes.ssh_command(lab, "node9")


def test_keys_are_private(home):
    key = home / "id_ed25519"
    nodes._keygen(key, "test")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_missing_prerequisites_are_named_with_their_fix(monkeypatch):
    monkeypatch.setattr(prereqs.shutil, "which", lambda cmd: None if cmd == "debootstrap" else f"/usr/bin/{cmd}")
    monkeypatch.setattr(prereqs, "_drop_in_ok", lambda: True)
    monkeypatch.setattr(prereqs.os, "geteuid", lambda: 0)
    with pytest.raises(EnvironmentProblem) as caught:
        prereqs.require()
    assert "- debootstrap: not found; fix: apt-get install debootstrap" in caught.value.message
    result = CliRunner().invoke(cli, ["lab", "doctor"])
    assert result.exit_code == 7
    assert "MISSING debootstrap: not found" in result.output


def test_image_tag_follows_the_recipe(monkeypatch):
    first = image.tag()
    monkeypatch.setattr(image, "PACKAGES", image.PACKAGES + ("curl",))
    assert image.tag() != first and image.tag().startswith("localhost/kinstall-node:")


def test_a_lab_with_nodes_but_no_state_here_says_why(home, monkeypatch):
    monkeypatch.setattr(nodes, "names", lambda: ["dev"])
    with pytest.raises(UsageError, match="lab dev has nodes but no state in .*; is KINSTALL_HOME set differently"):
        nodes.load("dev")
    with pytest.raises(UsageError, match="there is no lab named 'other'; labs here: dev"):
        nodes.load("other")


def test_node_memory_caps_are_checked(monkeypatch):
    monkeypatch.setattr(nodes, "_available_memory_mb", lambda: 4000)
    nodes._check_room(3, node_memory_mb=1024)  # 3 GB of 4: fits
    with pytest.raises(UsageError, match="--node-memory must be at least 256 MB"):
        nodes._check_room(1, node_memory_mb=128)
    with pytest.raises(UsageError, match="use at most 3 nodes"):
        nodes._check_room(4, node_memory_mb=1024)


def test_down_finds_the_state_of_clusters_installed_from_the_labs_inventory(home):
    import json as jsonlib

    lab_dir = home / "labs" / "t"
    for name, inventory in (("mine", lab_dir / "inventory.yml"), ("other", home / "elsewhere" / "hosts.yaml")):
        run = home / "clusters" / name / "runs" / "r1"
        run.mkdir(parents=True)
        (run / "record.json").write_text(jsonlib.dumps({"inputs": {"inventory": str(inventory)}}))
    assert nodes.cluster_states_of(lab_dir) == [home / "clusters" / "mine"]
