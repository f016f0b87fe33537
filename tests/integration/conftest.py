"""Integration tests run on a real lab: podman machines with systemd and sshd, reached over SSH
with host key checking on. The lab is built once per session and removed afterwards, unless a
test failed or --keep-lab was given: then it stays, and the run says how to reach it."""

import os
import sys
from pathlib import Path

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
