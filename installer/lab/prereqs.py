"""`kinstall lab doctor`: what this machine needs for the lab, what is missing and how to fix it."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from installer.errors import EnvironmentProblem

DROP_IN_DIR = Path("/etc/containers/containers.conf.d")
PACKAGES = {"podman": "podman", "runc": "runc", "debootstrap": "debootstrap", "ssh": "openssh-client",
            "ssh-keygen": "openssh-client", "openssl": "openssl"}


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _drop_in_ok() -> bool:
    for conf in sorted(DROP_IN_DIR.glob("*.conf")) if DROP_IN_DIR.is_dir() else []:
        text = conf.read_text(errors="replace")
        if 'runtime = "runc"' in text and "nofile=20000:20000" in text and "nproc=20000:20000" in text:
            return True
    return False


def checks() -> list[Check]:
    out = [Check("root", os.geteuid() == 0, "the lab runs privileged podman machines, which needs root",
                 "run kinstall lab as root")]
    for command, package in PACKAGES.items():
        found = shutil.which(command)
        out.append(Check(command, found is not None, found or "not found", f"apt-get install {package}"))
    out.append(Check("containers.conf drop-in", _drop_in_ok(),
                     f"{DROP_IN_DIR}/kinstall.conf sets runtime runc and ulimits within the host's limits",
                     f"install -D -m 0644 installer/lab/files/containers.conf {DROP_IN_DIR}/kinstall.conf "
                     "(make demo does it)"))
    return out


def require() -> None:
    missing = [check for check in checks() if not check.ok]
    if missing:
        lines = "\n".join(f"  - {c.name}: {c.detail}; fix: {c.fix}" for c in missing)
        raise EnvironmentProblem(f"this machine cannot run the lab yet:\n{lines}\n"
                                 "`make demo` installs all of it; `kinstall lab doctor` checks again")
