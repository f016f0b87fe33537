"""Small wrapper over the podman CLI: every call checked, errors carried as LabError."""

from __future__ import annotations

import json
import subprocess

from installer.errors import ExitCode, KinstallError

LABEL = "io.kinstall.lab"


class LabError(KinstallError):
    exit_code = ExitCode.ENVIRONMENT


def run(*args: str, check: bool = True, input: bytes | str | None = None, timeout: float = 600) -> str:
    try:
        result = subprocess.run(["podman", *args], capture_output=True, input=input, timeout=timeout,
                                text=not isinstance(input, bytes))
    except FileNotFoundError:
        raise LabError("podman is not installed; run `make demo` (or apt-get install podman) first") from None
    except subprocess.TimeoutExpired:
        raise LabError(f"podman {' '.join(args[:3])} did not finish in {timeout:.0f} s") from None
    out = result.stdout if isinstance(result.stdout, str) else result.stdout.decode(errors="replace")
    err = result.stderr if isinstance(result.stderr, str) else result.stderr.decode(errors="replace")
    if check and result.returncode != 0:
        raise LabError(f"podman {' '.join(args[:4])} failed: {err.strip()[-800:]}")
    return out


def exists(kind: str, name: str) -> bool:
    """kind: container | network | volume | image."""
    verb = ["container", "exists"] if kind == "container" else [kind, "exists"]
    try:
        return subprocess.run(["podman", *verb, name], capture_output=True).returncode == 0
    except FileNotFoundError:
        return False


def inspect(kind: str, name: str) -> dict:
    out = run(kind, "inspect", name)
    data = json.loads(out)
    return data[0] if isinstance(data, list) else data


def labels(kind: str, name: str) -> dict:
    """Labels of a container, network or volume (netavark spells the key in lower case)."""
    data = inspect(kind, name)
    return data.get("Labels") or data.get("labels") or (data.get("Config") or {}).get("Labels") or {}


def labelled(kind: str, lab: str | None = None) -> list[dict]:
    """Containers, networks or volumes that carry kinstall's lab label (of one lab, or any)."""
    selector = f"label={LABEL}" + (f"={lab}" if lab else "")
    if kind == "container":
        return json.loads(run("ps", "-a", "--filter", selector, "--format", "json") or "[]")
    out = run(kind, "ls", "--filter", selector, "--format", "json")
    return json.loads(out or "[]")
