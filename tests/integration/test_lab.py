"""The lab for real: SSH with host keys checked, Ansible through ansible-runner, host safety,
reuse, and bad input leaving nothing behind."""

import os
import subprocess
import sys
import time
from pathlib import Path

import ansible_runner
import pytest
from click.testing import CliRunner

from installer import paths
from installer.cli import cli
from installer.lab import image, podman
from installer.lab import nodes as labs
from tests.paths import ROOT

pytestmark = pytest.mark.lab

# Keys that are not namespaced: a write inside a privileged node would reach the host.
HOST_KEYS = ("kernel.panic", "kernel.panic_on_oops", "vm.overcommit_memory", "vm.panic_on_oom", "vm.swappiness",
             "fs.protected_regular", "kernel.keys.root_maxkeys")


def _host_values():
    return {key: Path("/proc/sys", *key.split(".")).read_text().strip() for key in HOST_KEYS}


def _ssh(lab, node, *command, **kw):
    return subprocess.run(labs.ssh_command(lab, node, *command), capture_output=True, text=True, timeout=60, **kw)


def test_every_node_answers_ssh_with_its_own_identity(lab):
    ids = set()
    for node in lab.nodes:
        result = _ssh(lab, node.name, "hostname; cat /etc/machine-id; systemctl is-system-running")
        hostname, machine_id, state = result.stdout.split()
        assert (hostname, state) == (node.name, "running"), result.stderr
        ids.add(machine_id)
    assert len(ids) == len(lab.nodes)
    host_keys = {line.split()[2] for line in lab.known_hosts.read_text().splitlines()}
    assert len(host_keys) == len(lab.nodes)  # each node its own host key


