"""Helpers shared by the integration tests that run kinstall on the lab (see conftest.run_lab)."""

import json
import subprocess
from pathlib import Path


def ssh(lab, node, command, check=True):
    """Run a shell command on a lab node over SSH (host key checked); by default it must succeed."""
    result = subprocess.run(["ssh", "-F", lab.ssh_config, node, command], capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, f"{node}: {command}: {result.stderr}"
    return result


def last_record(lab, mode: str | None = None) -> dict:
    """The newest run record under the module's own KINSTALL_HOME, whatever its cluster (run ids
    start with their UTC start time); with mode, the newest of that mode (up, operation, verify...)."""
    found = sorted(Path(lab.home).glob("clusters/*/runs/*/record.json"), key=lambda p: p.parent.name)
    records = [json.loads(path.read_text()) for path in found]
    return [r for r in records if mode is None or r["inputs"].get("mode") == mode][-1]
