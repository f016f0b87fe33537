"""Integration tests run on a real lab: podman machines with systemd and sshd, reached over SSH
with host key checking on. The lab is built once per session and removed afterwards, unless a
test failed or --keep-lab was given: then it stays, and the run says how to reach it."""

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from installer.lab import nodes as labs
from installer.lab import prereqs

LAB = "kinstall-test"


@pytest.fixture(scope="session", autouse=True)
def venv_commands_first():
    """ansible-runner and Molecule call ansible-playbook & co by name: use this venv's."""
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"


@pytest.fixture(scope="session")
def lab(request):
    prereqs.require()  # fail loudly: `make test` installs everything, so a gap here is a bug
    if LAB in labs.names():
        labs.down(LAB)  # a lab left by an earlier, interrupted run: start from nothing
    result = labs.up(LAB, nodes=3)
    yield result.lab
    failed = request.session.testsfailed
    if failed or request.config.getoption("--keep-lab"):
        reporter = request.config.pluginmanager.get_plugin("terminalreporter")
        reporter.write_line(f"\nlab {LAB} kept{' because a test failed' if failed else ''}: "
                            f"`kinstall lab ssh {LAB} node1`, inventory {result.lab.inventory}; "
                            f"remove it with `kinstall lab down {LAB}`")
    else:
        labs.down(LAB)


@pytest.fixture(scope="module")
def run_lab(lab, tmp_path_factory):
    """The lab's files, captured before KINSTALL_HOME points the run state at a directory of
    this module's own (the lab itself stays where it is)."""
    home = tmp_path_factory.mktemp("kinstall-home")
    captured = SimpleNamespace(inventory=str(lab.inventory), ssh_config=str(lab.ssh_config),
                               key=lab.key.read_text(), nodes=[n.name for n in lab.nodes],
                               containers={n.name: n.container for n in lab.nodes}, home=home)
    previous = os.environ.get("KINSTALL_HOME")
    os.environ["KINSTALL_HOME"] = str(home)
    yield captured
    if previous is None:
        del os.environ["KINSTALL_HOME"]
    else:
        os.environ["KINSTALL_HOME"] = previous
    for node in captured.nodes:
        subprocess.run(["ssh", "-F", captured.ssh_config, node, "rm -f /tmp/kinstall-fail /tmp/kinstall-go "
                        "/tmp/kinstall-started"], capture_output=True, timeout=60)