def test_host_key_checking_is_on(lab, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    node = lab.nodes[0]
    result = subprocess.run(["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o",
                             f"UserKnownHostsFile={empty}", "-o", "IdentitiesOnly=yes", "-i", str(lab.key),
                             f"root@{node.ip}", "true"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 255
    assert "Host key verification failed" in result.stderr


def test_ansible_ping_through_ansible_runner(lab, tmp_path):
    run = ansible_runner.run(private_data_dir=str(tmp_path), inventory=str(lab.inventory), host_pattern="all",
                             module="ping", quiet=True)
    assert (run.status, run.rc) == ("successful", 0)
    assert sorted(run.stats["ok"]) == [n.name for n in lab.nodes]
    assert not run.stats["dark"] and not run.stats["failures"]


def test_lab_inventory_validates(lab):
    result = CliRunner().invoke(cli, ["validate", str(lab.inventory)])
    assert result.exit_code == 0, result.output
    assert "3 hosts" in result.output


def test_kernel_settings_written_in_a_node_never_reach_the_host(lab):
    before = _host_values()
    syn_retries = Path("/proc/sys/net/ipv4/tcp_syn_retries")
    host_retries = syn_retries.read_text().strip()
    node_retries = "3" if host_retries != "3" else "4"
    for node in lab.nodes:
        script = "; ".join([*(f"sysctl -w {key}=7" for key in HOST_KEYS),
                            f"sysctl -w net.ipv4.tcp_syn_retries={node_retries}"])
        _ssh(lab, node.name, script)
        # net.* belongs to the node's own network namespace: the write holds there
        assert _ssh(lab, node.name, "sysctl -n net.ipv4.tcp_syn_retries").stdout.strip() == node_retries
    assert _host_values() == before
    assert syn_retries.read_text().strip() == host_retries


def test_kubelet_tunables_are_node_local_files(lab):
    script = ("for k in kernel/panic kernel/panic_on_oops vm/overcommit_memory vm/panic_on_oom "
              "kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do findmnt -n -o SOURCE /proc/sys/$k; done")
    sources = _ssh(lab, lab.nodes[0].name, script).stdout.split()
    assert len(sources) == 6 and all("kinstall-sysctl" in source for source in sources), sources
    assert _ssh(lab, lab.nodes[0].name, "sysctl -n kernel.keys.root_maxbytes").stdout.strip() == "25000000"


def _systemd_cgroup(pid_file: Path) -> str:
    return next(line.split(":", 2)[2] for line in pid_file.read_text().splitlines() if ":name=systemd:" in line)


def test_each_nodes_cgroups_stay_in_its_own_subtree_and_the_hosts_root_gains_nothing(lab):
    """name=systemd (cgroup v1, hybrid hosts): the node's systemd, sshd and containerd live in the
    node's own cgroup; nothing of theirs appears at the host's root of the hierarchy."""
    root = Path("/sys/fs/cgroup/systemd")
    if not root.is_dir():
        pytest.skip("no cgroup v1 name=systemd hierarchy on this host")
    for node in lab.nodes:
        inside = _ssh(lab, node.name, "grep :name=systemd: /proc/1/cgroup /proc/$(pidof -s sshd)/cgroup").stdout
        assert "/.." not in inside and "name=systemd:/init.scope" in inside, inside
        pid = podman.run("inspect", "--format", "{{.State.Pid}}", node.container).strip()
        # The node's systemd (its PID 1) sits in init.scope of the node's own cgroup.
        own = _systemd_cgroup(Path(f"/proc/{pid}/cgroup")).removesuffix("/init.scope")
        assert own not in ("", "/"), own
        assert (root / own.lstrip("/") / "system.slice" / "ssh.service").is_dir()
    before = {p.name for p in root.iterdir()}
    other = labs.up("kinstall-other", nodes=1)
    try:
        assert _ssh(other.lab, other.lab.nodes[0].name, "systemctl is-system-running --wait").stdout.strip() \
            in ("running", "degraded")
        assert {p.name for p in root.iterdir()} == before
    finally:
        labs.down("kinstall-other")
    # Another lab gone, this one's nodes keep their cgroups: podman can still run a process in each.
    for node in lab.nodes:
        podman.run("exec", node.container, "true")  # raises LabError when podman cannot
        assert _ssh(lab, node.name, "systemctl is-active ssh").stdout.strip() == "active"


def test_up_again_reuses_the_lab(lab):
    again = labs.up(lab.name, nodes=len(lab.nodes))
    assert again.created == [] and again.image_seconds == 0.0
    assert [n.ip for n in again.lab.nodes] == [n.ip for n in lab.nodes]


def test_a_stopped_node_is_started_by_up(lab):
    podman.run("stop", "-t", "2", lab.nodes[-1].container)
    again = labs.up(lab.name, nodes=len(lab.nodes))
    assert again.created == []
    assert _ssh(lab, lab.nodes[-1].name, "true").returncode == 0


def test_unknown_lab_name_is_a_usage_error():
    for args in (["lab", "down", "nosuchlab"], ["lab", "status", "nosuchlab"], ["lab", "ssh", "nosuchlab", "node1"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, args
        assert "there is no lab named 'nosuchlab'" in result.output


def _leftovers(name):
    return (podman.labelled("container", name), podman.labelled("network", name), podman.labelled("volume", name),
            (labs.paths.labs() / name).exists())


def test_a_foreign_container_with_a_nodes_name_is_refused_and_nothing_is_built(lab):
    podman.run("create", "--name", "clash-node2", lab.image, "true")
    try:
        result = CliRunner().invoke(cli, ["lab", "up", "--name", "clash"])
        assert result.exit_code == 7
        assert "a container named clash-node2 exists and does not belong to lab clash" in result.output
        assert _leftovers("clash") == ([], [], [], False)
        assert not podman.exists("network", "kinstall-clash")
    finally:
        podman.run("rm", "-f", "clash-node2")


def test_a_foreign_network_with_the_labs_name_is_refused(lab):
    podman.run("network", "create", "kinstall-clash2")
    try:
        result = CliRunner().invoke(cli, ["lab", "up", "--name", "clash2"])
        assert result.exit_code == 7
        assert "a podman network named kinstall-clash2 exists and does not belong to lab clash2" in result.output
        assert _leftovers("clash2") == ([], [], [], False)
    finally:
        podman.run("network", "rm", "kinstall-clash2")


def test_a_failed_boot_removes_what_it_created(lab, monkeypatch):
    def no_answer(lab_, nodes):
        raise labs.LabError("simulated: no SSH answer")

    monkeypatch.setattr(labs, "_wait_for_ssh", no_answer)
    result = CliRunner().invoke(cli, ["lab", "up", "--name", "halfway", "--nodes", "1"])
    assert result.exit_code == 7 and "simulated: no SSH answer" in result.output
    assert _leftovers("halfway") == ([], [], [], False)


def test_a_lab_too_big_for_the_host_is_refused():
    result = CliRunner().invoke(cli, ["lab", "up", "--name", "huge", "--nodes", "31"])
    assert result.exit_code == 2 and "--nodes must be 1 to 30, not 31" in result.output
    assert _leftovers("huge") == ([], [], [], False)


# A node image of a recipe of its own (RECIPE_VERSION changed in that process only): built for
# real with debootstrap beside the lab's image, which the other tests keep using.
BUILD_AND_UP = """
import sys
from installer.lab import image, nodes
image.RECIPE_VERSION = sys.argv[1]
nodes.up(sys.argv[2], nodes=1, report=lambda message: print(message, flush=True))
"""


def _build_and_up(version, name):
    return subprocess.Popen([sys.executable, "-c", BUILD_AND_UP, version, name], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, cwd=ROOT)


def _tag_of(version):
    kept = image.RECIPE_VERSION
    image.RECIPE_VERSION = version
    try:
        return image.tag()
    finally:
        image.RECIPE_VERSION = kept


def _forget(version, *names):
    for name in names:
        if name in labs.names():
            labs.down(name)
    if podman.exists("image", image.tag()):  # a build moves :latest to its image: back to the lab's
        podman.run("tag", image.tag(), f"{image.REPOSITORY}:latest")
    podman.run("rmi", "-f", _tag_of(version), check=False)


def _builds_left():
    cache = str(paths.cache().resolve())
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
              if line.split()[4].startswith(cache + "/")]
    return list(paths.cache().glob("build-*")), mounts


def test_a_build_killed_with_sigkill_is_recovered_and_two_labs_then_building_at_once_share_one_build():
    """kill -9 of kinstall while debootstrap has /proc mounted in the new root: whatever of the
    build is left running keeps the build lock until it ends. Two `lab up` started at once then
    both come up: one undoes the killed build's mounts, removes its directory and builds, the other
    waits for it and builds nothing (one image build serves both questions)."""
    version = f"killed-{os.getpid()}"
    try:
        killed = _build_and_up(version, "kinstall-c3")
        deadline = time.monotonic() + 600
        while not any(point.endswith("/rootfs/proc") for point in _builds_left()[1]):
            assert time.monotonic() < deadline and killed.poll() is None, "debootstrap never mounted /proc"
            time.sleep(0.2)
        killed.kill()
        killed.communicate(timeout=60)
        runs = [_build_and_up(version, "kinstall-c1"), _build_and_up(version, "kinstall-c2")]
        said = [run.communicate(timeout=1200)[0] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], said
        built = [text for text in said if "with debootstrap" in text]
        assert len(built) == 1, said  # one build
        waited = [text for text in said if text not in built]
        assert "another kinstall is building the node image; waiting" in waited[0], said
        for name in ("kinstall-c1", "kinstall-c2"):
            lab = labs.load(name)
            assert _ssh(lab, "node1", "systemctl is-system-running --wait").stdout.strip() in ("running", "degraded")
        assert _builds_left() == ([], [])
    finally:
        _forget(version, "kinstall-c1", "kinstall-c2", "kinstall-c3")
